// CollationStore: where a node keeps the collations it accepted, keyed by collation
// id - an interface with two implementations: SqliteCollationStore (below, the
// node's durable store) and MemoryCollationStore (memory_store.h: the simulator, and
// a node without a store file). CollationRuntime (collation_runtime.h) is their user.
//
// SqliteCollationStore: collations kept on disk in one SQLite file.
//
//   table collations(hash BLOB(32) PRIMARY KEY, shard, period, proposer BLOB(32),
//                    data BLOB = encode(collation), received_at_ms) WITHOUT ROWID
//   indexes (shard, period) for range queries, (period) for pruning
//   PRAGMA user_version = kStoreSchemaVersion
//
// Durability: WAL journal. With the default synchronous=NORMAL every committed put
// survives a crash of the process (the WAL is in the kernel's page cache); a power
// loss or kernel crash may lose the last transactions, never the database's
// consistency. `StoreLimits::full_sync` selects synchronous=FULL (an fsync per commit)
// for those who need the last put to survive power loss too. Collations can be
// fetched again from peers, so NORMAL is the default.
//
// Open is careful with what it finds: the file is created with mode 0600 when absent
// (SQLite gives the -wal and -shm files the same mode); an existing file is read
// before anything is written to it: not an SQLite database -> StoreErrc::not_a_database,
// PRAGMA quick_check failing -> corrupt, a newer schema version -> newer_schema, an
// SQLite database holding other tables -> foreign_database. Every error names the
// file; a refused file is never deleted, repaired or overwritten. quick_check reads
// the whole file, so open takes time proportional to the store's size.
//
// Every row read back is decoded with decode_collation (sizes, body hash, signature)
// and checked against its key, shard and period; a row that fails is reported as
// StoreErrc::corrupt, never returned. Not thread-safe: one store per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

inline constexpr int kStoreSchemaVersion = 1;

struct StoreLimits {
  CollationLimits collation;     // puts must pass, and reads are verified with, these limits
  bool full_sync = false;        // synchronous=FULL instead of NORMAL (see above)
  int busy_timeout_ms = 5000;    // wait this long for another connection's lock
};

struct RangeResult {
  std::vector<Collation> collations;
  bool truncated = false;  // more collations matched than max_count / max_bytes allowed
};

class CollationStore {
 public:
  virtual ~CollationStore() = default;

  // Stores encode(c) under collation_hash(c.header). True if new, false if already
  // held (idempotent). The collation is verified first (decode_collation of its
  // encoding under the store's CollationLimits: size, body hash, signature ->
  // ShardErrc); a period above 2^63-1 is ShardErrc::future. `received_at_ms` is the
  // caller's wall clock (unix milliseconds; 0 when unknown) - the store reads no clock.
  virtual Result<bool> put(const Collation& c, std::int64_t received_at_ms) = 0;
  Result<bool> put(const Collation& c) { return put(c, 0); }

  virtual Result<std::optional<Collation>> get(const Hash32& hash) = 0;
  // False on a read error as well as when absent.
  virtual bool contains(const Hash32& hash) = 0;

  // Collations of `shard` with from_period <= period <= to_period, ordered by period
  // then hash. At most max_count of them, and at most max_bytes of encoded collations
  // in total; `truncated` is set when more matched (including when the first alone is
  // larger than max_bytes: then the result is empty and truncated).
  virtual Result<RangeResult> range(std::uint32_t shard, std::uint64_t from_period, std::uint64_t to_period,
                                    std::size_t max_count, std::size_t max_bytes) = 0;

  // Deletes every collation with period < `period`; returns how many.
  virtual Result<std::size_t> prune_before(std::uint64_t period) = 0;
  virtual Result<std::size_t> count() = 0;
};

class SqliteCollationStore final : public CollationStore {
 public:
  static Result<std::unique_ptr<SqliteCollationStore>> open(const std::filesystem::path& file, StoreLimits limits = {});
  ~SqliteCollationStore() override;
  SqliteCollationStore(const SqliteCollationStore&) = delete;
  SqliteCollationStore& operator=(const SqliteCollationStore&) = delete;

  using CollationStore::put;
  Result<bool> put(const Collation& c, std::int64_t received_at_ms) override;
  Result<std::optional<Collation>> get(const Hash32& hash) override;
  bool contains(const Hash32& hash) override;
  Result<RangeResult> range(std::uint32_t shard, std::uint64_t from_period, std::uint64_t to_period,
                            std::size_t max_count, std::size_t max_bytes) override;
  Result<std::size_t> prune_before(std::uint64_t period) override;
  Result<std::size_t> count() override;

  const std::filesystem::path& file() const { return file_; }

  struct Impl;

 private:
  explicit SqliteCollationStore(std::unique_ptr<Impl> impl, std::filesystem::path file, StoreLimits limits);
  std::unique_ptr<Impl> impl_;
  std::filesystem::path file_;
  StoreLimits limits_;
};

}  // namespace shardnode::shard
