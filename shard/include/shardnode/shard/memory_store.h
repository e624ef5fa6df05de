// MemoryCollationStore: the CollationStore (store.h) in memory - the simulator's store,
// and a node's when it keeps no store file. Same contract as SqliteCollationStore:
// put verifies (unless told its caller already did), range orders by period then id
// and caps count and bytes the same way. Nothing survives the process.
#pragma once

#include <map>
#include <set>
#include <tuple>

#include "shardnode/shard/store.h"

namespace shardnode::shard {

class MemoryCollationStore final : public CollationStore {
 public:
  struct Options {
    CollationLimits collation;
    // put() decodes and verifies like the SQLite store. Off only where every put comes
    // from check_collation or decode_collation already (the simulator, to halve its
    // signature checks); put then still refuses a period above 2^63-1.
    bool verify = true;
  };
  MemoryCollationStore() = default;
  explicit MemoryCollationStore(Options o) : opts_(o) {}

  using CollationStore::put;
  Result<bool> put(const Collation& c, std::int64_t received_at_ms) override;
  Result<std::optional<Collation>> get(const Hash32& hash) override;
  bool contains(const Hash32& hash) override { return by_id_.count(hash) != 0; }
  Result<RangeResult> range(std::uint32_t shard, std::uint64_t from_period, std::uint64_t to_period,
                            std::size_t max_count, std::size_t max_bytes) override;
  Result<std::size_t> prune_before(std::uint64_t period) override;
  Result<std::size_t> count() override { return by_id_.size(); }

  // Direct reads for tests and the simulator (no copy).
  const Collation* find(const Hash32& hash) const;
  std::set<Hash32> ids(std::optional<std::uint32_t> shard = std::nullopt) const;

 private:
  struct Entry {
    Collation collation;
    std::size_t encoded_size = 0;
  };
  using Key = std::tuple<std::uint32_t, std::uint64_t, Hash32>;  // shard, period, id
  Options opts_;
  std::map<Hash32, Entry> by_id_;
  std::set<Key> index_;
};

}  // namespace shardnode::shard
