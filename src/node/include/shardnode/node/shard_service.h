// The shard manager on a live node: pubsub for the preference topic and the
// collation topics, the host for connections, dials and the table request protocol
// (/shardnode/shard-table/1: one uvarint-length-prefixed request, one response, on
// a fresh stream, with a deadline and a size cap), and a 1 s tick.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "shardnode/net/host.h"
#include "shardnode/pubsub/service.h"
#include "shardnode/shard/beacon_tracker.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/collation_protocol.h"
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
  // Beacon headers on kBeaconTopic: every node validates them and follows the head;
  // a validator with beacon_proposer signs one per slot (slot = one period).
  bool beacon = true;
  bool beacon_proposer = false;
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
  using CollationListener = std::function<void(const shard::Collation&, const shard::Hash32&)>;
  std::uint64_t add_collation_listener(CollationListener f);
  void remove_collation_listener(std::uint64_t id);
  // Finished jumps (completed or timed out). The service owns the manager's single
  // on_jump_done handler and fans it out to these: use this, not
  // manager().on_jump_done(), which would replace the fan-out.
  using JumpListener = std::function<void(const shard::JumpRecord&)>;
  std::uint64_t add_jump_listener(JumpListener f);
  void remove_jump_listener(std::uint64_t id);
  const ShardServiceConfig& config() const { return cfg_; }
  // The key that signs the collations we publish (separate from the node key).
  void set_validator_key(std::unique_ptr<shard::ValidatorKey> key) { validator_ = std::move(key); }
  // Signs and publishes a collation for the current period on `shard` (which we
  // must be on), with the last collation we saw there as parent.
  Result<shard::Hash32> publish_collation(std::uint32_t shard, Bytes body);
  std::uint64_t current_period() const;

  // Asks `peer` for collations (a range or one hash); the valid ones are stored and
  // handed to on_collation like gossiped ones. The handler gets how many were new.
  void request_collations(const PeerId& peer, const shard::CollationRequest& req,
                          std::function<void(Result<std::size_t>)> done);
  shard::CollationStore* store() { return store_.get(); }
  // Null when cfg.beacon is off.
  const shard::BeaconTracker* beacon() const { return beacon_.get(); }
  void on_beacon_head(std::function<void(const shard::BeaconHead&)> f) { on_beacon_head_ = std::move(f); }
  std::uint64_t collations_accepted() const { return collations_accepted_; }
  std::uint64_t collations_rejected() const { return collations_rejected_; }
  // Unix milliseconds (records carry unix time).
  static std::uint64_t now_ms();

 private:
  class Io;
  void serve_one(const std::shared_ptr<net::Stream>& s, std::size_t max_request,
                 std::function<Result<Bytes>(const PeerId&, ByteView)> answer);
  void serve_table(const std::shared_ptr<net::Stream>& s);
  void request_table(const PeerId& peer, Bytes request);
  void schedule_tick();
  void housekeeping();
  void beacon_tick();
  Bytes tip_bytes() const;
  void watch_collations(std::uint32_t shard);
  bool remember(const shard::Hash32& id);
  void accept_collation(const shard::Collation& c, const shard::Hash32& id);
  void serve_collations(const std::shared_ptr<net::Stream>& s);
  Result<Bytes> answer_collations(const PeerId& peer, ByteView request);
  // One request, one response, on a new stream; `on_response` gets the response body.
  void exchange(const PeerId& peer, const std::string& protocol, Bytes request, std::size_t max_response,
                std::function<void(Result<Bytes>)> on_response);

  boost::asio::io_context& io_;
  net::Host& host_;
  pubsub::PubsubService& ps_;
  ShardServiceConfig cfg_;
  std::unique_ptr<Io> shard_io_;
  SecureRandom rng_;  // cover subscription draws; before the manager that uses it
  std::unique_ptr<shard::ShardManager> manager_;
  boost::asio::steady_timer tick_;
  bool stopped_ = false;
  std::unique_ptr<shard::ValidatorKey> validator_;
  std::function<void(const shard::Collation&, const shard::Hash32&)> on_collation_;
  std::map<std::uint64_t, CollationListener> collation_listeners_;
  std::map<std::uint64_t, JumpListener> jump_listeners_;
  std::uint64_t next_listener_id_ = 1;
  std::set<shard::Hash32> seen_;
  std::deque<shard::Hash32> seen_order_;
  std::map<std::uint32_t, shard::Hash32> tip_;  // last collation seen per shard
  std::uint64_t collations_accepted_ = 0, collations_rejected_ = 0;
  // Stem mode: our collations on the stem, by pubsub message id, until they are in
  // gossip (then stored and served). At most kMaxStemming.
  static constexpr std::size_t kMaxStemming = 256;
  std::map<pubsub::MessageId, std::pair<shard::Collation, shard::Hash32>> stemming_;
  std::unique_ptr<shard::CollationStore> store_;
  std::unique_ptr<shard::BeaconTracker> beacon_;
  std::uint64_t last_beacon_slot_ = 0;
  bool proposed_beacon_ = false;
  std::function<void(const shard::BeaconHead&)> on_beacon_head_;
  std::map<PeerId, std::pair<std::uint64_t, std::size_t>> served_;  // peer -> (minute, requests)
  std::uint64_t last_housekeeping_minute_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::node
