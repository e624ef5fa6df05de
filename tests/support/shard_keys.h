// Deterministic keys and hashes for shard-layer tests.
#pragma once

#include <cstdint>
#include <utility>

#include "shardnode/core/bytes.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/validator_key.h"

namespace shardnode::test {

// The validator key whose seed is 32 bytes of `fill`.
inline shard::ValidatorKey vkey(std::uint8_t fill) {
  return std::move(shard::ValidatorKey::from_seed(Bytes(32, fill)).value());
}

// A hash of 32 bytes of `fill`.
inline shard::Hash32 h32(std::uint8_t fill) {
  shard::Hash32 h;
  h.fill(fill);
  return h;
}

}  // namespace shardnode::test
