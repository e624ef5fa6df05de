// Gossipsub interop: a mixed loopback network of shardnode and js-libp2p gossipsub
// nodes (StrictNoSign, the same message-id function); messages published on each
// side reach every node of the other. Waits on events with deadlines; every
// process is stopped by PID.
import './polyfill.mjs'
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { start, killAll } from './harness.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const CPP = process.env.GOSSIP_PEER
if (!CPP) throw new Error('GOSSIP_PEER (path to the gossip_peer binary) is not set')
const TOPIC = '/shardnode/interop/1'
after(killAll)

const cpp = (dials) => start(CPP, ['--topic', TOPIC, ...dials.flatMap((d) => ['--dial', d])])
const js = (dials) => start(process.execPath, [path.join(here, 'gossip-peer.mjs'), '--topic', TOPIC, ...dials.flatMap((d) => ['--dial', d])])

// Polls "status" until the node sees `n` subscribed peers (bounded by the deadline).
async function waitTopicPeers (node, n, ms = 30000) {
  const end = Date.now() + ms
  for (;;) {
    const before = node.events.length
    node.send('status')
    const st = await node.waitFor((e, i) => e.event === 'status' && node.events.indexOf(e) >= before, 'status')
    if (st.topicPeers >= n) return st
    if (Date.now() > end) throw new Error(`topic peers stayed at ${st.topicPeers} < ${n}`)
    await new Promise((resolve) => node.waitFor((e) => e.event === 'never', 'tick', 200).catch(resolve))
  }
}

test('mixed shardnode / js-libp2p gossipsub network: every message reaches every node', { timeout: 90000 }, async () => {
  const a = cpp([])
  const la = await a.waitFor((e) => e.event === 'listening', 'A listening')
  const b = js([la.addrs[0]])
  const lb = await b.waitFor((e) => e.event === 'listening', 'B listening')
  const c = cpp([la.addrs[0], lb.addrs[0]])
  const lc = await c.waitFor((e) => e.event === 'listening', 'C listening')
  const d = js([la.addrs[0], lb.addrs[0], lc.addrs[0]])
  await d.waitFor((e) => e.event === 'listening', 'D listening')
  const nodes = [a, b, c, d]
  const names = ['A (shardnode)', 'B (js)', 'C (shardnode)', 'D (js)']
  try {
    // Everyone must know everyone's subscription before publishing.
    for (const n of nodes) await waitTopicPeers(n, 3)
    const payloads = nodes.map((_, i) => Buffer.from(`message from ${names[i]} ${Date.now()}`).toString('hex'))
    nodes.forEach((n, i) => n.send(`publish ${payloads[i]}`))
    for (let r = 0; r < nodes.length; r++) {
      for (let p = 0; p < nodes.length; p++) {
        if (p === r) continue
        await nodes[r].waitFor((e) => e.event === 'message' && e.data === payloads[p], `${names[r]} receiving from ${names[p]}`)
      }
    }
    for (const n of nodes) assert.ok(!n.events.some((e) => e.event === 'error'), JSON.stringify(n.events.filter((e) => e.event === 'error')))
  } finally {
    for (const n of nodes) await n.stop()
  }
})
