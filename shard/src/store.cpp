#include "shardnode/shard/store.h"

#include <cstring>
#include <string>
#include <utility>

#include "shardnode/core/errors.h"
#include "shardnode/shard/errors.h"
#include "shardnode/shard/sqlite_file.h"

namespace shardnode::shard {

using sqlite::bind_blob;
using sqlite::bind_u64;
using sqlite::kMaxSqlInt;
using sqlite::StmtPtr;
using sqlite::StmtUse;

namespace {

Error sql_error(const std::filesystem::path& file, sqlite3* db, int rc, const std::string& what) {
  return sqlite::sql_error({"collation store", file}, db, rc, what);
}

}  // namespace

struct SqliteCollationStore::Impl {
  sqlite::DbPtr db;  // declared first: destroyed after the statements
  StmtPtr put;
  StmtPtr get;
  StmtPtr contains;
  StmtPtr range;
  StmtPtr prune;
  StmtPtr count;
};

namespace {

constexpr const char* kSchema =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE collations ("
    "  hash BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),"
    "  shard INTEGER NOT NULL,"
    "  period INTEGER NOT NULL,"
    "  proposer BLOB NOT NULL CHECK (length(proposer) = 32),"
    "  data BLOB NOT NULL,"
    "  received_at_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX collations_shard_period ON collations (shard, period, hash);"
    "CREATE INDEX collations_period ON collations (period);"
    "PRAGMA user_version = 1;"
    "COMMIT;";
static_assert(kStoreSchemaVersion == 1, "update kSchema's user_version");

}  // namespace

SqliteCollationStore::SqliteCollationStore(std::unique_ptr<Impl> impl, std::filesystem::path file, StoreLimits limits)
    : impl_(std::move(impl)), file_(std::move(file)), limits_(limits) {}

SqliteCollationStore::~SqliteCollationStore() = default;

Result<std::unique_ptr<SqliteCollationStore>> SqliteCollationStore::open(const std::filesystem::path& file, StoreLimits limits) {
  const sqlite::FileName fname{"collation store", file};
  auto opened = sqlite::open_checked(fname, {kStoreSchemaVersion, kSchema, limits.full_sync, limits.busy_timeout_ms});
  if (!opened) return opened.error();
  sqlite::DbPtr db = std::move(opened->db);

  auto impl = std::make_unique<Impl>();
  struct {
    StmtPtr* slot;
    const char* sql;
  } const stmts[] = {
      {&impl->put, "INSERT OR IGNORE INTO collations (hash, shard, period, proposer, data, received_at_ms) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
      {&impl->get, "SELECT shard, period, data FROM collations WHERE hash = ?1"},
      {&impl->contains, "SELECT 1 FROM collations WHERE hash = ?1"},
      {&impl->range, "SELECT hash, shard, period, data FROM collations WHERE shard = ?1 AND period >= ?2 AND "
                     "period <= ?3 ORDER BY period, hash LIMIT ?4"},
      {&impl->prune, "DELETE FROM collations WHERE period < ?1"},
      {&impl->count, "SELECT count(*) FROM collations"},
  };
  for (const auto& s : stmts) {
    auto p = sqlite::prepare(db.get(), fname, s.sql);
    if (!p) return p.error();
    *s.slot = std::move(*p);
  }
  impl->db = std::move(db);
  return std::unique_ptr<SqliteCollationStore>(new SqliteCollationStore(std::move(impl), file, limits));
}

Result<bool> SqliteCollationStore::put(const Collation& c, std::int64_t received_at_ms) {
  if (c.header.period > kMaxSqlInt)
    return Error{ShardErrc::future, "collation store: period " + std::to_string(c.header.period) + " cannot be stored"};
  const Bytes data = encode(c);
  // Store only what a read will accept: the same decoder, the same limits.
  if (auto d = decode_collation(data, limits_.collation); !d) return d.error();
  const Hash32 hash = collation_hash(c.header);
  StmtUse s(impl_->put.get());
  bind_blob(s.get(), 1, hash.data(), hash.size());
  sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(c.header.shard));
  bind_u64(s.get(), 3, c.header.period);
  bind_blob(s.get(), 4, c.header.proposer.bytes.data(), c.header.proposer.bytes.size());
  bind_blob(s.get(), 5, data.data(), data.size());
  sqlite3_bind_int64(s.get(), 6, received_at_ms);
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_DONE) return sql_error(file_, impl_->db.get(), rc, "put");
  return sqlite3_changes(impl_->db.get()) == 1;
}

namespace {

// Decodes and verifies one stored row against the columns it was found by.
Result<Collation> decode_row(const std::filesystem::path& file, const CollationLimits& limits, const Hash32& hash,
                             sqlite3_stmt* s, int shard_col, int period_col, int data_col) {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, data_col));
  const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, data_col));
  auto hex = [&] {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < 8; ++i) {
      out += digits[hash[i] >> 4];
      out += digits[hash[i] & 0xf];
    }
    return out + "...";
  };
  auto c = decode_collation(ByteView(p, p == nullptr ? 0 : n), limits);
  if (!c)
    return Error{StoreErrc::corrupt, "collation store " + file.string() + ": stored collation " + hex() +
                                         " does not decode: " + c.error().what()};
  if (collation_hash(c->header) != hash ||
      static_cast<std::int64_t>(c->header.shard) != sqlite3_column_int64(s, shard_col) ||
      static_cast<std::int64_t>(c->header.period) != sqlite3_column_int64(s, period_col))
    return Error{StoreErrc::corrupt, "collation store " + file.string() + ": stored collation " + hex() +
                                         " does not match its key, shard or period"};
  return c;
}

}  // namespace

Result<std::optional<Collation>> SqliteCollationStore::get(const Hash32& hash) {
  StmtUse s(impl_->get.get());
  bind_blob(s.get(), 1, hash.data(), hash.size());
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE) return std::optional<Collation>{};
  if (rc != SQLITE_ROW) return sql_error(file_, impl_->db.get(), rc, "get");
  auto c = decode_row(file_, limits_.collation, hash, s.get(), 0, 1, 2);
  if (!c) return c.error();
  return std::optional<Collation>(std::move(*c));
}

bool SqliteCollationStore::contains(const Hash32& hash) {
  StmtUse s(impl_->contains.get());
  bind_blob(s.get(), 1, hash.data(), hash.size());
  return sqlite3_step(s.get()) == SQLITE_ROW;
}

Result<RangeResult> SqliteCollationStore::range(std::uint32_t shard, std::uint64_t from_period, std::uint64_t to_period,
                                          std::size_t max_count, std::size_t max_bytes) {
  RangeResult out;
  if (from_period > to_period || from_period > kMaxSqlInt) return out;
  StmtUse s(impl_->range.get());
  sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(shard));
  bind_u64(s.get(), 2, from_period);
  bind_u64(s.get(), 3, to_period);
  // One more than asked for, to tell "exactly max_count" from "more".
  bind_u64(s.get(), 4, static_cast<std::uint64_t>(max_count) + 1);
  std::size_t bytes = 0;
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s.get(), 3));
    if (out.collations.size() == max_count || n > max_bytes - bytes) {
      out.truncated = true;
      return out;
    }
    Hash32 hash{};
    const auto* h = static_cast<const std::uint8_t*>(sqlite3_column_blob(s.get(), 0));
    if (h == nullptr || sqlite3_column_bytes(s.get(), 0) != 32)
      return Error{StoreErrc::corrupt, "collation store " + file_.string() + ": a stored key is not 32 bytes"};
    std::memcpy(hash.data(), h, hash.size());
    auto c = decode_row(file_, limits_.collation, hash, s.get(), 1, 2, 3);
    if (!c) return c.error();
    bytes += n;
    out.collations.push_back(std::move(*c));
  }
  if (rc != SQLITE_DONE) return sql_error(file_, impl_->db.get(), rc, "range");
  return out;
}

Result<std::size_t> SqliteCollationStore::prune_before(std::uint64_t period) {
  StmtUse s(impl_->prune.get());
  bind_u64(s.get(), 1, period);
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_DONE) return sql_error(file_, impl_->db.get(), rc, "prune");
  return static_cast<std::size_t>(sqlite3_changes64(impl_->db.get()));
}

Result<std::size_t> SqliteCollationStore::count() {
  StmtUse s(impl_->count.get());
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_ROW) return sql_error(file_, impl_->db.get(), rc, "count");
  return static_cast<std::size_t>(sqlite3_column_int64(s.get(), 0));
}

}  // namespace shardnode::shard
