// shardnode's default message id, for js peers on the same network:
// the first 20 bytes of SHA-256(u64le(len(topic)) || topic || data).
import { createHash } from 'node:crypto'

export function shardnodeMsgId (msg) {
  const t = Buffer.from(msg.topic, 'utf8')
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(t.length))
  return new Uint8Array(createHash('sha256').update(len).update(t).update(msg.data).digest().subarray(0, 20))
}
