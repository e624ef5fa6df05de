// Wire interop: shardnode and js-libp2p complete Noise + yamux, identify each other
// with matching peer ids, and ping, in both dial directions. Every wait has a deadline;
// every process started here is killed by PID at the end.
import './polyfill.mjs'
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { start, withDeadline, killAll } from './harness.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const CPP = process.env.WIRE_PEER
if (!CPP) throw new Error('WIRE_PEER (path to the wire_peer binary) is not set')

after(killAll)

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
    // js opened shardnode's signed peer record (RFC 0002/0003).
    assert.deepEqual(idJs.record, { seq: '42', addrs: [l.addrs[0].replace(/\/p2p\/.*$/, '')] })
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
    // shardnode opened js's signed peer record.
    assert.ok(idCpp.record, `js's signed peer record opened: ${JSON.stringify(idCpp)}`)
    assert.ok(!idCpp.record_rejected)
    assert.deepEqual(idCpp.record.addrs, l.addrs.map((a) => a.replace(/\/p2p\/.*$/, '')))
    assert.equal(cpp.events.filter((e) => e.event === 'ping').length, 3)
    const idJs = await js.waitFor((e) => e.event === 'identified', 'js identifying shardnode')
    assert.match(idJs.agent, /^shardnode\//)
  } finally {
    await js.stop()
  }
})
