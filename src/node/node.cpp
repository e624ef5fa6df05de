#include "shardnode/node/node.h"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <set>

#include "shardnode/core/bytes.h"
#include "shardnode/core/errors.h"
#include "shardnode/core/key_file.h"
#include "shardnode/core/log.h"
#include "shardnode/core/random.h"
#include "shardnode/net/onion_transport.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/node/pubsub_settings.h"
#include "shardnode/onion/control_client.h"
#include "shardnode/onion/tor_session.h"
#include "shardnode/shard/topics.h"
#include "shardnode/onion/testnet_client.h"
#include "shardnode/node/tor_options.h"

namespace shardnode::node {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

Error config_error(const std::string& key, const std::string& msg) {
  return Error{ConfigErrc::invalid_value, key + ": " + msg};
}

std::string printable_or_hex(const Bytes& data) {
  for (auto b : data)
    if (b < 0x20 || b > 0x7e) return "hex:" + hex_encode(data);
  return std::string(data.begin(), data.end());
}

}  // namespace

Result<NodeOptions> node_options_from(const Settings& s, const fs::path& datadir) {
  const Config& c = s.config();
  NodeOptions o;
  o.datadir = datadir;
  o.onion_only = c.node.onion_only;
  for (const auto& b : c.node.bootnodes) {
    auto a = Multiaddr::parse(b);
    if (!a) return config_error("node.bootnodes", a.error().what());
    if (o.onion_only && !a->is_onion())
      return config_error("node.bootnodes", b + " is not an /onion3/ address, and node.onion_only is on");
    o.bootnodes.push_back(*a);
  }
  o.redial_interval = c.node.redial_interval;
  o.dht = c.node.dht;
  o.dht_refresh = c.node.dht_refresh;
  o.target_peers = c.node.target_peers;
  o.bootnode_threshold = c.node.bootnode_threshold;
  o.peer_store_max = c.node.peer_store_max;
  o.topics = c.node.topics;
  o.probe_interval = c.node.probe_interval;
  if (o.probe_interval.count() > 0 && o.topics.empty())
    return config_error("node.probe_interval_ms", "probes are published on node.topics, which is empty");
  if (!c.node.events_file.empty()) o.events_file = expand_home(c.node.events_file);
  o.onion_port = c.net.onion_port;
  for (const auto& l : c.net.tcp_listen) {
    auto a = Multiaddr::parse(l);
    if (!a || !a->tcp_endpoint()) return config_error("net.tcp_listen", l + " is not an /ip4|ip6/.../tcp/<port> address");
    if (o.onion_only && !a->is_loopback())
      return config_error("net.tcp_listen", l + " is not loopback, and node.onion_only is on");
    o.tcp_listen.push_back(*a);
  }
  o.host.max_connections = c.net.max_connections;
  o.host.max_inbound = std::max<std::size_t>(1, o.host.max_connections * 3 / 4);
  o.host.max_outbound = std::max<std::size_t>(1, o.host.max_connections / 2);
  o.host.dial_timeout = c.net.dial_timeout;
  if (c.net.stream_window_max_kib < c.net.stream_window_kib)
    return config_error("net.stream_window_max_kib", std::to_string(c.net.stream_window_max_kib) +
                                                         " is below net.stream_window_kib (" +
                                                         std::to_string(c.net.stream_window_kib) + ")");
  o.host.connection.yamux.initial_window = c.net.stream_window_kib * 1024;
  o.host.connection.yamux.max_window = c.net.stream_window_max_kib * 1024;
  o.host.connection.yamux.auto_tune_window = c.net.stream_window_max_kib > c.net.stream_window_kib;
  // One connection's streams together grow by at most one maximum window: one stream
  // may reach it, or several share it.
  o.host.connection.yamux.session_window_budget =
      std::size_t{c.net.stream_window_max_kib - c.net.stream_window_kib} * 1024;
  o.host.onion_only = o.onion_only;
  o.host.send_observed_addr = !o.onion_only;

  o.tor_embedded = c.tor.mode == Config::Tor::Mode::embedded;
  o.tor_none = c.tor.mode == Config::Tor::Mode::none;
  if (o.tor_none && o.onion_only)
    return config_error("tor.mode", "none (no tor) needs node.onion_only = false: without tor the node can only "
                                    "use clearnet TCP, which is not anonymous");
  if (o.tor_none && o.tcp_listen.empty() && o.bootnodes.empty())
    return config_error("tor.mode", "none (no tor) needs net.tcp_listen or node.bootnodes: the node has no other "
                                    "way to reach anyone");
  o.tor_data_dir = c.tor.data_dir.empty() ? datadir / "tor" : expand_home(c.tor.data_dir);
  o.tor_log_level = c.tor.log_level;
  o.tor_public_network = c.tor.public_network;
  if (!c.tor.testnet.empty()) {
    auto lines = onion::load_testnet_client_options(expand_home(c.tor.testnet));
    if (!lines) return config_error("tor.testnet", lines.error().what());
    o.tor_network_options = std::move(*lines);
  }
  if (o.tor_embedded && !o.tor_none && o.tor_network_options.empty() && !o.tor_public_network)
    return config_error("tor.testnet",
                        "the embedded tor needs a network: set tor.testnet to a private network's client.torrc "
                        "(`shardnode testnet up`), or tor.public_network = true to join the Tor network");
  if (!o.tor_network_options.empty() && o.tor_public_network)
    return config_error("tor.public_network", "cannot be on together with tor.testnet");
  o.tor_control = c.tor.control;
  o.tor_control_password = c.tor.control_password;
  o.tor_socks = c.tor.socks;
  if (!o.tor_embedded && !o.tor_none && (o.tor_control.empty() || o.tor_socks.empty()))
    return config_error("tor.mode", "external tor needs tor.control and tor.socks");
  if (!c.tor.options.empty()) {
    if (!o.tor_embedded || o.tor_none)
      return config_error("tor.options", "apply to the embedded tor only (an external tor reads its own torrc)");
    auto opts = parse_tor_options(c.tor.options);
    if (!opts) return config_error("tor.options", opts.error().what());
    o.tor_options = std::move(*opts);
  }
  if (!c.tor.bridges.empty() || !c.tor.transport_plugins.empty()) {
    if (!o.tor_embedded || o.tor_none)
      return config_error(c.tor.bridges.empty() ? "tor.transport_plugins" : "tor.bridges",
                          "apply to the embedded tor only (an external tor reads its own torrc)");
    auto b = bridge_options(c.tor.bridges, c.tor.transport_plugins, !o.tor_network_options.empty());
    if (!b) return config_error(c.tor.bridges.empty() ? "tor.transport_plugins" : "tor.bridges", b.error().what());
    o.tor_options.insert(o.tor_options.end(), b->begin(), b->end());
  }
  o.pow_defense = c.tor.pow_defense;
  o.max_streams = c.tor.max_streams;
  o.tor_start_timeout = c.tor.start_timeout;
  o.tor_stop_timeout = c.tor.stop_timeout;
  o.bootstrap_timeout = c.tor.bootstrap_timeout;
  o.publish_timeout = c.tor.publish_timeout;

  auto ps = pubsub_config_from(s);
  if (!ps) return ps.error();
  o.pubsub.gossip = ps->gossip;
  o.pubsub.score = ps->score;
  o.pubsub.thresholds = ps->thresholds;
  o.pubsub.limits = ps->limits;
  o.pubsub.inbound = ps->inbound;
  o.pubsub.ping_interval = ps->ping_interval;

  auto& sh = o.shard.manager;
  sh = c.shard.manager;
  if (sh.cover_shards >= sh.shard_count)
    return config_error("shard.cover_shards", "must be below shard.count (" + std::to_string(sh.shard_count) + ")");
  // Either privacy mode: our own messages are never flood-published from our
  // identity (with the stem they leave on it; otherwise they go to the mesh only,
  // as a relay's would).
  if (sh.cover_shards > 0 || o.pubsub.gossip.stem.enabled) o.pubsub.gossip.flood_publish = false;
  sh.table.max_ttl = sh.record_ttl_ms / 1000 + 60;  // others' records: our TTL plus clock slack
  if (sh.record_ttl_ms <= sh.announce_interval_ms)
    return config_error("shard.record_ttl_s", "must be longer than shard.announce_interval_s, or records lapse "
                                              "between announcements");
  for (const auto k : c.shard.shards)
    if (k >= sh.shard_count)
      return config_error("shard.shards", "shard " + std::to_string(k) + " does not exist: shard.count is " +
                                              std::to_string(sh.shard_count));
  o.shard.shards = c.shard.shards;
  o.shard.onion_port = o.onion_port;
  o.shard.store_file = datadir / "collations.db";
  o.shard.period_s = c.shard.period_s;
  o.shard.genesis_s = c.shard.genesis_s;
  o.shard.max_age_periods = c.shard.max_age_periods;
  o.shard.validation_threads = c.shard.validation_threads;
  for (const auto& k : c.shard.known_validators) {
    const auto b = hex_decode(k);
    if (!b || b->size() != 32) return config_error("shard.known_validators", k + " is not 64 hex digits");
    Ed25519PublicKey pk;
    std::copy(b->begin(), b->end(), pk.bytes.begin());
    o.shard.known_validators.push_back(pk);
  }
  o.shard.known_validators_only = c.shard.known_validators_only;
  if (o.shard.known_validators_only && o.shard.known_validators.empty())
    return config_error("shard.known_validators_only", "is on but shard.known_validators is empty: no collation "
                                                       "would be accepted");
  o.validator = c.shard.validator;
  o.collation_interval = c.shard.collation_interval;
  if (o.collation_interval.count() > 0 && !o.validator)
    return config_error("shard.collation_interval_ms", "only a validator (shard.validator = true) proposes collations");
  o.metrics_listen = c.metrics.listen;
  o.shard.beacon_proposer = c.shard.beacon_proposer;
  if (o.shard.beacon_proposer && !o.validator)
    return config_error("shard.beacon_proposer", "only a validator (shard.validator = true) proposes beacon headers");
  o.misbehave_invalid_collations = c.shard.misbehave_invalid_collations;
  if (o.misbehave_invalid_collations && o.collation_interval.count() == 0)
    return config_error("shard.misbehave_invalid_collations", "needs shard.collation_interval_ms (how often to spam)");
  // The shard layer's topics are scored like every scored topic (invalid records and
  // collations cost their forwarder P4).
  o.pubsub.score.topics[std::string(shard::kPreferenceTopic)] = ps->topic_defaults;
  o.pubsub.score.topics[std::string(shard::kBeaconTopic)] = ps->topic_defaults;
  for (std::uint32_t k = 0; k < sh.shard_count; ++k) o.pubsub.score.topics[shard::collation_topic(k)] = ps->topic_defaults;
  return o;
}

Node::Node(asio::io_context& io, NodeOptions opts, NodeKey key)
    : io_(io),
      opts_(std::move(opts)),
      key_(std::make_unique<NodeKey>(std::move(key))),
      probe_timer_(io),
      collation_timer_(io),
      dht_timer_(io) {}

Result<std::unique_ptr<Node>> Node::create(asio::io_context& io, NodeOptions opts) {
  const fs::path key_path = identity_key_path(opts.datadir);
  bool created = false;
  auto key = load_or_create_key_file(key_path, created);
  if (!key) return key.error();
  if (created) logging::get("node")->info("created a new node identity in {}", key_path.string());
  std::unique_ptr<Node> n(new Node(io, std::move(opts), std::move(*key)));
  if (!n->opts_.events_file.empty()) {
    n->events_.open(n->opts_.events_file, std::ios::app);
    if (!n->events_) return Error{CoreErrc::io, "cannot open node.events_file " + n->opts_.events_file.string()};
  }
  if (!n->opts_.test_receipt_log.empty()) {
    if (n->opts_.tor_public_network)
      return Error{ConfigErrc::invalid_value,
                   "--test-receipt-log records the peer every message came from (a spy's log): refused with "
                   "tor.public_network"};
    n->receipts_.open(n->opts_.test_receipt_log, std::ios::app);
    if (!n->receipts_) return Error{CoreErrc::io, "cannot open the receipt log " + n->opts_.test_receipt_log.string()};
    logging::get("node")->warn("test receipt log on ({}): every message's sending peer is recorded",
                               n->opts_.test_receipt_log.string());
  }
  if (Status s = n->build_stack(); !s) return s.error();
  return n;
}

// The network stack under the node key: host, pubsub, DHT, discovery (the peer store),
// shards and the validator key. Once at create(); again for every identity rotation.
Status Node::build_stack() {
  discovery_ = Discovery{};
  host_ = std::make_unique<net::Host>(io_, *key_, opts_.host);
  pubsub_ = std::make_unique<pubsub::PubsubService>(io_, *host_, opts_.pubsub);
  // What this node may dial: /onion3/ with tor, TCP unless onion-only.
  const DialPolicy policy{!opts_.tor_none, !opts_.onion_only};
  if (opts_.dht) {
    net::kad::DhtConfig dc;
    dc.clock = &clock_;
    // Provider records live an hour and are re-announced every refresh.
    dc.core.provider_ttl = std::chrono::hours(1);
    dc.core.dialable = [policy](const Multiaddr& a) { return policy.allows(a); };
    dht_ = std::make_unique<net::kad::DhtService>(io_, *host_, dc);
    Node* self = this;
    opts_.shard.find_members = [self](std::uint32_t shard) { self->find_shard_members(shard); };
  }
  // Discovery (discovery.h): the peer store's signed records first, then bootnodes
  // (only while the store is short of reachable peers); then, without tor, the TCP
  // addresses peers advertised in identify, or with tor the onion service a peer's key
  // names.
  {
    PeerStoreLimits pl;
    pl.max_peers = opts_.peer_store_max;
    auto store = PeerStore::open(opts_.datadir / "peers.db", pl);
    if (!store) return store.error();
    StoredPeersConfig sc;
    sc.target_peers = opts_.target_peers;
    sc.bootnode_threshold = opts_.bootnode_threshold;
    sc.interval = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.redial_interval);
    sc.policy = policy;
    auto stored = std::make_unique<StoredPeers>(io_, *host_, std::move(*store), wall_, sc);
    stored_ = stored.get();
    discovery_.add(std::move(stored));
  }
  {
    StoredPeers* stored = stored_;
    const std::size_t threshold = opts_.bootnode_threshold;
    discovery_.add(std::make_unique<Bootnodes>(
        io_, *host_, opts_.bootnodes, std::chrono::duration_cast<std::chrono::milliseconds>(opts_.redial_interval),
        [stored, threshold] { return stored->reachable() < threshold; }));
  }
  // Signed records from the DHT for peers known only by key (the preference table).
  if (dht_) discovery_.add(std::make_unique<DhtRecords>(*dht_, *stored_, clock_));
  if (opts_.tor_none) discovery_.add(std::make_unique<IdentifiedAddresses>(*host_));
  else discovery_.add(std::make_unique<OnionKeyAddresses>(opts_.shard.onion_port));
  {
    Node* self = this;
    opts_.shard.address_of = [self](const PeerId& p, const Ed25519PublicKey& k) {
      return self->discovery_.address_of(p, k);
    };
    // Peer exchange (pubsub.do_px; off by default in onion-only mode, docs/PRIVACY.md:
    // PX hands spies the graph): PRUNEs offer our stored signed records, and offered
    // peers are kept and dialled only through the records their PRUNE carried.
    pubsub_->on_px([self](const std::vector<pubsub::Router::PxCandidate>& px) { self->stored_->on_px(px); });
    pubsub_->set_record_source([self](const PeerId& p) { return self->stored_->record_of(p); });
  }
  opts_.shard.clock = &clock_;
  opts_.shard.wall = &wall_;
  shards_ = std::make_unique<ShardService>(io_, *host_, *pubsub_, *key_, opts_.shard);
  if (opts_.validator) {
    // validator.key: the identity.key format, a different key, created on first use.
    const fs::path vpath = opts_.datadir / "validator.key";
    bool vcreated = false;
    auto vkey = load_or_create_key_file(vpath, vcreated);
    if (!vkey) return vkey.error();
    if (vcreated) logging::get("node")->info("created a new validator key in {}", vpath.string());
    validator_pub_ = vkey->public_key();
    shards_->set_validator_key(std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::adopt(std::move(*vkey))));
  }
  return {};
}

Node::~Node() {
  *alive_ = false;
  stop();
}

Multiaddr Node::onion_addr() const { return Multiaddr::onion3(key_->public_key(), opts_.onion_port); }

void Node::emit(const std::string& line) {
  if (!events_.is_open()) return;
  events_ << line << '\n';
  events_.flush();
}

void Node::record_receipt(const char* kind, const std::string& from, const std::string& topic, const Bytes& id) {
  json line{{"t", static_cast<double>(wall_.unix_us()) / 1e6}, {"kind", kind}, {"topic", topic}, {"id", hex_encode(id)}};
  if (!from.empty()) line["from"] = from;
  receipts_ << line.dump() << '\n';
  receipts_.flush();
}

void Node::fatal(const Error& e) {
  logging::get("node")->error("{}", e.what());
  emit(json{{"t", unix_time()}, {"event", "fatal"}, {"error", e.what()}}.dump());
  if (on_fatal_) on_fatal_(e);
}

// Hooks the stack built by build_stack() into the node (events, receipts, jumps, the
// control socket, metrics) and starts pubsub and the shard service. Once at start();
// again for every identity rotation.
Status Node::wire_stack() {
  // The host hooks capture the stack they belong to: after a rotation the retired
  // host's last disconnects must not reach the new stack.
  net::Host* host = host_.get();
  StoredPeers* stored = stored_;
  pubsub::PubsubService* ps = pubsub_.get();
  host_->on_peer_connected([this, host](const PeerId& p) {
    auto info = host->connection_info(p);
    emit(json{{"t", unix_time()}, {"event", "connected"}, {"peer", p.to_string()},
              {"direction", info && info->outbound ? "outbound" : "inbound"}}
             .dump());
  });
  host_->on_peer_disconnected([this, stored, ps](const PeerId& p) {
    // Registered after the pubsub service's own hook: the router keeps a disconnected
    // peer's score (retain_score), and the store keeps it if negative.
    stored->on_disconnected(p, ps->router().score(p, ps->now()));
    emit(json{{"t", unix_time()}, {"event", "disconnected"}, {"peer", p.to_string()}}.dump());
  });
  host_->on_peer_identified([this](const PeerId& p, const net::IdentifyInfo& i) {
    json addrs = json::array();
    for (const auto& a : i.listen_addrs) addrs.push_back(a.to_string());
    emit(json{{"t", unix_time()},
              {"event", "identified"},
              {"peer", p.to_string()},
              {"agent", i.agent_version},
              {"listen_addrs", addrs},
              {"observed_addr", i.observed_addr ? json(i.observed_addr->to_string()) : json(nullptr)}}
             .dump());
  });
  if (receipts_.is_open())
    pubsub_->on_receipt([this](const pubsub::Receipt& r) {
      using K = pubsub::Receipt::Kind;
      const char* kind = r.kind == K::own ? "own" : r.kind == K::stem ? "stem" : "gossip";
      record_receipt(kind, r.kind == K::own ? std::string() : r.from.to_string(), r.topic, r.id);
    });
  pubsub_->on_message([this](const pubsub::Delivery& d) {
    if (receipts_.is_open()) record_receipt("deliver", {}, d.topic, d.id);
    // Deliberately without the forwarding peer: the log must not tie a message to a peer.
    emit(json{{"t", unix_time()}, {"event", "message"}, {"topic", d.topic}, {"id", hex_encode(d.id)},
              {"data", printable_or_hex(d.message.data)}}
             .dump());
  });
  pubsub_->start();
  for (const auto& t : opts_.topics) pubsub_->subscribe(t);
  shards_->add_jump_listener([this](const shard::JumpRecord& j) {
    emit(json{{"t", unix_time()}, {"event", "jump"}, {"shard", j.shard}, {"ms", j.took_ms()},
              {"completed", j.completed}, {"dialled", j.dialled}}
             .dump());
    if (metrics_) metrics_->observe_jump(j);
    if (j.completed && dht_ && bootstrapped_network_) dht_provide(j.shard);
  });
  // A joined shard's retention window fetched (paged, retried on another peer when one
  // fails or serves a forgery) - the shard runtime's sync, as in the simulator.
  shards_->on_sync_done([this](const shard::SyncRecord& s) {
    emit(json{{"t", unix_time()}, {"event", "synced"}, {"shard", s.shard}, {"collations", s.received},
              {"requests", s.requests}, {"invalid", s.invalid}}
             .dump());
  });
  shards_->on_beacon_head([this](const shard::BeaconHead& h) {
    emit(json{{"t", unix_time()}, {"event", "beacon"}, {"slot", h.header.slot},
              {"hash", hex_encode(ByteView(h.hash.data(), h.hash.size()))},
              {"proposer", hex_encode(ByteView(h.header.proposer.bytes.data(), h.header.proposer.bytes.size()))}}
             .dump());
  });
  shards_->on_collation([this](const shard::Collation& c, const shard::Hash32& id) {
    // Which shard and period, and the proposer's validator key - never the peer it came from.
    emit(json{{"t", unix_time()}, {"event", "collation"}, {"shard", c.header.shard}, {"period", c.header.period},
              {"hash", hex_encode(ByteView(id.data(), id.size()))},
              {"proposer", hex_encode(ByteView(c.header.proposer.bytes.data(), c.header.proposer.bytes.size()))},
              {"size", c.body.size()}}
             .dump());
  });
  if (Status st = shards_->start(); !st) return st.error();
  return serve_local();
}

// The control socket and the metrics collector over the current stack. The socket and
// the metrics listener are made once; after a rotation the socket serves the new stack
// (clients keep their connections) and the listener scrapes a new collector.
Status Node::serve_local() {
  ControlContext ctx{*host_, *pubsub_, *shards_, [this] {
    IdentityExtras x;
    if (onion_published_) x.listen_addrs.push_back(onion_addr().to_string());
    for (const auto& a : host_->listen_addrs())
      if (!a.is_onion()) x.listen_addrs.push_back(a.to_string());
    x.tor_bootstrap = opts_.tor_none ? 100 : static_cast<std::uint32_t>(tor_bootstrap_percent_);
    x.onion_published = onion_published_;
    x.onion_only = opts_.onion_only;
    x.version = opts_.version;
    x.validator_key = validator_pub_;
    x.topics = opts_.topics;
    return x;
  }, dht_.get()};
  ctx.rotate = [this](ControlContext::RotationDone done) { rotate_identity(std::move(done)); };
  if (control_) {
    control_->rebind(std::move(ctx));
  } else {
    control_ = std::make_unique<ControlServer>(io_, std::move(ctx));
    if (Status st = control_->listen(opts_.datadir / "control.sock"); !st) return st.error();
  }
  if (!opts_.metrics_listen.empty()) {
    // Served from the start, so a scrape shows tor bootstrapping.
    auto ep = parse_loopback_endpoint(opts_.metrics_listen);
    if (!ep) return ep.error();
    std::function<int()> percent;
    std::function<bool()> published;
    if (!opts_.tor_none) {
      percent = [this] { return tor_bootstrap_percent_; };
      published = [this] { return onion_published_; };
    }
    MetricsSource ms{*host_, *pubsub_, *shards_, percent, published, opts_.topics};
    ms.dht = dht_.get();
    ms.peer_store = [this] {
      std::size_t n = 0;
      if (auto* st = stored_->store())
        if (auto c = st->count()) n = *c;
      return std::pair<std::size_t, std::size_t>(n, stored_->reachable());
    };
    metrics_ = std::make_unique<MetricsCollector>(std::move(ms));
    if (!metrics_server_) {
      metrics_server_ = std::make_unique<MetricsServer>(io_, [this] { return metrics_->scrape(); });
      if (Status st = metrics_server_->listen(*ep); !st) return st.error();
      logging::get("node")->info("metrics on http://{}/metrics", opts_.metrics_listen);
    }
  }

  return {};
}

Status Node::start() {
  auto log = logging::get("node");
  log->info("node {} starting ({} mode, {} tor)", host_->peer_id().to_string(),
            opts_.onion_only ? "onion-only" : "clearnet-allowed",
            opts_.tor_none ? "no" : opts_.tor_embedded ? "embedded" : "external");

  if (Status st = wire_stack(); !st) return st;

  if (opts_.tor_none) {
    log->warn("tor.mode = none: no tor, clearnet TCP only - this node is not anonymous");
    if (Status st = listen_tcp(); !st) return st;
    start_network();
    return {};
  }

  onion::TorSessionOptions so;
  so.embedded = opts_.tor_embedded;
  so.tor.data_dir = opts_.tor_data_dir;
  so.tor.log_level = opts_.tor_log_level;
  so.tor.extra_options = opts_.tor_network_options;
  so.tor.extra_options.insert(so.tor.extra_options.end(), opts_.tor_options.begin(), opts_.tor_options.end());
  so.tor.start_timeout = opts_.tor_start_timeout;
  so.control = opts_.tor_control;
  if (!opts_.tor_control_password.empty()) so.password = opts_.tor_control_password;
  so.socks = opts_.tor_socks;
  so.bootstrap_timeout = opts_.bootstrap_timeout;
  auto tor = onion::TorSession::start(io_, std::move(so));
  if (!tor) return tor.error();
  tor_ = std::move(*tor);
  tor_->on_fatal([this, alive = alive_](const Error& e) {
    if (*alive && !stopped_) fatal(e);
  });
  tor_->on_progress([this](const onion::BootstrapTracker& b) {
    tor_bootstrap_percent_ = b.progress();
    emit(json{{"t", unix_time()}, {"event", "tor_bootstrap"}, {"progress", b.progress()}, {"summary", b.summary()}}
             .dump());
  });
  tor_->on_hs_desc([this](const onion::HsDescEvent& ev) {
    if (onion_) onion_->on_hs_desc(ev);
  });
  tor_->on_bootstrapped([this] { on_bootstrapped(); });

  return listen_tcp();
}

Status Node::listen_tcp() {
  if (!opts_.tor_none && opts_.onion_only && opts_.tcp_listen.empty()) return {};
  host_->add_transport(std::make_unique<net::TcpTransport>(io_));
  for (const auto& a : opts_.tcp_listen) {
    auto bound = host_->listen(a);
    if (!bound) return bound.error();
    const bool hidden = !opts_.tor_none && opts_.onion_only;
    logging::get("node")->info("listening on {}{}", bound->to_string(), hidden ? " (loopback, never advertised)" : "");
    if (opts_.tor_none)
      emit(json{{"t", unix_time()}, {"event", "listening"}, {"addr", bound->with_peer_id(peer_id()).to_string()}}
               .dump());
  }
  return {};
}

void Node::on_bootstrapped() {
  if (bootstrapped_ || stopped_) return;
  bootstrapped_ = true;
  logging::get("node")->info("tor bootstrapped; publishing our onion service");
  if (Status st = publish_onion(); !st) return fatal(st.error());
  start_network();
}

// Our onion service under key_, on the host: tor publishes its descriptor (on_published).
Status Node::publish_onion() {
  net::OnionTransportConfig tc;
  tc.socks_endpoint = tor_->socks_endpoint();
  tc.service_socket = opts_.datadir / "onion.sock";
  tc.pow_defense = opts_.pow_defense;
  tc.max_streams = opts_.max_streams;
  tc.dial_timeout = opts_.host.dial_timeout;
  tc.publish_timeout = opts_.publish_timeout;
  onion_published_ = false;
  auto t = std::make_unique<net::OnionTransport>(io_, *key_, tor_->control(), tc);
  onion_ = t.get();
  onion_->on_published([this, alive = alive_](Status s) {
    if (!*alive) return;
    if (!s) return fatal(s.error());
    onion_published_ = true;
    emit(json{{"t", unix_time()}, {"event", "published"}, {"addr", onion_addr().to_string()}}.dump());
    logging::get("node")->info("reachable at {}", onion_addr().with_peer_id(peer_id()).to_string());
  });
  host_->add_transport(std::move(t));
  auto bound = host_->listen(onion_addr());
  if (!bound) return bound.error();
  emit(json{{"t", unix_time()}, {"event", "listening"}, {"addr", bound->with_peer_id(peer_id()).to_string()}}.dump());
  return {};
}

// ------------------------------------------------------------------ identity rotation

namespace {
// How long the retirement may take before the old stack is torn down anyway.
constexpr std::chrono::seconds kRetirePushLimit{15};  // identify pushes to connected peers
constexpr std::chrono::seconds kRetireDhtLimit{60};   // PUT_VALUE to the record key's closest peers
}  // namespace

struct Node::RotationState {
  ControlContext::RotationDone done;
  PeerId retired;
  NodeKey next;  // the new key, already in identity.key
  fs::path retired_key_file;
  std::size_t pushed = 0, dht_accepted = 0;
  boost::asio::steady_timer deadline;
  RotationState(asio::io_context& io, NodeKey k) : next(std::move(k)), deadline(io) {}
};

void Node::rotate_identity(ControlContext::RotationDone done) {
  auto refuse = [&](bool unavailable, std::string why) { done(RotationRefused{unavailable, std::move(why)}); };
  if (stopped_) return refuse(true, "the node is stopping");
  if (rotating_) return refuse(true, "a rotation is already running");
  if (!opts_.tor_none && !bootstrapped_)
    return refuse(true, "tor has not bootstrapped yet: restart with a new identity.key instead, or wait");
  const PeerId old = peer_id();
  // The key files first: if they cannot be swapped, nothing has been announced and the
  // old identity simply stays. identity.key.new (0600) -> identity.key, the old file to
  // retired/<peer id>.key (0700 directory).
  const fs::path key_path = identity_key_path(opts_.datadir);
  const fs::path next_path = key_path.string() + ".new";
  const fs::path retired_dir = opts_.datadir / "retired";
  const fs::path retired_path = retired_dir / (old.to_string() + ".key");
  NodeKey next = NodeKey::generate();
  std::error_code ec;
  fs::remove(next_path, ec);
  if (Status w = write_new_key_file(next_path, next); !w) return refuse(false, w.error().what());
  fs::create_directories(retired_dir, ec);
  if (!ec) fs::permissions(retired_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (!ec) fs::rename(key_path, retired_path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(next_path, ignored);
    return refuse(false, "cannot move " + key_path.string() + " to " + retired_path.string() + ": " + ec.message());
  }
  fs::rename(next_path, key_path, ec);
  if (ec) {
    std::error_code back;
    fs::rename(retired_path, key_path, back);
    fs::remove(next_path, back);
    return refuse(false, "cannot put the new key in " + key_path.string() + ": " + ec.message());
  }
  rotating_ = true;
  auto r = std::make_shared<RotationState>(io_, std::move(next));
  r->done = std::move(done);
  r->retired = old;
  r->retired_key_file = retired_path;
  logging::get("node")->info("rotating the node identity: retiring {}; its key is now {}", old.to_string(),
                             retired_path.string());
  // Nothing new under the old identity from here on: no dials, proposals, probes, lookups.
  collation_timer_.cancel();
  probe_timer_.cancel();
  dht_timer_.cancel();
  discovery_.stop();
  // The retirement: our record without addresses, superseding every record we sent,
  // and identify listing none either.
  host_->withdraw_addrs();
  host_->set_signed_record(net::seal_peer_record(*key_, record_seq(), {}));
  retire_identity(r);
}

// Tells connected peers (identify push), then the DHT, each within a deadline.
void Node::retire_identity(const std::shared_ptr<RotationState>& r) {
  auto pushed = [this, r, once = std::make_shared<bool>(false), alive = alive_](std::size_t n) {
    if (!*alive || std::exchange(*once, true)) return;
    r->deadline.cancel();
    r->pushed = n;
    if (stopped_ || !dht_ || !bootstrapped_network_) return rebuild_identity(r);
    auto put = [this, r, once = std::make_shared<bool>(false), alive](std::size_t accepted) {
      if (!*alive || std::exchange(*once, true)) return;
      r->deadline.cancel();
      r->dht_accepted = accepted;
      rebuild_identity(r);
    };
    dht_->put_record([put](net::kad::LookupResult p) { put(p.accepted); });
    r->deadline.expires_after(kRetireDhtLimit);
    r->deadline.async_wait([put](const boost::system::error_code& ec) {
      if (!ec) put(0);
    });
  };
  host_->push_identify(pushed);
  r->deadline.expires_after(kRetirePushLimit);
  r->deadline.async_wait([pushed](const boost::system::error_code& ec) {
    if (!ec) pushed(0);
  });
}

// Tears the old stack down (kept as retired_ until the next rotation) and builds,
// wires and starts the new one under r->next.
void Node::rebuild_identity(const std::shared_ptr<RotationState>& r) {
  rotating_ = false;
  if (stopped_) return r->done(RotationRefused{false, "the node stopped during the rotation (the new key is in "
                                                      "identity.key and is used at the next start)"});
  auto log = logging::get("node");
  // Our own shards, not the cover ones: the new identity draws its cover afresh.
  std::set<std::uint32_t> own;
  for (auto k : shards_->manager().shards())
    if (!shards_->manager().is_cover(k)) own.insert(k);
  if (dht_) dht_->stop();
  shards_->stop();
  pubsub_->stop();
  host_->close();  // the onion transport removes the old service (DEL_ONION)
  onion_ = nullptr;
  onion_published_ = false;
  if (tor_ && tor_->control() && tor_->control()->is_open())
    // New circuits for the new identity: none of the old one's (rendezvous circuits to
    // peers included) carries its streams.
    tor_->control()->command("SIGNAL NEWNYM", [](Result<onion::Reply> x) {
      if (!x) logging::get("node")->warn("SIGNAL NEWNYM: {}", x.error().what());
    });
  retired_.reset();  // the stack before the last rotation: long quiet
  retired_ = std::make_unique<RetiredStack>();
  retired_->key = std::move(key_);
  retired_->host = std::move(host_);
  retired_->pubsub = std::move(pubsub_);
  retired_->dht = std::move(dht_);
  retired_->discovery = std::move(discovery_);
  retired_->shards = std::move(shards_);
  retired_->metrics = std::move(metrics_);
  stored_ = nullptr;
  bootstrapped_network_ = false;
  dht_refreshes_ = 0;

  key_ = std::make_unique<NodeKey>(std::move(r->next));
  opts_.shard.shards = own;
  auto fail = [&](const Error& e) {
    r->done(RotationRefused{false, "rebuilding under the new identity: " + e.what()});
    fatal(e);
  };
  if (Status st = build_stack(); !st) return fail(st.error());
  if (Status st = wire_stack(); !st) return fail(st.error());
  if (Status st = listen_tcp(); !st) return fail(st.error());
  if (!opts_.tor_none)
    if (Status st = publish_onion(); !st) return fail(st.error());
  emit(json{{"t", unix_time()}, {"event", "rotated"}, {"retired", r->retired.to_string()},
            {"peer", peer_id().to_string()}, {"pushed", r->pushed}, {"dht_accepted", r->dht_accepted}}
           .dump());
  log->info("node identity rotated: now {} ({} peer(s) told of the retirement, {} DHT peer(s) stored it)",
            peer_id().to_string(), r->pushed, r->dht_accepted);
  start_network();
  RotationOutcome o;
  o.retired_peer_id = r->retired.to_string();
  o.peer_id = peer_id().to_string();
  if (!opts_.tor_none) o.addr = onion_addr().with_peer_id(peer_id()).to_string();
  else if (!host_->listen_addrs().empty()) o.addr = host_->listen_addrs().front().with_peer_id(peer_id()).to_string();
  o.pushed = static_cast<std::uint32_t>(r->pushed);
  o.dht_accepted = static_cast<std::uint32_t>(r->dht_accepted);
  o.retired_key_file = r->retired_key_file.string();
  r->done(std::move(o));
}

std::uint64_t Node::record_seq() {
  // The wall clock in ms, so a restarted node's record supersedes the old one; and
  // strictly increasing, so a retirement sealed in the same ms still supersedes.
  last_record_seq_ = std::max<std::uint64_t>(wall_.unix_ms(), last_record_seq_ + 1);
  return last_record_seq_;
}

void Node::start_network() {
  // Our signed peer record, sent in identify and offered in PX: the addresses we
  // advertise (onion-only: the onion service alone), seq = the wall clock in ms, so a
  // restarted node's record supersedes the old one.
  host_->set_signed_record(net::seal_peer_record(*key_, record_seq(), host_->advertised_addrs()));
  discovery_.start();
  if (dht_) {
    dht_->start();
    dht_seed();
    dht_refresh(true);
  }
  if (opts_.collation_interval.count() > 0) {
    collation_timer_.expires_after(opts_.collation_interval);
    collation_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
      if (!ec && *alive) propose();
    });
  }
  if (opts_.probe_interval.count() > 0) {
    probe_timer_.expires_after(opts_.probe_interval);
    probe_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
      if (!ec && *alive) probe();
    });
  }
  if (on_ready_) on_ready_();
}

// ------------------------------------------------------------------ DHT

std::size_t Node::dht_seed() {
  // Seeds: the bootnodes and the peer store's best peers (each at its own addresses).
  std::size_t n = 0;
  for (const auto& b : opts_.bootnodes)
    if (auto id = bootnode_peer(b)) {
      dht_->add_peer(*id, {b.without_peer_id()});
      ++n;
    }
  for (const auto& p : stored_->best(32)) {
    dht_->add_peer(p.peer(), p.record.record.addrs);
    ++n;
  }
  return n;
}

void Node::dht_refresh(bool first) {
  if (stopped_ || !dht_) return;
  Bytes target = peer_id().bytes();
  if (!first) {
    // A bucket refresh, as Kademlia's bootstrap does: a random key in one bucket's part
    // of the key space, bucket 0 (the far half) up to the deepest in use, in turn. A
    // self lookup only fills the buckets near our own key.
    SecureRandom rng;
    const unsigned buckets = std::min(dht_->table().deepest_bucket(), 15u) + 1;
    target = net::kad::key_in_bucket(net::kad::key_of(peer_id()), dht_refreshes_++ % buckets, rng);
  }
  dht_->find_key(target, [this, first, alive = alive_](net::kad::LookupResult r) {
    if (!*alive || stopped_) return;
    emit(json{{"t", unix_time()}, {"event", "dht_lookup"}, {"kind", first ? "bootstrap" : "refresh"},
              {"found", r.closest.size()}, {"requests", r.requests}, {"failures", r.failures},
              {"table", dht_->table().size()}}
             .dump());
    if (first && dht_->table().size() == 0 && dht_seed() > 0) {
      // Nobody answered (the first dial to an onion service often fails, and a failed
      // seed leaves the table): seed again and bootstrap again soon, not at the next
      // refresh.
      dht_timer_.expires_after(std::chrono::seconds(5));
      dht_timer_.async_wait([this, alive](const boost::system::error_code& ec) {
        if (!ec && *alive) dht_refresh(true);
      });
      return;
    }
    bootstrapped_network_ = true;
    for (auto k : std::set<std::uint32_t>(shards_->manager().shards())) dht_provide(k);
    // Our signed record, so a peer that knows only our key finds our port.
    dht_->put_record([this, alive](net::kad::LookupResult p) {
      if (!*alive || stopped_) return;
      emit(json{{"t", unix_time()}, {"event", "dht_put_record"}, {"accepted", p.accepted}, {"requests", p.requests}}
               .dump());
    });
  });
  dht_timer_.expires_after(opts_.dht_refresh);
  dht_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive) dht_refresh(false);
  });
}

void Node::dht_provide(std::uint32_t shard) {
  const std::string topic = shard::collation_topic(shard);
  dht_->provide(as_bytes(topic), [this, shard, alive = alive_](net::kad::LookupResult r) {
    if (!*alive || stopped_) return;
    emit(json{{"t", unix_time()}, {"event", "dht_provide"}, {"shard", shard}, {"accepted", r.accepted},
              {"requests", r.requests}}
             .dump());
  });
}

void Node::find_shard_members(std::uint32_t shard) {
  if (!dht_ || stopped_) return;
  const std::string topic = shard::collation_topic(shard);
  dht_->get_providers(as_bytes(topic), opts_.shard.manager.peers_per_shard,
                      [this, shard, alive = alive_](net::kad::LookupResult r) {
    if (!*alive || stopped_) return;
    emit(json{{"t", unix_time()}, {"event", "dht_members"}, {"shard", shard}, {"found", r.providers.size()},
              {"requests", r.requests}}
             .dump());
    // Connected, a provider's table brings its preference record in, and the jump
    // dials and grafts it as it would a peer its own table had listed.
    for (const auto& p : r.providers) {
      if (p.peer == peer_id() || host_->connected(p.peer) || p.addrs.empty()) continue;
      host_->connect(p.addrs.front().with_peer_id(p.peer), [peer = p.peer](Result<PeerId> c) {
        if (!c) logging::get("node")->debug("shard member {} from the DHT: {}", peer.to_string(), c.error().what());
      });
    }
  });
}

void Node::probe() {
  if (stopped_) return;
  ++probe_seq_;
  for (const auto& t : opts_.topics) {
    const std::string text = "probe " + peer_id().to_string() + " " + std::to_string(probe_seq_);
    auto r = pubsub_->publish(t, Bytes(text.begin(), text.end()));
    if (!r) logging::get("node")->debug("probe on {}: {}", t, r.error().what());
  }
  probe_timer_.expires_after(opts_.probe_interval);
  probe_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive) probe();
  });
}

double Node::unix_time() const { return static_cast<double>(wall_.unix_ms()) / 1000.0; }

void Node::propose() {
  if (stopped_) return;
  ++collation_seq_;
  for (auto k : std::set<std::uint32_t>(shards_->manager().shards())) {
    const std::string text = "collation " + std::to_string(collation_seq_) + " for shard " + std::to_string(k);
    if (opts_.misbehave_invalid_collations) {
      // A spam source (shard.misbehave_invalid_collations): a well-formed collation
      // whose signature is broken, published straight to the topic.
      if (!spam_key_) spam_key_ = std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::generate());
      auto c = shard::make_collation(*spam_key_, k, shards_->current_period(), shard::Hash32{},
                                     Bytes(text.begin(), text.end()));
      c.signature[0] ^= 0x01;
      if (auto r = pubsub_->publish(shard::collation_topic(k), shard::encode(c)); !r)
        logging::get("node")->debug("invalid collation on shard {}: {}", k, r.error().what());
      continue;
    }
    auto r = shards_->publish_collation(k, Bytes(text.begin(), text.end()));
    if (!r) {
      logging::get("node")->debug("collation on shard {}: {}", k, r.error().what());
      continue;
    }
    // When we proposed it, so tools can time its delivery (with the stem, our own
    // "collation" event comes only once it is in gossip).
    emit(json{{"t", unix_time()}, {"event", "proposed"}, {"shard", k}, {"period", shards_->current_period()},
              {"hash", hex_encode(ByteView(r->data(), r->size()))}}
             .dump());
  }
  collation_timer_.expires_after(opts_.collation_interval);
  collation_timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive) propose();
  });
}

void Node::stop() {
  if (stopped_) return;
  stopped_ = true;
  logging::get("node")->info("stopping");
  discovery_.stop();
  dht_timer_.cancel();
  if (dht_) dht_->stop();
  probe_timer_.cancel();
  collation_timer_.cancel();
  if (metrics_server_) metrics_server_->stop();
  if (control_) control_->stop();
  if (shards_) shards_->stop();
  if (pubsub_) pubsub_->stop();
  if (host_) host_->close();
  if (tor_) tor_->close();  // the embedded tor exits at once
  emit(json{{"t", unix_time()}, {"event", "stopped"}}.dump());
}

Status Node::shutdown_tor() {
  if (!tor_) return {};
  return tor_->shutdown(std::chrono::duration_cast<std::chrono::milliseconds>(opts_.tor_stop_timeout));
}

}  // namespace shardnode::node
