// The deanonymization harness (deanon/): the first-spy estimator on hand-made spy
// logs, the statistics, determinism, and the closed-form sanity checks of issue 7 -
// on plain flooding, first-spy recall is 1 - (1 - p)^d; on a line with an endless
// stem, precision is p^2 ln(1/p) / (1 - p) and recall p.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "shardnode/deanon/experiment.h"
#include "shardnode/deanon/first_spy.h"
#include "shardnode/deanon/plot.h"
#include "shardnode/deanon/report.h"
#include "shardnode/deanon/stats.h"

using namespace shardnode;
using namespace shardnode::deanon;
using namespace std::chrono_literals;

namespace {

auto spies_are(std::vector<NodeIndex> spies) {
  return [spies](NodeIndex n) { return std::find(spies.begin(), spies.end(), n) != spies.end(); };
}

// Plain gossipsub with flood publishing (the default: a publisher sends its own
// message to every neighbour) and constant latency: the publisher's neighbours hear
// a message at exactly one latency, everyone else at two or more. So the first spy
// to hear it hears it from the source iff a neighbour of the source is a spy, and
// first-spy recall is exactly P(some neighbour is a spy) = 1 - (1 - p)^d (up to
// drawing exactly round(pN) spies rather than each node independently, a
// difference far below the interval).
ExperimentConfig flooding(double p, std::uint64_t seed) {
  ExperimentConfig c;
  c.nodes = 300;
  c.degree = 8;
  c.topology = TopologyKind::random_regular;
  c.latency = 20ms;
  c.jitter = 0ms;
  c.spy_fraction = p;
  c.validators = 50;
  c.messages_per_validator = 1;
  c.runs = 10;
  c.seed = seed;
  c.flood_publish = true;
  c.warmup = 1100ms;  // past every node's first heartbeat: meshes are formed
  c.message_interval = 5ms;
  c.drain = 500ms;  // far beyond the graph's diameter x latency
  c.posterior_probes = 0;  // first spy only: the timing adversary costs a third more time
  return c;
}

void check_closed_form(double p) {
  const ExperimentResult r = run_experiment(flooding(p, 7));
  const double expected = 1.0 - std::pow(1.0 - p, 8.0);
  INFO("p = " << p << ": recall " << r.recall.mean << " 95% CI [" << r.recall.ci_low << ", " << r.recall.ci_high
              << "], closed form " << expected);
  REQUIRE(r.recall.has_ci());
  CHECK(r.flooding_recall_closed_form == Approx(expected));
  CHECK(std::abs(r.recall.mean - expected) <= r.recall.half_width);
  // Every message reached a spy: a guess for each, so accuracy equals recall.
  for (const RunResult& run : r.runs) {
    CHECK(run.guesses == run.messages);
    CHECK(run.messages == 50);
    CHECK(run.spies == static_cast<std::uint32_t>(std::llround(p * 300)));
  }
  CHECK(r.accuracy.mean == Approx(r.recall.mean));
  CHECK(r.delivered.mean == 1.0);
}

}  // namespace

TEST_CASE("first-spy guesses the sender of the earliest spy receipt", "[deanon]") {
  // Spies 10 and 11; node 3 reached spy 11 first, node 4 reached spy 10 later.
  std::vector<SpyObservation> obs{{10, 4, 30ms}, {11, 3, 20ms}, {10, 5, 40ms}};
  const FirstSpyVerdict v = first_spy(obs, spies_are({10, 11}));
  REQUIRE(v.estimate);
  CHECK(*v.estimate == 3);
  CHECK(v.ranking == std::vector<NodeIndex>{3, 4, 5});
  const MessageScore hit = score(v, 3);
  CHECK(hit.guessed);
  CHECK(hit.correct);
  CHECK(hit.inverse_rank == 1.0);
  const MessageScore second = score(v, 4);
  CHECK_FALSE(second.correct);
  CHECK(second.inverse_rank == 0.5);
  CHECK(score(v, 9).inverse_rank == 0.0);  // never seen sending to a spy
}

TEST_CASE("first-spy breaks time ties by the lowest spy and ignores spies as senders", "[deanon]") {
  // Spies 20 and 21 hear at the same time from 7 and 6; 21 also heard it from spy 20.
  std::vector<SpyObservation> obs{{21, 6, 10ms}, {20, 7, 10ms}, {22, 20, 5ms}};
  const FirstSpyVerdict v = first_spy(obs, spies_are({20, 21, 22}));
  REQUIRE(v.estimate);
  CHECK(*v.estimate == 7);        // spy 20 < spy 21; spy 22's sender is a spy
  CHECK(v.ranking.front() == 7);  // rank 1 is always the estimate
  CHECK(score(v, 6).inverse_rank == 0.5);
}

TEST_CASE("no spy receipt means no guess", "[deanon]") {
  const FirstSpyVerdict v = first_spy({}, spies_are({}));
  CHECK_FALSE(v.estimate);
  const MessageScore s = score(v, 1);
  CHECK_FALSE(s.guessed);
  CHECK_FALSE(s.correct);
}

TEST_CASE("summaries: mean and a 95% Student t interval", "[deanon]") {
  const Summary s = summarize({1.0, 2.0, 3.0});
  CHECK(s.mean == Approx(2.0));
  CHECK(s.samples == 3);
  CHECK(s.half_width == Approx(4.303 / std::sqrt(3.0)));
  CHECK(s.ci_low == Approx(2.0 - s.half_width));
  const Summary nan_skipped = summarize({1.0, std::nan(""), 3.0});
  CHECK(nan_skipped.samples == 2);
  CHECK(nan_skipped.mean == Approx(2.0));
  const Summary one = summarize({0.5});
  CHECK_FALSE(one.has_ci());
  CHECK(one.ci_low == one.ci_high);
  CHECK(std::isnan(summarize({}).mean));
  CHECK(t_quantile_975(1) == Approx(12.706));
  CHECK(t_quantile_975(30) == Approx(2.042));
  CHECK(t_quantile_975(60) == Approx(2.000).margin(0.002));
  CHECK(t_quantile_975(100000) == Approx(1.96).margin(0.001));
}

TEST_CASE("bad experiment configs are refused", "[deanon]") {
  ExperimentConfig c;
  c.spy_fraction = 1.0;
  CHECK_FALSE(c.validate());
  c = ExperimentConfig{};
  c.degree = c.nodes;
  CHECK_FALSE(c.validate());
  c = ExperimentConfig{};
  c.runs = 0;
  CHECK_FALSE(c.validate());
  CHECK_THROWS_AS(run_experiment(c), std::invalid_argument);
  CHECK(ExperimentConfig{}.validate());
}

TEST_CASE("an experiment is a pure function of its seed", "[deanon]") {
  ExperimentConfig c;
  c.nodes = 80;
  c.degree = 6;
  c.spy_fraction = 0.2;
  c.validators = 10;
  c.messages_per_validator = 2;
  c.runs = 2;
  c.seed = 42;
  c.warmup = 2s;
  c.drain = 1s;
  const auto a = to_json(run_experiment(c));
  const auto b = to_json(run_experiment(c));
  CHECK(a == b);
  c.seed = 43;
  CHECK(to_json(run_experiment(c))["runs"] != a["runs"]);
  // Runs differ from each other (each its own graph, spies and validators).
  CHECK(a["runs"][0]["seed"] != a["runs"][1]["seed"]);
  CHECK(a["config"]["nodes"] == 80);
  CHECK(a["metrics"].contains("precision"));
  CHECK(a["metrics"]["recall"]["runs"] == 2);
  // The timing adversary calibrated itself and scored every run.
  CHECK(a["metrics"]["entropy_bits"]["runs"] == 2);
  CHECK(a["runs"][0]["calibration_samples"].get<int>() > 0);
  // Without probes there is no timing adversary: its metrics are left out.
  c.posterior_probes = 0;
  c.runs = 1;
  const ExperimentResult none = run_experiment(c);
  CHECK(none.runs[0].calibration_samples == 0);
  CHECK(std::isnan(none.runs[0].entropy_bits));
  CHECK(none.posterior_recall.samples == 0);
  CHECK(none.recall.samples == 1);
}

TEST_CASE("CSV has a header and one row per metric", "[deanon]") {
  ExperimentConfig c;
  c.nodes = 40;
  c.degree = 4;
  c.validators = 5;
  c.messages_per_validator = 1;
  c.runs = 2;
  c.warmup = 2s;
  c.drain = 1s;
  const std::string csv = to_csv(run_experiment(c));
  std::istringstream in(csv);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  REQUIRE(lines.size() == 19);
  CHECK(lines[0].rfind("adversary,metric,mean,ci95_low,ci95_high,runs,nodes", 0) == 0);
  CHECK(lines[0].find(",stem,fluff_probability") != std::string::npos);
  CHECK(lines[1].rfind("first-spy,precision,", 0) == 0);
  CHECK(lines[2].rfind("first-spy,recall,", 0) == 0);
  CHECK(lines[3].rfind("first-spy,recall_on_stem,", 0) == 0);
  CHECK(lines[5].rfind("first-spy,inverse_rank,", 0) == 0);
  CHECK(lines[7].rfind("timing,posterior_recall,", 0) == 0);
  CHECK(lines[8].rfind("timing,entropy_bits,", 0) == 0);
  CHECK(lines[11].rfind("timing,posterior_intersection_recall,", 0) == 0);
  CHECK(lines[12].rfind("intersection,intersection_recall,", 0) == 0);
  CHECK(lines[15].rfind("cost,latency_p50_ms,", 0) == 0);
  CHECK(lines[17].rfind("cost,latency_p99_ms,", 0) == 0);
  CHECK(lines[18].rfind("cost,delivered,1,", 0) == 0);
}

TEST_CASE("no spies: no guesses and recall 0", "[deanon]") {
  ExperimentConfig c;
  c.nodes = 40;
  c.degree = 4;
  c.spy_fraction = 0.0;
  c.validators = 5;
  c.runs = 2;
  c.warmup = 2s;
  c.drain = 1s;
  const ExperimentResult r = run_experiment(c);
  CHECK(r.recall.mean == 0.0);
  CHECK(r.precision.mean == 0.0);  // nobody attributed anything
  CHECK(r.accuracy.samples == 0);  // undefined with no guess: null in JSON
  CHECK(to_json(r)["metrics"]["accuracy"]["mean"].is_null());
}

TEST_CASE("closed form: first-spy recall on flooding is 1-(1-p)^d at p = 0.1", "[deanon][closed-form]") {
  check_closed_form(0.1);
}
TEST_CASE("closed form: first-spy recall on flooding is 1-(1-p)^d at p = 0.2", "[deanon][closed-form]") {
  check_closed_form(0.2);
}
TEST_CASE("closed form: first-spy recall on flooding is 1-(1-p)^d at p = 0.3", "[deanon][closed-form]") {
  check_closed_form(0.3);
}

TEST_CASE("closed form on a line: recall is 1-(1-p)^deg with deg 1 at the ends and 2 inside", "[deanon][closed-form]") {
  ExperimentConfig c = flooding(0.2, 11);
  c.topology = TopologyKind::line;
  c.nodes = 200;
  c.validators = 50;
  const ExperimentResult r = run_experiment(c);
  INFO("recall " << r.recall.mean << " +- " << r.recall.half_width << ", closed form "
                 << r.flooding_recall_closed_form);
  CHECK(std::abs(r.recall.mean - r.flooding_recall_closed_form) <= r.recall.half_width);
}

TEST_CASE("most-connected placement: spies sit on the best-connected nodes", "[deanon]") {
  // On a line only the two ends have degree 1: with N - 2 spies placed by degree,
  // exactly the two ends are honest, each with a spy as its only neighbour, so every
  // message is caught at its source.
  ExperimentConfig c;
  c.nodes = 12;
  c.topology = TopologyKind::line;
  c.spy_fraction = 10.0 / 12.0;
  c.placement = SpyPlacement::most_connected;
  c.validators = 2;
  c.messages_per_validator = 3;
  c.runs = 2;
  c.jitter = 0ms;
  c.warmup = 2s;
  c.drain = 1s;
  const ExperimentResult r = run_experiment(c);
  for (const RunResult& run : r.runs) {
    CHECK(run.spies == 10);
    CHECK(run.messages == 6);
    CHECK(run.correct == 6);
    CHECK(run.mean_publisher_degree == 1.0);
  }
}

TEST_CASE("closed form holds for floodsub peers too", "[deanon][closed-form]") {
  // floodsub forwards every message to every neighbour; the publisher's neighbours
  // still hear first, so the same 1-(1-p)^d.
  ExperimentConfig c = flooding(0.2, 13);
  c.protocol = pubsub::PeerProtocol::floodsub;
  const ExperimentResult r = run_experiment(c);
  INFO("recall " << r.recall.mean << " +- " << r.recall.half_width << ", closed form "
                 << r.flooding_recall_closed_form);
  CHECK(r.flooding_recall_closed_form == Approx(1.0 - std::pow(0.8, 8.0)));
  CHECK(std::abs(r.recall.mean - r.flooding_recall_closed_form) <= r.recall.half_width);
}

TEST_CASE("with jitter below the latency the publisher's neighbours still hear first", "[deanon][closed-form]") {
  ExperimentConfig c = flooding(0.2, 17);
  c.posterior_probes = 16;
  c.jitter = 15ms;  // < 20 ms latency: one hop arrives by 35 ms, two hops from 40 ms
  const ExperimentResult r = run_experiment(c);
  INFO("recall " << r.recall.mean << " +- " << r.recall.half_width << ", closed form "
                 << r.flooding_recall_closed_form);
  CHECK(std::abs(r.recall.mean - r.flooding_recall_closed_form) <= r.recall.half_width);
  // The timing adversary uses every spy's receipt time, not only the first one's
  // sender: on flooding it names the source at least as often, and is sure of it.
  CHECK(r.posterior_recall.mean >= r.recall.mean);
  CHECK(r.posterior_recall.mean > 0.9);
  CHECK(r.posterior_inverse_rank.mean >= r.inverse_rank.mean);
  CHECK(r.entropy_bits.mean < 0.5);
}

TEST_CASE("the SVG plot has a point per metric and p, error bars and a legend", "[deanon]") {
  std::vector<ExperimentResult> sweep(3);
  for (std::size_t i = 0; i < sweep.size(); ++i) {
    const double p = 0.1 * static_cast<double>(i + 1);
    sweep[i].config.spy_fraction = p;
    sweep[i].precision = summarize({p, p + 0.1});
    sweep[i].recall = summarize({p / 2, p / 2 + 0.1});
    sweep[i].inverse_rank = summarize({p});  // one run: no interval, no error bar
    sweep[i].posterior_recall = summarize({0.9, 1.0});
    sweep[i].flooding_recall_closed_form = 1.0 - std::pow(1.0 - p, 8.0);
  }
  sweep[1].precision = summarize({});  // NaN: left out
  const std::string svg = to_svg(sweep);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto at = svg.find(what); at != std::string::npos; at = svg.find(what, at + 1)) ++n;
    return n;
  };
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count("<circle") == 2 + 3 + 3 + 3 + 3);
  CHECK(count("<path") == 5);
  CHECK(count("stroke-dasharray") == 2);  // the closed form's line and its legend entry
  for (const char* name : {">precision<", ">recall<", ">inverse rank<", ">timing recall<", ">1-(1-p)^d<"})
    CHECK(count(name) == 1);
}

namespace {

// Dandelion's line: every honest node publishes one message, which walks the line
// one way (each node dials the next, and its only outbound peer is its only stem
// destination) and never fluffs before the embargo (q = 0). The line is closed
// into a ring so that no message runs off its end (there, the last spy would hear
// the tail's messages in gossip, a bias of about 1/(pN) in recall). The first spy after the source hears every message
// of the honest run before it from its predecessor and names it: right only for the
// predecessor's own. Recall p; per-node precision E[1/run length] summed over spies,
// over honest nodes: p^2 ln(1/p) / (1 - p).
ExperimentConfig stem_line(double p, std::uint64_t seed) {
  ExperimentConfig c;
  c.nodes = 400;
  c.topology = TopologyKind::ring;
  c.latency = 20ms;
  c.jitter = 0ms;
  c.spy_fraction = p;
  c.validators = 400;  // capped at the honest count: all of them
  c.messages_per_validator = 1;
  c.runs = 10;
  c.seed = seed;
  c.stem = true;
  c.fluff_probability = 0.0;
  // Nothing fluffs within the run: spies see stems only, which is all first-spy
  // needs here (2 s is 100 hops; P(no spy in 100 hops) < 1e-4 at p = 0.1).
  c.embargo = 60s;
  c.own_embargo = 60s;
  c.embargo_jitter_mean = 0ms;
  c.warmup = 1100ms;
  c.message_interval = 1ms;
  c.drain = 2s;
  return c;
}

void check_stem_line(double p) {
  const ExperimentResult r = run_experiment(stem_line(p, 1));
  const double precision = stem_line_precision(p);
  INFO("p = " << p << ": precision " << r.precision.mean << " 95% CI [" << r.precision.ci_low << ", "
              << r.precision.ci_high << "], closed form " << precision << "; recall " << r.recall.mean << " ["
              << r.recall.ci_low << ", " << r.recall.ci_high << "]");
  REQUIRE(r.precision.has_ci());
  CHECK(std::abs(r.precision.mean - precision) <= r.precision.half_width);
  CHECK(std::abs(r.recall.mean - p) <= r.recall.half_width);
}

}  // namespace

TEST_CASE("closed form: stem on a line, precision p^2 ln(1/p)/(1-p) and recall p at p = 0.1",
          "[deanon][closed-form][stem]") {
  check_stem_line(0.1);
}
TEST_CASE("closed form: stem on a line at p = 0.2", "[deanon][closed-form][stem]") { check_stem_line(0.2); }
TEST_CASE("closed form: stem on a line at p = 0.3", "[deanon][closed-form][stem]") { check_stem_line(0.3); }

TEST_CASE("stem mode hides the source from first-spy that catches it on plain gossip", "[deanon][stem]") {
  ExperimentConfig plain = flooding(0.1, 29);
  plain.posterior_probes = 16;
  plain.nodes = 200;
  plain.runs = 8;
  plain.jitter = 10ms;
  // The stem's bound needs a tight interval: more nodes, every honest node a
  // validator with one message (its messages would share a path all epoch, so more
  // per validator add no information), 10 runs.
  ExperimentConfig stem = plain;
  stem.nodes = 300;
  stem.validators = 270;
  stem.messages_per_validator = 1;
  stem.runs = 10;
  stem.stem = true;
  stem.fluff_probability = 0.1;
  stem.drain = 10s;  // past the source's 4 s + Exp(1 s) embargo of a stem that stalled
  const ExperimentResult a = run_experiment(plain), b = run_experiment(stem);
  INFO("plain recall " << a.recall.mean << ", stem recall " << b.recall.mean << " [" << b.recall.ci_low << ", "
                       << b.recall.ci_high << "]");
  CHECK(a.recall.mean > 0.45);
  // The target: at most p + 0.02 by the upper end of the 95 % interval.
  REQUIRE(b.recall.has_ci());
  CHECK(b.recall.ci_high <= 0.1 + 0.02);
  CHECK(b.delivered.mean == 1.0);
  CHECK(b.latency_mean_ms.mean > a.latency_mean_ms.mean);  // the price: the walk before gossip
  // The timing adversary, from all spies' receipt times and knowing the stem's q:
  // sure and right on plain gossip, unsure and mostly wrong with the stem - and
  // within the same bound.
  INFO("timing recall: plain " << a.posterior_recall.mean << ", stem " << b.posterior_recall.mean << " ["
                               << b.posterior_recall.ci_low << ", " << b.posterior_recall.ci_high
                               << "]; entropy: plain " << a.entropy_bits.mean << ", stem " << b.entropy_bits.mean);
  CHECK(a.posterior_recall.mean > 0.9);
  REQUIRE(b.posterior_recall.has_ci());
  CHECK(b.posterior_recall.ci_high <= 0.1 + 0.02);
  CHECK(a.entropy_bits.mean < 0.5);
  CHECK(b.entropy_bits.mean > 4.0);
}

TEST_CASE("peer exchange's gift: the timing adversary needs the graph to name sources on plain gossip",
          "[deanon][px]") {
  // Knowing only its spies' own edges (no PX: onion-only's default), the timing
  // adversary does worse than first spy; with every edge (what PRUNEs with PX leak
  // over time) it is near certain. docs/PRIVACY.md has the 500-node figures.
  ExperimentConfig c = flooding(0.1, 37);
  c.posterior_probes = 16;
  c.nodes = 150;
  c.runs = 4;
  c.validators = 40;
  c.jitter = 10ms;
  ExperimentConfig blind = c;
  blind.graph_knowledge = 0.0;
  const ExperimentResult full = run_experiment(c), own = run_experiment(blind);
  INFO("timing recall: whole graph " << full.posterior_recall.mean << ", own edges " << own.posterior_recall.mean);
  CHECK(full.posterior_recall.mean > 0.9);
  CHECK(own.posterior_recall.mean < full.posterior_recall.mean - 0.2);
  CHECK(own.recall.mean == full.recall.mean);  // first spy needs no graph
}

TEST_CASE("a supernode connected to everyone catches flood publishers, and the stem keeps it out", "[deanon][stem]") {
  // No ordinary spies: one observer identity dialling all 150 nodes. On plain gossip
  // every publisher floods its message straight to it. In stem mode it is nobody's
  // outbound peer, so never a stem destination: it hears messages only once gossiped.
  ExperimentConfig plain = flooding(0.0, 31);
  plain.posterior_probes = 16;
  plain.nodes = 150;
  plain.runs = 5;
  plain.supernode_connections = 1;
  plain.jitter = 10ms;
  plain.drain = 5s;
  ExperimentConfig stem = plain;
  stem.stem = true;
  const ExperimentResult a = run_experiment(plain), b = run_experiment(stem);
  INFO("supernode recall: plain " << a.recall.mean << ", stem " << b.recall.mean << " +- " << b.recall.half_width);
  CHECK(a.recall.mean > 0.95);
  CHECK(b.recall.mean < 0.1);
  CHECK(b.delivered.mean == 1.0);
  // The timing adversary: a lone observer gets about one receipt per message
  // (IDONTWANT stops the rest), so its evidence is whom it heard first - sure on
  // plain gossip, nothing with the stem.
  INFO("supernode timing: recall " << a.posterior_recall.mean << " / " << b.posterior_recall.mean << ", entropy "
                                   << a.entropy_bits.mean << " / " << b.entropy_bits.mean << " bits");
  CHECK(a.posterior_recall.mean > 0.95);
  CHECK(a.entropy_bits.mean < 1.0);
  CHECK(b.posterior_recall.mean < 0.1);
  CHECK(b.entropy_bits.mean > 4.0);
}

TEST_CASE("intersection over a validator's messages: per-epoch routes give it nothing more", "[deanon][stem]") {
  // Six messages per validator. On plain gossip first-spy already names the source
  // whenever a neighbour of it is a spy, so the most named node is right about as
  // often. With the stem, all of a validator's messages take the same path within an
  // epoch, so the first spy names the same node every time: intersection recall
  // stays near p instead of growing with the number of messages.
  ExperimentConfig plain = flooding(0.1, 37);
  plain.posterior_probes = 16;
  plain.nodes = 150;
  plain.jitter = 10ms;
  plain.validators = 15;
  plain.messages_per_validator = 6;
  plain.runs = 5;
  plain.drain = 5s;
  ExperimentConfig stem = plain;
  stem.stem = true;
  const ExperimentResult a = run_experiment(plain), b = run_experiment(stem);
  INFO("intersection recall: plain " << a.intersection_recall.mean << ", stem " << b.intersection_recall.mean
                                     << " +- " << b.intersection_recall.half_width);
  CHECK(a.intersection_recall.mean > 0.45);
  CHECK(b.intersection_recall.mean < 0.25);
  // The Bayesian intersection (product of the timing posteriors) neither: the
  // stem's posteriors of one validator's messages are alike, so their product names
  // the same node a single one does.
  INFO("timing intersection recall: plain " << a.posterior_intersection_recall.mean << ", stem "
                                            << b.posterior_intersection_recall.mean);
  CHECK(a.posterior_intersection_recall.mean > 0.9);
  CHECK(b.posterior_intersection_recall.mean < 0.3);
}
