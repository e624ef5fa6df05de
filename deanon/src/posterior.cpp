#include "shardnode/deanon/posterior.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>
#include <tuple>

#include "units.h"

namespace shardnode::deanon {
namespace {

// Normalise `w` in place; false when it sums to nothing.
bool normalise(std::vector<double>& w) {
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  if (!(sum > 0.0) || !std::isfinite(sum)) return false;
  for (double& x : w) x /= sum;
  return true;
}

}  // namespace

double LatencyModel::mean(std::uint32_t hops) const {
  if (hops < mean_ms.size() && !std::isnan(mean_ms[hops])) return mean_ms[hops];
  return mean_per_hop_ms * hops;
}

double LatencyModel::var(std::uint32_t hops) const {
  if (hops < var_ms2.size() && !std::isnan(var_ms2[hops])) return var_ms2[hops];
  return std::max(kMinVarianceMs2, var_per_hop_ms2 * hops);
}

LatencyModel fit_latency_model(const std::vector<HopSample>& all, std::size_t min_samples) {
  LatencyModel m;
  std::vector<HopSample> samples;  // the usable ones
  for (const HopSample& s : all)
    if (s.hops > 0 && s.hops <= LatencyModel::kMaxHops && std::isfinite(s.delay_ms)) samples.push_back(s);
  double hops = 0.0, delay = 0.0;
  std::uint32_t max_hops = 0;
  for (const HopSample& s : samples) {
    hops += s.hops;
    delay += s.delay_ms;
    max_hops = std::max(max_hops, s.hops);
    ++m.samples;
  }
  if (m.samples == 0) return m;
  m.mean_per_hop_ms = delay / hops;
  double sq = 0.0;
  std::vector<double> sum(max_hops + 1, 0.0), sum_sq(max_hops + 1, 0.0);
  std::vector<std::size_t> count(max_hops + 1, 0);
  for (const HopSample& s : samples) {
    const double r = s.delay_ms - m.mean_per_hop_ms * s.hops;
    sq += r * r;
    sum[s.hops] += s.delay_ms;
    ++count[s.hops];
  }
  m.var_per_hop_ms2 = std::max(LatencyModel::kMinVarianceMs2, sq / hops);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  m.mean_ms.assign(max_hops + 1, nan);
  m.var_ms2.assign(max_hops + 1, nan);
  for (std::uint32_t h = 1; h <= max_hops; ++h)
    if (count[h] >= std::max<std::size_t>(min_samples, 2)) m.mean_ms[h] = sum[h] / static_cast<double>(count[h]);
  for (const HopSample& s : samples) {
    if (std::isnan(m.mean_ms[s.hops])) continue;
    const double r = s.delay_ms - m.mean_ms[s.hops];
    sum_sq[s.hops] += r * r;
  }
  for (std::uint32_t h = 1; h <= max_hops; ++h)
    if (!std::isnan(m.mean_ms[h]))
      m.var_ms2[h] = std::max(LatencyModel::kMinVarianceMs2, sum_sq[h] / static_cast<double>(count[h] - 1));
  return m;
}

LatencyModel link_latency_model(double one_hop_mean_ms, double one_hop_var_ms2) {
  LatencyModel m;
  m.mean_per_hop_ms = one_hop_mean_ms;
  m.var_per_hop_ms2 = std::max(LatencyModel::kMinVarianceMs2, one_hop_var_ms2);
  return m;
}

HopDistances::HopDistances(const Adjacency& graph, std::vector<bool> allowed)
    : graph_(&graph),
      allowed_(std::move(allowed)),
      cache_(graph.size()),
      max_cached_(std::max<std::size_t>(1, kCacheBytes / (sizeof(std::uint32_t) * std::max<std::size_t>(1, graph.size())))) {
  if (allowed_.size() != graph.size()) throw std::invalid_argument("HopDistances: one flag per node");
}

const std::vector<std::uint32_t>& HopDistances::from(NodeIndex source) {
  std::vector<std::uint32_t>& d = cache_.at(source);
  if (!d.empty()) return d;
  // Bounded memory: past the budget, forget every other source (recomputed on use).
  if (cached_ >= max_cached_) {
    for (NodeIndex n = 0; n < cache_.size(); ++n)
      if (n != source) std::vector<std::uint32_t>().swap(cache_[n]);
    cached_ = 0;
  }
  ++cached_;
  d.assign(graph_->size(), kUnreachable);
  std::deque<NodeIndex> queue{source};
  d[source] = 0;
  while (!queue.empty()) {
    const NodeIndex n = queue.front();
    queue.pop_front();
    for (NodeIndex m : (*graph_)[n])
      if (allowed_[m] && d[m] == kUnreachable) {
        d[m] = d[n] + 1;
        queue.push_back(m);
      }
  }
  return d;
}

namespace {
std::vector<bool> complement(std::vector<bool> v) {
  v.flip();
  return v;
}
}  // namespace

PosteriorAdversary::PosteriorAdversary(Adjacency graph, std::vector<bool> is_spy, LatencyModel model,
                                       std::optional<StemKnowledge> stem, std::vector<bool> transit)
    : graph_(std::move(graph)),
      is_spy_(std::move(is_spy)),
      model_(std::move(model)),
      stem_(stem),
      all_(graph_, transit.empty() ? std::vector<bool>(graph_.size(), true) : std::move(transit)),
      honest_(graph_, complement(is_spy_)) {
  if (is_spy_.size() != graph_.size()) throw std::invalid_argument("PosteriorAdversary: one spy flag per node");
  for (NodeIndex n = 0; n < graph_.size(); ++n)
    if (!is_spy_[n] && !all_.allowed(n))
      throw std::invalid_argument("PosteriorAdversary: only the adversary's own nodes may be non-transit");
  for (const auto& adj : graph_)
    for (NodeIndex m : adj)
      if (m >= graph_.size()) throw std::invalid_argument("PosteriorAdversary: edge to an unknown node");
}

void PosteriorAdversary::check(const std::vector<SpyObservation>& obs) const {
  for (const SpyObservation& o : obs) {
    if (o.from >= graph_.size()) throw std::invalid_argument("PosteriorAdversary: observation from an unknown node");
    if (o.spy >= graph_.size()) throw std::invalid_argument("PosteriorAdversary: observation at an unknown node");
  }
}

std::vector<double> exponentiate(std::vector<double> v) {
  for (double& x : v) x = std::exp(x);
  return v;
}

std::vector<double> PosteriorAdversary::timing(const std::vector<SpyObservation>& obs) {
  return exponentiate(log_timing(obs));
}

std::vector<double> PosteriorAdversary::log_timing(const std::vector<SpyObservation>& all) {
  check(all);
  std::vector<SpyObservation> obs;
  for (const SpyObservation& o : all)
    if (!is_spy_[o.from]) obs.push_back(o);
  if (obs.empty() || !model_.valid()) return {};
  TimePoint first = obs.front().at;
  for (const SpyObservation& o : obs) first = std::min(first, o.at);
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> ll(graph_.size(), ninf);
  // Who each spy heard first (from any sender, spies included): with a source next
  // to the spy, that is the source with probability alpha.
  std::vector<double> order(graph_.size(), 0.0);  // log P(the spies' first senders | f)
  const double alpha = std::clamp(model_.first_from_adjacent_source, 0.01, 0.99);  // NaN stays NaN
  if (!std::isnan(alpha)) {
    std::map<NodeIndex, std::pair<TimePoint, NodeIndex>> first_sender;  // spy -> (at, from)
    for (const SpyObservation& o : all) {
      const auto [it, fresh] = first_sender.try_emplace(o.spy, o.at, o.from);
      if (!fresh && std::tie(o.at, o.from) < std::tie(it->second.first, it->second.second)) it->second = {o.at, o.from};
    }
    double base = 0.0;
    for (const auto& [spy, f1] : first_sender) {
      const auto& nb = graph_[spy];
      if (nb.empty()) continue;
      const double deg = static_cast<double>(nb.size());
      base -= std::log(deg);  // f not next to the spy: any neighbour first, alike
      const double hit = std::log(alpha) + std::log(deg);
      const double miss = std::log((1.0 - alpha) / std::max(1.0, deg - 1.0)) + std::log(deg);
      for (NodeIndex f : nb) order[f] += f == f1.second ? hit : miss;
    }
    for (double& x : order) x += base;
  }
  // Per candidate f, the weighted sums of the receipts' residuals, one receipt at a
  // time: each receipt's distances are used before the next lookup (which may evict
  // them from the bounded cache).
  const std::size_t n = graph_.size();
  std::vector<double> sw(n, 0.0), swr(n, 0.0), swr2(n, 0.0), slog(n, 0.0);
  std::vector<bool> possible(n, true);
  for (const SpyObservation& o : obs) {
    const std::vector<std::uint32_t>& d = all_.from(o.from);
    const double t = ms(o.at - first);
    for (NodeIndex f = 0; f < n; ++f) {
      if (is_spy_[f] || !possible[f]) continue;
      if (d[f] == HopDistances::kUnreachable) {
        possible[f] = false;
        continue;
      }
      const std::uint32_t h = d[f] + 1;  // f -> ... -> from -> spy
      const double v = model_.var(h);
      const double r = t - model_.mean(h);
      sw[f] += 1.0 / v;
      swr[f] += r / v;
      swr2[f] += r * r / v;
      slog[f] += std::log(v);
    }
  }
  double best = ninf;
  for (NodeIndex f = 0; f < n; ++f) {
    if (is_spy_[f] || !possible[f]) continue;
    // Gaussian likelihood with the publish time integrated out under a flat prior.
    ll[f] = -0.5 * (swr2[f] - swr[f] * swr[f] / sw[f]) - 0.5 * slog[f] - 0.5 * std::log(sw[f]) + order[f];
    best = std::max(best, ll[f]);
  }
  if (best == ninf) return {};
  // Normalise in the log domain (log-sum-exp), so a product over messages can be
  // formed without underflow.
  double sum = 0.0;
  for (double x : ll)
    if (x != ninf) sum += std::exp(x - best);
  const double log_z = best + std::log(sum);
  for (double& x : ll)
    if (x != ninf) x -= log_z;
  return ll;
}

void PosteriorAdversary::spread(NodeIndex centre, double mass, double ring0, std::vector<double>& out) {
  const double rho = (1.0 - stem_->fluff_probability) * (1.0 - stem_->spy_fraction);
  const std::vector<std::uint32_t>& d = honest_.from(centre);
  std::vector<std::size_t> ring;
  for (std::uint32_t k : d)
    if (k != HopDistances::kUnreachable) {
      if (k >= ring.size()) ring.resize(k + 1, 0);
      ++ring[k];
    }
  std::vector<double> weight(ring.size(), 0.0);
  double total = 0.0;
  for (std::size_t k = 0; k < ring.size(); ++k) {
    if (ring[k] == 0) continue;
    weight[k] = k == 0 ? ring0 : std::pow(rho, static_cast<double>(k - 1));
    total += weight[k];
  }
  if (!(total > 0.0)) return;
  for (NodeIndex v = 0; v < d.size(); ++v)
    if (d[v] != HopDistances::kUnreachable) out[v] += mass * weight[d[v]] / (static_cast<double>(ring[d[v]]) * total);
}

std::vector<double> PosteriorAdversary::posterior(const std::vector<SpyObservation>& obs) {
  return exponentiate(log_posterior(obs));
}

std::vector<double> PosteriorAdversary::log_posterior(const std::vector<SpyObservation>& obs) {
  check(obs);
  if (obs.empty()) return {};
  if (!stem_) return log_timing(obs);
  const double rho = (1.0 - stem_->fluff_probability) * (1.0 - stem_->spy_fraction);
  // Caught on the stem: the earliest stem receipt from an honest node.
  const SpyObservation* caught = nullptr;
  for (const SpyObservation& o : obs) {
    if (!o.stem || is_spy_[o.from]) continue;
    if (!caught || std::tie(o.at, o.spy, o.from) < std::tie(caught->at, caught->spy, caught->from)) caught = &o;
  }
  std::vector<double> out(graph_.size(), 0.0);
  if (caught) {
    // Ring k >= 0 around u weighs rho^k: spread() weighs ring k >= 1 as rho^(k-1),
    // so give ring 0 weight 1/rho relative to it (rho = 0: u alone).
    if (rho > 0.0)
      spread(caught->from, 1.0, 1.0 / rho, out);
    else
      out[caught->from] = 1.0;
  } else {
    const std::vector<double> t = timing(obs);
    if (t.empty()) return {};
    std::vector<NodeIndex> order;
    for (NodeIndex f = 0; f < t.size(); ++f)
      if (t[f] > 0.0) order.push_back(f);
    std::sort(order.begin(), order.end(),
              [&](NodeIndex a, NodeIndex b) { return std::tie(t[b], a) < std::tie(t[a], b); });
    // The fluff point's posterior mass, largest first, down to a 1e-9 remainder or
    // kMaxCentres centres (one search each).
    double covered = 0.0;
    std::size_t centres = 0;
    for (NodeIndex f : order) {
      spread(f, t[f], kSourceFluffWeight, out);
      covered += t[f];
      if (covered >= 1.0 - 1e-9 || ++centres >= kMaxCentres) break;
    }
  }
  for (NodeIndex n = 0; n < out.size(); ++n)
    if (is_spy_[n]) out[n] = 0.0;
  if (!normalise(out)) return {};
  for (double& x : out) x = std::log(x);  // log 0 = -inf
  return out;
}

PosteriorScore score(const std::vector<double>& posterior, NodeIndex true_source) {
  PosteriorScore s;
  if (posterior.empty()) return s;
  s.guessed = true;
  NodeIndex best = 0;
  for (NodeIndex n = 0; n < posterior.size(); ++n) {
    const double p = posterior[n];
    if (p > posterior[best]) best = n;
    if (p > 0.0) s.entropy_bits -= p * std::log2(p);
  }
  s.estimate = best;
  s.correct = best == true_source;
  if (true_source >= posterior.size() || !(posterior[true_source] > 0.0)) return s;
  const double pt = posterior[true_source];
  s.truth_probability = pt;
  std::size_t rank = 1;
  for (NodeIndex n = 0; n < posterior.size(); ++n)
    if (posterior[n] > pt || (posterior[n] == pt && n < true_source)) ++rank;
  s.inverse_rank = 1.0 / static_cast<double>(rank);
  return s;
}

}  // namespace shardnode::deanon
