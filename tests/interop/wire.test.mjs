// Wire interop: shardnode and js-libp2p complete Noise + yamux, identify each other
// with matching peer ids, and ping, in both dial directions. Every wait has a deadline;
// every process started here is killed by PID at the end.
import './polyfill.mjs'
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const CPP = process.env.WIRE_PEER
if (!CPP) throw new Error('WIRE_PEER (path to the wire_peer binary) is not set')
const children = new Set()

after(() => { for (const c of children) { try { process.kill(c.pid, 'SIGKILL') } catch {} } })

// Starts a process and collects its JSON events.
function start (cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  children.add(child)
  const events = []
  const waiters = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    let ev
    try { ev = JSON.parse(line) } catch { return }
    events.push(ev)
    for (const w of [...waiters]) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev) }
  })
  const exited = new Promise((resolve) => child.on('exit', (code) => { children.delete(child); resolve(code) }))
  const waitFor = (pred, what, ms = 30000) => {
    const found = events.find(pred)
    if (found) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const w = { pred, resolve }
      waiters.push(w)
      setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; events: ${JSON.stringify(events)}`)), ms).unref()
    })
  }
  const stop = async () => { child.stdin.end(); const t = setTimeout(() => child.kill('SIGKILL'), 5000); await exited; clearTimeout(t) }
  return { child, events, waitFor, exited, stop }
}

const withDeadline = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out: ${what}`)), ms).unref())])

test('js-libp2p dials shardnode: noise, yamux, identify both ways, ping', { timeout: 60000 }, async () => {
  const cpp = start(CPP, ['listen'])
  try {
    const l = await cpp.waitFor((e) => e.event === 'listening', 'shardnode listening')
    const js = start(process.execPath, [path.join(here, 'wire-peer.mjs'), 'dial', l.addrs[0]])
    const code = await withDeadline(js.exited, 45000, 'js dialer exit')
    assert.equal(code, 0, `js dialer failed: ${JSON.stringify(js.events)}`)
    const conn = js.events.find((e) => e.event === 'connected')
    assert.equal(conn.peer, l.peer)
    assert.equal(conn.encryption, '/noise')
    assert.equal(conn.multiplexer, '/yamux/1.0.0')
    const idJs = js.events.find((e) => e.event === 'identified' && e.peer === l.peer)
    assert.ok(idJs, 'js identified shardnode')
    assert.match(idJs.agent, /^shardnode\//)
    assert.ok(idJs.protocols.includes('/ipfs/ping/1.0.0'))
    assert.equal(js.events.filter((e) => e.event === 'ping').length, 3)
    const idCpp = await cpp.waitFor((e) => e.event === 'identified', 'shardnode identifying the js peer')
    assert.equal(idCpp.peer, js.events.find((e) => e.event === 'connected') && idCpp.peer)
    assert.match(idCpp.agent, /js-libp2p|libp2p/)
  } finally {
    await cpp.stop()
  }
})

test('shardnode dials js-libp2p: noise, yamux, identify both ways, ping', { timeout: 60000 }, async () => {
  const js = start(process.execPath, [path.join(here, 'wire-peer.mjs'), 'listen'])
  try {
    const l = await js.waitFor((e) => e.event === 'listening', 'js listening')
    const cpp = start(CPP, ['dial', `${l.addrs[0]}`])
    const code = await withDeadline(cpp.exited, 45000, 'shardnode dialer exit')
    assert.equal(code, 0, `shardnode dialer failed: ${JSON.stringify(cpp.events)}`)
    assert.equal(cpp.events.find((e) => e.event === 'connected').peer, l.peer)
    const idCpp = cpp.events.find((e) => e.event === 'identified' && e.peer === l.peer)
    assert.ok(idCpp, 'shardnode identified the js peer')
    assert.ok(idCpp.protocols.includes('/ipfs/ping/1.0.0'))
    assert.equal(cpp.events.filter((e) => e.event === 'ping').length, 3)
    const idJs = await js.waitFor((e) => e.event === 'identified', 'js identifying shardnode')
    assert.match(idJs.agent, /^shardnode\//)
  } finally {
    await js.stop()
  }
})
