// A js-libp2p gossipsub peer (StrictNoSign, shardnode's message-id function) for
// the mixed-network interop test. One JSON event per stdout line.
//   node gossip-peer.mjs --topic T [--dial <multiaddr>]...
// stdin commands: "publish <hex>", "status"; EOF ends the process.
import { createInterface } from 'node:readline'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import { createGossipNode } from './gossip-node.mjs'

const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const args = process.argv.slice(2)
let topic = '/shardnode/interop/1'
const dials = []
for (let i = 0; i + 1 < args.length; i += 2) {
  if (args[i] === '--topic') topic = args[i + 1]
  else if (args[i] === '--dial') dials.push(args[i + 1])
}


const node = await createGossipNode({ emitSelf: false, allowPublishToZeroTopicPeers: true, heartbeatInterval: 200 }, { ping: ping() })

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
