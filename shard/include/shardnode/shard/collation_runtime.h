// CollationRuntime: everything a node does with collations, once - the live node
// (src/node/shard_service) and the simulator (shard/sim/shard_sim) both drive this
// class and keep no collation logic of their own.
//
// - Validate: the verdict for a joined shard's collation topic (check_collation, a
//   bounded seen-cache and the store for duplicates); accepted collations are stored,
//   become the shard's tip and go to the listeners.
// - Serve: answers /shardnode/collations/1 from the store (per-peer budget per minute,
//   the protocol's count and size caps).
// - Propose: signs a collation for the current period on the shard's tip with the
//   validator key and publishes it. With the stem, it is held (not stored, served or
//   our tip) until pubsub reports it gossiped: a spy asking every peer for the current
//   period must not find its source.
// - Sync: after a completed jump (and at start) a joined shard's retention window is
//   fetched by range requests: one request at a time per shard, to a connected peer
//   the table lists on the shard; a truncated answer is paged from the last period
//   received; a peer that sends a collation that fails verification (or is not what we
//   asked for) is penalised and never asked again in this sync, and another peer is
//   asked for the whole window; a peer that fails (error, no answer by the request's
//   deadline, truncated yet empty) is tried again only after every other peer.
//
// No sockets and no clock reads: I/O goes through ShardIo (publish, request, connected,
// penalize), time through the injected monotonic Clock (deadlines, request budgets)
// and WallClock (periods, record timestamps). Single-threaded; answers that arrive
// after a leave, a re-join or a deadline are dropped.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/core/keys.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/collation_protocol.h"
#include "shardnode/shard/manager.h"
#include "shardnode/shard/store.h"
#include "shardnode/shard/validator_key.h"

namespace shardnode::shard {

struct CollationRuntimeConfig {
  // Period p covers unix [genesis_ms + p * period_ms, genesis_ms + (p+1) * period_ms).
  std::uint64_t genesis_ms = 0;
  std::uint64_t period_ms = 12000;
  // The retention window: older collations are ignored on gossip, not synced, and
  // (with prune) dropped from the store.
  std::uint64_t max_age_periods = 64;
  bool prune = false;  // a node keeps its store (the operator's call); the simulator prunes
  CollationLimits limits;
  CollationProtocolLimits protocol;
  std::size_t max_seen = 100000;       // ids remembered for duplicate detection
  std::size_t requests_per_minute = 30;  // served per peer and minute; 0: unlimited
  bool sync_on_join = true;
  std::uint32_t sync_max_count = 256;  // max_count of each range request (at most protocol.max_count)
  Duration request_timeout = std::chrono::seconds(30);  // deadline of one sync request
  bool stem = false;  // our collations leave on the stem (held until gossiped; any shard)
  // Known validators (a network's genesis list; empty: none known). A gossiped
  // collation one of them signed credits the peer that delivered it first with 1, up
  // to validator_credit_cap, halving every validator_credit_half_life: app_score(), the
  // pubsub score's P5. A fresh identity cannot mint that credit with keys of its own.
  // With known_validators_only, a collation signed by anyone else is rejected (gossip)
  // or invalid (sync, fetch).
  std::set<std::array<std::uint8_t, 32>> known_validators;
  bool known_validators_only = false;
  double validator_credit_cap = 10.0;
  Duration validator_credit_half_life = std::chrono::minutes(10);
};

// One sync of one shard's retention window (the current join).
struct SyncRecord {
  std::uint32_t shard = 0;
  std::uint64_t joined_ms = 0;     // subscribed to the shard's topic (wall clock)
  std::uint64_t started_ms = 0;    // first request sent (0: not yet)
  std::uint64_t finished_ms = 0;   // a peer answered the whole window (0: not yet)
  bool done = false;
  std::uint64_t from_period = 0, to_period = 0;  // the window asked for
  std::vector<PeerId> asked;       // in order, one entry per request
  std::set<PeerId> bad;            // sent invalid collations (never asked again)
  std::set<PeerId> failed;         // error, deadline or empty-truncated; tried again after the others
  std::optional<PeerId> completed_by;
  std::size_t requests = 0, received = 0, invalid = 0, timeouts = 0;
  // Paging through a truncated answer: the peer and the next from_period.
  std::optional<PeerId> paging_with;
  std::uint64_t next_from = 0;
};

struct CollationCounters {
  std::uint64_t accepted = 0, rejected = 0;  // on gossip (and proposed by us)
  std::uint64_t served = 0, refused = 0;     // requests answered / refused
  std::uint64_t sync_requests = 0, sync_received = 0, sync_invalid = 0, sync_timeouts = 0;
};

class CollationRuntime {
 public:
  // `store` may be null (nothing kept or served); `io`, `manager`, the clocks and the
  // store must outlive the runtime.
  CollationRuntime(CollationRuntimeConfig cfg, const PeerId& self, ShardIo& io, const ShardManager& manager,
                   const Clock& clock, const WallClock& wall, CollationStore* store);

  void set_validator_key(const ValidatorKey* key) { validator_ = key; }
  // The store (null: nothing kept or served); it must outlive the runtime.
  void set_store(CollationStore* store) { store_ = store; }
  const ValidatorKey* validator_key() const { return validator_; }

  // ---- the driver's events ----
  // We subscribed to / left shard k's collation topic (a new join restarts its sync).
  void on_joined(std::uint32_t shard);
  void on_left(std::uint32_t shard);
  // A finished jump: a completed one starts the shard's sync. Call it outside the
  // manager's own callback (the jump must no longer be in progress).
  void on_jump_done(const JumpRecord& j);
  // About once a second: deadlines, pending syncs, pruning, request budgets.
  void tick();
  // Pubsub reports our own message gossiped (the end of its stem).
  void on_own_gossiped(const pubsub::MessageId& id);

  // ---- validate, serve, propose, fetch ----
  // The verdict for a message on shard k's collation topic.
  pubsub::ValidationResult validate(std::uint32_t shard, const PeerId& source, ByteView data);
  // validate() in two halves, for a driver that checks signatures on worker threads:
  // precheck() is everything but the body hash and signature (its accept carries the
  // collation and id); finish() takes check_body_and_signature's verdict and accepts
  // (a copy accepted meanwhile makes it a duplicate: ignore). Rejects are counted and
  // logged by whichever half finds them.
  CollationCheck precheck(std::uint32_t shard, const PeerId& source, ByteView data);
  pubsub::ValidationResult finish(std::uint32_t shard, const PeerId& source, const Collation& c, const Hash32& id,
                                  const Status& verified);
  // The answer to a /shardnode/collations/1 request (an error resets the stream).
  Result<Bytes> answer(const PeerId& peer, ByteView request);
  // Signs and publishes a collation for the current period on `shard`. Without the
  // stem we must be on the shard; with it, any shard below shard_count.
  Result<Hash32> propose(std::uint32_t shard, Bytes body);
  // Asks `peer` once (a range or one hash); valid collations are accepted like gossiped
  // ones, invalid ones penalised. `done` gets how many were new.
  void fetch(const PeerId& peer, const CollationRequest& req, std::function<void(Result<std::size_t>)> done);

  // ---- reads ----
  std::uint64_t current_period() const;
  std::optional<Hash32> tip(std::uint32_t shard) const;
  std::map<std::uint32_t, Hash32> tips() const;
  const SyncRecord* sync(std::uint32_t shard) const;
  const CollationCounters& counters() const { return counters_; }
  // P5 for `peer`: its decayed credit for first deliveries of known validators'
  // collations (0 when none are known).
  double app_score(const PeerId& peer) const;
  // Whether the collation's proposer may propose here (known_validators_only).
  bool proposer_allowed(const Collation& c) const;
  const CollationRuntimeConfig& config() const { return cfg_; }
  CollationStore* store() const { return store_; }

  // Listeners: accepted collations (gossip, sync, fetch, ours), once each; finished syncs.
  using CollationListener = std::function<void(const Collation&, const Hash32&)>;
  std::uint64_t add_collation_listener(CollationListener f);
  void remove_collation_listener(std::uint64_t id);
  void on_sync_done(std::function<void(const SyncRecord&)> f) { on_sync_done_ = std::move(f); }

 private:
  struct InFlight {
    std::uint64_t request_id = 0;
    TimePoint deadline{};
  };
  bool known(const Hash32& id) const;
  bool remember(const Hash32& id);
  void accept(const Collation& c, const Hash32& id);
  void advance(std::uint32_t shard);
  void on_sync_answer(std::uint32_t shard, std::uint64_t request_id, const PeerId& peer, std::uint64_t from,
                      Result<Bytes> r);
  void drop_sync_peer(SyncRecord& s, const PeerId& peer, bool bad);
  void credit(const PeerId& source, const Collation& c);
  void decay_credit(TimePoint now);

  CollationRuntimeConfig cfg_;
  PeerId self_;
  ShardIo& io_;
  const ShardManager& manager_;
  const Clock& clock_;
  const WallClock& wall_;
  CollationStore* store_;
  const ValidatorKey* validator_ = nullptr;

  std::set<Hash32> seen_;
  std::deque<Hash32> seen_order_;
  struct Tip {
    std::uint64_t period = 0;
    Hash32 id{};
  };
  std::map<std::uint32_t, Tip> tips_;  // newest accepted per shard: highest period, then smallest id
  // Stem mode: our collations on the stem, by pubsub message id, until gossiped.
  static constexpr std::size_t kMaxStemming = 256;
  std::map<pubsub::MessageId, std::pair<Collation, Hash32>> stemming_;

  std::map<std::uint32_t, SyncRecord> syncs_;
  std::map<std::uint32_t, InFlight> in_flight_;
  std::uint64_t next_request_id_ = 1;

  std::map<PeerId, std::pair<std::int64_t, std::size_t>> served_;  // peer -> (minute, requests)
  std::int64_t last_minute_ = -1;

  std::map<std::uint64_t, CollationListener> listeners_;
  std::uint64_t next_listener_id_ = 1;
  std::function<void(const SyncRecord&)> on_sync_done_;
  CollationCounters counters_;
  std::map<PeerId, double> credit_;  // known validators' collations delivered first, decayed
  TimePoint credit_decayed_at_{};
};

}  // namespace shardnode::shard
