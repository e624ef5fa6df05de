// A js-libp2p gossipsub node set up the way shardnode's peers are: TCP on loopback,
// Noise, yamux, identify, StrictNoSign and shardnode's message id.
import './polyfill.mjs'
import { createHash } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'

// shardnode's default message id: the first 20 bytes of
// SHA-256(u64le(len(topic)) || topic || data).
export function shardnodeMsgId (msg) {
  const t = Buffer.from(msg.topic, 'utf8')
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(t.length))
  return new Uint8Array(createHash('sha256').update(len).update(t).update(msg.data).digest().subarray(0, 20))
}

// `gossip`: extra gossipsub options; `services`: extra libp2p services (e.g. ping).
export function createGossipNode (gossip = {}, services = {}) {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ...services,
      pubsub: gossipsub({ globalSignaturePolicy: 'StrictNoSign', msgIdFn: shardnodeMsgId, ...gossip })
    }
  })
}
