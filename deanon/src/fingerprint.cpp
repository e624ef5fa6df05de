#include "shardnode/deanon/fingerprint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "gossip_sim.h"
#include "json_fields.h"
#include "payload.h"
#include "shard_sim.h"
#include "shardnode/core/errors.h"
#include "shardnode/pubsub/codec.h"
#include "shardnode/shard/manager.h"
#include "shardnode/shard/topics.h"
#include "shardnode/sim/rng.h"
#include "shardnode/sim/seeding.h"

namespace shardnode::deanon {
namespace {

using Node = pubsub::GossipSim::Node;

// Fixed fork ids for the experiment's own random streams (the gossip harness and the
// shard managers use their own forks of the same run seed; see
// pubsub/sim/gossip_sim.cpp and shard/sim/shard_sim.cpp).
constexpr std::uint64_t kObserverStream = 0xf1a0'0001;
constexpr std::uint64_t kHostStream = 0xf1a0'0002;
constexpr std::uint64_t kDutyStream = 0xf1a0'0003;
constexpr std::uint64_t kSubscriptionStream = 0xf1a0'0004;

Error bad(const std::string& what) {
  return Error{make_error_code(ConfigErrc::out_of_range), "deanon-fingerprint: " + what};
}

Duration uniform_duration(sim::SeededRandom& rng, Duration max) {
  if (max <= Duration{0}) return Duration{0};
  return Duration{static_cast<Duration::rep>(rng.uniform(static_cast<std::uint64_t>(max.count()) + 1))};
}

// `count` distinct shards, uniformly.
std::set<std::uint32_t> draw_shards(sim::SeededRandom& rng, std::uint32_t shards, std::uint32_t count) {
  std::vector<std::uint32_t> all(shards);
  for (std::uint32_t k = 0; k < shards; ++k) all[k] = k;
  for (std::uint32_t i = 0; i < count; ++i) std::swap(all[i], all[i + rng.uniform(shards - i)]);
  return {all.begin(), all.begin() + count};
}

// One message (one validator duty) and what happened to it.
struct Duty {
  std::uint32_t validator = 0;
  std::uint32_t shard = 0;
  std::uint32_t epoch = 0;
  TimePoint due{0};
  std::optional<pubsub::MessageId> id;  // once it entered gossip
  std::vector<Node> subscribers;        // honest nodes subscribed to the shard at that moment
  bool via_observer = false;
};

// The earliest receipt of a message at any observer, and what that observer knew of
// the sender then: whether it is subscribed to the topic (its pubsub SUBSCRIBE) and
// whether its preference record in the observer's table lists the shard.
struct FirstReceipt {
  Node from = 0;
  bool subscribed = false;
  bool listed = false;
};

class Runner {
 public:
  Runner(const FingerprintConfig& cfg, std::uint64_t seed)
      : cfg_(cfg),
        seed_(seed),
        root_(sim::seeded_for_simulation(seed)),
        sim_(shard_config(cfg, seed)),
        gossip_(sim_.gossip()),
        duty_rng_(root_.fork(kDutyStream)),
        sub_rng_(root_.fork(kSubscriptionStream)) {
    message_id_ = gossip_.router(0).config().message_id;
  }

  FingerprintRun run() {
    FingerprintRun r;
    r.seed = seed_;
    place_observers();
    std::vector<Node> host(cfg_.validators);
    sim::SeededRandom host_rng = root_.fork(kHostStream);
    for (Node& h : host) h = static_cast<Node>(host_rng.uniform(cfg_.nodes));

    gossip_.network().set_observer(
        [this](TimePoint, sim::NodeIndex from, sim::NodeIndex to, const pubsub::SimRpc& rpc) {
          if (to < cfg_.nodes) return;
          // A stem message reaching an observer: not a gossip signal, but exposure to
          // an adversary that also reads the stem protocol.
          for (const pubsub::Message& m : rpc.stem)
            if (auto d = duty_of_.find(message_id_(m)); d != duty_of_.end()) duties_[d->second].via_observer = true;
          for (const pubsub::Message& m : rpc.rpc.publish) {
            const auto shard = shard::shard_of_collation_topic(m.topic);
            if (!shard) continue;  // preference records, beacon
            const pubsub::MessageId id = message_id_(m);
            if (first_.count(id)) continue;
            // What this observer knows of `from` right now: its pubsub subscriptions and
            // the preference record its shard manager holds for it.
            const PeerId& peer = gossip_.peer(from);
            FirstReceipt f;
            f.from = from;
            f.subscribed = gossip_.router(to).topic_peers(m.topic).count(peer) != 0;
            const auto rec = sim_.manager(to).table().get(peer);
            f.listed = rec && rec->contains(*shard);
            first_.emplace(id, f);
          }
        });

    // Every node's shard manager starts at virtual time 0: plain, joined to its
    // long-lived shards; cover, with none of its own (the manager draws the cover
    // shards); observers, joined to every shard.
    std::set<std::uint32_t> all;
    for (std::uint32_t k = 0; k < cfg_.shards; ++k) all.insert(k);
    for (Node n = 0; n < cfg_.nodes; ++n)
      sim_.start(n, cfg_.mode == SubscriptionMode::plain ? draw_shards(sub_rng_, cfg_.shards, cfg_.plain_shards)
                                                         : std::set<std::uint32_t>{});
    for (Node o = cfg_.nodes; o < cfg_.nodes + cfg_.observers; ++o) sim_.start(o, all);
    // The managers redraw cover shards every epoch_length from their start, so in
    // cover mode the first epoch begins at the first redraw at or after the warm-up.
    Duration first = cfg_.warmup;
    if (cfg_.mode == SubscriptionMode::cover) {
      const Duration::rep epochs = (cfg_.warmup + cfg_.epoch_length - Duration{1}) / cfg_.epoch_length;
      first = cfg_.epoch_length * epochs;
    }
    sim_.run_for(first);

    const std::uint32_t epochs = cfg_.days * cfg_.epochs_per_day;
    for (std::uint32_t e = 0; e < epochs; ++e) {
      if (cfg_.mode == SubscriptionMode::plain && e > 0 && e % cfg_.epochs_per_day == 0)
        for (Node n = 0; n < cfg_.nodes; ++n) redraw(n);
      // Duties fall in the middle half of the epoch, away from the subscription
      // changes at its edges (which reach the observers one link later).
      const TimePoint start = gossip_.now();
      for (std::uint32_t v = 0; v < cfg_.validators; ++v) {
        Duty d;
        d.validator = v;
        d.shard = static_cast<std::uint32_t>(duty_rng_.uniform(cfg_.shards));
        d.epoch = e;
        d.due = start + cfg_.epoch_length / 4 + uniform_duration(duty_rng_, cfg_.epoch_length / 2);
        const std::size_t i = duties_.size();
        duties_.push_back(std::move(d));
        gossip_.scheduler().schedule_at(duties_[i].due, [this, i, h = host[v]] { publish(i, h); });
      }
      sim_.run_for(cfg_.epoch_length);
    }
    sim_.run_for(cfg_.epoch_length);  // the last epoch's messages settle
    gossip_.network().set_observer({});

    for (Node n = 0; n < cfg_.nodes; ++n) {
      r.announcements += sim_.manager(n).counters().announcements;
      r.cover_rotations += sim_.manager(n).counters().cover_rotations;
    }
    score(r, host);
    return r;
  }

 private:
  static shard::ShardSimConfig shard_config(const FingerprintConfig& cfg, std::uint64_t seed) {
    shard::ShardSimConfig s;
    pubsub::GossipSimConfig& g = s.gossip;
    g.nodes = cfg.nodes + cfg.observers;
    g.degree = cfg.degree;
    g.link = sim::LinkParams{cfg.latency, 0.0, 0.0, cfg.jitter};
    g.seed = seed;
    // Cover mode runs with the stem (pubsub/stem.h), as a node with both modes on:
    // own messages leave on the stem - on a shard we are not on, to a destination
    // that is - and are never flood-published (node.cpp turns flood publishing off
    // with cover shards). One stem epoch per simulated day; the embargo is
    // 2 s + Exp(1 s), 80x a link's latency as 30 s is on Tor.
    if (cfg.mode == SubscriptionMode::cover) {
      g.gossip.flood_publish = false;
      g.gossip.stem.enabled = true;
      g.gossip.stem.epoch = cfg.epoch_length * cfg.epochs_per_day;
      g.gossip.stem.embargo = std::chrono::seconds(2);
      g.gossip.stem.embargo_jitter_mean = std::chrono::seconds(1);
      g.gossip.stem.max_per_peer_per_heartbeat = 1'000'000;  // no honest node floods here
    }
    // The shard managers: the node's defaults (record TTL, re-announcement, table
    // requests, jump target) except the shard count, the cover shards and their
    // epoch, and peers_per_shard (the experiment's topology is fixed: see
    // FingerprintConfig::peers_per_shard).
    s.shard.shard_count = cfg.shards;
    s.shard.peers_per_shard = cfg.peers_per_shard;
    if (cfg.mode == SubscriptionMode::cover) {
      s.shard.cover_shards = cfg.cover_shards;
      s.shard.cover_epoch_ms =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(cfg.epoch_length).count());
    }
    // Duty messages are not collations: no collation validators, store or sync.
    s.collation_validators = false;
    s.collation.sync_on_join = false;
    s.collation.auto_propose = false;
    return s;
  }

  bool is_observer(Node n) const { return n >= cfg_.nodes; }

  void place_observers() {
    const auto links = static_cast<std::uint32_t>(
        std::llround(cfg_.observer_fraction * static_cast<double>(cfg_.nodes)));
    for (std::uint32_t o = 0; o < cfg_.observers; ++o) {
      const Node obs = cfg_.nodes + o;
      std::vector<Node> honest(cfg_.nodes);
      for (Node n = 0; n < cfg_.nodes; ++n) honest[n] = n;
      sim::SeededRandom rng = root_.fork(kObserverStream).fork(o);
      rng.shuffle(honest);
      for (std::uint32_t i = 0; i < links; ++i) gossip_.link(obs, honest[i]);
    }
  }

  // Plain mode, at a day's start: a fresh draw of n's long-lived shards; each shard
  // left is paired with one joined, and the manager jumps (one announcement each).
  void redraw(Node n) {
    shard::ShardManager& m = sim_.manager(n);
    const std::set<std::uint32_t> next = draw_shards(sub_rng_, cfg_.shards, cfg_.plain_shards);
    std::vector<std::uint32_t> leave, join;
    for (std::uint32_t k : m.shards())
      if (!next.count(k)) leave.push_back(k);
    for (std::uint32_t k : next)
      if (!m.shards().count(k)) join.push_back(k);
    const std::uint64_t now = sim_.now_ms();
    for (std::size_t i = 0; i < std::max(leave.size(), join.size()); ++i) {
      Status st = i < leave.size() && i < join.size() ? m.jump(leave[i], join[i], now)
                  : i < leave.size()                  ? m.leave(leave[i], now)
                                                      : m.join(join[i], now);
      if (!st) throw std::runtime_error("deanon-fingerprint: shard change failed: " + st.error().what());
    }
  }

  void publish(std::size_t i, Node from) {
    Duty& d = duties_[i];
    const pubsub::TopicId topic = shard::collation_topic(d.shard);
    for (Node n = 0; n < cfg_.nodes; ++n)
      if (n != from && gossip_.router(n).subscribed(topic)) d.subscribers.push_back(n);
    auto id = gossip_.publish(from, topic, payload(seed_, i));
    if (!id && id.error().code == make_error_code(pubsub::PubsubErrc::no_stem_route)) {
      // Stem, a shard we are not on, and no outbound peer of ours on it.
      ++stem_failures_;
      return;
    }
    if (!id) throw std::runtime_error("deanon-fingerprint: publish failed: " + id.error().what());
    d.id = *id;
    duty_of_[*id] = i;
  }

  void score(FingerprintRun& r, const std::vector<Node>& host) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    r.messages = duties_.size();
    r.stem_failures = stem_failures_;
    std::vector<std::map<Node, std::uint32_t>> counts(cfg_.validators);
    double latency_sum = 0.0, reach_sum = 0.0;
    std::uint64_t latency_messages = 0;
    std::size_t next = 0;
    for (std::uint32_t day = 0; day < cfg_.days; ++day) {
      const std::uint32_t end_epoch = (day + 1) * cfg_.epochs_per_day;
      for (; next < duties_.size() && duties_[next].epoch < end_epoch; ++next) {
        const Duty& d = duties_[next];
        if (d.via_observer) ++r.stem_via_observer;
        if (!d.id) continue;
        ++r.published;
        const auto f = first_.find(*d.id);
        if (f != first_.end()) {
          if (f->second.subscribed && !f->second.listed) ++r.announced_by_subscription_only;
          if (!f->second.subscribed && f->second.listed) ++r.announced_by_record_only;
        }
        // A signal: the sender announces the shard neither way.
        if (f != first_.end() && !f->second.subscribed && !f->second.listed) {
          ++r.signals;
          if (f->second.from == host[d.validator]) ++r.signals_from_host;
          ++counts[d.validator][f->second.from];
        }
        const auto& rec = gossip_.receptions(*d.id);
        double sum = 0.0;
        std::size_t n = 0;
        for (const auto& [node, reception] : rec)
          if (!is_observer(node)) {
            sum += ms(reception.at - d.due);
            ++n;
          }
        if (n) {
          latency_sum += sum / static_cast<double>(n);
          ++latency_messages;
        }
        std::size_t reached = 0;
        for (Node s : d.subscribers) reached += rec.count(s);
        reach_sum += d.subscribers.empty() ? 1.0
                                           : static_cast<double>(reached) / static_cast<double>(d.subscribers.size());
      }
      // Attribution with the signals so far: the most frequent sender (ties: the
      // lowest index, the map's order), if seen often enough.
      r.attributed = r.correct = 0;
      for (std::uint32_t v = 0; v < cfg_.validators; ++v) {
        std::optional<Node> best;
        std::uint32_t best_count = 0;
        for (const auto& [x, c] : counts[v])
          if (c > best_count) {
            best = x;
            best_count = c;
          }
        if (!best || best_count < cfg_.min_signals) continue;
        ++r.attributed;
        if (*best == host[v]) ++r.correct;
      }
      r.coverage_by_day.push_back(static_cast<double>(r.correct) / static_cast<double>(cfg_.validators));
    }
    r.coverage = r.coverage_by_day.back();
    r.precision = r.attributed ? static_cast<double>(r.correct) / static_cast<double>(r.attributed) : nan;
    r.signals_per_validator = static_cast<double>(r.signals) / static_cast<double>(cfg_.validators);
    // Linked to an observer by the end of the run (links are only added: by the
    // observers at the start, and by the managers' dials when peers_per_shard > 0).
    std::vector<bool> next_to_observer(cfg_.nodes, false);
    for (Node n = 0; n < cfg_.nodes; ++n)
      for (Node peer : gossip_.network().neighbors(n)) next_to_observer[n] = next_to_observer[n] || is_observer(peer);
    std::uint32_t exposed = 0;
    for (Node h : host)
      if (next_to_observer[h]) ++exposed;
    r.hosts_next_to_observer = static_cast<double>(exposed) / static_cast<double>(cfg_.validators);
    r.latency_ms = latency_messages ? latency_sum / static_cast<double>(latency_messages) : nan;
    r.reach = r.published ? reach_sum / static_cast<double>(r.published) : nan;
  }

  const FingerprintConfig& cfg_;
  std::uint64_t seed_;
  sim::SeededRandom root_;
  shard::ShardSim sim_;
  pubsub::GossipSim& gossip_;
  sim::SeededRandom duty_rng_, sub_rng_;
  pubsub::MessageIdFn message_id_;
  std::vector<Duty> duties_;
  std::unordered_map<pubsub::MessageId, FirstReceipt, pubsub::BytesHash> first_;
  std::uint64_t stem_failures_ = 0;
  std::unordered_map<pubsub::MessageId, std::size_t, pubsub::BytesHash> duty_of_;
};

double ratio(std::uint64_t a, std::uint64_t b) {
  return b ? static_cast<double>(a) / static_cast<double>(b) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

const char* to_string(SubscriptionMode m) {
  return m == SubscriptionMode::cover ? "cover" : "plain";
}

Status FingerprintConfig::validate() const {
  if (nodes < 2) return bad("need at least 2 honest nodes");
  if (observers < 1) return bad("need at least one observer");
  if (degree < 1 || degree >= nodes + observers) return bad("degree must be in [1, nodes + observers - 1]");
  if (shards < 1) return bad("need at least one shard");
  if (!(observer_fraction > 0.0 && observer_fraction <= 1.0)) return bad("observer fraction must be in (0, 1]");
  if (validators < 1) return bad("need at least one validator");
  if (days < 1 || epochs_per_day < 1) return bad("need at least one day of at least one epoch");
  if (epoch_length <= Duration{0}) return bad("epoch length must be positive");
  if (plain_shards < 1 || plain_shards > shards) return bad("plain shards must be in [1, shards]");
  if (cover_shards < 1 || cover_shards > shards) return bad("cover shards must be in [1, shards]");
  if (min_signals < 1) return bad("min signals must be at least 1");
  if (latency < Duration{0} || jitter < Duration{0}) return bad("latency and jitter must not be negative");
  if (warmup < Duration{0}) return bad("warm-up must not be negative");
  if (runs < 1) return bad("need at least one run");
  return Status::ok_status();
}

FingerprintRun run_fingerprint_once(const FingerprintConfig& cfg, std::uint32_t run_index) {
  if (Status st = cfg.validate(); !st) throw std::invalid_argument(st.error().what());
  return Runner(cfg, sim::seeded_for_simulation(cfg.seed).fork(run_index).seed()).run();
}

FingerprintResult run_fingerprint(const FingerprintConfig& cfg) {
  if (Status st = cfg.validate(); !st) throw std::invalid_argument(st.error().what());
  FingerprintResult out;
  out.config = cfg;
  std::vector<std::vector<double>> by_day(cfg.days);
  std::vector<double> coverage, precision, signals, from_host, exposed, latency, reach, failures, via_observer;
  for (std::uint32_t i = 0; i < cfg.runs; ++i) {
    FingerprintRun r = run_fingerprint_once(cfg, i);
    for (std::uint32_t d = 0; d < cfg.days; ++d) by_day[d].push_back(r.coverage_by_day[d]);
    coverage.push_back(r.coverage);
    precision.push_back(r.precision);
    signals.push_back(r.signals_per_validator);
    from_host.push_back(ratio(r.signals_from_host, r.signals));
    exposed.push_back(r.hosts_next_to_observer);
    latency.push_back(r.latency_ms);
    reach.push_back(r.reach);
    failures.push_back(ratio(r.stem_failures, r.messages));
    via_observer.push_back(ratio(r.stem_via_observer, r.messages));
    out.runs.push_back(std::move(r));
  }
  for (const auto& values : by_day) out.coverage_by_day.push_back(summarize(values));
  out.coverage = summarize(coverage);
  out.precision = summarize(precision);
  out.signals_per_validator = summarize(signals);
  out.signals_from_host = summarize(from_host);
  out.hosts_next_to_observer = summarize(exposed);
  out.latency_ms = summarize(latency);
  out.reach = summarize(reach);
  out.stem_failures = summarize(failures);
  out.stem_via_observer = summarize(via_observer);
  return out;
}

nlohmann::json to_json(const FingerprintResult& r) {
  using nlohmann::json;
  const FingerprintConfig& c = r.config;
  json config{{"mode", to_string(c.mode)},
              {"nodes", c.nodes},
              {"degree", c.degree},
              {"shards", c.shards},
              {"observers", c.observers},
              {"observer_fraction", c.observer_fraction},
              {"validators", c.validators},
              {"days", c.days},
              {"epochs_per_day", c.epochs_per_day},
              {"epoch_length_ms", ms(c.epoch_length)},
              {"plain_shards", c.plain_shards},
              {"cover_shards", c.cover_shards},
              {"peers_per_shard", c.peers_per_shard},
              {"min_signals", c.min_signals},
              {"latency_ms", ms(c.latency)},
              {"jitter_ms", ms(c.jitter)},
              {"warmup_ms", ms(c.warmup)},
              {"runs", c.runs},
              {"seed", c.seed}};
  json by_day = json::array();
  for (const Summary& s : r.coverage_by_day) by_day.push_back(summary_json(s));
  json metrics{{"coverage", summary_json(r.coverage)},
               {"coverage_by_day", by_day},
               {"precision", summary_json(r.precision)},
               {"signals_per_validator", summary_json(r.signals_per_validator)},
               {"signals_from_host_fraction", summary_json(r.signals_from_host)},
               {"hosts_next_to_observer", summary_json(r.hosts_next_to_observer)},
               {"latency_ms", summary_json(r.latency_ms)},
               {"reach", summary_json(r.reach)},
               {"stem_failure_fraction", summary_json(r.stem_failures)},
               {"stem_via_observer_fraction", summary_json(r.stem_via_observer)}};
  json runs = json::array();
  for (const FingerprintRun& x : r.runs)
    runs.push_back(json{{"seed", x.seed},
                        {"messages", x.messages},
                        {"published", x.published},
                        {"stem_failures", x.stem_failures},
                        {"stem_via_observer", x.stem_via_observer},
                        {"signals", x.signals},
                        {"signals_from_host", x.signals_from_host},
                        {"announced_by_subscription_only", x.announced_by_subscription_only},
                        {"announced_by_record_only", x.announced_by_record_only},
                        {"announcements", x.announcements},
                        {"cover_rotations", x.cover_rotations},
                        {"attributed", x.attributed},
                        {"correct", x.correct},
                        {"coverage_by_day", x.coverage_by_day},
                        {"coverage", x.coverage},
                        {"precision", number(x.precision)},
                        {"signals_per_validator", x.signals_per_validator},
                        {"hosts_next_to_observer", x.hosts_next_to_observer},
                        {"latency_ms", number(x.latency_ms)},
                        {"reach", number(x.reach)}});
  return json{{"adversary", "subscription-fingerprinting"},
              {"confidence_interval", "95% Student t over runs"},
              {"config", config},
              {"metrics", metrics},
              {"runs", runs}};
}

std::string to_table(const FingerprintResult& r) {
  const FingerprintConfig& c = r.config;
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof line,
                "subscription fingerprinting, mode %s: %u nodes d=%u, %u shards, %u observers x %.0f %% of nodes, "
                "%u validators, %u days x %u epochs of %.0f ms, min %u signals, %u runs, seed %llu\n",
                to_string(c.mode), c.nodes, c.degree, c.shards, c.observers, c.observer_fraction * 100.0, c.validators,
                c.days, c.epochs_per_day, ms(c.epoch_length), c.min_signals, c.runs,
                static_cast<unsigned long long>(c.seed));
  o << line;
  std::snprintf(line, sizeof line, "%-28s %10s %26s %6s\n", "metric", "mean", "95% CI (t over runs)", "runs");
  o << line;
  auto row = [&](const std::string& name, const Summary& s) {
    char lo[32], hi[32];
    std::snprintf(lo, sizeof lo, "%.4g", s.ci_low);
    std::snprintf(hi, sizeof hi, "%.4g", s.ci_high);
    const std::string ci = s.has_ci() ? "[" + std::string(lo) + ", " + hi + "]" : "-";
    std::snprintf(line, sizeof line, "%-28s %10.4f %26s %6zu\n", name.c_str(), s.mean, ci.c_str(), s.samples);
    o << line;
  };
  for (std::size_t d = 0; d < r.coverage_by_day.size(); ++d)
    row("coverage after day " + std::to_string(d + 1), r.coverage_by_day[d]);
  row("precision", r.precision);
  row("signals per validator", r.signals_per_validator);
  row("fraction of signals by host", r.signals_from_host);
  row("hosts next to an observer", r.hosts_next_to_observer);
  row("latency to subscribers (ms)", r.latency_ms);
  row("reach of subscribers", r.reach);
  if (c.mode == SubscriptionMode::cover) {
    row("stem failures", r.stem_failures);
    row("stem via an observer", r.stem_via_observer);
  }
  return o.str();
}

}  // namespace shardnode::deanon
