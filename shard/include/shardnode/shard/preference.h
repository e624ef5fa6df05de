// Shard-preference records: a node's signed, sequence-numbered, expiring statement of
// which shards it serves, published on kPreferenceTopic and kept in a PreferenceTable.
//
// Signature: Ed25519 by node_key over signing_bytes(), a domain-separated canonical
// byte string that does not depend on the protobuf encoding:
//   "shardnode/shard-pref/v1" 0x00 || node_key (32) || seq (u64 BE) ||
//   expires_at (u64 BE) || shard_count (u32 BE) || len(bitfield) (u32 BE) || bitfield
// Bitfield: bit k is byte k/8, bit k%8 counted from the least significant bit;
// exactly ceil(shard_count/8) bytes, bits at and beyond shard_count zero.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>
#include <vector>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"

namespace shardnode::shard {

inline constexpr std::string_view kPreferenceDomain = "shardnode/shard-pref/v1";

struct PreferenceLimits {
  std::uint32_t shard_count = 64;  // the network's shard count; records must match it
  std::size_t max_encoded = 1024;  // bytes of the encoded record
};

struct ShardPreference {
  Ed25519PublicKey node_key;
  std::uint64_t seq = 0;
  std::uint64_t expires_at = 0;  // unix seconds
  std::uint32_t shard_count = 0;
  std::vector<bool> shards;      // shard_count entries
  std::array<std::uint8_t, 64> signature{};

  PeerId peer_id() const { return PeerId::from_public_key(node_key); }
  bool contains(std::uint32_t shard) const { return shard < shards.size() && shards[shard]; }
  bool operator==(const ShardPreference&) const = default;
};

// ceil(shard_count/8) bytes, LSB-first (entries beyond `shards.size()` are zero).
Bytes shard_bitfield(const std::vector<bool>& shards, std::uint32_t shard_count);
Bytes signing_bytes(const ShardPreference& p);
// Signature and shape (shards.size() == shard_count) only; no time or limit checks.
bool verify(const ShardPreference& p);

// Builds and signs a record. Throws std::out_of_range if a shard is >= shard_count.
ShardPreference make_preference(const NodeKey& key, std::uint64_t seq, std::uint64_t expires_at,
                                std::uint32_t shard_count, const std::set<std::uint32_t>& shards);

Bytes encode(const ShardPreference& p);
// Size cap (oversize), canonical protobuf, 32-byte key and 64-byte signature
// (malformed), shard_count == limits.shard_count (wrong_shard_count), bitfield of
// exactly ceil(shard_count/8) bytes with no bit set at or beyond shard_count
// (malformed), then the signature (bad_signature). Does not look at the time.
Result<ShardPreference> decode_preference(ByteView data, const PreferenceLimits& limits);

}  // namespace shardnode::shard
