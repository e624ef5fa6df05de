// A js-libp2p peer (TCP, Noise, yamux, identify, ping) for the wire interop test.
//   node wire-peer.mjs listen          -> prints {"event":"listening",...}, runs until stdin closes
//   node wire-peer.mjs dial <multiaddr> -> connects, waits for identify, pings, exits
// Every line on stdout is one JSON event.
import './polyfill.mjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'

const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const [mode, target] = process.argv.slice(2)

const node = await createLibp2p({
  addresses: { listen: mode === 'listen' ? ['/ip4/127.0.0.1/tcp/0'] : [] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), ping: ping() },
  connectionManager: { dialTimeout: 20000 }
})

node.addEventListener('peer:identify', (evt) => {
  const d = evt.detail
  emit({
    event: 'identified',
    peer: d.peerId.toString(),
    agent: d.agentVersion,
    protocols: d.protocols,
    listenAddrs: d.listenAddrs.map((a) => a.toString()),
    // Set only if the remote's signed peer record opened (identify fails otherwise).
    record: d.signedPeerRecord == null
      ? null
      : { seq: d.signedPeerRecord.seq.toString(), addrs: d.signedPeerRecord.addresses.map((a) => a.toString()) }
  })
})

const stop = async (code) => {
  try { await node.stop() } catch {}
  process.exit(code)
}

if (mode === 'listen') {
  emit({ event: 'listening', peer: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) })
  process.stdin.on('end', () => stop(0))
  process.stdin.resume()
  process.on('SIGTERM', () => stop(0))
} else if (mode === 'dial') {
  try {
    const ma = multiaddr(target)
    const identified = new Promise((resolve) => {
      node.addEventListener('peer:identify', (evt) => {
        if (evt.detail.peerId.toString() === ma.getPeerId()) resolve()
      })
    })
    const conn = await node.dial(ma)
    emit({ event: 'connected', peer: conn.remotePeer.toString(), encryption: conn.encryption, multiplexer: conn.multiplexer })
    await identified
    for (let i = 0; i < 3; i++) {
      const rtt = await node.services.ping.ping(ma)
      emit({ event: 'ping', rtt })
    }
    await stop(0)
  } catch (err) {
    emit({ event: 'error', message: String(err && err.stack ? err.stack : err) })
    await stop(1)
  }
} else {
  emit({ event: 'error', message: 'usage: wire-peer.mjs listen | dial <multiaddr>' })
  process.exit(2)
}
