// A deanonymization experiment on the simulator: real gossipsub routers
// (pubsub/sim/gossip_sim.h) on a chosen topology, a fraction of them spies that
// log the first receipt of every message, honest validators that publish, and the
// first-spy adversary scored against the truth. Deterministic from the seed.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/deanon/first_spy.h"
#include "shardnode/deanon/posterior.h"
#include "shardnode/deanon/stats.h"
#include "shardnode/pubsub/types.h"
#include "shardnode/sim/network.h"

namespace shardnode::deanon {

// ring: a line closed into a cycle, each node dialling the next (so with the stem
// on, every message walks the ring one way: Dandelion's line without its ends).
// given: `ExperimentConfig::edges` (e.g. a live run's connection graph, live.h).
enum class TopologyKind { random_regular, line, ring, given };
enum class SpyPlacement { uniform, most_connected };
// uniform: every link `latency` + U[0, jitter]. tor: each link's one-way latency is
// drawn once, uniformly in [tor_min_ms, tor_max_ms] (one onion-service-to-onion-
// service path: half the round trips of docs/LATENCY.md's target range), plus
// U[0, jitter] per message.
enum class LatencyModelKind { uniform, tor };

const char* to_string(TopologyKind t);
const char* to_string(SpyPlacement p);
const char* to_string(LatencyModelKind m);

// The tor latency model's range of one-way link latencies, in ms: OnionPerf's median
// onion round trips of 260-720 ms by vantage point (docs/LATENCY.md), halved.
inline constexpr double kTorOneWayMinMs = 130.0, kTorOneWayMaxMs = 360.0;

struct ExperimentConfig {
  std::uint32_t nodes = 500;
  std::uint32_t degree = 8;  // random_regular only
  TopologyKind topology = TopologyKind::random_regular;
  // topology == given: (dialler, listener) pairs over [0, nodes); each pair once.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> edges;
  // When not empty: exactly these nodes are the spies (spy_fraction and placement
  // are then ignored), and these honest nodes the validators (`validators` ignored).
  std::vector<std::uint32_t> fixed_spies, fixed_validators;
  // Every link, both directions: latency + U[0, jitter]; no bandwidth limit, no loss.
  Duration latency = std::chrono::milliseconds(20);
  Duration jitter = std::chrono::milliseconds(10);
  LatencyModelKind latency_model = LatencyModelKind::uniform;
  double spy_fraction = 0.1;  // exactly round(p * nodes) spies, at most nodes - 1
  // The supernode observer: theta more spy nodes (identities), each of which dials
  // every one of the `nodes` nodes. They only listen and relay; 0: none.
  std::uint32_t supernode_connections = 0;
  SpyPlacement placement = SpyPlacement::uniform;
  std::uint32_t validators = 50;             // distinct honest publishers per run (capped at the honest count)
  std::uint32_t messages_per_validator = 2;  // each a distinct message
  std::uint32_t runs = 10;
  std::uint64_t seed = 1;
  pubsub::PeerProtocol protocol = pubsub::PeerProtocol::meshsub_1_2;
  bool flood_publish = true;                  // gossipsub's default: own messages to every topic peer
  // The Dandelion++ stem phase (pubsub/stem.h) on every node, spies included (they
  // relay honestly). Its epoch outlasts the run, so the stem graph is fixed.
  bool stem = false;
  double fluff_probability = 0.1;  // q
  Duration embargo = std::chrono::seconds(2);
  Duration embargo_jitter_mean = std::chrono::seconds(1);
  Duration own_embargo = std::chrono::seconds(4);  // the source's (pubsub.stem_own_embargo_ms)
  Duration warmup = std::chrono::seconds(3);  // subscriptions and meshes settle before the first publish
  Duration message_interval = std::chrono::milliseconds(50);
  Duration drain = std::chrono::seconds(3);  // after the last publish
  // The timing adversary (posterior.h) calibrates its latency model from this many
  // probes published by spies on a plain-gossip copy of the run's graph; 0: no
  // timing adversary (its metrics are NaN).
  std::uint32_t posterior_probes = 16;
  // What the timing adversary knows of the graph: every edge with a spy at an end,
  // and each other edge with this probability (1: the whole graph, as peer exchange
  // or a supernode would tell it; 0: only its own edges).
  double graph_knowledge = 1.0;

  Status validate() const;
};

// One run's counts and scores (only messages whose true source is honest count;
// in this harness every publisher is honest).
struct RunResult {
  std::uint64_t seed = 0;  // the run's derived seed
  std::uint32_t spies = 0;
  std::uint64_t messages = 0;  // published by honest sources
  std::uint64_t guesses = 0;   // messages some spy received
  std::uint64_t correct = 0;
  // Precision as Dandelion defines it: per validator v, (v's messages attributed to
  // v) / (messages attributed to v), 0 when none is; the mean over validators.
  double precision = 0.0;
  double accuracy = 0.0;      // correct / guesses (NaN with no guess)
  double recall = 0.0;        // correct / messages
  // The part of recall where the first spy heard the source on the stem (the
  // source's first hop was a spy: about p); the rest heard it in gossip.
  double recall_on_stem = 0.0;
  double inverse_rank = 0.0;  // mean over all messages (first-spy's ranking)
  // The timing adversary (posterior.h): recall and Dandelion precision of its
  // maximum a posteriori guess, the entropy of its posterior (mean over messages
  // some spy saw), 1/rank of the true source in it and the probability it gives the
  // true source (means over all messages). NaN without it.
  double posterior_recall = 0.0, posterior_precision = 0.0, entropy_bits = 0.0;
  double posterior_inverse_rank = 0.0, truth_probability = 0.0;
  // Its intersection: per validator, the maximum of the product of the posteriors
  // of its messages (ties: lowest index); the fraction of validators named right.
  double posterior_intersection_recall = 0.0;
  std::uint64_t calibration_samples = 0;
  // Intersection over each validator's messages (the adversary knows which messages
  // share a validator, e.g. by its signature): the node named most often by
  // first-spy across them (ties: lowest index). Recall: validators named right;
  // precision: Dandelion's, over validators.
  double intersection_recall = 0.0, intersection_precision = 0.0;
  double mean_publisher_degree = 0.0;
  // The cost side: publish -> first delivery at each other honest node, in ms, over
  // all (message, node) pairs of the run.
  double latency_mean_ms = 0.0, latency_p50_ms = 0.0, latency_p95_ms = 0.0, latency_p99_ms = 0.0;
  double delivered = 0.0;  // fraction of (message, honest node) pairs delivered
  // Mean over messages of 1 - (1 - p)^deg(source), p = cfg.spy_fraction.
  double flooding_recall_closed_form = 0.0;
};

struct ExperimentResult {
  ExperimentConfig config;
  std::vector<RunResult> runs;
  Summary precision, accuracy, recall, recall_on_stem, entropy_bits, inverse_rank, latency_mean_ms, latency_p50_ms, latency_p95_ms,
      latency_p99_ms, delivered;
  Summary intersection_recall, intersection_precision;
  Summary posterior_recall, posterior_precision, posterior_inverse_rank, truth_probability;
  Summary posterior_intersection_recall;
  // Mean over runs of RunResult::flooding_recall_closed_form: first-spy recall on
  // plain flooding when jitter < latency (see deanon/README.md for when it is exact).
  double flooding_recall_closed_form = 0.0;
};

// The timing adversary's calibration from its own probes: each spy's first receipt
// of a probe from each sender (`receipts` in time order; later copies from the same
// sender are skipped) is a sample, hops = dist(probe's spy, sender) + 1 through
// `known` (paths through `transit` nodes only), delay = receipt - publish; receipts
// from other spies are skipped. Also alpha (LatencyModel::first_from_adjacent_source):
// how often a spy next to a probe (in `graph`) heard it first, with 5 such pairs or
// more. Used on the simulator (run_once) and on live nodes' logs (live.h).
struct ProbeSent {
  NodeIndex spy = 0;
  TimePoint at{0};
};
struct ProbeReceipt {
  pubsub::MessageId id;
  NodeIndex spy = 0, from = 0;
  TimePoint at{0};
};
LatencyModel calibrate_from_probes(const std::map<pubsub::MessageId, ProbeSent>& sent,
                                   const std::vector<ProbeReceipt>& receipts, const Adjacency& graph,
                                   const Adjacency& known, const std::vector<bool>& is_spy,
                                   const std::vector<bool>& transit);

// What one run leaves for scoring: the truth, the spies' logs and the deliveries.
// run_once fills it on the simulator; live.h from node processes' receipt logs.
struct RunLogs {
  Adjacency graph;             // the connection graph (every node, spies included)
  std::vector<bool> is_spy;    // graph.size() entries
  std::size_t validators = 0;  // honest publishers (Dandelion precision's denominator)
  std::size_t honest = 0;      // honest nodes (deliveries are counted over the other honest ones)
  double spy_fraction = 0.0;   // p of the closed form 1 - (1 - p)^deg
  std::map<pubsub::MessageId, NodeIndex> truth;                         // honest sources only
  std::map<pubsub::MessageId, std::vector<SpyObservation>> observations;  // first receipt per (spy, sender)
  std::vector<double> latencies_ms;  // publish -> first delivery, per (message, other honest node) delivered
};
// Scores `logs` with first spy and, when given, the timing adversary (RunResult's
// seed, spies and calibration_samples are left for the caller).
RunResult score_run(const RunLogs& logs, PosteriorAdversary* timing);

// First-spy precision on a line graph with an endless stem (Dandelion, Bojja
// Venkatakrishnan et al. 2017): p^2 ln(1/p) / (1 - p), every honest node publishing
// one message; 0 for p = 0. (The recall there is p.)
double stem_line_precision(double p);

// Run `run_index` (0-based) of the experiment. Its seed is derived from
// (cfg.seed, run_index) alone.
RunResult run_once(const ExperimentConfig& cfg, std::uint32_t run_index);
// All cfg.runs runs and their summaries. Throws std::invalid_argument on a bad config.
ExperimentResult run_experiment(const ExperimentConfig& cfg);
// The summaries of `runs` (mean and 95 % interval per metric), under `cfg`.
ExperimentResult summarize_runs(const ExperimentConfig& cfg, std::vector<RunResult> runs);

}  // namespace shardnode::deanon
