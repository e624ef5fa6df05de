// A minimal signed beacon header, published on kBeaconTopic:
//   signature = Ed25519 by proposer (a validator key) over
//               "shardnode/beacon/v1" 0x00 || slot (u64 BE) || parent_hash (32) ||
//               state_root (32) || proposer (32)
//   id        = SHA-256("shardnode/beacon-id/v1" 0x00 || the same fields)
// No validator registry or fork choice yet: verify() proves authorship only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/validator_key.h"

namespace shardnode::shard {

inline constexpr std::string_view kBeaconSigDomain = "shardnode/beacon/v1";
inline constexpr std::string_view kBeaconIdDomain = "shardnode/beacon-id/v1";

struct BeaconHeader {
  std::uint64_t slot = 0;
  Hash32 parent_hash{};
  Hash32 state_root{};
  Ed25519PublicKey proposer;
  Signature64 signature{};
  bool operator==(const BeaconHeader&) const = default;
};

struct BeaconLimits {
  std::size_t max_encoded = 512;
};

Bytes beacon_signing_bytes(const BeaconHeader& b);
Hash32 beacon_hash(const BeaconHeader& b);

BeaconHeader make_beacon_header(const ValidatorKey& key, std::uint64_t slot, const Hash32& parent,
                                const Hash32& state_root);
bool verify(const BeaconHeader& b);

Bytes encode(const BeaconHeader& b);
// Size cap (oversize), canonical protobuf and field sizes (malformed), signature (bad_signature).
Result<BeaconHeader> decode_beacon_header(ByteView data, const BeaconLimits& limits = {});

}  // namespace shardnode::shard
