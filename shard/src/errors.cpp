#include "shardnode/shard/errors.h"

#include <string>

// The shard layer (shard/).
namespace shardnode {
namespace {

class ShardCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "shard"; }
  std::string message(int c) const override {
    switch (static_cast<ShardErrc>(c)) {
      case ShardErrc::malformed: return "malformed shard message";
      case ShardErrc::bad_signature: return "bad signature";
      case ShardErrc::wrong_shard_count: return "wrong shard count";
      case ShardErrc::expired: return "shard preference expired";
      case ShardErrc::stale: return "shard preference not newer than the one held";
      case ShardErrc::wrong_shard: return "collation for another shard";
      case ShardErrc::oversize: return "shard message over its size cap";
      case ShardErrc::too_old: return "collation period too old";
      case ShardErrc::duplicate: return "collation already seen";
      case ShardErrc::future: return "too far in the future";
      case ShardErrc::body_mismatch: return "collation body does not match its hash";
      case ShardErrc::unknown_proposer: return "collation proposer is not a known validator";
    }
    return "unknown shard error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<ShardErrc>(c)) {
      case ShardErrc::malformed:
      case ShardErrc::bad_signature:
      case ShardErrc::wrong_shard_count:
      case ShardErrc::wrong_shard:
      case ShardErrc::future:
      case ShardErrc::body_mismatch:
      case ShardErrc::unknown_proposer: return Condition::invalid_input;
      case ShardErrc::oversize: return Condition::resource_exhausted;
      case ShardErrc::stale:
      case ShardErrc::duplicate: return Condition::already_exists;
      case ShardErrc::expired:
      case ShardErrc::too_old: return Condition::state_violation;
    }
    return {c, *this};
  }
};

}  // namespace

const std::error_category& shard_category() noexcept { static ShardCategory c; return c; }
std::error_code make_error_code(ShardErrc e) noexcept { return {static_cast<int>(e), shard_category()}; }

}  // namespace shardnode

// The collation store (shard/store.h).
namespace shardnode {
namespace {

class StoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "store"; }
  std::string message(int c) const override {
    switch (static_cast<StoreErrc>(c)) {
      case StoreErrc::io: return "collation store i/o error";
      case StoreErrc::not_a_database: return "not an SQLite database";
      case StoreErrc::corrupt: return "collation store is corrupt";
      case StoreErrc::newer_schema: return "collation store written by a newer version";
      case StoreErrc::foreign_database: return "SQLite database is not a collation store";
    }
    return "unknown store error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<StoreErrc>(c)) {
      case StoreErrc::io: return Condition::io_failure;
      case StoreErrc::not_a_database:
      case StoreErrc::corrupt:
      case StoreErrc::foreign_database: return Condition::invalid_input;
      case StoreErrc::newer_schema: return Condition::state_violation;
    }
    return {c, *this};
  }
};

}  // namespace

const std::error_category& store_category() noexcept { static StoreCategory c; return c; }
std::error_code make_error_code(StoreErrc e) noexcept { return {static_cast<int>(e), store_category()}; }

}  // namespace shardnode
