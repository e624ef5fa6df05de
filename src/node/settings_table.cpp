// The settings table. Add a setting here - one row, bound to the field of `Config`
// (config.h) it lives in, whose default is the setting's default - and it is
// loadable from TOML, printed by `shardnode config --print-defaults`, and documented
// in docs/CONFIG.md (a test keeps that file in sync).
#include <stdexcept>
#include <type_traits>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/log.h"
#include "shardnode/core/multiaddr.h"
#include "shardnode/node/settings.h"
#include "shardnode/node/tor_options.h"

namespace shardnode::node {

namespace {

// ---- Bindings: how a row reads and writes its field --------------------------------

// A field of Config, as a captureless lambda: FIELD(pubsub.gossip.d).
#define FIELD(path) +[](Config& c) -> auto& { return c.path; }
template <class T>
using Field = T& (*)(Config&);

struct Binding {
  std::function<SettingValue(const Config&)> get;
  std::function<void(Config&, const SettingValue&)> set;
  std::vector<std::string> choices;  // a choice binding's names
};

template <class T>
T& at(Field<T> f, const Config& c) {
  return f(const_cast<Config&>(c));  // read only
}

template <class>
inline constexpr bool kUnsupported = false;

// The field as it is: bool, an integer, a double, a string, a list of strings.
template <class T>
Binding field(Field<T> f) {
  if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, double> || std::is_same_v<T, std::string> ||
                std::is_same_v<T, std::vector<std::string>>) {
    return {[f](const Config& c) { return SettingValue(at(f, c)); },
            [f](Config& c, const SettingValue& v) { f(c) = std::get<T>(v); }};
  } else if constexpr (std::is_integral_v<T>) {
    return {[f](const Config& c) { return SettingValue(static_cast<std::int64_t>(at(f, c))); },
            [f](Config& c, const SettingValue& v) { f(c) = static_cast<T>(std::get<std::int64_t>(v)); }};
  } else if constexpr (std::is_same_v<T, std::set<std::string>>) {
    return {[f](const Config& c) { return SettingValue(std::vector<std::string>(at(f, c).begin(), at(f, c).end())); },
            [f](Config& c, const SettingValue& v) {
              const auto& l = std::get<std::vector<std::string>>(v);
              f(c) = T(l.begin(), l.end());
            }};
  } else {
    static_assert(kUnsupported<T>, "no binding for this field type");
  }
}

// A std::chrono duration written as a whole number of `Unit`s (the key says which:
// _ms or _s). A default that is not a whole number of them is a bug in config.h.
template <class Unit, class T>
Binding duration_in(Field<T> f) {
  return {[f](const Config& c) {
            const T d = at(f, c);
            const auto u = std::chrono::duration_cast<Unit>(d);
            if (std::chrono::duration_cast<T>(u) != d) throw std::logic_error("a default is not a whole unit");
            return SettingValue(static_cast<std::int64_t>(u.count()));
          },
          [f](Config& c, const SettingValue& v) {
            f(c) = std::chrono::duration_cast<T>(Unit(std::get<std::int64_t>(v)));
          }};
}
template <class T>
Binding seconds(Field<T> f) { return duration_in<std::chrono::seconds>(f); }
template <class T>
Binding millis(Field<T> f) { return duration_in<std::chrono::milliseconds>(f); }

// The shard manager keeps wall-clock spans as integer milliseconds; the setting is
// in seconds.
Binding ms_as_seconds(Field<std::uint64_t> f) {
  return {[f](const Config& c) {
            if (at(f, c) % 1000 != 0) throw std::logic_error("a default is not a whole second");
            return SettingValue(static_cast<std::int64_t>(at(f, c) / 1000));
          },
          [f](Config& c, const SettingValue& v) { f(c) = static_cast<std::uint64_t>(std::get<std::int64_t>(v)) * 1000; }};
}

// A list of peer ids (checked by check_peer_id before set).
Binding peer_ids(Field<std::set<PeerId>> f) {
  return {[f](const Config& c) {
            std::vector<std::string> out;
            for (const auto& p : at(f, c)) out.push_back(p.to_string());
            return SettingValue(std::move(out));
          },
          [f](Config& c, const SettingValue& v) {
            f(c).clear();
            for (const auto& text : std::get<std::vector<std::string>>(v))
              if (auto id = PeerId::parse(text)) f(c).insert(*id);
          }};
}

// A list of shard numbers (checked by check_shard_number before set).
Binding shard_numbers(Field<std::set<std::uint32_t>> f) {
  return {[f](const Config& c) {
            std::vector<std::string> out;
            for (auto k : at(f, c)) out.push_back(std::to_string(k));
            return SettingValue(std::move(out));
          },
          [f](Config& c, const SettingValue& v) {
            f(c).clear();
            for (const auto& text : std::get<std::vector<std::string>>(v))
              f(c).insert(static_cast<std::uint32_t>(std::stoul(text)));
          }};
}

// An enum field written as one of `names`.
template <class E>
Binding choice_of(Field<E> f, std::vector<std::pair<std::string, E>> names) {
  Binding b{[f, names](const Config& c) {
              for (const auto& [name, e] : names)
                if (e == at(f, c)) return SettingValue(name);
              throw std::logic_error("an enum value without a name");
            },
            [f, names](Config& c, const SettingValue& v) {
              for (const auto& [name, e] : names)
                if (name == std::get<std::string>(v)) f(c) = e;
            },
            {}};
  for (const auto& n : names) b.choices.push_back(n.first);
  return b;
}

Binding tor_mode() {
  using M = Config::Tor::Mode;
  return choice_of(FIELD(tor.mode), {{"embedded", M::embedded}, {"external", M::external}, {"none", M::none}});
}

Binding flag_policy() {
  using P = pubsub::GossipsubConfig::FlagPolicy;
  return choice_of(FIELD(pubsub.gossip.flag_policy), {{"flag_only", P::flag_only}, {"disconnect_and_ban", P::disconnect_and_ban}});
}

// One setting, two fields that must agree.
Binding seen_ttl() {
  Binding b = seconds(FIELD(pubsub.gossip.seen_ttl));
  b.set = [set = b.set](Config& c, const SettingValue& v) {
    set(c, v);
    c.pubsub.score.seen_ttl = c.pubsub.gossip.seen_ttl;  // delivery records live as long as seen ids
  };
  return b;
}
Binding max_message_size() {
  Binding b = field(FIELD(pubsub.gossip.max_message_size));
  b.set = [set = b.set](Config& c, const SettingValue& v) {
    set(c, v);
    c.pubsub.limits.max_message_size = c.pubsub.gossip.max_message_size;  // the decoder's cap is the router's
  };
  return b;
}

// A row with its binding; the default comes from Config{}.
void bind_row(std::vector<SettingDef>& t, Binding b, SettingDef d) {
  d.get = std::move(b.get);
  d.set = std::move(b.set);
  if (d.choices.empty()) d.choices = std::move(b.choices);
  t.push_back(std::move(d));
}


std::string check_log_module(const std::string& entry) { return logging::check_module_level(entry); }

std::string check_not_empty(const std::string& s) { return s.empty() ? "must not be empty" : ""; }

std::string check_validator_key(const std::string& s) {
  const auto b = hex_decode(s);
  return b && b->size() == 32 ? "" : "not a validator key (64 hex digits, as `shardnode ctl identity` shows it)";
}

std::string check_tor_option(const std::string& s) {
  auto o = parse_tor_option(s);
  return o ? "" : o.error().what();
}

std::string check_bridge(const std::string& s) {
  auto b = parse_bridge_line(s);
  return b ? "" : b.error().what();
}

std::string check_transport_plugin(const std::string& s) {
  auto t = parse_transport_plugin(s);
  return t ? "" : t.error().what();
}

std::string check_multiaddr(const std::string& s) {
  auto a = Multiaddr::parse(s);
  return a ? "" : "not a multiaddr (e.g. \"/onion3/<56 chars>:4001/p2p/12D3KooW...\"): " + a.error().what();
}

// "unix:/path" or "<ip literal>:<port>" on loopback; "" allowed (not used).
std::string check_local_endpoint(const std::string& s) {
  if (s.empty() || s.rfind("unix:/", 0) == 0) return "";
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return "must be unix:/<path> or 127.0.0.1:<port>";
  std::string host = s.substr(0, colon);
  if (host != "127.0.0.1" && host != "[::1]" && host.rfind("127.", 0) != 0)
    return "must be a unix socket or a loopback address (tor's ports are never reached over a network)";
  return "";
}

// metrics.listen: "" (off) or "<loopback ip>:<port>" - 127.0.0.0/8 or [::1], port 1-65535.
// Mirrors parse_loopback_endpoint() in metrics_server.cpp (which this library cannot use).
std::string check_metrics_listen(const std::string& s) {
  if (s.empty()) return "";
  const std::string usage = "must be a loopback address and port, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\"";
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return usage;
  const std::string host = s.substr(0, colon), port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) < 1 || std::stoul(port) > 65535)
    return usage + " (port 1-65535)";
  if (host == "[::1]") return "";
  std::size_t parts = 0, start = 0, first = 0;
  while (start <= host.size()) {
    auto dot = host.find('.', start);
    if (dot == std::string::npos) dot = host.size();
    const std::string part = host.substr(start, dot - start);
    if (part.empty() || part.size() > 3 || part.find_first_not_of("0123456789") != std::string::npos ||
        (part.size() > 1 && part[0] == '0') || std::stoul(part) > 255)
      return usage + ": not an IP address (names are never resolved)";
    if (parts++ == 0) first = std::stoul(part);
    start = dot + 1;
  }
  if (parts != 4) return usage + ": not an IP address (names are never resolved)";
  if (first != 127)
    return "refusing a non-loopback address: the metrics endpoint listens on 127.0.0.0/8 or [::1] only "
           "(scrape it locally or through an SSH tunnel)";
  return "";
}

std::string check_shard_number(const std::string& s) {
  if (s.empty() || s.size() > 4 || s.find_first_not_of("0123456789") != std::string::npos || (s.size() > 1 && s[0] == '0'))
    return "not a shard number (0..4095): " + s;
  return "";
}

std::string check_peer_id(const std::string& s) {
  auto id = PeerId::parse(s);
  return id ? "" : "not a peer id (base58btc, e.g. \"12D3KooW...\"): " + id.error().what();
}

// [pubsub]: the gossipsub router (pubsub::GossipsubConfig), the RPC decoder's caps
// (CodecLimits), the peer-score thresholds (score_*_threshold), the global score
// parameters (score_*) and the parameters every scored topic starts from (topic_*).
// src/node/pubsub_settings.cpp maps them to the structs and checks the cross-field
// rules; the defaults here equal the structs' defaults (tests/test_pubsub_settings.cpp).
void add_pubsub(std::vector<SettingDef>& t) {
  auto add = [&t](Binding b, SettingDef d) { bind_row(t, std::move(b), std::move(d)); };
  auto integer = [&t](std::string key, Binding b, std::int64_t lo, std::int64_t hi, std::string desc) {
    bind_row(t, std::move(b), {.key = std::move(key), .type = SettingType::integer, .description = std::move(desc),
                 .min = lo, .max = hi});
  };
  auto real = [&t](std::string key, Binding b, double lo, double hi, std::string desc) {
    bind_row(t, std::move(b), {.key = std::move(key), .type = SettingType::real, .description = std::move(desc),
                 .min_real = lo, .max_real = hi});
  };
  auto boolean = [&t](std::string key, Binding b, std::string desc) {
    bind_row(t, std::move(b), {.key = std::move(key), .type = SettingType::boolean, .description = std::move(desc)});
  };
  constexpr std::int64_t kDay = 24 * 3600;
  constexpr std::int64_t kMiB = 1024 * 1024;
  constexpr double kBig = 1e6;  // bound for weights and thresholds
  constexpr double kCap = 1e9;  // bound for counter caps

  // Mesh (gossipsub v1.0/v1.1).
  integer("pubsub.d", field(FIELD(pubsub.gossip.d)), 1, 100,
          "Mesh degree D: how many peers each subscribed topic's mesh aims for; full messages are forwarded "
          "to them (gossipsub spec default 6).");
  integer("pubsub.d_lo", field(FIELD(pubsub.gossip.d_lo)), 1, 100,
          "D_lo: with fewer mesh peers than this, the heartbeat grafts more, up to D (spec default 4). "
          "Needs d_out < d_lo <= d.");
  integer("pubsub.d_hi", field(FIELD(pubsub.gossip.d_hi)), 1, 1000,
          "D_hi: with more mesh peers than this, the heartbeat prunes down to D, keeping the d_score "
          "best-scoring and d_out outbound ones (spec default 12). Needs d <= d_hi.");
  integer("pubsub.graft_accept_limit", field(FIELD(pubsub.gossip.graft_accept_limit)), 0, 1000,
          "Inbound GRAFTs are accepted while the topic's mesh is smaller than this; 0 means D_hi, as the "
          "spec and go-libp2p-pubsub do. D keeps meshes near D and cuts duplicates (docs/BENCHMARKS.md). "
          "Outbound peers are always accepted. Needs d <= graft_accept_limit <= d_hi, or 0.");
  integer("pubsub.d_lazy", field(FIELD(pubsub.gossip.d_lazy)), 0, 1000,
          "D_lazy: the fewest peers outside the mesh that get IHAVE gossip each heartbeat (spec default 6); "
          "see gossip_factor.");
  integer("pubsub.d_score", field(FIELD(pubsub.gossip.d_score)), 0, 100,
          "D_score: how many of the best-scoring mesh peers survive a prune of an oversubscribed mesh; the "
          "rest of the D kept are random (go-libp2p-pubsub default 4). Needs d_score <= d.");
  integer("pubsub.d_out", field(FIELD(pubsub.gossip.d_out)), 0, 100,
          "D_out: the mesh keeps at least this many peers whose connection we opened, against an eclipse "
          "by inbound sybils (go-libp2p-pubsub default 2). Needs d_out < d_lo and d_out <= d/2.");
  integer("pubsub.heartbeat_ms", millis(FIELD(pubsub.gossip.heartbeat_interval)), 10, 60000,
          "Heartbeat interval in milliseconds: mesh upkeep, fanout expiry, gossip, score decay and "
          "spam-source flagging run this often (spec default 1 s).");
  integer("pubsub.fanout_ttl_s", seconds(FIELD(pubsub.gossip.fanout_ttl)), 1, kDay,
          "Seconds the fanout of a topic we publish to without subscribing is kept after our last publish "
          "there (spec default 60).");
  integer("pubsub.mcache_len", field(FIELD(pubsub.gossip.mcache_len)), 1, 1000,
          "Heartbeats of history the message cache keeps to answer IWANT (spec default 5).");
  integer("pubsub.mcache_gossip", field(FIELD(pubsub.gossip.mcache_gossip)), 0, 1000,
          "How many of the latest heartbeats' message ids are advertised in IHAVE gossip (spec default 3; "
          "0: no gossip). Needs mcache_gossip <= mcache_len.");
  integer("pubsub.seen_ttl_s", seen_ttl(), 1, kDay,
          "Seconds a message id is remembered, so later copies are dropped as duplicates; also how long "
          "peer scoring keeps delivery records (spec default 2 minutes).");
  integer("pubsub.prune_backoff_s", seconds(FIELD(pubsub.gossip.prune_backoff)), 1, kDay,
          "Seconds a pruned peer must wait before grafting again: sent in our PRUNEs, and used for a "
          "peer's PRUNE that names none (gossipsub v1.1 default 60).");
  integer("pubsub.unsubscribe_backoff_s", seconds(FIELD(pubsub.gossip.unsubscribe_backoff)), 1, kDay,
          "Backoff in seconds announced in the PRUNEs we send when leaving a topic (go-libp2p-pubsub "
          "default 10).");
  integer("pubsub.graft_flood_threshold_s", seconds(FIELD(pubsub.gossip.graft_flood_threshold)), 0, 3600,
          "A GRAFT during backoff costs a behaviour penalty (P7); one within this many seconds of our PRUNE "
          "costs double (go-libp2p-pubsub default 10).");
  boolean("pubsub.do_px", field(FIELD(pubsub.gossip.do_px)),
          "Peer exchange (gossipsub v1.1): offer other peers when pruning one from a mesh, and take the "
          "peers offered by a peer scoring at least score_accept_px_threshold as dial candidates. Default: "
          "off when node.onion_only is on (a PRUNE would hand out our neighbours' onion addresses: the graph "
          "a timing adversary needs, docs/PRIVACY.md), on otherwise.");
  integer("pubsub.prune_peers", field(FIELD(pubsub.gossip.prune_peers)), 0, 10000,
          "Peers offered in one PRUNE, and the most taken from one received (go-libp2p-pubsub default 16). "
          "Needs prune_peers <= max_px_peers, or peers with our limits reject the PRUNE.");
  boolean("pubsub.flood_publish", field(FIELD(pubsub.gossip.flood_publish)),
          "Flood publishing (gossipsub v1.1): our own messages go to every peer on the topic scoring at "
          "least score_publish_threshold, not only to the mesh; faster and harder to eclipse, at more "
          "bandwidth. Relayed messages always use the mesh.");
  add(field(FIELD(pubsub.gossip.flood_publish_off)), {.key = "pubsub.flood_publish_off", .type = SettingType::string_list,
               .description = "Topics whose own messages go to the mesh only, as relayed ones do, even with "
                              "flood_publish on (the origin then sends like a relay).",
               .check_string = check_not_empty});
  boolean("pubsub.stem", field(FIELD(pubsub.gossip.stem.enabled)),
          "Privacy mode: a Dandelion++ stem phase before gossip. Our own messages are never flood-published "
          "from our identity: each walks a random path of peers on /shardnode/stem/1.0.0 before someone "
          "gossips it, so a spy next to us cannot tell our messages from those we relay. Costs latency "
          "(a few Tor hops) and some bandwidth. Default: on when shard.validator is on, off otherwise. "
          "See docs/PRIVACY.md.");
  real("pubsub.stem_fluff_probability", field(FIELD(pubsub.gossip.stem.fluff_probability)), 0.0, 1.0,
       "Stem: probability q that this node is a diffuser (gossips what it gets) for an epoch; the mean "
       "stem is about 1/q hops (Dandelion++ suggests 0.1).");
  integer("pubsub.stem_epoch_s", seconds(FIELD(pubsub.gossip.stem.epoch)), 1, kDay,
          "Stem: seconds an epoch lasts; each epoch redraws the diffuser role, the 2 stem destinations "
          "(outbound peers) and the per-inbound-edge routes.");
  integer("pubsub.stem_embargo_ms", millis(FIELD(pubsub.gossip.stem.embargo)), 1, 3600000,
          "Stem: a relay that passed a message on gossips it itself if it has not seen it in gossip after "
          "this many milliseconds plus an exponential jitter, so a peer that drops stem messages cannot "
          "suppress them (our own messages: stem_own_embargo_ms).");
  integer("pubsub.stem_own_embargo_ms", millis(FIELD(pubsub.gossip.stem.own_embargo)), 1, 3600000,
          "Stem: the embargo of our own messages, in milliseconds (plus the same jitter); at least "
          "stem_embargo_ms. When a stem stalls, a relay's shorter timer fires first, so the first gossip "
          "comes from a relay rather than from us; ours only guards against relays that drop.");
  integer("pubsub.stem_embargo_jitter_ms", millis(FIELD(pubsub.gossip.stem.embargo_jitter_mean)), 0, 3600000,
          "Stem: mean of the exponential jitter added to each embargo, in milliseconds. Keep it well above "
          "one Tor hop's latency, so which holder fires first says little about who the source is.");
  real("pubsub.gossip_factor", field(FIELD(pubsub.gossip.gossip_factor)), 0.0, 1.0,
       "Adaptive gossip: each heartbeat IHAVE goes to max(d_lazy, gossip_factor x eligible non-mesh peers) "
       "peers per topic (gossipsub v1.1 default 0.25).");
  integer("pubsub.opportunistic_graft_ticks", field(FIELD(pubsub.gossip.opportunistic_graft_ticks)), 0, kDay,
          "Every this many heartbeats, a mesh whose median score is below "
          "score_opportunistic_graft_threshold grafts better-scoring peers (go-libp2p-pubsub default 60; "
          "0: never).");
  integer("pubsub.opportunistic_graft_peers", field(FIELD(pubsub.gossip.opportunistic_graft_peers)), 0, 100,
          "Peers grafted by one opportunistic graft (go-libp2p-pubsub default 2).");
  integer("pubsub.max_ihave_length", field(FIELD(pubsub.gossip.max_ihave_length)), 1, 1000000,
          "Most message ids put in one IHAVE, and most asked for with IWANT from one peer per heartbeat "
          "(go-libp2p-pubsub default 5000). Needs max_ihave_length <= max_ids_per_control.");
  integer("pubsub.max_ihave_messages", field(FIELD(pubsub.gossip.max_ihave_messages)), 1, 100000,
          "IHAVE messages taken from one peer per heartbeat; the rest are ignored (go-libp2p-pubsub default "
          "10).");
  integer("pubsub.iwant_followup_ms", millis(FIELD(pubsub.gossip.iwant_followup_time)), 1, 600000,
          "Milliseconds a peer has to deliver a message after we asked for it with IWANT in answer to its "
          "IHAVE; a broken promise costs a behaviour penalty (P7) (go-libp2p-pubsub default 3 s).");
  integer("pubsub.gossip_retransmission", field(FIELD(pubsub.gossip.gossip_retransmission)), 1, 1000,
          "Times one peer's IWANT for the same message is answered; asking again costs "
          "iwant_excess_penalty (go-libp2p-pubsub default 3).");
  boolean("pubsub.choke", field(FIELD(pubsub.gossip.choke.enabled)),
          "Choke our own mesh peers (the draft choke extension, libp2p/specs PR 681): the 3 that most "
          "often deliver first keep pushing messages to us, the others only announce them (IHAVE). About "
          "half the duplicates, at a higher latency (docs/BENCHMARKS.md), so off by default. A peer's "
          "CHOKE is honoured either way.");
  boolean("pubsub.latency_aware", field(FIELD(pubsub.gossip.latency.enabled)),
          "Latency-aware mesh: ping every peer (pubsub.ping_interval_s) and give the mesh slots that the "
          "d_score best scorers and d_out outbound peers do not hold to the fastest peers, swapping the "
          "slowest such mesh peer for a clearly faster one every 10 heartbeats. 9-10 % lower p50/p99 on "
          "Tor-like links, 2-3x lower on links of two speeds (docs/BENCHMARKS.md). Off by default: in "
          "onion-only mode a spy that answers fast wins those slots more often than at random.");
  integer("pubsub.ping_interval_s", seconds(FIELD(pubsub.ping_interval)), 1, kDay,
          "Seconds between pings of every gossip peer when pubsub.latency_aware is on (/ipfs/ping; "
          "IWANT answers are timed too).");
  integer("pubsub.idontwant_size_threshold", field(FIELD(pubsub.gossip.idontwant_size_threshold)), 0, 64 * kMiB,
          "Messages of at least this many bytes make us send IDONTWANT to our mesh peers (gossipsub v1.2; "
          "go-libp2p-pubsub default 1024).");
  integer("pubsub.max_idontwant_messages", field(FIELD(pubsub.gossip.max_idontwant_messages)), 0, 1000000,
          "IDONTWANT message ids taken from one peer per heartbeat; the rest are ignored (go-libp2p-pubsub "
          "default 1000).");
  integer("pubsub.idontwant_ttl_heartbeats", field(FIELD(pubsub.gossip.idontwant_ttl_heartbeats)), 1, 1000,
          "Heartbeats an IDONTWANT is honoured for (go-libp2p-pubsub default 3).");
  integer("pubsub.max_pending_validations", field(FIELD(pubsub.gossip.max_pending_validations)), 1, 1000000,
          "Messages awaiting validation at once; beyond this new messages are dropped unvalidated, without "
          "penalising the sender.");
  integer("pubsub.max_topics_per_peer", field(FIELD(pubsub.gossip.max_topics_per_peer)), 1, 1000000,
          "Topics one peer may be subscribed to in our view; further subscriptions are ignored.");
  integer("pubsub.max_message_size", max_message_size(), 1, 64 * kMiB,
          "Largest message payload in bytes that we publish, accept or decode (go-libp2p-pubsub default "
          "1 MiB). Needs max_message_size <= max_rpc_size.");
  add(peer_ids(FIELD(pubsub.gossip.explicit_peers)), {.key = "pubsub.explicit_peers", .type = SettingType::string_list,
               .description = "Explicit peering (gossipsub v1.1): peer ids (base58btc) that get every message "
                              "on our topics and are never grafted into a mesh nor sent gossip. Both sides "
                              "should list each other.",
               .check_string = check_peer_id});

  // Scoring and spam sources.
  boolean("pubsub.scoring", field(FIELD(pubsub.gossip.scoring)),
          "Peer scoring (gossipsub v1.1, P1-P7, set by the score_* and topic_* keys). Off: every peer scores "
          "0, no score threshold ever applies and no spam source is flagged.");
  add(flag_policy(), {.key = "pubsub.flag_policy", .type = SettingType::choice,
               .description = "What happens to a peer scoring below score_graylist_threshold (a spam source): "
                              "flag_only logs and counts it; disconnect_and_ban also disconnects it and refuses "
                              "it for ban_duration_s."});
  integer("pubsub.ban_duration_s", seconds(FIELD(pubsub.gossip.ban_duration)), 0, 30 * kDay,
          "Seconds a spam source is refused after disconnect_and_ban (10 minutes by default).");
  real("pubsub.unknown_topic_graft_penalty", field(FIELD(pubsub.gossip.unknown_topic_graft_penalty)), 0.0, 1000.0,
       "Behaviour penalty (P7 units) for a GRAFT on a topic we are not subscribed to. go-libp2p-pubsub ignores "
       "these GRAFTs; we also count them, so a peer spraying GRAFTs ends up flagged. 0: no penalty.");
  real("pubsub.unsubscribed_message_penalty", field(FIELD(pubsub.gossip.unsubscribed_message_penalty)), 0.0, 1000.0,
       "Behaviour penalty (P7 units) per message on a topic we are not subscribed to (nor left within "
       "pubsub.unsubscribe_backoff_s). Nobody honest sends one; go-libp2p-pubsub drops them silently. 0: no "
       "penalty.");
  real("pubsub.iwant_excess_penalty", field(FIELD(pubsub.gossip.iwant_excess_penalty)), 0.0, 1000.0,
       "Behaviour penalty (P7 units) per RPC asking again for a message already sent to the peer "
       "gossip_retransmission times (IWANT spam; go-libp2p-pubsub only caps the replies). 0: no penalty.");

  // Inbound budgets and admission (pubsub::InboundLimits): what holds when identities are free.
  boolean("pubsub.inbound_budgets", field(FIELD(pubsub.inbound.enabled)),
          "Read peers through budgets: per-peer and node-wide token buckets for RPCs, messages and bytes a "
          "second (a peer that has spent its budget is not read until they refill, so it is the sender that "
          "waits), and a bounded admission rate for new inbound identities. Off: read everything, admit "
          "everyone.");
  real("pubsub.peer_rpcs_per_s", field(FIELD(pubsub.inbound.peer_rpcs_per_s)), 0.001, 1e9,
       "RPCs a second read from one peer at full standing (a new peer gets new_peer_budget_fraction of it).");
  real("pubsub.peer_messages_per_s", field(FIELD(pubsub.inbound.peer_messages_per_s)), 0.001, 1e9,
       "Messages a second read from one peer at full standing; an RPC counts its messages, subscriptions "
       "and control entries.");
  real("pubsub.peer_bytes_per_s", field(FIELD(pubsub.inbound.peer_bytes_per_s)), 1.0, 1e12,
       "Bytes a second read from one peer at full standing (4 MiB by default). One RPC of any size is read "
       "from an empty bucket, and the peer then waits until it is paid for.");
  real("pubsub.node_rpcs_per_s", field(FIELD(pubsub.inbound.node_rpcs_per_s)), 0.001, 1e9,
       "RPCs a second read from all peers together.");
  real("pubsub.node_messages_per_s", field(FIELD(pubsub.inbound.node_messages_per_s)), 0.001, 1e9,
       "Messages a second read from all peers together.");
  real("pubsub.node_bytes_per_s", field(FIELD(pubsub.inbound.node_bytes_per_s)), 1.0, 1e12,
       "Bytes a second read from all peers together (32 MiB by default).");
  integer("pubsub.budget_burst_ms", millis(FIELD(pubsub.inbound.burst)), 1, 60000,
          "Each budget bucket holds this long's worth of its rate: the burst a quiet peer may send at once.");
  real("pubsub.new_peer_budget_fraction", field(FIELD(pubsub.inbound.start_fraction)), 0.0001, 1.0,
       "The share of the per-peer budget a new identity starts with; it doubles every budget_growth_s while "
       "the peer's score stays >= 0, and falls back here when it goes negative. A spammer that reconnects "
       "with a fresh key starts here every time.");
  integer("pubsub.budget_growth_s", seconds(FIELD(pubsub.inbound.grow_after)), 1, kDay,
          "Seconds of score >= 0 after which a peer's budget doubles (up to full standing).");
  real("pubsub.admit_per_minute", field(FIELD(pubsub.inbound.admit_per_minute)), 0.001, 1e6,
       "New inbound identities admitted a minute (peers we dial are always admitted). Past it, an inbound "
       "connection is closed before pubsub reads from it.");
  real("pubsub.admit_burst", field(FIELD(pubsub.inbound.admit_burst)), 1.0, 1e6,
       "How many inbound identities may be admitted at once before admit_per_minute applies.");

  // The RPC decoder's caps (pubsub::CodecLimits); max_message_size above is one too.
  integer("pubsub.max_rpc_size", field(FIELD(pubsub.limits.max_rpc_size)), 1024, 256 * kMiB,
          "Largest RPC in bytes read from a peer; a larger one is rejected (default: a 1 MiB message plus "
          "64 KiB for framing and control).");
  integer("pubsub.max_topic_length", field(FIELD(pubsub.limits.max_topic_length)), 1, 65536, "Longest topic name in bytes accepted in an RPC.");
  integer("pubsub.max_message_id_length", field(FIELD(pubsub.limits.max_message_id_length)), 20, 65536,
          "Longest message id in bytes accepted in IHAVE, IWANT and IDONTWANT (ours are 20 bytes).");
  integer("pubsub.max_ids_per_control", field(FIELD(pubsub.limits.max_ids_per_control)), 1, 1000000,
          "Most message ids in one RPC's IHAVE, IWANT and IDONTWANT entries together.");
  integer("pubsub.max_subscriptions_per_rpc", field(FIELD(pubsub.limits.max_subscriptions)), 1, 1000000,
          "Most subscription changes in one RPC, and most GRAFT and PRUNE entries together.");
  integer("pubsub.max_messages_per_rpc", field(FIELD(pubsub.limits.max_messages)), 1, 1000000, "Most messages in one RPC.");
  integer("pubsub.max_px_peers", field(FIELD(pubsub.limits.max_px_peers)), 0, 10000, "Most peer-exchange entries accepted in one PRUNE.");

  // Peer-score thresholds (pubsub::PeerScoreThresholds; rust-libp2p's defaults).
  real("pubsub.score_gossip_threshold", field(FIELD(pubsub.thresholds.gossip)), -kBig, 0.0,
       "Below this score a peer gets no IHAVE gossip from us and its IHAVE and IWANT are ignored "
       "(rust-libp2p default -10). Needs score_graylist_threshold <= score_publish_threshold <= "
       "score_gossip_threshold <= 0.");
  real("pubsub.score_publish_threshold", field(FIELD(pubsub.thresholds.publish)), -kBig, 0.0,
       "Below this score a peer is left out when we publish our own messages (rust-libp2p default -50).");
  real("pubsub.score_graylist_threshold", field(FIELD(pubsub.thresholds.graylist)), -kBig, 0.0,
       "Below this score a peer's RPCs are ignored entirely and it is flagged as a spam source (see "
       "flag_policy) (rust-libp2p default -80; with the default P4 weight one invalid message gets there).");
  real("pubsub.score_accept_px_threshold", field(FIELD(pubsub.thresholds.accept_px)), 0.0, kBig,
       "Peers offered in a PRUNE (peer exchange) are taken only from a peer scoring at least this; >= 0 "
       "(rust-libp2p default 10).");
  real("pubsub.score_opportunistic_graft_threshold", field(FIELD(pubsub.thresholds.opportunistic_graft)), 0.0, kBig,
       "A mesh whose median score is below this grafts better-scoring peers every "
       "opportunistic_graft_ticks heartbeats; >= 0 (rust-libp2p default 20).");

  // Global score parameters (pubsub::PeerScoreParams).
  real("pubsub.score_topic_cap", field(FIELD(pubsub.score.topic_score_cap)), 0.0, kCap,
       "Cap on the positive part of the summed topic scores (P1-P4), so topic credit cannot outweigh the "
       "penalties of P5-P7 (rust-libp2p default 3600; 0: no cap).");
  real("pubsub.score_app_specific_weight", field(FIELD(pubsub.score.app_specific_weight)), -kBig, kBig,
       "P5 weight: times the application's own score for a peer (the shard layer's credit for first "
       "deliveries of shard.known_validators' collations; 0 without them).");
  real("pubsub.score_ip_colocation_factor_weight", field(FIELD(pubsub.score.ip_colocation_factor_weight)), -kBig, 0.0,
       "P6 weight (<= 0): with more than score_ip_colocation_factor_threshold connected peers sharing one "
       "IP, each costs weight x (count - threshold)^2. Applies to TCP peers, keyed on their IP, and never to "
       "onion peers, which have no IP (rust-libp2p default -5; 0: P6 off).");
  integer("pubsub.score_ip_colocation_factor_threshold", field(FIELD(pubsub.score.ip_colocation_factor_threshold)), 1, 1000000,
          "Connected peers that may share one IP before P6 applies (rust-libp2p default 10).");
  add(field(FIELD(pubsub.score.ip_colocation_factor_whitelist)), {.key = "pubsub.score_ip_colocation_factor_whitelist", .type = SettingType::string_list,
               .description = "IPs exempt from P6, written exactly as the TCP transport reports them "
                              "(e.g. \"10.0.0.5\").",
               .check_string = check_not_empty});
  real("pubsub.score_behaviour_penalty_weight", field(FIELD(pubsub.score.behaviour_penalty_weight)), -kBig, 0.0,
       "P7 weight (<= 0): the router's behaviour-penalty counter (broken IWANT promises, GRAFTs during "
       "backoff, unknown-topic GRAFTs, IWANT spam) above score_behaviour_penalty_threshold costs "
       "weight x excess^2 (rust-libp2p default -10; 0: P7 off).");
  real("pubsub.score_behaviour_penalty_threshold", field(FIELD(pubsub.score.behaviour_penalty_threshold)), 0.0, kBig,
       "Behaviour-penalty count tolerated before P7 applies (default 0).");
  real("pubsub.score_behaviour_penalty_decay", field(FIELD(pubsub.score.behaviour_penalty_decay)), 0.0, 1.0,
       "Factor applied to the behaviour-penalty counter every decay interval; in (0, 1) while P7 is on "
       "(rust-libp2p default 0.2: a burst is forgotten within seconds).");
  integer("pubsub.score_decay_interval_s", seconds(FIELD(pubsub.score.decay_interval)), 1, 3600,
          "Seconds between decays of the score counters (rust-libp2p default 1; go-libp2p-pubsub requires at least 1).");
  real("pubsub.score_decay_to_zero", field(FIELD(pubsub.score.decay_to_zero)), 0.0, 1.0,
       "A decayed counter below this becomes 0; in (0, 1) (go-libp2p-pubsub default 0.01).");
  integer("pubsub.score_retain_s", seconds(FIELD(pubsub.score.retain_score)), 0, 30 * kDay,
          "Seconds a disconnected peer's negative score is remembered, so reconnecting does not wash it "
          "(rust-libp2p default 1 hour; 0: forget at once).");
  integer("pubsub.score_max_delivery_records", field(FIELD(pubsub.score.max_delivery_records)), 1, 16 * kMiB,
          "Most message delivery records kept for scoring; the oldest are dropped beyond this (a memory "
          "bound).");
  integer("pubsub.score_max_retained_peers", field(FIELD(pubsub.score.max_retained_peers)), 0, 16 * kMiB,
          "Most disconnected peers whose score is retained; the soonest-expiring are dropped beyond this "
          "(a memory bound; 0: none).");

  // The parameters every scored topic starts from (pubsub::TopicScoreParams::defaults()).
  real("pubsub.topic_weight", field(FIELD(pubsub.topic_defaults.topic_weight)), 0.0, kBig,
       "Weight of a topic's P1-P4 sum in the score. Every scored topic starts from these topic_* values.");
  real("pubsub.topic_time_in_mesh_weight", field(FIELD(pubsub.topic_defaults.time_in_mesh_weight)), 0.0, kBig,
       "P1 weight (>= 0): score per topic_time_in_mesh_quantum_ms spent in the mesh, up to "
       "topic_time_in_mesh_cap quanta. Default +0.01 per second, at most +36 after an hour: prefers "
       "long-standing mesh peers, never outweighs one invalid message. 0: P1 off.");
  integer("pubsub.topic_time_in_mesh_quantum_ms", millis(FIELD(pubsub.topic_defaults.time_in_mesh_quantum)), 1, 3600000,
          "P1 time unit in milliseconds (default 1 s).");
  real("pubsub.topic_time_in_mesh_cap", field(FIELD(pubsub.topic_defaults.time_in_mesh_cap)), 0.0, kCap,
       "P1 cap in quanta; positive while P1 is on (default 3600).");
  real("pubsub.topic_first_message_deliveries_weight", field(FIELD(pubsub.topic_defaults.first_message_deliveries_weight)), 0.0, kBig,
       "P2 weight (>= 0): score per message the peer delivered to us first, a decaying and capped "
       "counter (default +1 each). 0: P2 off.");
  real("pubsub.topic_first_message_deliveries_decay", field(FIELD(pubsub.topic_defaults.first_message_deliveries_decay)), 0.0, 1.0,
       "P2 counter factor per decay interval; in (0, 1) while P2 is on (rust-libp2p's 0.5: it reflects the "
       "last few seconds of forwarding).");
  real("pubsub.topic_first_message_deliveries_cap", field(FIELD(pubsub.topic_defaults.first_message_deliveries_cap)), 0.0, kCap,
       "P2 counter cap, so a peer cannot bank credit to spend on misbehaviour later; positive while P2 is "
       "on (default 100).");
  real("pubsub.topic_mesh_message_deliveries_weight", field(FIELD(pubsub.topic_defaults.mesh_message_deliveries_weight)), -kBig, 0.0,
       "P3 weight (<= 0): once a peer has been in the mesh for topic_mesh_message_deliveries_activation_s, "
       "a delivery counter below topic_mesh_message_deliveries_threshold costs weight x deficit^2. Off by "
       "default: the threshold must match a topic's real message rate, or the healthy mesh peers of a "
       "quiet topic get pruned.");
  real("pubsub.topic_mesh_message_deliveries_decay", field(FIELD(pubsub.topic_defaults.mesh_message_deliveries_decay)), 0.0, 1.0,
       "P3 counter factor per decay interval; in (0, 1) while P3 is on (rust-libp2p default 0.5).");
  real("pubsub.topic_mesh_message_deliveries_cap", field(FIELD(pubsub.topic_defaults.mesh_message_deliveries_cap)), 0.0, kCap,
       "P3 counter cap; positive while P3 is on (rust-libp2p default 100).");
  real("pubsub.topic_mesh_message_deliveries_threshold", field(FIELD(pubsub.topic_defaults.mesh_message_deliveries_threshold)), 0.0, kCap,
       "P3 deliveries expected of a mesh peer (in decayed-counter units); positive while P3 is on "
       "(rust-libp2p default 20).");
  integer("pubsub.topic_mesh_message_deliveries_window_ms", millis(FIELD(pubsub.topic_defaults.mesh_message_deliveries_window)), 0, 60000,
          "Milliseconds after validation during which a mesh peer's copy still counts for P3 as a near-first "
          "delivery (rust-libp2p default 10).");
  integer("pubsub.topic_mesh_message_deliveries_activation_s", seconds(FIELD(pubsub.topic_defaults.mesh_message_deliveries_activation)), 1, 3600,
          "Seconds in the mesh before P3 applies to a peer (rust-libp2p default 5).");
  real("pubsub.topic_mesh_failure_penalty_weight", field(FIELD(pubsub.topic_defaults.mesh_failure_penalty_weight)), -kBig, 0.0,
       "P3b weight (<= 0): a peer pruned while short of P3 deliveries keeps weight x deficit^2 as a "
       "sticky penalty. Off by default, like P3.");
  real("pubsub.topic_mesh_failure_penalty_decay", field(FIELD(pubsub.topic_defaults.mesh_failure_penalty_decay)), 0.0, 1.0,
       "P3b penalty factor per decay interval; in (0, 1) while P3b is on (rust-libp2p default 0.5).");
  real("pubsub.topic_invalid_message_deliveries_weight", field(FIELD(pubsub.topic_defaults.invalid_message_deliveries_weight)), -kBig, 0.0,
       "P4 weight (<= 0): invalid messages cost weight x count^2. Default -100: one invalid message puts a "
       "new peer below score_graylist_threshold, two put there even a peer with the most P1+P2 credit. 0: "
       "P4 off.");
  real("pubsub.topic_invalid_message_deliveries_decay", field(FIELD(pubsub.topic_defaults.invalid_message_deliveries_decay)), 0.0, 1.0,
       "P4 counter factor per decay interval; in (0, 1) even while P4 is off (rust-libp2p default 0.3: a "
       "peer that stops sending junk recovers within seconds).");
}

std::vector<SettingDef> make_table() {
  std::vector<SettingDef> t;
  auto add = [&t](Binding b, SettingDef d) { bind_row(t, std::move(b), std::move(d)); };

  // [node]
  add(field(FIELD(node.datadir)), {.key = "node.datadir", .type = SettingType::string,
       .description = "Data directory: identity.key (mode 0600), tor state, the collation store, the peer store. "
                      "Created with mode 0700. A leading ~/ means $HOME.",
       .check_string = check_not_empty});

  add(field(FIELD(node.onion_only)), {.key = "node.onion_only", .type = SettingType::boolean,
       .description = "Onion-only mode (the default; meant for validators): dial /onion3/ addresses only, "
                      "listen on nothing but the onion service's unix socket and loopback, advertise only the "
                      "/onion3/ address, never resolve a name. Off only for clearnet development setups."});
  add(field(FIELD(node.bootnodes)), {.key = "node.bootnodes", .type = SettingType::string_list,
       .description = "A way in: peers dialled, at start and every node.redial_interval_s, while the peer "
                      "store holds fewer than node.bootnode_threshold reachable peers. As multiaddrs "
                      "(\"/onion3/<56 chars>:4001/p2p/12D3KooW...\"). The /p2p/ id is optional for onion "
                      "addresses: the onion address is the peer's key, and Noise must prove it.",
       .check_string = check_multiaddr});
  add(seconds(FIELD(node.redial_interval)), {.key = "node.redial_interval_s", .type = SettingType::integer,
       .description = "Seconds between discovery rounds: dialling stored peers while below node.target_peers, "
                      "and bootnodes while the peer store is short of reachable peers.",
       .min = 1, .max = 3600});
  add(field(FIELD(node.dht)), {.key = "node.dht", .type = SettingType::boolean,
       .description = "Run the Kademlia DHT (/shardnode/kad/1.0.0): find peers beyond the bootnodes, announce "
                      "our shards as provider records, and find a shard's members when a jump's table lists "
                      "none. Its routing table holds only peers that exchanged DHT messages with us."});
  add(seconds(FIELD(node.dht_refresh)), {.key = "node.dht_refresh_s", .type = SettingType::integer,
       .description = "Seconds between DHT refreshes: a lookup of a random key (the first one: our own id), "
                      "and provider records re-announced for the shards we are on.",
       .min = 10, .max = 86400});
  add(field(FIELD(node.target_peers)), {.key = "node.target_peers", .type = SettingType::integer,
       .description = "Connections discovery keeps up: below this many, the best peers of the peer store "
                      "(<datadir>/peers.db) are dialled, and peers offered in peer exchange too.",
       .min = 1, .max = 1000});
  add(field(FIELD(node.bootnode_threshold)), {.key = "node.bootnode_threshold", .type = SettingType::integer,
       .description = "Bootnodes are dialled only while the peer store holds fewer reachable peers than this "
                      "(peers that answered once and have not failed 5 dials in a row since).",
       .min = 0, .max = 1000});
  add(field(FIELD(node.peer_store_max)), {.key = "node.peer_store_max", .type = SettingType::integer,
       .description = "Most peers kept in the peer store; above it, the peer least recently reachable (then "
                      "with the most dial failures, then least recently seen) is evicted.",
       .min = 1, .max = 1000000});
  add(field(FIELD(node.topics)), {.key = "node.topics", .type = SettingType::string_list,
       .description = "Pubsub topics to subscribe to at start (the shard layer adds its own)."});
  add(millis(FIELD(node.probe_interval)), {.key = "node.probe_interval_ms", .type = SettingType::integer,
       .description = "Connectivity probe for tests and the demo: every this many ms, publish a message "
                      "\"probe <peer id> <n>\" on each of node.topics (0: off). A probe names its sender on "
                      "purpose: never enable it where the publisher must stay anonymous.",
       .min = 0, .max = 3600 * 1000});
  add(field(FIELD(node.events_file)), {.key = "node.events_file", .type = SettingType::string,
       .description = "Append one JSON object per line for node events (tor bootstrap, listening, peers "
                      "connected and identified, messages received) to this file; empty: off. Meant for tests "
                      "and tools. Received messages are logged without the peer that forwarded them."});

  // [shard]
  add(field(FIELD(shard.manager.shard_count)), {.key = "shard.count", .type = SettingType::integer,
       .description = "How many shards the network has. Every node of a network must agree: preference "
                      "records for another count are rejected.",
       .min = 1, .max = 4096});
  add(shard_numbers(FIELD(shard.shards)), {.key = "shard.shards", .type = SettingType::string_list,
       .description = "Shards joined at start, as numbers (\"3\"). The node announces them in its signed "
                      "preference record and subscribes to their collation topics.",
       .check_string = check_shard_number});
  add(ms_as_seconds(FIELD(shard.manager.announce_interval_ms)), {.key = "shard.announce_interval_s", .type = SettingType::integer,
       .description = "Seconds between re-announcements of our shard preferences (also sent on every change).",
       .min = 1, .max = 86400});
  add(ms_as_seconds(FIELD(shard.manager.record_ttl_ms)), {.key = "shard.record_ttl_s", .type = SettingType::integer,
       .description = "Lifetime of our preference records; peers evict them after this. Must exceed "
                      "announce_interval_s.",
       .min = 10, .max = 86400});
  add(field(FIELD(shard.manager.peers_per_shard)), {.key = "shard.peers_per_shard", .type = SettingType::integer,
       .description = "Connections to a joined shard's peers that a jump dials for.", .min = 1, .max = 64});
  add(field(FIELD(shard.manager.cover_shards)), {.key = "shard.cover_shards", .type = SettingType::integer,
       .description = "Privacy mode: also join this many shards drawn at random, independent of our duties, "
                      "redrawn every cover_epoch_s, so our announced shards do not give away which we work on. "
                      "Costs their traffic and connections. Turns flood publishing off. Default: 2 (at most "
                      "shard.count - 1) when shard.validator is on, 0 otherwise. See docs/PRIVACY.md.",
       .min = 0, .max = 4095});
  add(ms_as_seconds(FIELD(shard.manager.cover_epoch_ms)), {.key = "shard.cover_epoch_s", .type = SettingType::integer,
       .description = "Seconds between draws of cover shards (shard.cover_shards).", .min = 10, .max = 86400});
  add(ms_as_seconds(FIELD(shard.manager.jump_timeout_ms)), {.key = "shard.jump_timeout_s", .type = SettingType::integer,
       .description = "A jump that has not grafted its mesh after this many seconds is recorded as failed.",
       .min = 1, .max = 3600});

  add(field(FIELD(shard.validator)), {.key = "shard.validator", .type = SettingType::boolean,
       .description = "Propose collations: load (or create) <node.datadir>/validator.key, an Ed25519 key "
                      "separate from the node identity, never tied to it on the wire."});
  add(field(FIELD(shard.known_validators)), {.key = "shard.known_validators", .type = SettingType::string_list,
       .description = "Validator public keys the network knows (its genesis list; 64 hex digits each, as "
                      "`shardnode ctl identity` shows them). A peer that is first to deliver a collation one of "
                      "them signed earns P5 credit in its score (1 each, at most 10, halving every 10 minutes), "
                      "which a fresh identity cannot mint with keys of its own. Empty: none known, P5 is 0.",
       .check_string = check_validator_key});
  add(field(FIELD(shard.known_validators_only)), {.key = "shard.known_validators_only", .type = SettingType::boolean,
       .description = "Accept only collations signed by shard.known_validators: others are rejected on gossip "
                      "(the sender is penalised) and count as invalid in a sync."});
  add(field(FIELD(shard.period_s)), {.key = "shard.period_s", .type = SettingType::integer,
       .description = "Collation period length in seconds, counted from shard.genesis_s.", .min = 1, .max = 86400});
  add(field(FIELD(shard.genesis_s)), {.key = "shard.genesis_s", .type = SettingType::integer,
       .description = "Unix time of period 0.", .min = 0, .max = std::int64_t{1} << 40});
  add(field(FIELD(shard.max_age_periods)), {.key = "shard.max_age_periods", .type = SettingType::integer,
       .description = "Collations older than this many periods are ignored (not relayed, not stored).",
       .min = 1, .max = 1000000});
  add(field(FIELD(shard.validation_threads)), {.key = "shard.validation_threads", .type = SettingType::integer,
      .description = "Worker threads that check collation signatures off the network thread (up to 1,024 "
                     "waiting; a collation arriving to a full queue is ignored, as go-libp2p-pubsub's "
                     "validation throttle does). 0: checked on the network thread.",
      .min = 0, .max = 64});
  add(millis(FIELD(shard.collation_interval)), {.key = "shard.collation_interval_ms", .type = SettingType::integer,
       .description = "Tests and the demo: as a validator, publish a collation with a generated body on each "
                      "joined shard this often (0: off).",
       .min = 0, .max = 3600 * 1000});
  add(field(FIELD(shard.beacon_proposer)), {.key = "shard.beacon_proposer", .type = SettingType::boolean,
       .description = "As a validator, sign a beacon header (slot, parent, state root) on "
                      "/shardnode/beacon/1 once per shard.period_s slot. Every node validates beacon headers "
                      "and follows the head (highest slot) whatever this says.",
       });
  add(field(FIELD(shard.misbehave_invalid_collations)), {.key = "shard.misbehave_invalid_collations", .type = SettingType::boolean,
       .description = "Tests and the demo only: make this node a spam source. Every shard.collation_interval_ms "
                      "it publishes a collation with a broken signature on each joined shard, which honest "
                      "peers reject (P4) until they flag it.",
       });

  // [net]
  add(field(FIELD(net.onion_port)), {.key = "net.onion_port", .type = SettingType::integer,
       .description = "The virtual port of our onion service: we are reachable at /onion3/<address>:<port>.",
       .min = 1, .max = 65535});
  add(field(FIELD(net.tcp_listen)), {.key = "net.tcp_listen", .type = SettingType::string_list,
       .description = "Extra TCP listen addresses (\"/ip4/127.0.0.1/tcp/4001\"). In onion-only mode only "
                      "loopback addresses are accepted, and they are never advertised.",
       .check_string = check_multiaddr});
  add(field(FIELD(net.max_connections)), {.key = "net.max_connections", .type = SettingType::integer,
       .description = "Most connections (inbound, outbound and upgrading) kept at once.", .min = 1, .max = 100000});
  add(seconds(FIELD(net.dial_timeout)), {.key = "net.dial_timeout_s", .type = SettingType::integer,
       .description = "Seconds a dial may take, transport and upgrade together. Onion dials retry inside "
                      "this while the peer's descriptor is not yet available.",
       .min = 1, .max = 3600});
  add(field(FIELD(net.stream_window_kib)), {.key = "net.stream_window_kib", .type = SettingType::integer,
       .description = "Receive window per yamux stream, in KiB: what a peer may send on one stream before we "
                      "read it. Over Tor a stream moves at most this much per round trip (hundreds of ms); "
                      "256 is the yamux spec's initial window.",
       .min = 256, .max = 16384});
  add(field(FIELD(net.stream_window_max_kib)), {.key = "net.stream_window_max_kib", .type = SettingType::integer,
       .description = "Largest receive window a yamux stream may grow to, in KiB. A stream starts at "
                      "net.stream_window_kib; each time its reader consumed half the window within two round "
                      "trips (measured with yamux pings) the window doubles, up to this. The streams of one "
                      "connection together grow by at most (this - net.stream_window_kib): one stream may reach "
                      "the maximum, or several share the growth. "
                      "Equal to net.stream_window_kib: no auto-tuning. Must not be below it.",
       .min = 256, .max = 65536});

  // [log]
  add(field(FIELD(log.level)), {.key = "log.level", .type = SettingType::choice,
       .description = "Log level for every module without its own entry in log.modules.",
       .choices = {"trace", "debug", "info", "warn", "error", "critical", "off"}});
  add(field(FIELD(log.file)), {.key = "log.file", .type = SettingType::string,
       .description = "Also append log lines to this file (empty: stderr only)."});
  add(field(FIELD(log.module_levels)), {.key = "log.modules", .type = SettingType::string_list,
       .description = "Per-module levels as \"module=level\", e.g. [\"onion=debug\"]. "
                      "Modules: core, net, onion, pubsub, shard, node, cli, sim.",
       .check_string = check_log_module});

  // [tor]
  add(field(FIELD(tor.data_dir)), {.key = "tor.data_dir", .type = SettingType::string,
       .description = "The embedded tor's DataDirectory (mode 0700). Empty: <node.datadir>/tor."});
  add(field(FIELD(tor.log_level)), {.key = "tor.log_level", .type = SettingType::choice,
       .description = "Level of tor's own log, written to <tor.data_dir>/tor.log.",
       .choices = {"debug", "info", "notice", "warn", "err"}});
  add(seconds(FIELD(tor.start_timeout)), {.key = "tor.start_timeout", .type = SettingType::integer,
       .description = "Seconds to wait for the embedded tor to answer on its control socket.",
       .min = 1, .max = 3600});
  add(tor_mode(), {.key = "tor.mode", .type = SettingType::choice,
       .description = "embedded: run the tor linked into shardnode (one per process). external: use a running "
                      "tor through tor.control and tor.socks. none: no tor at all, for local development and "
                      "tests on loopback TCP (needs node.onion_only = false; gives no anonymity)."});
  add(field(FIELD(tor.testnet)), {.key = "tor.testnet", .type = SettingType::string,
       .description = "A private Tor network's client.torrc (written by `shardnode testnet up`): the embedded "
                      "tor then uses that network's directory authorities and nothing else."});
  add(field(FIELD(tor.public_network)), {.key = "tor.public_network", .type = SettingType::boolean,
       .description = "Let the embedded tor join the public Tor network. Without tor.testnet or this, "
                      "`shardnode run` refuses to start: joining Tor is always an explicit choice."});
  add(field(FIELD(tor.control)), {.key = "tor.control", .type = SettingType::string,
       .description = "External tor's ControlPort: \"unix:/run/tor/control\" or \"127.0.0.1:9051\" (loopback "
                      "only). Authentication: SAFECOOKIE/COOKIE when tor offers it, else tor.control_password.",
       .check_string = check_local_endpoint});
  add(field(FIELD(tor.control_password)), {.key = "tor.control_password", .type = SettingType::string,
       .description = "Password for an external tor's HashedControlPassword (never logged)."});
  add(field(FIELD(tor.socks)), {.key = "tor.socks", .type = SettingType::string,
       .description = "External tor's SocksPort: \"unix:/run/tor/socks\" or \"127.0.0.1:9050\" (loopback only). "
                      "Give it the ExtendedErrors flag so onion dial failures can be told apart.",
       .check_string = check_local_endpoint});
  add(field(FIELD(tor.pow_defense)), {.key = "tor.pow_defense", .type = SettingType::boolean,
       .description = "Turn on tor's proof-of-work defence (proposal 327) for our onion service."});
  add(field(FIELD(tor.max_streams)), {.key = "tor.max_streams", .type = SettingType::integer,
       .description = "MaxStreams per rendezvous circuit on our onion service (0: tor's default, unlimited).",
       .min = 0, .max = 65535});
  add(field(FIELD(tor.options)), {.key = "tor.options", .type = SettingType::string_list,
       .description = "More torrc lines for the embedded tor, \"Key value\" each (e.g. \"NumCPUs 2\"), from an "
                      "allowlist of options that only touch resources, performance and logging, or keep a "
                      "defence on (the table below says why each is safe). Anything that could weaken anonymity "
                      "(guards, path selection, padding off, single-hop services) or make tor reach the network "
                      "another way (proxies, bind addresses, bridges outside tor.bridges) is refused, and the "
                      "refusal names the key. Embedded tor only.",
       .check_string = check_tor_option});
  add(field(FIELD(tor.bridges)), {.key = "tor.bridges", .type = SettingType::string_list,
       .description = "Bridges, as tor's Bridge lines: \"[transport] address:port [fingerprint] [key=value ...]\" "
                      "(e.g. \"obfs4 192.0.2.1:443 <fingerprint> cert=... iat-mode=0\"). Non-empty: the embedded "
                      "tor enters the Tor network only through these (UseBridges 1), for networks where Tor is "
                      "blocked. Addresses are IP literals (a host name would need DNS); with tor.testnet they must "
                      "be on loopback. `shardnode testnet up --bridges N` writes a private network's in "
                      "<dir>/bridges.txt.",
       .check_string = check_bridge});
  add(field(FIELD(tor.transport_plugins)), {.key = "tor.transport_plugins", .type = SettingType::string_list,
       .description = "Pluggable transports for tor.bridges, as tor's ClientTransportPlugin in its managed form: "
                      "\"transport[,transport] exec /path/to/proxy [args]\" (e.g. \"obfs4 exec "
                      "/usr/bin/obfs4proxy\", Debian's obfs4proxy package). Each transport a bridge names needs "
                      "one; forms that name a running proxy (socks4, socks5) are refused.",
       .check_string = check_transport_plugin});
  add(seconds(FIELD(tor.bootstrap_timeout)), {.key = "tor.bootstrap_timeout", .type = SettingType::integer,
       .description = "Seconds to wait for tor to bootstrap to 100 % before giving up.", .min = 1, .max = 86400});
  add(seconds(FIELD(tor.publish_timeout)), {.key = "tor.publish_timeout", .type = SettingType::integer,
       .description = "Seconds to wait for our onion service's first descriptor upload.", .min = 1, .max = 86400});
  add(seconds(FIELD(tor.stop_timeout)), {.key = "tor.stop_timeout", .type = SettingType::integer,
       .description = "Seconds to wait for the embedded tor to exit on shutdown.",
       .min = 1, .max = 600});

  // [metrics]
  add(field(FIELD(metrics.listen)), {.key = "metrics.listen", .type = SettingType::string,
       .description = "Serve Prometheus metrics (GET /metrics, text format 0.0.4) at this loopback address, "
                      "e.g. \"127.0.0.1:9464\" or \"[::1]:9464\"; empty: off. Only 127.0.0.0/8 and ::1 are "
                      "accepted. Node-wide figures only: no peer ids, addresses or message ids (docs/METRICS.md).",
       .check_string = check_metrics_listen});

  add_pubsub(t);
  return t;
}

#undef FIELD

}  // namespace

// Every row's default is its field's in Config{}; a binding that cannot read it
// (a default that is not a whole unit) fails here, at the first use of the table.
std::vector<SettingDef> make_checked_table() {
  std::vector<SettingDef> t = make_table();
  const Config defaults;
  for (auto& d : t) {
    try {
      d.def = d.get(defaults);
    } catch (const std::logic_error& e) {
      throw std::logic_error("setting " + d.key + ": " + e.what());
    }
  }
  return t;
}

const std::vector<SettingDef>& settings_table() {
  static const std::vector<SettingDef> table = make_checked_table();
  return table;
}

const SettingDef* find_setting(std::string_view key) {
  for (const auto& d : settings_table())
    if (d.key == key) return &d;
  return nullptr;
}

}  // namespace shardnode::node
