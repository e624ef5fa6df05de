// PeerStore: the peers a node has met, kept in <datadir>/peers.db (SQLite, opened and
// checked as the collation store is: shard/sqlite_file.h), so that a restarted node
// dials them before, or instead of, its bootnodes.
//
//   table peers(peer_id BLOB PRIMARY KEY, envelope BLOB, seq, last_seen_ms,
//               last_reachable_ms, failures, score, score_at_ms) WITHOUT ROWID
//
// A row holds a peer's signed peer record exactly as the peer signed it (net/
// peer_record.h); nothing unsigned is stored, so no address in the store is a third
// party's claim. put_record keeps the record with the highest seq. Times are the
// caller's wall clock (unix ms; the store reads no clock).
// - last_seen_ms: the last time we were connected to the peer or received a newer
//   record of it; last_reachable_ms: the last connection (either direction).
// - failures: dial failures since the peer was last reachable.
// - score: the peer's gossipsub score when it disconnected, kept only if negative
//   (score_at_ms says when): candidates() skips a peer whose retained score is below
//   0 and younger than `retain_ms`, so restarting is no way to forgive a spammer.
//
// Size: at most `max_peers` rows. Eviction rule: when a new peer would exceed the cap,
// the row evicted is the one least recently reachable (never reachable first), then
// with the most failures, then least recently seen - a peer that answered recently
// is never pushed out by peers we only heard of.
//
// Every row read back is re-verified (open_peer_record, peer id = key); a row that
// fails is StoreErrc::corrupt, never returned. Not thread-safe: one store per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"
#include "shardnode/net/peer_record.h"

namespace shardnode::node {

inline constexpr int kPeerStoreSchemaVersion = 1;

struct PeerStoreLimits {
  std::size_t max_peers = 1000;
  bool full_sync = false;
  int busy_timeout_ms = 5000;
};

struct StoredPeer {
  net::SignedPeerRecord record;
  std::int64_t last_seen_ms = 0;
  std::int64_t last_reachable_ms = 0;  // 0: never
  std::uint32_t failures = 0;
  double score = 0;                    // retained negative score, or 0
  std::int64_t score_at_ms = 0;
  const PeerId& peer() const { return record.record.peer; }
};

class PeerStore {
 public:
  static Result<std::unique_ptr<PeerStore>> open(const std::filesystem::path& file, PeerStoreLimits limits = {});
  ~PeerStore();
  PeerStore(const PeerStore&) = delete;
  PeerStore& operator=(const PeerStore&) = delete;

  // Stores a verified record (from net::open_peer_record or our own seal). True if it
  // was new or newer than the one held (a lower or equal seq changes nothing).
  Result<bool> put_record(const net::SignedPeerRecord& r, std::int64_t now_ms);
  // A verified record without addresses: its peer has retired that identity (identity
  // rotation). Forgets the peer if the held record is older; true if one was removed.
  Result<bool> retire(const net::SignedPeerRecord& r);
  // Connected to `peer` (no-op for a peer without a record): reachable now, failures 0.
  Status mark_reachable(const PeerId& peer, std::int64_t now_ms);
  Status mark_dial_failed(const PeerId& peer);
  // The peer's score at disconnect: kept if negative, cleared otherwise.
  Status retain_score(const PeerId& peer, double score, std::int64_t now_ms);

  Result<std::optional<StoredPeer>> get(const PeerId& peer);
  // Peers worth dialling, best first: most recently reachable, fewest failures, most
  // recently seen; without those holding a negative score retained within `retain_ms`
  // or with `max_failures` failures or more.
  Result<std::vector<StoredPeer>> candidates(std::size_t max, std::int64_t now_ms, std::int64_t retain_ms,
                                             std::uint32_t max_failures);
  Result<std::size_t> count();

  const std::filesystem::path& file() const { return file_; }
  const PeerStoreLimits& limits() const { return limits_; }

 private:
  struct Impl;
  PeerStore(std::unique_ptr<Impl> impl, std::filesystem::path file, PeerStoreLimits limits);
  Status evict_over_cap(const PeerId& keep);
  std::unique_ptr<Impl> impl_;
  std::filesystem::path file_;
  PeerStoreLimits limits_;
};

}  // namespace shardnode::node
