// The shard layer's error categories: records, collations and beacon headers (shard),
// and the collation store (store). Codes map onto the generic shardnode::Condition
// values of core/errors.h.
#pragma once

#include <system_error>

#include "shardnode/core/errors.h"

// The shard layer (shard/): preference records, collations, beacon headers.
namespace shardnode {

enum class ShardErrc {
  malformed = 1,         // not a canonical protobuf, wrong field sizes, bits beyond shard_count
  bad_signature,         // Ed25519 signature does not verify over the signing payload
  wrong_shard_count,     // a preference record for another shard_count configuration
  expired,               // a preference record whose expires_at has passed
  stale,                 // a preference record not newer (by seq) than the one held
  wrong_shard,           // a collation published on another shard's topic
  oversize,              // encoded message or collation body over its cap
  too_old,               // a collation period older than the retention window
  duplicate,             // a collation already seen
  future,                // a collation period too far ahead, or a record TTL over the cap
  body_mismatch,         // a collation body whose SHA-256 differs from header.body_hash
  unknown_proposer,      // a collation signed by a key not among the known validators
};

const std::error_category& shard_category() noexcept;
std::error_code make_error_code(ShardErrc e) noexcept;

}  // namespace shardnode

template <> struct std::is_error_code_enum<shardnode::ShardErrc> : std::true_type {};

// The collation store (shard/store.h): an SQLite file.
namespace shardnode {

enum class StoreErrc {
  io = 1,                // opening, reading or writing the file failed (permissions, disk full, locked)
  not_a_database,        // the file exists but is not an SQLite database
  corrupt,               // PRAGMA quick_check failed, or a stored row does not decode and verify
  newer_schema,          // written by a newer version (PRAGMA user_version above ours)
  foreign_database,      // an SQLite database that is not a collation store
};

const std::error_category& store_category() noexcept;
std::error_code make_error_code(StoreErrc e) noexcept;

}  // namespace shardnode

template <> struct std::is_error_code_enum<shardnode::StoreErrc> : std::true_type {};
