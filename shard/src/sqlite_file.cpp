#include "shardnode/shard/sqlite_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace shardnode::sqlite {
namespace {

StoreErrc errc_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOTADB: return StoreErrc::not_a_database;
    case SQLITE_CORRUPT: return StoreErrc::corrupt;
    default: return StoreErrc::io;
  }
}

Status quick_check(sqlite3* db, const FileName& f) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &raw, nullptr);
  StmtPtr s(raw);
  if (rc != SQLITE_OK) return sql_error(f, db, rc, "PRAGMA quick_check");
  std::string problems;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(s.get(), 0);
    const std::string line = t == nullptr ? "" : reinterpret_cast<const char*>(t);
    if (line == "ok") continue;
    if (!problems.empty()) problems += "; ";
    problems += line;
  }
  if (rc != SQLITE_DONE) return sql_error(f, db, rc, "PRAGMA quick_check");
  if (!problems.empty())
    return Error{StoreErrc::corrupt, f.text() + " is corrupt (PRAGMA quick_check: " + problems +
                                         ") - refusing it; the file is left as it is (move it away to start afresh)"};
  return {};
}

}  // namespace

int bind_blob(sqlite3_stmt* s, int idx, const std::uint8_t* data, std::size_t n) {
  return sqlite3_bind_blob64(s, idx, data, static_cast<sqlite3_uint64>(n), SQLITE_STATIC);
}

int bind_u64(sqlite3_stmt* s, int idx, std::uint64_t v) {
  return sqlite3_bind_int64(s, idx, static_cast<sqlite3_int64>(v < kMaxSqlInt ? v : kMaxSqlInt));
}

Error sql_error(const FileName& f, sqlite3* db, int rc, const std::string& what) {
  std::string msg = f.text() + ": " + what + ": " + sqlite3_errstr(rc);
  if (db != nullptr) {
    const char* detail = sqlite3_errmsg(db);
    if (detail != nullptr && std::strcmp(detail, sqlite3_errstr(rc)) != 0) msg += std::string(" (") + detail + ")";
  }
  const StoreErrc e = errc_of(rc);
  if (e == StoreErrc::not_a_database) msg += " - refusing it; the file is left as it is";
  if (e == StoreErrc::corrupt) msg += " - refusing it; the file is left as it is (move it away to start afresh)";
  return Error{e, std::move(msg)};
}

Status exec(sqlite3* db, const FileName& f, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = f.text() + ": " + sql + ": " + sqlite3_errstr(rc);
    if (err != nullptr) msg += std::string(" (") + err + ")";
    sqlite3_free(err);
    return Error{errc_of(rc), std::move(msg)};
  }
  return {};
}

Result<std::int64_t> query_int(sqlite3* db, const FileName& f, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  StmtPtr s(raw);
  if (rc != SQLITE_OK) return sql_error(f, db, rc, sql);
  rc = sqlite3_step(s.get());
  if (rc != SQLITE_ROW) return sql_error(f, db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql);
  return static_cast<std::int64_t>(sqlite3_column_int64(s.get(), 0));
}

Result<StmtPtr> prepare(sqlite3* db, const FileName& f, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr s(raw);
  if (rc != SQLITE_OK) return sql_error(f, db, rc, std::string("preparing ") + sql);
  return s;
}

Result<Opened> open_checked(const FileName& f, const OpenOptions& o) {
  const std::string name = f.path.string();
  // Create the file ourselves so it starts with mode 0600; never truncate one found.
  const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    return Error{StoreErrc::io, f.text() + ": cannot create: " + std::strerror(errno)};
  }

  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) return sql_error(f, db.get(), rc, "cannot open");
  sqlite3_extended_result_codes(db.get(), 0);
  sqlite3_busy_timeout(db.get(), o.busy_timeout_ms);

  // Reads first: nothing is written before the file is known to be ours and sound.
  auto version = query_int(db.get(), f, "PRAGMA user_version");
  if (!version) return version.error();
  if (*version > o.schema_version)
    return Error{StoreErrc::newer_schema, f.text() + " has schema version " + std::to_string(*version) +
                                              ", this build knows up to " + std::to_string(o.schema_version) +
                                              " - refusing it; the file is left as it is"};
  if (*version < 0)
    return Error{StoreErrc::foreign_database,
                 f.text() + ": schema version " + std::to_string(*version) + " is not ours"};
  if (Status st = quick_check(db.get(), f); !st) return st.error();
  if (*version == 0) {
    auto tables = query_int(db.get(), f, "SELECT count(*) FROM sqlite_schema");
    if (!tables) return tables.error();
    if (*tables != 0)
      return Error{StoreErrc::foreign_database, f.text() +
                                                    " is an SQLite database with other tables and no schema version "
                                                    "- not a " + f.kind + "; refusing it"};
  }

  if (Status st = exec(db.get(), f, "PRAGMA journal_mode = WAL"); !st) return st.error();
  if (Status st = exec(db.get(), f, o.full_sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"); !st)
    return st.error();
  if (*version == 0) {
    if (Status st = exec(db.get(), f, o.schema_sql); !st) {
      (void)sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return st.error();
    }
  }
  return Opened{std::move(db), *version};
}

}  // namespace shardnode::sqlite
