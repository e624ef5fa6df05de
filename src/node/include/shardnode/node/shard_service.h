// The shard layer on a live node: it drives the sans-IO ShardManager (table, jumps)
// and CollationRuntime (validate, store, serve, propose, sync - the same code the
// simulator runs) on the host and pubsub service: pubsub for the preference topic and
// the collation topics, the host for connections and dials, net::RequestResponse for
// /shardnode/shard-table/1 and /shardnode/collations/1 (one length-prefixed request,
// one response, on a fresh stream, with a deadline and a size cap), and a 1 s tick.
// Time comes from the injected clocks (the real ones by default).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "shardnode/core/clock.h"
#include "shardnode/core/clock_timer.h"
#include "shardnode/core/worker_pool.h"
#include "shardnode/net/host.h"
#include "shardnode/net/request_response.h"
#include "shardnode/pubsub/service.h"
#include "shardnode/shard/beacon_tracker.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/collation_protocol.h"
#include "shardnode/shard/collation_runtime.h"
#include "shardnode/shard/store.h"
#include "shardnode/shard/manager.h"

namespace shardnode::node {

struct ShardServiceConfig {
  shard::ShardManagerConfig manager;
  std::set<std::uint32_t> shards;                 // joined at start
  std::chrono::milliseconds request_timeout{30000};
  // How to reach a peer known only from its record. Default: /onion3/<key>:onion_port.
  std::function<std::optional<Multiaddr>(const PeerId&, const Ed25519PublicKey&)> address_of;
  std::uint16_t onion_port = 4001;
  // A jump whose table lists nobody on the shard asks here (the node: the DHT's
  // providers of the shard's collation topic, dialled). Null: the jump just waits.
  std::function<void(std::uint32_t shard)> find_members;
  // Collations: periods are counted from `genesis_s` (unix seconds) in `period_s`
  // steps; older than max_age_periods is ignored, more than one ahead rejected.
  std::uint64_t genesis_s = 0;
  std::uint64_t period_s = 12;
  std::uint64_t max_age_periods = 64;
  shard::CollationLimits collation_limits;
  std::size_t max_seen = 100000;  // collation ids remembered for duplicate detection
  // The collation store (SQLite); empty: collations are not kept or served.
  std::filesystem::path store_file;
  shard::CollationProtocolLimits collation_protocol;
  std::size_t collation_requests_per_minute = 30;  // per peer, served
  bool sync_on_join = true;  // fetch a shard's retention window after each completed jump
  // Clocks (null: the real ones). Tests inject manual ones.
  const Clock* clock = nullptr;
  const WallClock* wall = nullptr;
  // Beacon headers on kBeaconTopic: every node validates them and follows the head;
  // a validator with beacon_proposer signs one per slot (slot = one period).
  bool beacon = true;
  bool beacon_proposer = false;
  // Collation signatures (and body hashes) are checked on this many worker threads,
  // off the network thread, with at most validation_queue waiting; a collation that
  // finds the queue full is ignored (not forwarded, no penalty). 0: checked inline.
  std::size_t validation_threads = 2;
  std::size_t validation_queue = 1024;
  // Known validators' keys (empty: none known): collations they signed give the peer
  // that delivered them first P5 credit in the pubsub score (CollationRuntimeConfig);
  // with known_validators_only nobody else's collations are accepted.
  std::vector<Ed25519PublicKey> known_validators;
  bool known_validators_only = false;
};

class ShardService {
 public:
  ShardService(boost::asio::io_context& io, net::Host& host, pubsub::PubsubService& ps, const NodeKey& key,
               ShardServiceConfig cfg);
  ~ShardService();

  // Opens the store (if configured), registers the protocols and joins the shards.
  Status start();
  void stop();
  shard::ShardManager& manager() { return *manager_; }

  // Collations accepted on a joined shard's topic (ours included), once each.
  void on_collation(std::function<void(const shard::Collation&, const shard::Hash32&)> f) {
    on_collation_ = std::move(f);
  }
  // More listeners, each called after on_collation's handler (the control API's
  // collation streams use these). Returns an id for remove_collation_listener; a
  // listener may be removed from inside any listener.
  using CollationListener = shard::CollationRuntime::CollationListener;
  std::uint64_t add_collation_listener(CollationListener f) { return collations_->add_collation_listener(std::move(f)); }
  void remove_collation_listener(std::uint64_t id) { collations_->remove_collation_listener(id); }
  // Finished jumps (completed or timed out). The service owns the manager's single
  // on_jump_done handler and fans it out to these: use this, not
  // manager().on_jump_done(), which would replace the fan-out.
  using JumpListener = std::function<void(const shard::JumpRecord&)>;
  std::uint64_t add_jump_listener(JumpListener f);
  void remove_jump_listener(std::uint64_t id);
  // A shard's sync finished (the whole retention window answered by one peer).
  void on_sync_done(std::function<void(const shard::SyncRecord&)> f) { on_sync_done_ = std::move(f); }
  const ShardServiceConfig& config() const { return cfg_; }
  // The key that signs the collations we publish (separate from the node key).
  void set_validator_key(std::unique_ptr<shard::ValidatorKey> key);
  // Signs and publishes a collation for the current period on `shard` (which we
  // must be on, unless the stem is on), with the shard's tip as parent.
  Result<shard::Hash32> publish_collation(std::uint32_t shard, Bytes body) {
    return collations_->propose(shard, std::move(body));
  }
  std::uint64_t current_period() const { return collations_->current_period(); }

  // Asks `peer` for collations (a range or one hash); the valid ones are stored and
  // handed to on_collation like gossiped ones. The handler gets how many were new.
  void request_collations(const PeerId& peer, const shard::CollationRequest& req,
                          std::function<void(Result<std::size_t>)> done) {
    collations_->fetch(peer, req, std::move(done));
  }
  shard::CollationStore* store() { return store_.get(); }
  shard::CollationRuntime& collations() { return *collations_; }
  // Null when cfg.beacon is off.
  const shard::BeaconTracker* beacon() const { return beacon_.get(); }
  void on_beacon_head(std::function<void(const shard::BeaconHead&)> f) { on_beacon_head_ = std::move(f); }
  std::uint64_t collations_accepted() const { return collations_->counters().accepted; }
  std::uint64_t collations_rejected() const { return collations_->counters().rejected; }
  // Collations ignored unchecked because the validation workers' queue was full.
  std::uint64_t validations_refused() const { return validations_refused_; }
  // Unix milliseconds from the injected wall clock (records carry unix time).
  std::uint64_t now_ms() const { return wall_->unix_ms(); }
  const Clock& clock() const { return *clock_; }
  const WallClock& wall_clock() const { return *wall_; }

 private:
  class Io;
  void schedule_tick();
  void beacon_tick();
  Bytes tip_bytes() const;
  void watch_collations(std::uint32_t shard);

  boost::asio::io_context& io_;
  net::Host& host_;
  pubsub::PubsubService& ps_;
  ShardServiceConfig cfg_;
  SteadyClock steady_;
  SystemWallClock system_wall_;
  const Clock* clock_;
  const WallClock* wall_;
  std::unique_ptr<Io> shard_io_;
  net::RequestResponse rr_;
  SecureRandom rng_;  // cover subscription draws; before the manager that uses it
  std::unique_ptr<shard::ShardManager> manager_;
  std::unique_ptr<shard::CollationStore> store_;
  std::unique_ptr<shard::CollationRuntime> collations_;  // after the manager and store it uses
  ClockTimer tick_;
  bool stopped_ = false;
  std::unique_ptr<shard::ValidatorKey> validator_;
  std::function<void(const shard::Collation&, const shard::Hash32&)> on_collation_;
  std::function<void(const shard::SyncRecord&)> on_sync_done_;
  std::map<std::uint64_t, JumpListener> jump_listeners_;
  std::uint64_t next_listener_id_ = 1;
  std::unique_ptr<shard::BeaconTracker> beacon_;
  std::uint64_t last_beacon_slot_ = 0;
  bool proposed_beacon_ = false;
  std::function<void(const shard::BeaconHead&)> on_beacon_head_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::uint64_t validations_refused_ = 0;
  // Last: destroyed (its workers joined) before anything its jobs' results touch.
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace shardnode::node
