#include "shardnode/shard/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "shardnode/core/errors.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

namespace {

constexpr std::uint64_t kMaxSqlInt = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

struct DbCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Resets a prepared statement (and clears its bindings) when a call using it ends.
class StmtUse {
 public:
  explicit StmtUse(sqlite3_stmt* s) : s_(s) {}
  ~StmtUse() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_;
};

StoreErrc errc_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB: return StoreErrc::not_a_database;
    case SQLITE_CORRUPT: return StoreErrc::corrupt;
    default: return StoreErrc::io;
  }
}

Error sql_error(const std::filesystem::path& file, sqlite3* db, int rc, const std::string& what) {
  std::string msg = "collation store " + file.string() + ": " + what + ": " + sqlite3_errstr(rc);
  if (db != nullptr) {
    const char* detail = sqlite3_errmsg(db);
    if (detail != nullptr && std::strcmp(detail, sqlite3_errstr(rc)) != 0) msg += std::string(" (") + detail + ")";
  }
  const StoreErrc e = errc_of(rc);
  if (e == StoreErrc::not_a_database) msg += " - refusing it; the file is left as it is";
  if (e == StoreErrc::corrupt) msg += " - refusing it; the file is left as it is (move it away to start afresh)";
  return Error{e, std::move(msg)};
}

int bind_blob(sqlite3_stmt* s, int idx, const std::uint8_t* data, std::size_t n) {
  return sqlite3_bind_blob64(s, idx, data, static_cast<sqlite3_uint64>(n), SQLITE_STATIC);
}

int bind_u64(sqlite3_stmt* s, int idx, std::uint64_t v) {
  return sqlite3_bind_int64(s, idx, static_cast<sqlite3_int64>(v < kMaxSqlInt ? v : kMaxSqlInt));
}

}  // namespace

struct SqliteCollationStore::Impl {
  DbPtr db;  // declared first: destroyed after the statements
  StmtPtr put;
  StmtPtr get;
  StmtPtr contains;
  StmtPtr range;
  StmtPtr prune;
  StmtPtr count;
};

namespace {

// Runs SQL that returns no rows of interest.
Status exec(sqlite3* db, const std::filesystem::path& file, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = "collation store " + file.string() + ": " + sql + ": " + sqlite3_errstr(rc);
    if (err != nullptr) msg += std::string(" (") + err + ")";
    sqlite3_free(err);
    return Error{errc_of(rc), std::move(msg)};
  }
  return {};
}

// Runs a statement returning one integer (PRAGMA user_version, count(*)).
Result<std::int64_t> query_int(sqlite3* db, const std::filesystem::path& file, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  StmtPtr s(raw);
  if (rc != SQLITE_OK) return sql_error(file, db, rc, sql);
  rc = sqlite3_step(s.get());
  if (rc != SQLITE_ROW) return sql_error(file, db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql);
  return static_cast<std::int64_t>(sqlite3_column_int64(s.get(), 0));
}

Status quick_check(sqlite3* db, const std::filesystem::path& file) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &raw, nullptr);
  StmtPtr s(raw);
  if (rc != SQLITE_OK) return sql_error(file, db, rc, "PRAGMA quick_check");
  std::string problems;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(s.get(), 0);
    const std::string line = t == nullptr ? "" : reinterpret_cast<const char*>(t);
    if (line == "ok") continue;
    if (!problems.empty()) problems += "; ";
    problems += line;
  }
  if (rc != SQLITE_DONE) return sql_error(file, db, rc, "PRAGMA quick_check");
  if (!problems.empty())
    return Error{StoreErrc::corrupt, "collation store " + file.string() + " is corrupt (PRAGMA quick_check: " +
                                         problems + ") - refusing it; the file is left as it is (move it away to start afresh)"};
  return {};
}

Result<StmtPtr> prepare(sqlite3* db, const std::filesystem::path& file, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr s(raw);
  if (rc != SQLITE_OK) return sql_error(file, db, rc, std::string("preparing ") + sql);
  return s;
}

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
  const std::string name = file.string();
  // Create the file ourselves so it starts with mode 0600; never truncate one found.
  const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    return Error{StoreErrc::io, "collation store " + name + ": cannot create: " + std::strerror(errno)};
  }

  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) return sql_error(file, db.get(), rc, "cannot open");
  sqlite3_extended_result_codes(db.get(), 0);
  sqlite3_busy_timeout(db.get(), limits.busy_timeout_ms);

  // Reads first: nothing is written before the file is known to be ours and sound.
  auto version = query_int(db.get(), file, "PRAGMA user_version");
  if (!version) return version.error();
  if (*version > kStoreSchemaVersion)
    return Error{StoreErrc::newer_schema, "collation store " + name + " has schema version " +
                                              std::to_string(*version) + ", this build knows up to " +
                                              std::to_string(kStoreSchemaVersion) + " - refusing it; the file is left as it is"};
  if (*version < 0)
    return Error{StoreErrc::foreign_database,
                 "collation store " + name + ": schema version " + std::to_string(*version) + " is not ours"};
  if (Status st = quick_check(db.get(), file); !st) return st.error();
  if (*version == 0) {
    auto tables = query_int(db.get(), file, "SELECT count(*) FROM sqlite_schema");
    if (!tables) return tables.error();
    if (*tables != 0)
      return Error{StoreErrc::foreign_database, "collation store " + name +
                                                    " is an SQLite database with other tables and no schema version "
                                                    "- not a collation store; refusing it"};
  }

  if (Status st = exec(db.get(), file, "PRAGMA journal_mode = WAL"); !st) return st.error();
  if (Status st = exec(db.get(), file, limits.full_sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"); !st)
    return st.error();
  if (*version == 0) {
    if (Status st = exec(db.get(), file, kSchema); !st) {
      (void)sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return st.error();
    }
  }

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
    auto p = prepare(db.get(), file, s.sql);
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
