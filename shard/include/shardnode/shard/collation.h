// Collations: a shard's block for one period, proposed and signed by a validator key
// (validator_key.h), published on collation_topic(shard).
//
//   canonical header = shard (u32 BE) || period (u64 BE) || parent_hash (32) ||
//                      proposer (32) || body_hash (32)
//   collation id     = SHA-256("shardnode/collation-id/v1" 0x00 || canonical header)
//   signature        = Ed25519 by proposer over "shardnode/collation/v1" 0x00 || canonical header
//   body_hash        = SHA-256(body)
// The signature covers the body through body_hash. Nothing here checks that the
// proposer is an authorised validator (there is no validator registry yet).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"
#include "shardnode/pubsub/types.h"
#include "shardnode/shard/validator_key.h"

namespace shardnode::shard {

using Hash32 = std::array<std::uint8_t, 32>;
using Signature64 = std::array<std::uint8_t, 64>;

inline constexpr std::string_view kCollationSigDomain = "shardnode/collation/v1";
inline constexpr std::string_view kCollationIdDomain = "shardnode/collation-id/v1";

struct CollationHeader {
  std::uint32_t shard = 0;
  std::uint64_t period = 0;
  Hash32 parent_hash{};
  Ed25519PublicKey proposer;  // validator key, never a node key
  Hash32 body_hash{};
  bool operator==(const CollationHeader&) const = default;
};

struct Collation {
  CollationHeader header;
  Bytes body;
  Signature64 signature{};
  bool operator==(const Collation&) const = default;
};

struct CollationLimits {
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_encoded = 1024 * 1024 + 512;  // body plus header, signature and framing
};

Hash32 sha256(ByteView data);
Bytes canonical_header_bytes(const CollationHeader& h);
Bytes collation_signing_bytes(const CollationHeader& h);
Hash32 collation_hash(const CollationHeader& h);  // the collation's id

Collation make_collation(const ValidatorKey& key, std::uint32_t shard, std::uint64_t period, const Hash32& parent,
                         Bytes body);
// Body hash and signature (no limits, shard or period checks).
bool verify(const Collation& c);
// The same, with the reason: body_mismatch or bad_signature. Pure and thread-safe:
// the node runs it on its validation workers.
Status check_body_and_signature(const Collation& c);

Bytes encode(const Collation& c);
// Size caps (oversize), canonical protobuf and field sizes (malformed), body hash
// (body_mismatch), signature (bad_signature).
Result<Collation> decode_collation(ByteView data, const CollationLimits& limits = {});

// The verdict for a message on a collation topic.
struct CollationCheck {
  pubsub::ValidationResult result = pubsub::ValidationResult::reject;
  std::error_code code;               // empty when accepted
  std::string reason;                 // for logs; empty when accepted
  std::optional<Collation> collation; // when accepted
  std::optional<Hash32> hash;         // collation_hash, once the header parsed
};

// Checks, in order (cheap before expensive, so duplicates and old collations cost
// no signature check):
//   reject: oversize, malformed, header.shard != topic_shard (wrong_shard),
//           period > current_period + 1 (future)
//   ignore: period + max_age_periods < current_period (too_old), seen(hash) (duplicate)
//   reject: body hash mismatch (body_mismatch), bad signature (bad_signature)
//   accept: otherwise; `collation` and `hash` are set.
// `seen` answers whether a collation id is already known (stored or in flight); an
// empty function means nothing is. With `verify` false the last two checks are left
// to the caller (check_body_and_signature, on a worker thread): an accept then means
// "accept if they pass".
CollationCheck check_collation(ByteView data, std::uint32_t topic_shard, std::uint64_t current_period,
                               std::uint64_t max_age_periods, const CollationLimits& limits,
                               const std::function<bool(const Hash32&)>& seen, bool verify = true);

}  // namespace shardnode::shard
