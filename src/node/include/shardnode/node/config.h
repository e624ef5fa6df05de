// Every setting's home: the typed field the code reads. The settings table
// (settings_table.cpp) binds each row to one field here, and a row's default is
// that field's default below (or the library struct's own default, for pubsub and
// the shard manager), so a setting is declared in one place.
//
// Values here are as the file wrote them, range-checked; the rules that span
// several settings are checked where the config is turned into what runs
// (pubsub_settings.h, node_options_from()).
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "shardnode/core/keys.h"
#include "shardnode/core/log.h"
#include "shardnode/pubsub/codec.h"
#include "shardnode/pubsub/inbound_gate.h"
#include "shardnode/pubsub/router.h"
#include "shardnode/pubsub/score.h"
#include "shardnode/shard/manager.h"

namespace shardnode::node {

// [pubsub] as the pubsub library's structs. `pubsub.seen_ttl_s` sets both
// gossip.seen_ttl and score.seen_ttl, `pubsub.max_message_size` both
// gossip.max_message_size and limits.max_message_size (one setting each).
struct PubsubConfig {
  pubsub::GossipsubConfig gossip;
  pubsub::CodecLimits limits;
  pubsub::PeerScoreParams score = pubsub::PeerScoreParams::defaults();  // no topics; the P5 hook is 0
  pubsub::PeerScoreThresholds thresholds = pubsub::PeerScoreThresholds::defaults();
  pubsub::TopicScoreParams topic_defaults = pubsub::TopicScoreParams::defaults();  // every scored topic's
  pubsub::InboundLimits inbound;  // budgets for what we read, admission of inbound identities
  Duration ping_interval = std::chrono::seconds(30);  // with gossip.latency on (ServiceConfig::ping_interval)
};

struct Config {
  struct Node {
    std::string datadir = "~/.local/share/shardnode";
    bool onion_only = true;
    std::vector<std::string> bootnodes;  // multiaddrs, checked by the table
    std::chrono::seconds redial_interval{15};
    bool dht = true;
    std::chrono::seconds dht_refresh{300};
    std::size_t target_peers = 8;
    std::size_t bootnode_threshold = 3;
    std::size_t peer_store_max = 1000;
    std::vector<std::string> topics;
    std::chrono::milliseconds probe_interval{0};
    std::string events_file;
  } node;

  struct Shard {
    shard::ShardManagerConfig manager;  // count, announce/ttl, peers, jumps, cover
    std::set<std::uint32_t> shards;     // joined at start
    bool validator = false;
    std::uint64_t period_s = 12;
    std::uint64_t genesis_s = 0;
    std::uint64_t max_age_periods = 64;
    std::size_t validation_threads = 2;
    std::chrono::milliseconds collation_interval{0};
    bool beacon_proposer = false;
    bool misbehave_invalid_collations = false;
    std::vector<std::string> known_validators;  // validator public keys, 64 hex digits each
    bool known_validators_only = false;
  } shard;

  struct Net {
    std::uint16_t onion_port = 4001;
    std::vector<std::string> tcp_listen;  // multiaddrs, checked by the table
    std::size_t max_connections = 128;
    std::chrono::seconds dial_timeout{150};
    // yamux receive window per stream. 1 MiB, not the spec's 256 KiB: over an onion
    // circuit with the live network's latency (profile wan) 256 KiB held gossip to
    // 66 % of a raw stream, 1 MiB gave 94 % (docs/BENCHMARKS.md).
    std::uint32_t stream_window_kib = 1024;
    // The most a stream's window may auto-tune to (doubling from stream_window_kib while
    // the reader keeps up with the measured round trip); go-yamux's default. One
    // connection's streams together grow by at most stream_window_max_kib - stream_window_kib.
    std::uint32_t stream_window_max_kib = 16384;
  } net;

  logging::Options log;

  struct Tor {
    enum class Mode { embedded, external, none };
    std::string data_dir;  // empty: <node.datadir>/tor
    std::string log_level = "notice";
    std::chrono::seconds start_timeout{60};
    Mode mode = Mode::embedded;
    std::string testnet;  // a private network's client.torrc
    bool public_network = false;
    std::string control, control_password, socks;
    bool pow_defense = true;
    std::uint32_t max_streams = 0;
    std::vector<std::string> options;  // "Key value" torrc lines from the allowlist (node/tor_options.h)
    std::vector<std::string> bridges;            // Bridge lines: tor then enters the network only through them
    std::vector<std::string> transport_plugins;  // ClientTransportPlugin lines (managed proxies: "exec")
    std::chrono::seconds bootstrap_timeout{300}, publish_timeout{180}, stop_timeout{10};
  } tor;

  struct Metrics {
    std::string listen;  // "" off, else a loopback ip:port
  } metrics;

  PubsubConfig pubsub;
};

}  // namespace shardnode::node
