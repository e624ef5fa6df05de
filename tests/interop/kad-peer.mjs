// A js-libp2p kad-dht peer (@libp2p/kad-dht 15, server mode, /ipfs/kad/1.0.0, no
// address filtering: everything here is on loopback) for the DHT interop test.
// One JSON event per stdout line.
//   node kad-peer.mjs [--dial <multiaddr>]...
// stdin commands: "closest <hex key>" - getClosestPeers(key), reporting every peer
// response ({"event":"response","from":..,"closer":[..]}) and then
// {"event":"closest-done","final":[..]}; EOF ends the process.
import './polyfill.mjs'
import { createInterface } from 'node:readline'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'

const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const args = process.argv.slice(2)
const dials = []
for (let i = 0; i + 1 < args.length; i += 2) if (args[i] === '--dial') dials.push(args[i + 1])

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({ protocol: '/ipfs/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper })
  }
})
emit({ event: 'listening', peer: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) })

for (const d of dials) {
  node.dial(multiaddr(d)).then(
    (c) => emit({ event: 'connected', peer: c.remotePeer.toString() }),
    (e) => emit({ event: 'error', message: `dial ${d}: ${e}` }))
}

const rl = createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  if (line.startsWith('closest ')) {
    const key = Buffer.from(line.slice(8), 'hex')
    const final = []
    try {
      for await (const ev of node.services.dht.getClosestPeers(key, { signal: AbortSignal.timeout(20000) })) {
        if (ev.name === 'PEER_RESPONSE') {
          emit({ event: 'response', from: ev.from.toString(), type: ev.messageName, closer: ev.closer.map((p) => p.id.toString()) })
        } else if (ev.name === 'FINAL_PEER') {
          final.push(ev.peer.id.toString())
        } else if (ev.name === 'QUERY_ERROR') {
          emit({ event: 'query-error', from: ev.from?.toString(), message: String(ev.error) })
        }
      }
      emit({ event: 'closest-done', final })
    } catch (e) {
      emit({ event: 'error', message: `getClosestPeers: ${e}` })
    }
  }
})
rl.on('close', async () => { try { await node.stop() } catch {} process.exit(0) })
process.on('SIGTERM', async () => { try { await node.stop() } catch {} process.exit(0) })
