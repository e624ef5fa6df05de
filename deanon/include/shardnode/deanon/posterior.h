// The timing adversary: a Bayesian source estimator with a posterior over every
// honest node, from the spies' logs - each spy's first receipt of a message from
// each of its neighbours, not only the first spy's - the connection graph and a
// latency model it calibrated itself.
//
// Plain gossip: first-timestamp estimation in the style of Pinto et al. 2012. A
// candidate source v with unknown publish time t0 predicts that spy s hears the
// message from neighbour u at t0 + mean(h) with variance var(h), h = the hop count
// from v to u, plus one (1 if u is v). And a spy next to v hears v first with
// probability alpha (first_from_adjacent_source), otherwise any other neighbour;
// a spy not next to v hears any neighbour first alike. The model
// (mean and variance per hop count) is fitted from probes the spies publish
// themselves. With a flat prior on t0 the likelihood has a closed form; with a
// uniform prior over honest nodes the posterior is the normalised likelihood.
//
// Stem mode (pubsub/stem.h, public protocol, so the adversary knows q and its own
// spy fraction p): a stem walk continues past an honest relay with probability
// rho = (1 - q)(1 - p). If a spy received the message on the stem from u, the
// source is u or an honest node upstream of u: the honest nodes k honest hops from
// u share a weight rho^k (mean-field: rings of the honest graph, k >= 0). Otherwise
// the walk ended unseen at an honest diffuser f: the timing posterior above locates
// f, and the source is spread around f with ring k >= 1 weighing rho^(k-1) (the
// source's first hop is always on the stem); ring 0 - the source fluffing its own
// message because its embargo fired first - gets kSourceFluffWeight.
// Pure functions over logs and a graph; no simulator needed.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "shardnode/deanon/first_spy.h"

namespace shardnode::deanon {

using Adjacency = std::vector<std::vector<NodeIndex>>;

// One calibration sample: a probe's first receipt at a spy, `hops` from the probe
// (through the neighbour it came from), `delay_ms` after it was published.
struct HopSample {
  std::uint32_t hops = 0;
  double delay_ms = 0.0;
};

// Arrival delay after h hops: Normal(mean(h), var(h)). Per hop count with enough
// samples, that count's sample mean and variance; otherwise a straight line
// through the origin fitted to all samples (mean per hop, variance per hop).
struct LatencyModel {
  static constexpr double kMinVarianceMs2 = 0.01;  // (0.1 ms)^2: no Dirac posteriors
  static constexpr std::uint32_t kMaxHops = 10'000;  // samples beyond: ignored
  std::vector<double> mean_ms, var_ms2;            // [h]; h = 0 unused; NaN: no table entry
  double mean_per_hop_ms = 0.0, var_per_hop_ms2 = 0.0;
  std::uint64_t samples = 0;
  // P(a spy next to the source hears the message from the source first), in
  // [0.01, 0.99]: near 1 with flood publishing (the source sends to every
  // neighbour at once). NaN: unknown, no such evidence used.
  double first_from_adjacent_source = std::numeric_limits<double>::quiet_NaN();

  bool valid() const { return samples > 0 || mean_per_hop_ms > 0.0; }
  double mean(std::uint32_t hops) const;
  double var(std::uint32_t hops) const;
};
// A hop count gets its own table entry with at least `min_samples` samples.
LatencyModel fit_latency_model(const std::vector<HopSample>& samples, std::size_t min_samples = 8);
// Without probe samples (one observer cannot see its own probe arrive): the line
// from one link's delay, as an observer measures on its own links - h hops take h
// times its mean and variance (no table, so no first-passage speed-up).
LatencyModel link_latency_model(double one_hop_mean_ms, double one_hop_var_ms2);

// Hop distances by BFS, cached per source. Paths leave the source (allowed or
// not) and then pass only `allowed` nodes; a node not allowed, or unreachable, is
// kUnreachable (the source itself is at 0).
class HopDistances {
 public:
  static constexpr std::uint32_t kUnreachable = ~std::uint32_t{0};
  static constexpr std::size_t kCacheBytes = std::size_t{256} << 20;  // then the cache starts over
  // `graph` must outlive this.
  HopDistances(const Adjacency& graph, std::vector<bool> allowed);
  HopDistances(const HopDistances&) = delete;
  HopDistances& operator=(const HopDistances&) = delete;
  const std::vector<std::uint32_t>& from(NodeIndex source);
  bool allowed(NodeIndex n) const { return allowed_.at(n); }

 private:
  const Adjacency* graph_;
  std::vector<bool> allowed_;
  std::vector<std::vector<std::uint32_t>> cache_;  // empty: not computed
  std::size_t max_cached_, cached_ = 0;
};

struct StemKnowledge {
  double fluff_probability = 0.1;  // q
  double spy_fraction = 0.1;       // p, the adversary's own
};

class PosteriorAdversary {
 public:
  static constexpr double kSourceFluffWeight = 0.1;
  static constexpr std::size_t kMaxCentres = 64;  // fluff-point candidates spread from, per message

  // `graph` spans every node, spies included (`is_spy.size() == graph.size()`).
  // `transit`: the nodes a message may pass through on its way (empty: all). A
  // supernode's identities are not: they relay only to their few mesh peers, so
  // their edges to everyone are not paths. Only spies may be non-transit. Receipts
  // from spies are not used (the sending spy's own receipt says more).
  PosteriorAdversary(Adjacency graph, std::vector<bool> is_spy, LatencyModel model,
                     std::optional<StemKnowledge> stem = std::nullopt, std::vector<bool> transit = {});

  PosteriorAdversary(const PosteriorAdversary&) = delete;  // its searches point into graph_
  PosteriorAdversary& operator=(const PosteriorAdversary&) = delete;

  // P(source = n) for every node n (0 for spies), summing to 1; empty when there
  // is no observation or no honest candidate explains it. Throws
  // std::invalid_argument for an observation at or from an unknown node.
  std::vector<double> posterior(const std::vector<SpyObservation>& obs);
  // The same as natural logarithms (-inf for 0), normalised without underflow: sum
  // these over messages known to share a source for the product of posteriors.
  std::vector<double> log_posterior(const std::vector<SpyObservation>& obs);

  // The timing part alone: P(the message entered gossip at n), honest n.
  std::vector<double> timing(const std::vector<SpyObservation>& obs);
  std::vector<double> log_timing(const std::vector<SpyObservation>& obs);

 private:
  // Spread `mass` over honest nodes around `centre`: ring k >= 1 of the honest
  // graph weighs rho^(k-1), ring 0 `ring0`; a ring's weight is split evenly.
  void spread(NodeIndex centre, double mass, double ring0, std::vector<double>& out);
  void check(const std::vector<SpyObservation>& obs) const;

  Adjacency graph_;
  std::vector<bool> is_spy_;
  LatencyModel model_;
  std::optional<StemKnowledge> stem_;
  HopDistances all_, honest_;
};

// exp() of each element: log_posterior -> posterior.
std::vector<double> exponentiate(std::vector<double> log_probabilities);

// Scores of one posterior against the truth.
struct PosteriorScore {
  bool guessed = false;  // the posterior is not empty
  bool correct = false;
  NodeIndex estimate = 0;     // the maximum (ties: lowest index)
  double entropy_bits = 0.0;  // -sum P log2 P
  // 1/rank of the true source, nodes ranked by P (ties: lowest index first);
  // 0 when P(true source) = 0.
  double inverse_rank = 0.0;
  double truth_probability = 0.0;
};
PosteriorScore score(const std::vector<double>& posterior, NodeIndex true_source);

}  // namespace shardnode::deanon
