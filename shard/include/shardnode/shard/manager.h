// The shard manager: our shard preferences (announced, re-announced, expiring), the
// table of everyone else's, table requests on join, and shard jumps. It does no I/O
// itself: everything it needs from the node (pubsub, connections, the request
// protocol, dialing) goes through `ShardIo`, which the live node implements on its
// host and pubsub service and the simulator on virtual time. All times are
// milliseconds on the caller's clock (unix time in a node, virtual in the simulator).
//
// A jump to shard s: subscribe to s's collation topic -> the peers the table lists on
// s -> dial those not connected (up to peers_per_shard) -> gossipsub GRAFTs them
// -> the jump completes when the topic's mesh holds min(jump_mesh_target, peers on s)
// peers, or fails at jump_timeout (unless nobody else is on s by then: done, alone). Leaving unsubscribes (gossipsub PRUNEs with
// backoff) and re-announces.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/random.h"
#include "shardnode/pubsub/types.h"
#include "shardnode/shard/preference.h"
#include "shardnode/shard/table.h"
#include "shardnode/shard/table_protocol.h"

namespace shardnode::shard {

class ShardIo {
 public:
  virtual ~ShardIo() = default;
  virtual void subscribe(const std::string& topic) = 0;
  virtual void unsubscribe(const std::string& topic) = 0;
  // Publishes on a topic; the pubsub message id (our own message, for stem tracking).
  virtual Result<pubsub::MessageId> publish(const std::string& topic, Bytes data) = 0;
  // One request on a fresh stream of `protocol`, one response of at most max_response
  // bytes; `done` runs once, later (never inside this call), with the response or an
  // error (not connected, refused, stream closed, oversize, no answer in time).
  virtual void request(const PeerId& peer, const std::string& protocol, Bytes request, std::size_t max_response,
                       std::function<void(Result<Bytes>)> done) = 0;
  // Sends a table request; the answer comes back through ShardManager::on_table_response
  // (or on_table_failure).
  virtual void request_table(const PeerId& peer, Bytes request) = 0;
  virtual bool connected(const PeerId& peer) const = 0;
  virtual std::vector<PeerId> connected_peers() const = 0;
  // Connect to a peer known only from its record: its onion address is its key.
  virtual void dial(const PeerId& peer, const Ed25519PublicKey& key) = 0;
  // A jump's table lists nobody on `shard`: look for members elsewhere (the node asks
  // the DHT for the shard topic's providers and dials them; once connected, their
  // tables bring their records in). Default: nothing.
  virtual void find_members(std::uint32_t shard) { (void)shard; }
  virtual std::size_t mesh_size(const std::string& topic) const = 0;
  // A peer sent records that fail verification (table responses): score it.
  virtual void penalize(const PeerId& peer, double count) = 0;
};

struct ShardManagerConfig {
  std::uint32_t shard_count = 64;
  std::uint64_t record_ttl_ms = 10 * 60 * 1000;         // our records' lifetime
  std::uint64_t announce_interval_ms = 2 * 60 * 1000;   // re-announce this often (and on change)
  // The first announcement goes out before peers know we subscribed to the
  // preference topic, so it reaches few of them: announce again this soon after start.
  std::uint64_t first_reannounce_ms = 3000;
  std::uint64_t dial_retry_ms = 15000;                   // a jump re-dials a peer after this
  std::size_t table_request_peers = 3;                  // ask this many peers at start (and every new peer)
  std::uint32_t table_request_max = 1000;
  std::size_t peers_per_shard = 4;                      // connections wanted to a joined shard's peers
  std::size_t jump_mesh_target = 2;                     // mesh peers that complete a jump
  std::uint64_t jump_timeout_ms = 120 * 1000;
  // Cover subscriptions (a privacy mode): besides its own shards, the node joins
  // this many shards drawn at random, independent of its duties, and draws them
  // afresh every cover_epoch_ms. They are announced, subscribed and kept at
  // peers_per_shard like the others, so the table does not tell an observer which
  // of a node's shards it works on. 0: off.
  std::size_t cover_shards = 0;
  std::uint64_t cover_epoch_ms = 10 * 60 * 1000;
  TableLimits table;
  TableProtocolLimits protocol;
};

struct JumpRecord {
  std::uint32_t shard = 0;
  std::uint64_t started_ms = 0;
  std::uint64_t finished_ms = 0;
  bool completed = false;  // false: timed out
  std::size_t dialled = 0;
  std::size_t member_lookups = 0;      // ShardIo::find_members calls (the table listed nobody)
  std::uint64_t last_lookup_ms = 0;
  std::uint64_t took_ms() const { return finished_ms - started_ms; }
};

struct ShardCounters {
  std::uint64_t records_accepted = 0, records_rejected = 0, records_ignored = 0;
  std::uint64_t table_requests_sent = 0, table_requests_served = 0, table_responses = 0;
  std::uint64_t table_records_invalid = 0, table_responses_malformed = 0;
  std::uint64_t announcements = 0, jumps_completed = 0, jumps_failed = 0;
  std::uint64_t maintenance_dials = 0;  // dials to a joined shard's peers outside a jump
  std::uint64_t member_lookups = 0;     // ShardIo::find_members calls during jumps
  std::uint64_t cover_rotations = 0;
};

class ShardManager {
 public:
  ShardManager(const NodeKey& key, ShardManagerConfig cfg, ShardIo& io);
  // The randomness cover subscriptions are drawn with (needed when cover_shards > 0;
  // must outlive the manager).
  void set_random(Random& rng) { rng_ = &rng; }

  // Subscribes to the preference topic, announces our shards and asks connected
  // peers for their tables.
  void start(std::uint64_t now_ms);
  // Re-announces when due, evicts expired records, advances and times out jumps,
  // retries table requests while the table is empty. Call about once a second.
  void tick(std::uint64_t now_ms);

  // Pubsub validator for kPreferenceTopic messages (stores accepted records).
  pubsub::ValidationResult on_preference_message(ByteView data, const PeerId& source, std::uint64_t now_ms);
  void on_peer_connected(const PeerId& peer, std::uint64_t now_ms);
  // Serves /shardnode/shard-table/1. A malformed request gets an error (close the stream).
  Result<Bytes> answer_table_request(ByteView request) const;
  void on_table_response(const PeerId& from, ByteView response, std::uint64_t now_ms);
  void on_table_failure(const PeerId& from);

  // Joins a shard (a jump when we were not on it). No-op if already on it.
  Status join(std::uint32_t shard, std::uint64_t now_ms);
  Status leave(std::uint32_t shard, std::uint64_t now_ms);
  // leave(from) then join(to), one announcement.
  Status jump(std::uint32_t from, std::uint32_t to, std::uint64_t now_ms);

  // Every shard we are on and announce: our own and the cover ones.
  const std::set<std::uint32_t>& shards() const { return shards_; }
  const std::set<std::uint32_t>& cover_shards() const { return cover_; }
  bool is_cover(std::uint32_t shard) const { return cover_.count(shard) != 0; }
  const PreferenceTable& table() const { return table_; }
  const std::vector<JumpRecord>& jumps() const { return jumps_; }
  bool jump_in_progress(std::uint32_t shard) const { return pending_.count(shard) != 0; }
  const ShardCounters& counters() const { return counters_; }
  const ShardManagerConfig& config() const { return cfg_; }
  void on_jump_done(std::function<void(const JumpRecord&)> f) { on_jump_done_ = std::move(f); }

 private:
  void announce(std::uint64_t now_ms);
  void request_tables(std::uint64_t now_ms);
  void advance_jump(std::uint32_t shard, std::uint64_t now_ms);
  void maintain(std::uint64_t now_ms);
  std::size_t dial_shard_peers(std::uint32_t shard, std::uint64_t now_ms);
  std::size_t peers_listed_on(std::uint32_t shard) const;
  void rotate_cover(std::uint64_t now_ms);

  const NodeKey& key_;
  PeerId self_;
  ShardManagerConfig cfg_;
  ShardIo& io_;
  PreferenceTable table_;
  std::set<std::uint32_t> shards_;
  std::set<std::uint32_t> cover_;  // the subset of shards_ that is cover
  Random* rng_ = nullptr;
  std::uint64_t next_cover_ms_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t next_announce_ms_ = 0;
  bool started_ = false, table_received_ = false, announced_to_peers_ = false;
  std::uint64_t next_table_request_ms_ = 0;
  std::set<PeerId> asked_;
  std::map<std::uint32_t, JumpRecord> pending_;
  std::map<PeerId, std::uint64_t> dialled_at_;  // jump dials in flight, by when they were asked
  std::vector<JumpRecord> jumps_;
  mutable ShardCounters counters_;  // answering a table request counts, and is const
  std::function<void(const JumpRecord&)> on_jump_done_;
};

}  // namespace shardnode::shard
