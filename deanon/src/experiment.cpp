#include "shardnode/deanon/experiment.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

#include "gossip_sim.h"
#include "payload.h"
#include "units.h"
#include "shardnode/core/errors.h"
#include "shardnode/deanon/first_spy.h"
#include "shardnode/deanon/posterior.h"
#include "shardnode/sim/rng.h"
#include "shardnode/sim/seeding.h"
#include "shardnode/sim/topology.h"

namespace shardnode::deanon {
namespace {

const pubsub::TopicId kTopic = "/shardnode/deanon/1";

// Fixed fork ids for the experiment's own random streams (the gossip harness uses
// its own forks of the same run seed; see pubsub/sim/gossip_sim.cpp).
constexpr std::uint64_t kSpyStream = 0xdea0'0001;
constexpr std::uint64_t kValidatorStream = 0xdea0'0002;
constexpr std::uint64_t kLinkStream = 0xdea0'0003;
constexpr std::uint64_t kKnowledgeStream = 0xdea0'0004;

Error bad(const std::string& what) {
  return Error{make_error_code(ConfigErrc::out_of_range), "deanon: " + what};
}

}  // namespace

const char* to_string(TopologyKind t) {
  return t == TopologyKind::line ? "line" : t == TopologyKind::ring ? "ring" : t == TopologyKind::given ? "given" : "random";
}
const char* to_string(LatencyModelKind m) { return m == LatencyModelKind::tor ? "tor" : "uniform"; }
const char* to_string(SpyPlacement p) {
  return p == SpyPlacement::most_connected ? "connected" : "uniform";
}

double stem_line_precision(double p) {
  if (!(p > 0.0 && p < 1.0)) return 0.0;
  return p * p * std::log(1.0 / p) / (1.0 - p);
}

Status ExperimentConfig::validate() const {
  if (nodes < 3) return bad("need at least 3 nodes");
  if (topology == TopologyKind::random_regular && (degree < 1 || degree >= nodes))
    return bad("degree must be in [1, nodes - 1]");
  if (!(spy_fraction >= 0.0 && spy_fraction < 1.0)) return bad("spy fraction must be in [0, 1)");
  if (validators < 1) return bad("need at least one validator");
  if (topology == TopologyKind::given) {
    if (edges.empty()) return bad("a given topology needs edges");
    std::set<std::pair<std::uint32_t, std::uint32_t>> seen;
    for (const auto& [a, b] : edges) {
      if (a >= nodes || b >= nodes || a == b) return bad("an edge names no node or a loop");
      if (!seen.insert({std::min(a, b), std::max(a, b)}).second) return bad("an edge is given twice");
    }
  }
  std::set<std::uint32_t> spies(fixed_spies.begin(), fixed_spies.end());
  if (spies.size() != fixed_spies.size() || (!spies.empty() && *spies.rbegin() >= nodes) || spies.size() >= nodes)
    return bad("fixed spies must be distinct nodes, fewer than all");
  for (std::uint32_t v : fixed_validators)
    if (v >= nodes || spies.count(v)) return bad("a fixed validator must be an honest node");
  if (supernode_connections > 64) return bad("supernode connections must be at most 64");
  if (messages_per_validator < 1) return bad("need at least one message per validator");
  if (runs < 1) return bad("need at least one run");
  if (posterior_probes > 1000) return bad("posterior probes must be at most 1000");
  if (!(graph_knowledge >= 0.0 && graph_knowledge <= 1.0)) return bad("graph knowledge must be in [0, 1]");
  if (latency < Duration{0} || jitter < Duration{0}) return bad("latency and jitter must not be negative");
  if (message_interval < Duration{0} || warmup < Duration{0} || drain < Duration{0})
    return bad("warm-up, interval and drain must not be negative");
  if (stem) {
    if (!(fluff_probability >= 0.0 && fluff_probability <= 1.0)) return bad("fluff probability must be in [0, 1]");
    if (embargo <= Duration{0} || embargo_jitter_mean < Duration{0})
      return bad("embargo must be positive and its jitter not negative");
    if (own_embargo < embargo) return bad("the source's embargo must be at least the relays' embargo");
  }
  return Status::ok_status();
}

namespace {

// The run's simulator: `cfg`'s graph and routers, the stem as configured unless
// `stem_off` (the adversary's calibration run on the same graph).
std::unique_ptr<pubsub::GossipSim> build_sim(const ExperimentConfig& cfg, std::uint64_t seed, bool stem_off) {
  pubsub::GossipSimConfig g;
  const NodeIndex total = cfg.nodes + cfg.supernode_connections;
  g.nodes = total;
  g.graph_nodes = cfg.nodes;
  g.degree = cfg.topology == TopologyKind::random_regular ? cfg.degree : 0;
  g.link = sim::LinkParams{cfg.latency, 0.0, 0.0, cfg.jitter};
  g.gossip.flood_publish = cfg.flood_publish;
  if (cfg.stem && !stem_off) {
    g.gossip.stem.enabled = true;
    g.gossip.stem.fluff_probability = cfg.fluff_probability;
    g.gossip.stem.embargo = cfg.embargo;
    g.gossip.stem.embargo_jitter_mean = cfg.embargo_jitter_mean;
    g.gossip.stem.own_embargo = cfg.own_embargo;
    g.gossip.stem.epoch = std::chrono::hours(24 * 365);
    // Spies relay every validator's stem traffic; no honest node floods anyone.
    g.gossip.stem.max_per_peer_per_heartbeat = 1'000'000;
  }
  // With the stem, messages enter gossip as a relay forwards them (mesh only).
  if (cfg.stem && stem_off) g.gossip.flood_publish = false;
  g.protocol = cfg.protocol;
  g.seed = seed;
  g.score.topics[kTopic] = pubsub::TopicScoreParams::defaults();
  auto sim = std::make_unique<pubsub::GossipSim>(g);
  if (cfg.topology == TopologyKind::line)
    for (const sim::Edge& e : sim::line(cfg.nodes).edges) sim->link(e.a, e.b);
  if (cfg.topology == TopologyKind::ring)
    for (NodeIndex n = 0; n < cfg.nodes; ++n) sim->link(n, (n + 1) % cfg.nodes, true);
  if (cfg.topology == TopologyKind::given)
    for (const auto& [a, b] : cfg.edges) sim->link(a, b, true);
  // The supernode's identities dial everyone: to each node they are inbound peers.
  for (NodeIndex s = cfg.nodes; s < total; ++s)
    for (NodeIndex n = 0; n < cfg.nodes; ++n) sim->link(s, n, true);
  if (cfg.latency_model == LatencyModelKind::tor) {
    // One draw per link (both directions), in a fixed order from the run's seed, so
    // the adversary's calibration copy gets the same latencies.
    sim::SeededRandom rng = sim::seeded_for_simulation(seed).fork(kLinkStream);
    for (NodeIndex a = 0; a < total; ++a)
      for (NodeIndex b : sim->network().neighbors(a)) {
        if (b < a) continue;
        const double one_way = kTorOneWayMinMs + (kTorOneWayMaxMs - kTorOneWayMinMs) * rng.unit();
        const sim::LinkParams params{duration_ms(one_way), 0.0, 0.0, cfg.jitter};
        sim->network().set_link(a, b, params);
        sim->network().set_link(b, a, params);
      }
  }
  return sim;
}

// The nodes a message travels through: all but the supernode's identities.
std::vector<bool> transit(const ExperimentConfig& cfg) {
  std::vector<bool> t(cfg.nodes + cfg.supernode_connections, false);
  std::fill(t.begin(), t.begin() + cfg.nodes, true);
  return t;
}

Adjacency adjacency(pubsub::GossipSim& sim) {
  Adjacency a(sim.size());
  for (NodeIndex n = 0; n < sim.size(); ++n) a[n] = sim.network().neighbors(n);
  return a;
}

// The timing adversary's calibration: on a plain-gossip copy of the run's graph,
// the first `cfg.posterior_probes` spies (in `probes` order) each publish a probe;
// every spy's receipts of them are fitted by calibrate_from_probes. Only what spies
// can do and see.
LatencyModel calibrate(const ExperimentConfig& cfg, std::uint64_t seed, const Adjacency& graph, const Adjacency& known,
                       const std::vector<bool>& is_spy, const std::vector<NodeIndex>& probes) {
  std::unique_ptr<pubsub::GossipSim> sim = build_sim(cfg, seed, true);
  if (adjacency(*sim) != graph) throw std::logic_error("deanon: the calibration graph differs from the run's");
  const pubsub::MessageIdFn message_id = sim->router(0).config().message_id;
  std::map<pubsub::MessageId, ProbeSent> sent;
  std::vector<ProbeReceipt> receipts;
  sim->network().set_observer([&](TimePoint at, sim::NodeIndex from, sim::NodeIndex to, const pubsub::SimRpc& rpc) {
    if (!is_spy[to]) return;
    for (const pubsub::Message& m : rpc.rpc.publish) {
      pubsub::MessageId id = message_id(m);
      if (sent.count(id)) receipts.push_back(ProbeReceipt{std::move(id), to, from, at});
    }
  });
  sim->subscribe_all(kTopic);
  sim->run_for(cfg.warmup);
  std::uint64_t counter = 0;
  for (std::size_t i = 0; i < probes.size() && i < cfg.posterior_probes; ++i) {
    auto id = sim->publish(probes[i], kTopic, payload(~seed, counter++));
    if (!id) throw std::runtime_error("deanon: probe publish failed: " + id.error().what());
    sent[*id] = {probes[i], sim->now()};
    sim->run_for(cfg.message_interval);
  }
  sim->run_for(cfg.drain);
  sim->network().set_observer({});
  return calibrate_from_probes(sent, receipts, graph, known, is_spy, transit(cfg));
}

using Attribution = std::map<NodeIndex, std::pair<std::uint64_t, std::uint64_t>>;  // named node -> (right, all)

// Dandelion's precision: per validator, (its messages named as its) / (messages named
// as its), 0 when none is; the mean over `validators`.
double dandelion_precision(const Attribution& named, std::size_t validators) {
  if (validators == 0) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0.0;
  for (const auto& [node, a] : named) sum += static_cast<double>(a.first) / static_cast<double>(a.second);
  return sum / static_cast<double>(validators);
}

}  // namespace

LatencyModel calibrate_from_probes(const std::map<pubsub::MessageId, ProbeSent>& sent,
                                   const std::vector<ProbeReceipt>& receipts, const Adjacency& graph,
                                   const Adjacency& known, const std::vector<bool>& is_spy,
                                   const std::vector<bool>& transit) {
  HopDistances dist(known, transit);  // hops as far as the adversary knows the graph
  std::set<std::tuple<pubsub::MessageId, NodeIndex, NodeIndex>> heard;  // (probe, spy, sender)
  // (probe, spy) -> (at, sender) of its earliest receipt, ties to the lowest sender as the adversary breaks them
  std::map<std::pair<pubsub::MessageId, NodeIndex>, std::pair<TimePoint, NodeIndex>> first_sender;
  std::vector<HopSample> samples;
  for (const ProbeReceipt& r : receipts) {
    const auto it = sent.find(r.id);
    if (it == sent.end() || r.spy == it->second.spy || !is_spy.at(r.spy)) continue;
    if (!heard.insert({r.id, r.spy, r.from}).second) continue;
    const auto [at_first, fresh] = first_sender.try_emplace({r.id, r.spy}, r.at, r.from);
    if (!fresh && std::tie(r.at, r.from) < std::tie(at_first->second.first, at_first->second.second))
      at_first->second = {r.at, r.from};
    if (is_spy.at(r.from) && r.from != it->second.spy) continue;  // as the adversary does with its logs
    const std::uint32_t d = dist.from(it->second.spy)[r.from];
    if (d == HopDistances::kUnreachable) continue;
    samples.push_back(HopSample{d + 1, ms(r.at - it->second.at)});
  }
  LatencyModel model = fit_latency_model(samples);
  // How often a spy next to a probe heard the probe first.
  std::uint64_t next_to = 0, first = 0;
  for (const auto& [id, who] : sent)
    for (NodeIndex s : graph.at(who.spy)) {
      const auto it = first_sender.find({id, s});
      if (!is_spy.at(s) || it == first_sender.end()) continue;
      ++next_to;
      first += it->second.second == who.spy ? 1U : 0U;
    }
  if (next_to >= 5)
    model.first_from_adjacent_source =
        std::clamp(static_cast<double>(first) / static_cast<double>(next_to), 0.01, 0.99);
  return model;
}

RunResult run_once(const ExperimentConfig& cfg, std::uint32_t run_index) {
  if (Status st = cfg.validate(); !st) throw std::invalid_argument(st.error().what());
  RunResult r;
  r.seed = sim::seeded_for_simulation(cfg.seed).fork(run_index).seed();
  const sim::SeededRandom root = sim::seeded_for_simulation(r.seed);
  const NodeIndex total = cfg.nodes + cfg.supernode_connections;
  std::unique_ptr<pubsub::GossipSim> owned = build_sim(cfg, r.seed, false);
  pubsub::GossipSim& sim = *owned;

  auto degree = [&](NodeIndex n) { return sim.network().neighbors(n).size(); };

  // Spies: exactly round(p * N) of them (at most N - 1).
  const auto rounded = static_cast<std::uint32_t>(std::llround(cfg.spy_fraction * static_cast<double>(cfg.nodes)));
  const std::uint32_t spy_count =
      cfg.fixed_spies.empty() ? std::min(rounded, cfg.nodes - 1) : static_cast<std::uint32_t>(cfg.fixed_spies.size());
  std::vector<NodeIndex> order(cfg.nodes);
  for (NodeIndex n = 0; n < cfg.nodes; ++n) order[n] = n;
  sim::SeededRandom spy_rng = root.fork(kSpyStream);
  spy_rng.shuffle(order);  // uniform placement; random tie-break for most-connected
  if (cfg.placement == SpyPlacement::most_connected)
    std::stable_sort(order.begin(), order.end(), [&](NodeIndex a, NodeIndex b) { return degree(a) > degree(b); });
  if (!cfg.fixed_spies.empty()) {  // the given spies first, in their order
    const std::set<NodeIndex> fixed(cfg.fixed_spies.begin(), cfg.fixed_spies.end());
    std::stable_partition(order.begin(), order.end(), [&](NodeIndex n) { return fixed.count(n) > 0; });
    std::copy(cfg.fixed_spies.begin(), cfg.fixed_spies.end(), order.begin());
  }
  std::vector<bool> is_spy(total, true);  // the supernode's identities are spies
  for (NodeIndex n = 0; n < cfg.nodes; ++n) is_spy[n] = false;
  for (std::uint32_t i = 0; i < spy_count; ++i) is_spy[order[i]] = true;
  r.spies = spy_count;

  // Validators: distinct honest nodes.
  std::vector<NodeIndex> honest;
  for (NodeIndex n = 0; n < cfg.nodes; ++n)
    if (!is_spy[n]) honest.push_back(n);
  sim::SeededRandom val_rng = root.fork(kValidatorStream);
  val_rng.shuffle(honest);
  honest.resize(std::min<std::size_t>(honest.size(), cfg.validators));
  if (!cfg.fixed_validators.empty()) honest.assign(cfg.fixed_validators.begin(), cfg.fixed_validators.end());

  // The spies' logs: each spy's first receipt of each message from each sender.
  std::map<pubsub::MessageId, std::vector<SpyObservation>> logs;
  const pubsub::MessageIdFn message_id = sim.router(0).config().message_id;
  sim.network().set_observer([&](TimePoint at, sim::NodeIndex from, sim::NodeIndex to, const pubsub::SimRpc& rpc) {
    if (!is_spy[to]) return;
    auto log = [&](const pubsub::Message& m, bool stem) {
      auto& obs = logs[message_id(m)];
      if (std::none_of(obs.begin(), obs.end(), [&](const SpyObservation& o) { return o.spy == to && o.from == from; }))
        obs.push_back(SpyObservation{to, from, at, stem});
    };
    // Gossip and stem alike: a spy logs every copy it is sent.
    for (const pubsub::Message& m : rpc.rpc.publish) log(m, false);
    for (const pubsub::Message& m : rpc.stem) log(m, true);
  });

  sim.subscribe_all(kTopic);
  sim.run_for(cfg.warmup);
  std::map<pubsub::MessageId, NodeIndex> truth;
  std::map<pubsub::MessageId, TimePoint> published_at;
  std::uint64_t counter = 0;
  for (std::uint32_t m = 0; m < cfg.messages_per_validator; ++m)
    for (NodeIndex v : honest) {
      auto id = sim.publish(v, kTopic, payload(r.seed, counter++));
      if (!id) throw std::runtime_error("deanon: publish failed: " + id.error().what());
      truth[*id] = v;
      published_at[*id] = sim.now();
      sim.run_for(cfg.message_interval);
    }
  sim.run_for(cfg.drain);
  sim.network().set_observer({});

  // The timing adversary: calibrated by the spies' own probes, it knows the graph,
  // which nodes are its spies and, in stem mode, q and p.
  std::optional<PosteriorAdversary> timing;
  if (cfg.posterior_probes > 0 && spy_count + cfg.supernode_connections > 0) {
    std::vector<NodeIndex> probes(order.begin(), order.begin() + spy_count);
    // A supernode identity probes only when it floods its probe to everyone (its
    // hop counts are then right); otherwise its probe goes to a few mesh peers
    // that a hop count over its edges cannot tell.
    if (!cfg.stem && cfg.flood_publish)
      for (NodeIndex s = cfg.nodes; s < total; ++s) probes.push_back(s);
    const Adjacency graph = adjacency(sim);
    // The adversary's view: its own edges, and others as far as it learnt them.
    Adjacency known(graph.size());
    sim::SeededRandom know_rng = root.fork(kKnowledgeStream);
    for (NodeIndex a = 0; a < graph.size(); ++a)
      for (NodeIndex b : graph[a]) {
        if (b < a) continue;
        const bool learnt = cfg.graph_knowledge >= 1.0 || know_rng.unit() < cfg.graph_knowledge;
        if (is_spy[a] || is_spy[b] || learnt) {
          known[a].push_back(b);
          known[b].push_back(a);
        }
      }
    for (auto& n : known) std::sort(n.begin(), n.end());
    LatencyModel model = calibrate(cfg, r.seed, graph, known, is_spy, probes);
    r.calibration_samples = model.samples;
    // No sample (a lone observer never sees its own probe arrive): what it measures
    // on its own links, L + U[0, J] - a supernode has one to every node.
    const double l = cfg.latency_model == LatencyModelKind::tor ? (kTorOneWayMinMs + kTorOneWayMaxMs) / 2.0
                                                                  : ms(cfg.latency),
                 j = ms(cfg.jitter);
    if (model.samples == 0) model = link_latency_model(l + j / 2.0, j * j / 12.0);
    // Nor how often its neighbours hear a source first: with flood publishing (public:
    // gossipsub's default), one hop beats two for sure when J < L, else about
    // Phi((L + J/2) / (J/2)) (normal approximation).
    if (std::isnan(model.first_from_adjacent_source) && !cfg.stem && cfg.flood_publish)
      model.first_from_adjacent_source =
          j < l ? 0.99 : std::clamp(0.5 * std::erfc(-(l + j / 2.0) / (j / 2.0) / std::sqrt(2.0)), 0.01, 0.99);
    if (model.valid()) {
      std::optional<StemKnowledge> stem;
      if (cfg.stem)
        stem = StemKnowledge{cfg.fluff_probability, static_cast<double>(spy_count) / static_cast<double>(cfg.nodes)};
      timing.emplace(known, is_spy, std::move(model), stem, transit(cfg));
    }
  }

  RunLogs run;
  run.graph = adjacency(sim);
  run.is_spy = is_spy;
  run.validators = honest.size();
  run.honest = cfg.nodes - spy_count;
  run.spy_fraction = cfg.spy_fraction;
  run.truth = std::move(truth);
  run.observations = std::move(logs);
  for (const auto& [id, source] : run.truth)
    for (const auto& [node, rec] : sim.receptions(id))
      if (!is_spy[node] && node != source) run.latencies_ms.push_back(ms(rec.at - published_at[id]));
  RunResult scored = score_run(run, timing ? &*timing : nullptr);
  scored.seed = r.seed;
  scored.spies = r.spies;
  scored.calibration_samples = r.calibration_samples;
  return scored;
}

RunResult score_run(const RunLogs& in, PosteriorAdversary* timing) {
  RunResult r;
  const auto& is_spy = in.is_spy;
  const auto& logs = in.observations;
  auto degree = [&](NodeIndex n) { return in.graph.at(n).size(); };
  double entropy_sum = 0.0, inverse_rank_sum = 0.0, degree_sum = 0.0, closed_sum = 0.0;
  double posterior_rank_sum = 0.0, truth_probability_sum = 0.0;
  std::uint64_t posterior_guesses = 0, posterior_correct = 0, correct_on_stem = 0;
  Attribution attributed, posterior_attributed;
  std::map<NodeIndex, std::vector<double>> log_posterior;  // validator -> sum over its messages of log P
  std::map<NodeIndex, std::map<NodeIndex, std::uint32_t>> named;              // validator -> estimate -> count
  std::vector<double> latencies = in.latencies_ms;
  for (const auto& [id, source] : in.truth) {
    ++r.messages;
    degree_sum += static_cast<double>(degree(source));
    closed_sum += 1.0 - std::pow(1.0 - in.spy_fraction, static_cast<double>(degree(source)));
    const auto it = logs.find(id);
    if (it == logs.end()) continue;
    if (timing) {
      const std::vector<double> log_post = timing->log_posterior(it->second);
      const std::vector<double> post = exponentiate(log_post);
      if (!log_post.empty()) {
        // Summed in the log domain: a product of posteriors does not underflow.
        const auto at = log_posterior.try_emplace(source, log_post.size(), 0.0).first;
        for (std::size_t n = 0; n < log_post.size(); ++n) at->second[n] += log_post[n];
      }
      const PosteriorScore ps = score(post, source);
      if (ps.guessed) {
        ++posterior_guesses;
        posterior_correct += ps.correct ? 1 : 0;
        entropy_sum += ps.entropy_bits;
        posterior_rank_sum += ps.inverse_rank;
        truth_probability_sum += ps.truth_probability;
        auto& a = posterior_attributed[ps.estimate];
        a.first += ps.correct ? 1 : 0;
        ++a.second;
      }
    }
    const FirstSpyVerdict v = first_spy(it->second, [&](NodeIndex n) { return is_spy[n]; });
    const MessageScore s = score(v, source);
    if (!s.guessed) continue;
    ++r.guesses;
    r.correct += s.correct ? 1 : 0;
    if (s.correct) {
      // Was the receipt that named it a stem message? (the earliest from the source)
      const SpyObservation* first = nullptr;
      for (const SpyObservation& o : it->second)
        if (o.from == source && (!first || o.at < first->at)) first = &o;
      if (first && first->stem) ++correct_on_stem;
    }
    ++named[source][*v.estimate];
    auto& a = attributed[*v.estimate];
    a.first += s.correct ? 1 : 0;
    ++a.second;
    inverse_rank_sum += s.inverse_rank;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto msgs = static_cast<double>(r.messages);
  const auto guesses = static_cast<double>(r.guesses);
  r.precision = dandelion_precision(attributed, in.validators);
  r.accuracy = r.guesses ? static_cast<double>(r.correct) / guesses : nan;
  // Intersection: each validator's most named node.
  Attribution by_validator;
  std::uint64_t validators_named = 0;
  for (const auto& [validator, counts] : named) {
    NodeIndex best = counts.begin()->first;
    for (const auto& [node, n] : counts)
      if (n > counts.at(best)) best = node;
    auto& a = by_validator[best];
    ++a.second;
    if (best == validator) {
      ++a.first;
      ++validators_named;
    }
  }
  r.intersection_recall = in.validators == 0 ? nan : static_cast<double>(validators_named) / static_cast<double>(in.validators);
  r.intersection_precision = dandelion_precision(by_validator, in.validators);
  r.recall = r.messages ? static_cast<double>(r.correct) / msgs : nan;
  r.recall_on_stem = r.messages ? static_cast<double>(correct_on_stem) / msgs : nan;
  if (timing) {
    r.posterior_recall = r.messages ? static_cast<double>(posterior_correct) / msgs : nan;
    r.posterior_precision = dandelion_precision(posterior_attributed, in.validators);
    r.posterior_inverse_rank = r.messages ? posterior_rank_sum / msgs : nan;
    r.truth_probability = r.messages ? truth_probability_sum / msgs : nan;
    r.entropy_bits = posterior_guesses ? entropy_sum / static_cast<double>(posterior_guesses) : nan;
    // Intersection for the Bayesian: the validator's messages share a source, so the
    // posterior over it is the normalised product of the per-message posteriors.
    std::uint64_t named_right = 0;
    for (const auto& [validator, logs_sum] : log_posterior) {
      const auto best = std::max_element(logs_sum.begin(), logs_sum.end());
      if (*best > -std::numeric_limits<double>::infinity() &&
          static_cast<NodeIndex>(best - logs_sum.begin()) == validator)
        ++named_right;
    }
    r.posterior_intersection_recall =
        in.validators == 0 ? nan : static_cast<double>(named_right) / static_cast<double>(in.validators);
  } else {
    r.posterior_recall = r.posterior_precision = r.posterior_inverse_rank = r.truth_probability = r.entropy_bits = nan;
    r.posterior_intersection_recall = nan;
  }
  r.inverse_rank = r.messages ? inverse_rank_sum / msgs : nan;
  r.mean_publisher_degree = r.messages ? degree_sum / msgs : nan;
  r.flooding_recall_closed_form = r.messages ? closed_sum / msgs : nan;
  const double pairs = msgs * static_cast<double>(in.honest > 0 ? in.honest - 1 : 0);
  r.delivered = pairs > 0.0 ? static_cast<double>(latencies.size()) / pairs : nan;
  if (latencies.empty()) {
    r.latency_mean_ms = r.latency_p50_ms = r.latency_p95_ms = r.latency_p99_ms = nan;
  } else {
    double sum = 0.0;
    for (double l : latencies) sum += l;
    r.latency_mean_ms = sum / static_cast<double>(latencies.size());
    std::sort(latencies.begin(), latencies.end());
    r.latency_p50_ms = nearest_rank(latencies, 0.50);
    r.latency_p95_ms = nearest_rank(latencies, 0.95);
    r.latency_p99_ms = nearest_rank(latencies, 0.99);
  }
  return r;
}

ExperimentResult run_experiment(const ExperimentConfig& cfg) {
  if (Status st = cfg.validate(); !st) throw std::invalid_argument(st.error().what());
  std::vector<RunResult> runs;
  for (std::uint32_t i = 0; i < cfg.runs; ++i) runs.push_back(run_once(cfg, i));
  return summarize_runs(cfg, std::move(runs));
}

ExperimentResult summarize_runs(const ExperimentConfig& cfg, std::vector<RunResult> runs) {
  ExperimentResult out;
  out.config = cfg;
  out.runs = std::move(runs);
  // Each per-run figure and the summary over runs it feeds.
  constexpr std::pair<double RunResult::*, Summary ExperimentResult::*> kSummaries[] = {
      {&RunResult::precision, &ExperimentResult::precision},
      {&RunResult::accuracy, &ExperimentResult::accuracy},
      {&RunResult::recall, &ExperimentResult::recall},
      {&RunResult::recall_on_stem, &ExperimentResult::recall_on_stem},
      {&RunResult::inverse_rank, &ExperimentResult::inverse_rank},
      {&RunResult::entropy_bits, &ExperimentResult::entropy_bits},
      {&RunResult::posterior_recall, &ExperimentResult::posterior_recall},
      {&RunResult::posterior_precision, &ExperimentResult::posterior_precision},
      {&RunResult::posterior_inverse_rank, &ExperimentResult::posterior_inverse_rank},
      {&RunResult::truth_probability, &ExperimentResult::truth_probability},
      {&RunResult::posterior_intersection_recall, &ExperimentResult::posterior_intersection_recall},
      {&RunResult::intersection_recall, &ExperimentResult::intersection_recall},
      {&RunResult::intersection_precision, &ExperimentResult::intersection_precision},
      {&RunResult::latency_mean_ms, &ExperimentResult::latency_mean_ms},
      {&RunResult::latency_p50_ms, &ExperimentResult::latency_p50_ms},
      {&RunResult::latency_p95_ms, &ExperimentResult::latency_p95_ms},
      {&RunResult::latency_p99_ms, &ExperimentResult::latency_p99_ms},
      {&RunResult::delivered, &ExperimentResult::delivered}};
  auto over_runs = [&](double RunResult::*field) {
    std::vector<double> v;
    for (const RunResult& r : out.runs) v.push_back(r.*field);
    return summarize(v);
  };
  for (const auto& [field, summary] : kSummaries) out.*summary = over_runs(field);
  out.flooding_recall_closed_form = over_runs(&RunResult::flooding_recall_closed_form).mean;
  return out;
}

}  // namespace shardnode::deanon
