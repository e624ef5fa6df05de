// A js-libp2p gossipsub peer (StrictNoSign, shardnode's message-id function) for
// the mixed-network interop test. One JSON event per stdout line.
//   node gossip-peer.mjs --topic T [--dial <multiaddr>]...
// stdin commands: "publish <hex>", "status"; EOF ends the process.
import './polyfill.mjs'
import { shardnodeMsgId as msgId } from './msgid.mjs'
import { createInterface } from 'node:readline'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { multiaddr } from '@multiformats/multiaddr'

const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const args = process.argv.slice(2)
let topic = '/shardnode/interop/1'
const dials = []
for (let i = 0; i + 1 < args.length; i += 2) {
  if (args[i] === '--topic') topic = args[i + 1]
  else if (args[i] === '--dial') dials.push(args[i + 1])
}


const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    pubsub: gossipsub({
      globalSignaturePolicy: 'StrictNoSign',
      msgIdFn: msgId,
      emitSelf: false,
      allowPublishToZeroTopicPeers: true,
      heartbeatInterval: 200
    })
  }
})

node.services.pubsub.addEventListener('message', (evt) => {
  const m = evt.detail
  emit({ event: 'message', topic: m.topic, data: Buffer.from(m.data).toString('hex') })
})
node.services.pubsub.subscribe(topic)
emit({ event: 'listening', peer: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) })

for (const d of dials) {
  node.dial(multiaddr(d)).then(
    (c) => emit({ event: 'connected', peer: c.remotePeer.toString() }),
    (e) => emit({ event: 'error', message: `dial ${d}: ${e}` }))
}

const rl = createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  if (line.startsWith('publish ')) {
    try {
      const res = await node.services.pubsub.publish(topic, Buffer.from(line.slice(8), 'hex'))
      emit({ event: 'published', recipients: res.recipients.length })
    } catch (e) {
      emit({ event: 'error', message: String(e) })
    }
  } else if (line === 'status') {
    emit({
      event: 'status',
      topicPeers: node.services.pubsub.getSubscribers(topic).length,
      mesh: node.services.pubsub.getMeshPeers(topic).length,
      peers: node.getPeers().length
    })
  }
})
rl.on('close', async () => { try { await node.stop() } catch {} process.exit(0) })
process.on('SIGTERM', async () => { try { await node.stop() } catch {} process.exit(0) })
