#include "shardnode/node/peer_store.h"

#include <algorithm>
#include <string>
#include <utility>

#include "shardnode/shard/sqlite_file.h"

namespace shardnode::node {

using sqlite::bind_blob;
using sqlite::bind_u64;
using sqlite::StmtPtr;
using sqlite::StmtUse;

namespace {

constexpr const char* kSchema =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE peers ("
    "  peer_id BLOB PRIMARY KEY NOT NULL,"
    "  envelope BLOB NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  last_seen_ms INTEGER NOT NULL,"
    "  last_reachable_ms INTEGER NOT NULL,"
    "  failures INTEGER NOT NULL,"
    "  score REAL NOT NULL,"
    "  score_at_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX peers_eviction ON peers (last_reachable_ms, failures, last_seen_ms);"
    "PRAGMA user_version = 1;"
    "COMMIT;";
static_assert(kPeerStoreSchemaVersion == 1, "update kSchema's user_version");

constexpr const char* kColumns = "peer_id, envelope, last_seen_ms, last_reachable_ms, failures, score, score_at_ms";

}  // namespace

struct PeerStore::Impl {
  sqlite::DbPtr db;  // declared first: destroyed after the statements
  sqlite::FileName name;
  StmtPtr seq, insert, update_record, remove, reachable, failed, score, get, candidates, count, evict;
};

PeerStore::PeerStore(std::unique_ptr<Impl> impl, std::filesystem::path file, PeerStoreLimits limits)
    : impl_(std::move(impl)), file_(std::move(file)), limits_(limits) {}

PeerStore::~PeerStore() = default;

Result<std::unique_ptr<PeerStore>> PeerStore::open(const std::filesystem::path& file, PeerStoreLimits limits) {
  if (limits.max_peers == 0) return Error{StoreErrc::io, "peer store " + file.string() + ": max_peers must be at least 1"};
  auto impl = std::make_unique<Impl>();
  impl->name = {"peer store", file};
  auto opened = sqlite::open_checked(impl->name, {kPeerStoreSchemaVersion, kSchema, limits.full_sync, limits.busy_timeout_ms});
  if (!opened) return opened.error();
  const std::string select = std::string("SELECT ") + kColumns + " FROM peers ";
  const std::string get_sql = select + "WHERE peer_id = ?1";
  const std::string cand_sql = select +
                               "WHERE failures < ?1 AND NOT (score < 0 AND score_at_ms > ?2) "
                               "ORDER BY last_reachable_ms DESC, failures ASC, last_seen_ms DESC LIMIT ?3";
  struct {
    StmtPtr* slot;
    const char* sql;
  } const stmts[] = {
      {&impl->seq, "SELECT seq FROM peers WHERE peer_id = ?1"},
      {&impl->insert, "INSERT INTO peers (peer_id, envelope, seq, last_seen_ms, last_reachable_ms, failures, score, "
                      "score_at_ms) VALUES (?1, ?2, ?3, ?4, 0, 0, 0, 0)"},
      {&impl->update_record, "UPDATE peers SET envelope = ?2, seq = ?3, last_seen_ms = max(last_seen_ms, ?4) "
                             "WHERE peer_id = ?1"},
      {&impl->remove, "DELETE FROM peers WHERE peer_id = ?1 AND seq < ?2"},
      {&impl->reachable, "UPDATE peers SET last_reachable_ms = ?2, last_seen_ms = max(last_seen_ms, ?2), failures = 0 "
                         "WHERE peer_id = ?1"},
      {&impl->failed, "UPDATE peers SET failures = min(failures + 1, 1000000) WHERE peer_id = ?1"},
      {&impl->score, "UPDATE peers SET score = ?2, score_at_ms = ?3 WHERE peer_id = ?1"},
      {&impl->get, get_sql.c_str()},
      {&impl->candidates, cand_sql.c_str()},
      {&impl->count, "SELECT count(*) FROM peers"},
      {&impl->evict, "DELETE FROM peers WHERE peer_id = (SELECT peer_id FROM peers WHERE peer_id != ?1 "
                     "ORDER BY last_reachable_ms ASC, failures DESC, last_seen_ms ASC LIMIT 1)"},
  };
  for (const auto& s : stmts) {
    auto p = sqlite::prepare(opened->db.get(), impl->name, s.sql);
    if (!p) return p.error();
    *s.slot = std::move(*p);
  }
  impl->db = std::move(opened->db);
  return std::unique_ptr<PeerStore>(new PeerStore(std::move(impl), file, limits));
}

namespace {

// Runs a statement that changes rows; binds `peer` as ?1 first.
template <class Bind>
Status run(sqlite3* db, const sqlite::FileName& name, sqlite3_stmt* stmt, const PeerId& peer, const char* what,
           Bind bind) {
  StmtUse s(stmt);
  bind_blob(s.get(), 1, peer.bytes().data(), peer.bytes().size());
  bind(s.get());
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_DONE) return sqlite::sql_error(name, db, rc, what);
  return {};
}

// One row (columns in kColumns' order), re-verified.
Result<StoredPeer> read_row(const sqlite::FileName& name, sqlite3_stmt* s) {
  const auto* idp = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, 0));
  const Bytes id(idp, idp + (idp == nullptr ? 0 : sqlite3_column_bytes(s, 0)));
  const auto* ep = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, 1));
  const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, 1));
  auto rec = net::open_peer_record(ByteView(ep, ep == nullptr ? 0 : n));
  if (!rec)
    return Error{StoreErrc::corrupt, name.text() + ": a stored peer record does not verify: " + rec.error().what()};
  if (rec->record.peer.bytes() != id)
    return Error{StoreErrc::corrupt, name.text() + ": the stored record of " + rec->record.peer.to_string() +
                                         " is filed under another peer id"};
  StoredPeer p;
  p.record = std::move(*rec);
  p.last_seen_ms = sqlite3_column_int64(s, 2);
  p.last_reachable_ms = sqlite3_column_int64(s, 3);
  p.failures = static_cast<std::uint32_t>(std::clamp<sqlite3_int64>(sqlite3_column_int64(s, 4), 0, 1000000));
  p.score = sqlite3_column_double(s, 5);
  p.score_at_ms = sqlite3_column_int64(s, 6);
  return p;
}

}  // namespace

Result<bool> PeerStore::put_record(const net::SignedPeerRecord& r, std::int64_t now_ms) {
  sqlite3* db = impl_->db.get();
  const PeerId& peer = r.record.peer;
  const std::uint64_t seq = std::min(r.record.seq, sqlite::kMaxSqlInt);
  std::optional<std::uint64_t> held;
  {
    StmtUse s(impl_->seq.get());
    bind_blob(s.get(), 1, peer.bytes().data(), peer.bytes().size());
    const int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) held = static_cast<std::uint64_t>(sqlite3_column_int64(s.get(), 0));
    else if (rc != SQLITE_DONE) return sqlite::sql_error(impl_->name, db, rc, "put_record");
  }
  if (held && *held >= seq) return false;
  auto bind = [&](sqlite3_stmt* s) {
    bind_blob(s, 2, r.envelope.data(), r.envelope.size());
    bind_u64(s, 3, seq);
    sqlite3_bind_int64(s, 4, now_ms);
  };
  if (held) {
    if (Status st = run(db, impl_->name, impl_->update_record.get(), peer, "put_record", bind); !st) return st.error();
    return true;
  }
  if (Status st = run(db, impl_->name, impl_->insert.get(), peer, "put_record", bind); !st) return st.error();
  if (Status st = evict_over_cap(peer); !st) return st.error();
  return true;
}

Result<bool> PeerStore::retire(const net::SignedPeerRecord& r) {
  sqlite3* db = impl_->db.get();
  const PeerId& peer = r.record.peer;
  if (Status st = run(db, impl_->name, impl_->remove.get(), peer, "retire",
                      [&](sqlite3_stmt* s) { bind_u64(s, 2, std::min(r.record.seq, sqlite::kMaxSqlInt)); });
      !st)
    return st.error();
  return sqlite3_changes(db) > 0;
}

Status PeerStore::evict_over_cap(const PeerId& keep) {
  auto n = count();
  if (!n) return n.error();
  for (std::size_t i = *n; i > limits_.max_peers; --i)
    if (Status st = run(impl_->db.get(), impl_->name, impl_->evict.get(), keep, "evict", [](sqlite3_stmt*) {}); !st)
      return st;
  return {};
}

Status PeerStore::mark_reachable(const PeerId& peer, std::int64_t now_ms) {
  return run(impl_->db.get(), impl_->name, impl_->reachable.get(), peer, "mark_reachable",
             [&](sqlite3_stmt* s) { sqlite3_bind_int64(s, 2, now_ms); });
}

Status PeerStore::mark_dial_failed(const PeerId& peer) {
  return run(impl_->db.get(), impl_->name, impl_->failed.get(), peer, "mark_dial_failed", [](sqlite3_stmt*) {});
}

Status PeerStore::retain_score(const PeerId& peer, double score, std::int64_t now_ms) {
  const double kept = score < 0 ? score : 0.0;
  return run(impl_->db.get(), impl_->name, impl_->score.get(), peer, "retain_score", [&](sqlite3_stmt* s) {
    sqlite3_bind_double(s, 2, kept);
    sqlite3_bind_int64(s, 3, kept < 0 ? now_ms : 0);
  });
}

Result<std::optional<StoredPeer>> PeerStore::get(const PeerId& peer) {
  StmtUse s(impl_->get.get());
  bind_blob(s.get(), 1, peer.bytes().data(), peer.bytes().size());
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE) return std::optional<StoredPeer>{};
  if (rc != SQLITE_ROW) return sqlite::sql_error(impl_->name, impl_->db.get(), rc, "get");
  auto p = read_row(impl_->name, s.get());
  if (!p) return p.error();
  return std::optional<StoredPeer>(std::move(*p));
}

Result<std::vector<StoredPeer>> PeerStore::candidates(std::size_t max, std::int64_t now_ms, std::int64_t retain_ms,
                                                      std::uint32_t max_failures) {
  std::vector<StoredPeer> out;
  StmtUse s(impl_->candidates.get());
  sqlite3_bind_int64(s.get(), 1, max_failures);
  sqlite3_bind_int64(s.get(), 2, now_ms - retain_ms);
  bind_u64(s.get(), 3, max);
  int rc = SQLITE_OK;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    auto p = read_row(impl_->name, s.get());
    if (!p) return p.error();
    out.push_back(std::move(*p));
  }
  if (rc != SQLITE_DONE) return sqlite::sql_error(impl_->name, impl_->db.get(), rc, "candidates");
  return out;
}

Result<std::size_t> PeerStore::count() {
  StmtUse s(impl_->count.get());
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_ROW) return sqlite::sql_error(impl_->name, impl_->db.get(), rc, "count");
  return static_cast<std::size_t>(sqlite3_column_int64(s.get(), 0));
}

}  // namespace shardnode::node
