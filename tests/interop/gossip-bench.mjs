// The js-libp2p side of bench/gossip_tcp_bench: two js gossipsub nodes (StrictNoSign)
// in one process over TCP loopback; A publishes --messages messages of --size bytes,
// keeping at most --window in flight; prints msgs/s and latency p50/p99 like the
// C++ bench. Run: node tests/interop/gossip-bench.mjs [--messages N] [--size B] [--window W]
import { createGossipNode } from './gossip-node.mjs'

const opt = { messages: 20000, size: 1024, window: 1000 }
const argv = process.argv.slice(2)
for (let i = 0; i + 1 < argv.length; i += 2) opt[argv[i].replace(/^--/, '')] = Number(argv[i + 1])
const topic = '/shardnode/bench/1'
const make = () => createGossipNode({ heartbeatInterval: 100, maxOutboundBufferSize: 64 * 1024 * 1024 })
const a = await make()
const b = await make()
a.services.pubsub.subscribe(topic)
b.services.pubsub.subscribe(topic)
await a.dial(b.getMultiaddrs()[0])
while (a.services.pubsub.getMeshPeers(topic).length < 1) await new Promise((resolve) => setTimeout(resolve, 20))  // setup only

let received = 0
const lat = []
let done
const finished = new Promise((resolve) => { done = resolve })
b.services.pubsub.addEventListener('message', (evt) => {
  const d = Buffer.from(evt.detail.data)
  lat.push(Number(process.hrtime.bigint() - d.readBigInt64LE(8)) / 1e6)
  if (++received === opt.messages) done(process.hrtime.bigint())
})
const start = process.hrtime.bigint()
let published = 0
while (published < opt.messages) {
  if (published - received >= opt.window) { await new Promise((resolve) => setImmediate(resolve)); continue }
  const data = Buffer.alloc(opt.size, 0x42)
  data.writeBigUInt64LE(BigInt(published), 0)
  data.writeBigInt64LE(process.hrtime.bigint(), 8)
  await a.services.pubsub.publish(topic, data)
  published++
}
const end = await Promise.race([finished, new Promise((resolve) => setTimeout(() => resolve(null), 120000))])
const secs = Number((end ?? process.hrtime.bigint()) - start) / 1e9
lat.sort((x, y) => x - y)
const pct = (p) => lat.length ? lat[Math.floor(p * (lat.length - 1))] : 0
console.log(`gossip-bench.mjs: js-libp2p 2.10 + gossipsub 14.1, 2 nodes, TCP loopback, ${opt.size}-byte messages, window ${opt.window}`)
console.log(`${'js-libp2p'.padEnd(12)} ${String(received).padStart(10)} ${(received / secs).toFixed(0).padStart(12)} ${pct(0.5).toFixed(2).padStart(10)} ${pct(0.99).toFixed(2).padStart(10)}`)
await a.stop()
await b.stop()
process.exit(end ? 0 : 1)
