// The timing adversary (deanon/posterior.h) on hand-made graphs and spy logs: the
// latency model's fit, the first-timestamp posterior, the stem-aware spreading,
// the scores, and bad input refused with an error.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <stdexcept>

#include "shardnode/deanon/posterior.h"

using namespace shardnode;
using namespace shardnode::deanon;
using namespace std::chrono_literals;

namespace {

// A line 0 - 1 - ... - (n-1).
Adjacency line(NodeIndex n) {
  Adjacency a(n);
  for (NodeIndex i = 0; i + 1 < n; ++i) {
    a[i].push_back(i + 1);
    a[i + 1].push_back(i);
  }
  return a;
}

std::vector<bool> spies(NodeIndex n, std::initializer_list<NodeIndex> which) {
  std::vector<bool> s(n, false);
  for (NodeIndex w : which) s[w] = true;
  return s;
}

// Every hop takes 10 ms exactly (variance at the floor).
LatencyModel ten_ms_per_hop() {
  std::vector<HopSample> samples;
  for (std::uint32_t h = 1; h <= 6; ++h)
    for (int i = 0; i < 10; ++i) samples.push_back({h, 10.0 * h});
  return fit_latency_model(samples);
}

// 10 ms per hop with variance 4 ms^2 per hop (no table).
LatencyModel noisy() {
  LatencyModel m;
  m.mean_per_hop_ms = 10.0;
  m.var_per_hop_ms2 = 4.0;
  m.samples = 1;
  return m;
}

double sum(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}

}  // namespace

TEST_CASE("latency model: a table per hop count with enough samples, a line through the origin beyond", "[deanon]") {
  std::vector<HopSample> samples;
  for (int i = 0; i < 8; ++i) samples.push_back({1, i % 2 ? 22.0 : 18.0});  // mean 20, variance 4 * 8/7
  for (int i = 0; i < 8; ++i) samples.push_back({2, 35.0});                 // first passage: below 2 x 20
  samples.push_back({3, 60.0});                                             // too few for an entry of its own
  samples.push_back({0, 1.0});                                              // no hop: not a sample
  const LatencyModel m = fit_latency_model(samples);
  REQUIRE(m.valid());
  CHECK(m.samples == 17);
  CHECK(m.mean(1) == Approx(20.0));
  CHECK(m.var(1) == Approx(4.0 * 8.0 / 7.0));
  CHECK(m.mean(2) == Approx(35.0));
  CHECK(m.var(2) == LatencyModel::kMinVarianceMs2);  // no spread: the floor
  const double per_hop = (8 * 20.0 + 8 * 35.0 + 60.0) / (8 + 16 + 3);
  CHECK(m.mean_per_hop_ms == Approx(per_hop));
  CHECK(m.mean(3) == Approx(3 * per_hop));
  CHECK(m.mean(7) == Approx(7 * per_hop));
  CHECK(m.var(5) == Approx(5 * m.var_per_hop_ms2));
  CHECK_FALSE(fit_latency_model({}).valid());
  CHECK_FALSE(fit_latency_model({{0, 5.0}, {2, std::nan("")}, {~std::uint32_t{0}, 1.0}}).valid());
  // Without samples: a line from one link's delay.
  const LatencyModel link = link_latency_model(25.0, 100.0 / 12.0);
  CHECK(link.valid());
  CHECK(link.samples == 0);
  CHECK(link.mean(3) == Approx(75.0));
  CHECK(link.var(2) == Approx(200.0 / 12.0));
  CHECK(link_latency_model(25.0, 0.0).var(1) == LatencyModel::kMinVarianceMs2);
}

TEST_CASE("hop distances stay on allowed nodes", "[deanon]") {
  const Adjacency g = line(5);
  HopDistances all(g, std::vector<bool>(5, true));
  CHECK(all.from(0) == std::vector<std::uint32_t>{0, 1, 2, 3, 4});
  std::vector<bool> allowed(5, true);
  allowed[2] = false;  // the line is cut at 2
  HopDistances honest(g, allowed);
  const auto& d = honest.from(0);
  CHECK(d[1] == 1);
  CHECK(d[2] == HopDistances::kUnreachable);
  CHECK(d[4] == HopDistances::kUnreachable);
  // A path may leave a source that is not allowed (an observer's own receipt).
  CHECK(honest.from(2) == std::vector<std::uint32_t>{2, 1, 0, 1, 2});
  CHECK_THROWS_AS(HopDistances(g, std::vector<bool>(4, true)), std::invalid_argument);
}

TEST_CASE("timing: arrival times at both ends of a line locate the source", "[deanon]") {
  // Spies at 0 and 8; the source is 3: spy 0 hears at t0 + 30, spy 8 at t0 + 50.
  const NodeIndex n = 9;
  PosteriorAdversary adv(line(n), spies(n, {0, 8}), noisy());
  const std::vector<SpyObservation> obs{{0, 1, 1030ms}, {8, 7, 1050ms}};
  const std::vector<double> p = adv.posterior(obs);
  REQUIRE(p.size() == n);
  CHECK(sum(p) == Approx(1.0));
  CHECK(p[0] == 0.0);  // spies are never the source
  CHECK(p[8] == 0.0);
  const PosteriorScore s = score(p, 3);
  CHECK(s.guessed);
  CHECK(s.correct);
  CHECK(s.estimate == 3);
  CHECK(s.entropy_bits < 0.1);  // a neighbour misfits by 20 ms against a 3.5-4.5 ms spread
  CHECK(s.entropy_bits > 0.0);
  CHECK(s.inverse_rank == 1.0);
  CHECK(s.truth_probability > 0.99);
  // Further from the source, less likely.
  CHECK(p[2] > p[1]);
  CHECK(p[4] > p[6]);
  CHECK(p[6] > p[7]);
  const PosteriorScore off = score(p, 4);
  CHECK_FALSE(off.correct);
  CHECK(off.inverse_rank > 0.0);
  CHECK(off.inverse_rank <= 0.5);
}

TEST_CASE("timing: one observation cannot tell the distance, so every candidate shares the posterior", "[deanon]") {
  // Spies 0 and 4 of the line 0 - 1 - 2 - 3 - 4 hear at the same time: the centre.
  PosteriorAdversary adv(line(5), spies(5, {0, 4}), ten_ms_per_hop());
  const std::vector<double> p = adv.posterior({{0, 1, 20ms}, {4, 3, 20ms}});
  REQUIRE(p.size() == 5);
  CHECK(p[2] > 0.99);
  // A ring of 4 and one spy (0) that heard from 1: with the publish time unknown, a
  // single receipt fits 1 (1 hop), 2 (2 hops) and 3 (3 hops through 1) equally.
  Adjacency ring{{1, 3}, {0, 2}, {1, 3}, {0, 2}};
  PosteriorAdversary sym(ring, spies(4, {0}), ten_ms_per_hop());
  const std::vector<double> q = sym.posterior({{0, 1, 50ms}});
  REQUIRE(q.size() == 4);
  CHECK(q[1] == Approx(q[2]).epsilon(1e-9));
  CHECK(q[1] == Approx(1.0 / 3.0).epsilon(1e-9));
  CHECK(score(q, 1).entropy_bits == Approx(std::log2(3.0)));
  CHECK(score(q, 3).inverse_rank == Approx(1.0 / 3.0));  // ties: lower index first
}

TEST_CASE("stem: caught from u, the source is u with 1 - rho and upstream rings after", "[deanon][stem]") {
  // Line 0..6, spy 0. Spy 0 got the message on the stem from 1. The honest rings
  // around 1 are {1}, {2}, ..., {6}: weights rho^0, ..., rho^5.
  const StemKnowledge k{0.2, 0.25};
  const double rho = 0.8 * 0.75;
  PosteriorAdversary adv(line(7), spies(7, {0}), ten_ms_per_hop(), k);
  // Gossip seen later does not matter once the stem was caught.
  const std::vector<double> p = adv.posterior({{0, 1, 100ms, true}, {0, 1, 900ms, false}});
  CHECK(p == adv.posterior({{0, 1, 100ms, true}}));
  REQUIRE(p.size() == 7);
  double z = 0.0;
  for (int i = 0; i <= 5; ++i) z += std::pow(rho, i);
  for (NodeIndex v = 1; v <= 6; ++v) CHECK(p[v] == Approx(std::pow(rho, v - 1) / z));
  CHECK(p[0] == 0.0);
  CHECK(score(p, 1).correct);
  // With q = 1 (every relay fluffs), being caught from u names u for sure.
  PosteriorAdversary sure(line(7), spies(7, {0}), ten_ms_per_hop(), StemKnowledge{1.0, 0.25});
  const std::vector<double> s = sure.posterior({{0, 1, 100ms, true}});
  CHECK(s[1] == 1.0);
  CHECK(score(s, 1).entropy_bits == 0.0);
}

TEST_CASE("stem: not caught, the timing posterior finds the diffuser and the source is spread around it",
          "[deanon][stem]") {
  // Line 0..8, spies 0 and 8; gossip only, from a diffuser at 4 (both spies hear at
  // +40 ms). Honest rings around 4 (1..7): {4}, {3,5}, {2,6}, {1,7}; ring 0 weighs
  // kSourceFluffWeight, ring k >= 1 weighs rho^(k-1), split evenly.
  const StemKnowledge k{0.1, 2.0 / 9.0};
  const double rho = 0.9 * (7.0 / 9.0);
  PosteriorAdversary adv(line(9), spies(9, {0, 8}), ten_ms_per_hop(), k);
  const std::vector<double> p = adv.posterior({{0, 1, 40ms}, {8, 7, 40ms}});
  REQUIRE(p.size() == 9);
  const double w0 = PosteriorAdversary::kSourceFluffWeight;
  const double z = w0 + 1.0 + rho + rho * rho;
  CHECK(p[4] == Approx(w0 / z).epsilon(1e-6));
  CHECK(p[3] == Approx(0.5 / z).epsilon(1e-6));
  CHECK(p[5] == Approx(p[3]));
  CHECK(p[2] == Approx(rho * 0.5 / z).epsilon(1e-6));
  CHECK(p[1] == Approx(rho * rho * 0.5 / z).epsilon(1e-6));
  CHECK(sum(p) == Approx(1.0));
  // The timing part alone points at the diffuser.
  CHECK(adv.timing({{0, 1, 40ms}, {8, 7, 40ms}})[4] > 0.99);
  // The guess is a neighbour of the diffuser (3: the lower of the tie), with entropy.
  const PosteriorScore s = score(p, 5);
  CHECK(s.estimate == 3);
  CHECK_FALSE(s.correct);
  CHECK(s.inverse_rank == 0.5);
  CHECK(s.entropy_bits > 2.0);
}

TEST_CASE("scores: no posterior means no guess, and a source given nothing ranks nowhere", "[deanon]") {
  const PosteriorScore none = score(std::vector<double>{}, 0);
  CHECK_FALSE(none.guessed);
  CHECK(none.inverse_rank == 0.0);
  const PosteriorScore zero = score(std::vector<double>{0.0, 0.5, 0.5}, 0);
  CHECK(zero.guessed);
  CHECK(zero.estimate == 1);
  CHECK(zero.inverse_rank == 0.0);
  CHECK(zero.entropy_bits == Approx(1.0));
  CHECK(score(std::vector<double>{0.0, 0.5, 0.5}, 2).inverse_rank == 0.5);
  CHECK(score(std::vector<double>{0.0, 0.5, 0.5}, 7).inverse_rank == 0.0);  // not a node at all
}

TEST_CASE("bad adversary input is refused with an error, and no observation gives no posterior", "[deanon]") {
  CHECK_THROWS_AS(PosteriorAdversary(line(3), spies(4, {0}), ten_ms_per_hop()), std::invalid_argument);
  CHECK_THROWS_AS(PosteriorAdversary(Adjacency{{1}, {5}}, spies(2, {0}), ten_ms_per_hop()), std::invalid_argument);
  PosteriorAdversary adv(line(4), spies(4, {0}), ten_ms_per_hop());
  CHECK(adv.posterior({}).empty());
  CHECK_THROWS_AS(adv.posterior({{0, 9, 10ms}}), std::invalid_argument);
  // Without a calibrated model the adversary says nothing.
  PosteriorAdversary blind(line(4), spies(4, {0}), LatencyModel{});
  CHECK(blind.posterior({{0, 1, 10ms}}).empty());
  // A graph cut by spies: only candidates that can reach every observer remain.
  Adjacency two{{}, {}};
  PosteriorAdversary cut(two, spies(2, {0}), ten_ms_per_hop());
  CHECK(cut.posterior({{0, 0, 10ms}}).empty());  // a receipt from a spy is not used: nothing left
  PosteriorAdversary far(two, spies(2, {0}), ten_ms_per_hop());
  CHECK(far.posterior({{0, 1, 10ms}})[1] == 1.0);  // 1 is next to nobody, but the only honest sender
}

TEST_CASE("timing: a supernode's edges are not paths, its neighbours' receipts locate the source", "[deanon]") {
  // The line 0..6 and an observer 7 linked to every node. The source 3 sends to 7
  // at once; its neighbours forward along the line, and each sends to 7 as it hears.
  Adjacency g = line(7);
  g.emplace_back();
  for (NodeIndex n = 0; n < 7; ++n) {
    g[n].push_back(7);
    g[7].push_back(n);
  }
  const std::vector<SpyObservation> obs{{7, 3, 10ms}, {7, 2, 20ms}, {7, 4, 20ms}, {7, 1, 30ms},
                                        {7, 5, 30ms}, {7, 0, 40ms}, {7, 6, 40ms}};
  std::vector<bool> transit(8, true);
  transit[7] = false;
  PosteriorAdversary knows(g, spies(8, {7}), noisy(), std::nullopt, transit);
  const PosteriorScore s = score(knows.posterior(obs), 3);
  CHECK(s.correct);
  CHECK(s.truth_probability > 0.99);
  // Its neighbours' times fall with their distance from 3 along the line.
  const std::vector<double> p = knows.posterior(obs);
  CHECK(p[2] > p[1]);
  CHECK(p[1] > p[0]);
  CHECK(p[7] == 0.0);
  CHECK_THROWS_AS(PosteriorAdversary(g, spies(8, {7}), noisy(), std::nullopt, std::vector<bool>(3, true)),
                  std::invalid_argument);
  std::vector<bool> honest_off(8, true);
  honest_off[2] = false;  // only the adversary's own nodes may be non-transit
  CHECK_THROWS_AS(PosteriorAdversary(g, spies(8, {7}), noisy(), std::nullopt, honest_off), std::invalid_argument);
}

TEST_CASE("timing: who a spy heard first names a source next to it, with the calibrated alpha", "[deanon]") {
  // A star: observer 0 linked to honest 1..5, nothing else. One receipt, from 3.
  Adjacency star(6);
  for (NodeIndex n = 1; n < 6; ++n) {
    star[0].push_back(n);
    star[n].push_back(0);
  }
  const std::vector<SpyObservation> obs{{0, 3, 25ms}};
  // Without ordering evidence a single receipt tells nothing: uniform.
  PosteriorAdversary blind(star, spies(6, {0}), noisy(), std::nullopt);
  const std::vector<double> u = blind.posterior(obs);
  REQUIRE(u.size() == 6);
  for (NodeIndex n = 1; n < 6; ++n) CHECK(u[n] == Approx(0.2));
  // With alpha = 0.9: 3 weighs 0.9, each other (1 - 0.9) / 4.
  LatencyModel m = noisy();
  m.first_from_adjacent_source = 0.9;
  PosteriorAdversary sees(star, spies(6, {0}), m, std::nullopt);
  const std::vector<double> p = sees.posterior(obs);
  REQUIRE(p.size() == 6);
  const double z = 0.9 + 4 * 0.1 / 4;
  CHECK(p[3] == Approx(0.9 / z));
  CHECK(p[1] == Approx(0.025 / z));
  CHECK(score(p, 3).correct);
  CHECK_THROWS_AS(sees.posterior({{9, 3, 25ms}}), std::invalid_argument);  // at an unknown node
}

TEST_CASE("log posterior: normalised in the log domain, -inf where the posterior is 0", "[deanon]") {
  // The both-ends line of the first timing test, with a sharp model: the far
  // candidates' probabilities underflow to 0, their logs do not.
  PosteriorAdversary adv(line(9), spies(9, {0, 8}), ten_ms_per_hop());
  const std::vector<SpyObservation> obs{{0, 1, 1030ms}, {8, 7, 1050ms}};
  const std::vector<double> lp = adv.log_posterior(obs), p = adv.posterior(obs);
  REQUIRE(lp.size() == 9);
  CHECK(std::isinf(lp[0]));
  CHECK(lp[0] < 0);
  CHECK(lp[3] == Approx(0.0).margin(1e-12));
  CHECK(p[4] == 0.0);           // underflowed
  CHECK(std::isfinite(lp[4]));  // but still ranked: a product over messages can recover it
  CHECK(lp[4] < -1000.0);
  for (std::size_t n = 0; n < 9; ++n) CHECK(p[n] == Approx(std::exp(lp[n])));
}
