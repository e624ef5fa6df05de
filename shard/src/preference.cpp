#include "shardnode/shard/preference.h"
#include "shardnode/shard/errors.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "shard.pb.h"
#include "wire.h"

namespace shardnode::shard {

namespace {
std::size_t bitfield_size(std::uint32_t shard_count) { return (static_cast<std::size_t>(shard_count) + 7) / 8; }
}  // namespace

Bytes shard_bitfield(const std::vector<bool>& shards, std::uint32_t shard_count) {
  Bytes out(bitfield_size(shard_count), 0);
  const std::size_t n = std::min<std::size_t>(shards.size(), shard_count);
  for (std::size_t k = 0; k < n; ++k)
    if (shards[k]) out[k / 8] = static_cast<std::uint8_t>(out[k / 8] | (1u << (k % 8)));
  return out;
}

Bytes signing_bytes(const ShardPreference& p) {
  const Bytes bits = shard_bitfield(p.shards, p.shard_count);
  Bytes out;
  out.reserve(kPreferenceDomain.size() + 1 + 32 + 8 + 8 + 4 + 4 + bits.size());
  wire::put_tag(out, kPreferenceDomain);
  wire::put_bytes(out, p.node_key.bytes);
  wire::put_u64(out, p.seq);
  wire::put_u64(out, p.expires_at);
  wire::put_u32(out, p.shard_count);
  wire::put_u32(out, static_cast<std::uint32_t>(bits.size()));
  wire::put_bytes(out, bits);
  return out;
}

bool verify(const ShardPreference& p) {
  if (p.shards.size() != p.shard_count) return false;
  return p.node_key.verify(signing_bytes(p), p.signature);
}

ShardPreference make_preference(const NodeKey& key, std::uint64_t seq, std::uint64_t expires_at,
                                std::uint32_t shard_count, const std::set<std::uint32_t>& shards) {
  ShardPreference p;
  p.node_key = key.public_key();
  p.seq = seq;
  p.expires_at = expires_at;
  p.shard_count = shard_count;
  p.shards.assign(shard_count, false);
  for (std::uint32_t s : shards) {
    if (s >= shard_count)
      throw std::out_of_range("make_preference: shard " + std::to_string(s) + " >= shard_count " +
                              std::to_string(shard_count));
    p.shards[s] = true;
  }
  p.signature = key.sign(signing_bytes(p));
  return p;
}

Bytes encode(const ShardPreference& p) {
  pb::ShardPreference m;
  m.set_node_key(wire::to_string(p.node_key.bytes));
  m.set_seq(p.seq);
  m.set_expires_at(p.expires_at);
  m.set_shard_count(p.shard_count);
  m.set_shards(wire::to_string(shard_bitfield(p.shards, p.shard_count)));
  m.set_signature(wire::to_string(p.signature));
  return wire::serialize(m);
}

Result<ShardPreference> decode_preference(ByteView data, const PreferenceLimits& limits) {
  pb::ShardPreference m;
  if (Status st = wire::parse_canonical(data, limits.max_encoded, m, "shard preference"); !st) return st.error();
  ShardPreference p;
  if (!wire::copy_fixed(m.node_key(), p.node_key.bytes))
    return wire::fail(ShardErrc::malformed,
                      "shard preference: node key of " + std::to_string(m.node_key().size()) + " bytes, expected 32");
  if (!wire::copy_fixed(m.signature(), p.signature))
    return wire::fail(ShardErrc::malformed,
                      "shard preference: signature of " + std::to_string(m.signature().size()) + " bytes, expected 64");
  if (m.shard_count() != limits.shard_count)
    return wire::fail(ShardErrc::wrong_shard_count, "shard preference: shard_count " + std::to_string(m.shard_count()) +
                                                        ", this network has " + std::to_string(limits.shard_count));
  const std::string& bits = m.shards();
  if (bits.size() != bitfield_size(m.shard_count()))
    return wire::fail(ShardErrc::malformed, "shard preference: bitfield of " + std::to_string(bits.size()) +
                                                " bytes, expected " + std::to_string(bitfield_size(m.shard_count())));
  p.seq = m.seq();
  p.expires_at = m.expires_at();
  p.shard_count = m.shard_count();
  p.shards.assign(p.shard_count, false);
  for (std::size_t i = 0; i < bits.size(); ++i) {
    const auto byte = static_cast<std::uint8_t>(bits[i]);
    for (unsigned b = 0; b < 8; ++b) {
      if (!(byte & (1u << b))) continue;
      const std::size_t k = i * 8 + b;
      if (k >= p.shard_count)
        return wire::fail(ShardErrc::malformed, "shard preference: bit " + std::to_string(k) + " set beyond shard_count " +
                                                    std::to_string(p.shard_count));
      p.shards[k] = true;
    }
  }
  if (!p.node_key.verify(signing_bytes(p), p.signature))
    return wire::fail(ShardErrc::bad_signature, "shard preference: signature does not verify");
  return p;
}

}  // namespace shardnode::shard
