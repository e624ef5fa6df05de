// The running node: tor (embedded or external) -> onion listener -> bootnodes ->
// pubsub. Everything after the embedded tor's start runs on one io_context thread.
//
//   asio::io_context io;
//   auto node = Node::create(io, settings, datadir);   // checks config, loads the key
//   node->on_fatal([&](const Error& e) { ...; node->stop(); });
//   node->start();                                     // starts tor, then async
//   io.run();                                          // until stop()
//   node->shutdown_tor();                              // waits for the embedded tor
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardnode/core/keys.h"
#include "shardnode/core/multiaddr.h"
#include "shardnode/core/result.h"
#include "shardnode/net/host.h"
#include "shardnode/node/control_server.h"
#include "shardnode/node/metrics.h"
#include "shardnode/node/settings.h"
#include "shardnode/core/clock.h"
#include "shardnode/net/kad_service.h"
#include "shardnode/node/discovery.h"
#include "shardnode/node/shard_service.h"
#include "shardnode/shard/validator_key.h"
#include "shardnode/pubsub/service.h"

namespace shardnode::onion {
class TorSession;
}
namespace shardnode::net {
class OnionTransport;
}

namespace shardnode::node {

// Everything `shardnode run` reads from the settings, checked up front.
struct NodeOptions {
  std::filesystem::path datadir;
  bool onion_only = true;
  std::vector<Multiaddr> bootnodes;
  std::chrono::seconds redial_interval{15};
  bool dht = true;
  std::chrono::seconds dht_refresh{300};
  std::size_t target_peers = 8;
  std::size_t bootnode_threshold = 3;
  std::size_t peer_store_max = 1000;
  std::vector<std::string> topics;
  std::chrono::milliseconds probe_interval{0};
  std::filesystem::path events_file;
  // Test-only, never from a config (`run --test-receipt-log`, refused on the public
  // network): one JSON line per message copy received (time, peer, stem or gossip),
  // published and delivered - a spy's log for the live deanonymization experiment.
  std::filesystem::path test_receipt_log;
  std::uint16_t onion_port = 4001;
  std::vector<Multiaddr> tcp_listen;
  net::HostConfig host;
  // tor
  bool tor_embedded = true;
  bool tor_none = false;  // tor.mode = none: loopback TCP only, no onion service
  std::filesystem::path tor_data_dir;
  std::string tor_log_level = "notice";
  std::vector<std::pair<std::string, std::string>> tor_network_options;  // testnet lines
  std::vector<std::pair<std::string, std::string>> tor_options;          // tor.options, then tor.bridges' lines
  bool tor_public_network = false;
  std::string tor_control, tor_control_password, tor_socks;
  bool pow_defense = true;
  std::uint32_t max_streams = 0;
  std::chrono::seconds tor_start_timeout{60}, tor_stop_timeout{10};
  std::chrono::seconds bootstrap_timeout{300}, publish_timeout{180};
  pubsub::ServiceConfig pubsub;
  ShardServiceConfig shard;
  bool validator = false;
  std::chrono::milliseconds collation_interval{0};
  bool misbehave_invalid_collations = false;  // tests and the demo: a spam source
  std::string metrics_listen;                 // "" off, else a loopback ip:port
  std::string version;                        // reported by the control API's identity
};

// Validates the settings that matter to a running node; errors name the key.
Result<NodeOptions> node_options_from(const Settings& s, const std::filesystem::path& datadir);

class Node {
 public:
  static Result<std::unique_ptr<Node>> create(boost::asio::io_context& io, NodeOptions opts);
  ~Node();

  // Starts tor (the embedded one synchronously, until it answers), then the rest
  // runs on the io_context. Errors found later go to on_fatal.
  Status start();
  // Closes pubsub, the host, the onion service and the control connection (the
  // embedded tor then exits), then stops the io_context. Idempotent.
  void stop();
  // After io.run() returned: waits for the embedded tor's thread.
  Status shutdown_tor();

  void on_fatal(std::function<void(const Error&)> f) { on_fatal_ = std::move(f); }
  void on_ready(std::function<void()> f) { on_ready_ = std::move(f); }

  // Identity rotation (docs/PRIVACY.md, "Rotating the node identity"): a new node key
  // and onion service while tor, the control socket, the metrics listener, the peer
  // store and the validator key stay. The old identity is retired first: our signed
  // peer record is replaced by one without addresses (seq higher), pushed to every
  // connected peer (identify push) and put in the DHT; then the old onion service is
  // removed (DEL_ONION), tor is asked for new circuits (NEWNYM), identity.key moves to
  // <datadir>/retired/, and host, pubsub, DHT and shards are rebuilt under the new key
  // and rejoin the shards we were on. `done` runs once the new stack listens (its onion
  // service is published later: the "published" event, identity's onion_published).
  // Refused (UNAVAILABLE) before tor has bootstrapped and while a rotation runs.
  void rotate_identity(ControlContext::RotationDone done);

  const PeerId& peer_id() const { return host_->peer_id(); }
  const NodeKey& key() const { return *key_; }
  Multiaddr onion_addr() const;
  net::Host& host() { return *host_; }
  pubsub::PubsubService& pubsub() { return *pubsub_; }
  ShardService& shards() { return *shards_; }
  const Discovery& discovery() const { return discovery_; }

 private:
  Node(boost::asio::io_context& io, NodeOptions opts, NodeKey key);
  void fatal(const Error& e);
  void on_bootstrapped();
  // The network stack under key_ (host, pubsub, DHT, discovery, shards, validator key),
  // its hooks into the node (events, control socket, metrics), and our onion service:
  // once at create()/start()/bootstrap, again for an identity rotation.
  Status build_stack();
  Status wire_stack();
  Status publish_onion();
  Status listen_tcp();   // opts_.tcp_listen (and the TCP transport when clearnet is allowed)
  Status serve_local();  // the control socket (rebound after a rotation) and the metrics collector
  void start_network();  // bootnodes, proposing, probes; then on_ready
  std::uint64_t record_seq();  // the next signed peer record's seq
  std::uint64_t last_record_seq_ = 0;
  struct RotationState;
  void retire_identity(const std::shared_ptr<RotationState>& r);
  void rebuild_identity(const std::shared_ptr<RotationState>& r);
  void probe();
  void propose();
  double unix_time() const;  // event timestamps: the wall clock, in seconds
  void emit(const std::string& json_line);  // one line of node.events_file
  void record_receipt(const char* kind, const std::string& from, const std::string& topic, const Bytes& id);

  boost::asio::io_context& io_;
  NodeOptions opts_;
  // Owned apart so the retired stack's host (which holds a reference) keeps its key.
  std::unique_ptr<NodeKey> key_;
  SteadyClock clock_;     // the node's one monotonic clock (timers, deadlines)
  SystemWallClock wall_;  // the node's one wall clock (periods, records, event times)
  std::unique_ptr<net::Host> host_;
  net::OnionTransport* onion_ = nullptr;  // owned by host_
  std::unique_ptr<pubsub::PubsubService> pubsub_;
  std::unique_ptr<ShardService> shards_;
  std::unique_ptr<onion::TorSession> tor_;
  // After shards_: destroyed first.
  std::unique_ptr<MetricsCollector> metrics_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::unique_ptr<ControlServer> control_;  // <datadir>/control.sock
  std::optional<Ed25519PublicKey> validator_pub_;
  int tor_bootstrap_percent_ = 0;
  bool onion_published_ = false;
  boost::asio::steady_timer probe_timer_, collation_timer_;
  std::uint64_t collation_seq_ = 0;
  std::unique_ptr<shard::ValidatorKey> spam_key_;  // shard.misbehave_invalid_collations
  std::ofstream events_;
  std::ofstream receipts_;  // opts_.test_receipt_log
  std::uint64_t probe_seq_ = 0;
  Discovery discovery_;  // the peer store, bootnodes, identify-learnt addresses, table dials' addresses
  StoredPeers* stored_ = nullptr;  // in discovery_
  // The DHT (node.dht): seeded from bootnodes and the store, refreshed every
  // node.dht_refresh_s, announcing our shards as providers, asked by jumps whose
  // table lists nobody on the shard. After host_: destroyed first.
  std::unique_ptr<net::kad::DhtService> dht_;
  boost::asio::steady_timer dht_timer_;
  unsigned dht_refreshes_ = 0;  // bucket refreshes so far: each walks into the next bucket
  void dht_refresh(bool first);
  std::size_t dht_seed();  // bootnodes and stored peers into the routing table; how many
  void dht_provide(std::uint32_t shard);
  void find_shard_members(std::uint32_t shard);
  bool bootstrapped_ = false, stopped_ = false;
  bool bootstrapped_network_ = false;  // the DHT's first lookup is done: providing makes sense
  std::function<void(const Error&)> on_fatal_;
  std::function<void()> on_ready_;
  // The stack of the identity last retired: closed, kept until the next rotation or
  // the node's end so that late callbacks into it find it alive.
  struct RetiredStack {
    std::unique_ptr<NodeKey> key;
    std::unique_ptr<net::Host> host;
    std::unique_ptr<pubsub::PubsubService> pubsub;
    std::unique_ptr<net::kad::DhtService> dht;
    Discovery discovery;
    std::unique_ptr<ShardService> shards;
    std::unique_ptr<MetricsCollector> metrics;
  };
  std::unique_ptr<RetiredStack> retired_;
  bool rotating_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::node
