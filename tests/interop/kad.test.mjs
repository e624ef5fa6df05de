// kad-dht interop: shardnode's DHT (tests/interop/kad_peer.cpp, /ipfs/kad/1.0.0)
// and js-libp2p's @libp2p/kad-dht on loopback answer each other's FIND_NODE.
// Waits on events with deadlines; every process is stopped by PID.
import './polyfill.mjs'
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { start, killAll } from './harness.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const CPP = process.env.KAD_PEER
if (!CPP) throw new Error('KAD_PEER (path to the kad_peer binary) is not set')
after(killAll)

const js = (dials) => start(process.execPath, [path.join(here, 'kad-peer.mjs'), ...dials.flatMap((d) => ['--dial', d])])
const cpp = (adds) => start(CPP, adds.flatMap((a) => ['--add', a]))

test('shardnode and js-libp2p kad-dht answer each other\'s FIND_NODE', { timeout: 90000 }, async () => {
  const j1 = js([])
  const l1 = await j1.waitFor((e) => e.event === 'listening', 'js 1 listening')
  const c = cpp([l1.addrs[0]])
  const lc = await c.waitFor((e) => e.event === 'listening', 'shardnode listening')
  const nodes = [j1, c]
  try {
    // shardnode -> js: our lookup asks js 1, which answers.
    c.send(`find ${l1.peer}`)
    const found = await c.waitFor((e) => e.event === 'found', 'shardnode FIND_NODE result')
    assert.equal(found.failures, 0, JSON.stringify(found))
    assert.ok(found.requests >= 1)
    assert.ok(found.closest.includes(l1.peer), `js 1 answered shardnode's FIND_NODE: ${JSON.stringify(found)}`)

    // js -> shardnode: js 2 knows only shardnode; its lookup asks shardnode, whose
    // answer names js 1 (in shardnode's routing table since it answered).
    const j2 = js([lc.addrs[0]])
    nodes.push(j2)
    await j2.waitFor((e) => e.event === 'connected' && e.peer === lc.peer, 'js 2 connected to shardnode')
    let answered = null
    for (let attempt = 0; attempt < 10 && !answered; attempt++) {
      // js adds shardnode to its routing table once identify shows the protocol.
      const before = j2.events.length
      j2.send(`closest ${randomBytes(32).toString('hex')}`)
      await j2.waitFor((e) => (e.event === 'closest-done' || e.event === 'error') && j2.events.indexOf(e) >= before, 'js 2 lookup')
      answered = j2.events.slice(before).find((e) => e.event === 'response' && e.from === lc.peer)
    }
    assert.ok(answered, `shardnode answered js 2's FIND_NODE: ${JSON.stringify(j2.events).slice(0, 2000)}`)
    assert.equal(answered.type, 'FIND_NODE')
    assert.ok(answered.closer.includes(l1.peer), `shardnode's answer names js 1: ${JSON.stringify(answered)}`)
    c.send('table')
    const t = await c.waitFor((e) => e.event === 'table', 'shardnode table')
    assert.ok(t.served >= 1)
    for (const n of nodes) assert.ok(!n.events.some((e) => e.event === 'error'), JSON.stringify(n.events.filter((e) => e.event === 'error')))
  } finally {
    for (const n of nodes) await n.stop()
  }
})
