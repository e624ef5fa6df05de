// What the node's SQLite files (the collation store, node/'s peer store) share: opening
// a file carefully and the small RAII helpers around SQLite's C API.
//
// open_checked creates the file with mode 0600 when absent and reads an existing one
// before writing anything to it: not an SQLite database -> StoreErrc::not_a_database,
// PRAGMA quick_check failing -> corrupt, a newer schema version -> newer_schema, an
// SQLite database holding other tables (or a negative version) -> foreign_database.
// Every error names the file and its kind ("collation store", "peer store"); a refused
// file is never deleted, repaired or overwritten. A new file gets `schema_sql` (which
// must set PRAGMA user_version), WAL journalling and the chosen synchronous mode.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "shardnode/core/result.h"
#include "shardnode/shard/errors.h"

namespace shardnode::sqlite {

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

// A file and what it is, for error messages: {"collation store", path}.
struct FileName {
  std::string kind;
  std::filesystem::path path;
  std::string text() const { return kind + " " + path.string(); }
};

inline constexpr std::uint64_t kMaxSqlInt = 0x7fffffffffffffffULL;

int bind_blob(sqlite3_stmt* s, int idx, const std::uint8_t* data, std::size_t n);  // SQLITE_STATIC
int bind_u64(sqlite3_stmt* s, int idx, std::uint64_t v);                           // saturates at 2^63-1

Error sql_error(const FileName& f, sqlite3* db, int rc, const std::string& what);
Status exec(sqlite3* db, const FileName& f, const char* sql);                 // no rows of interest
Result<std::int64_t> query_int(sqlite3* db, const FileName& f, const char* sql);  // one integer
Result<StmtPtr> prepare(sqlite3* db, const FileName& f, const char* sql);         // persistent

struct OpenOptions {
  int schema_version = 1;          // what this build writes and understands
  const char* schema_sql = "";     // run on a new (empty) file, inside its own transaction
  bool full_sync = false;          // synchronous=FULL instead of NORMAL
  int busy_timeout_ms = 5000;
};

struct Opened {
  DbPtr db;
  std::int64_t found_version = 0;  // 0: the file was new (schema_sql ran)
};

Result<Opened> open_checked(const FileName& f, const OpenOptions& o);

}  // namespace shardnode::sqlite
