// The latency-aware mesh: a smoothed round trip per peer, and the mesh slots that
// scores and outbound peers do not hold going to the fastest peers.
// GossipsubConfig::Latency has the rules; maintain_mesh (heartbeat.cpp) calls in.
#include <algorithm>

#include "router_state.h"

namespace shardnode::pubsub {

void Router::observe_rtt(const PeerId& p, Duration rtt) {
  PeerState* ps = peer(p);
  if (!ps || rtt < Duration::zero()) return;
  if (!ps->rtt) {
    ps->rtt = rtt;
    return;
  }
  const double a = cfg_.latency.alpha;
  ps->rtt = Duration{static_cast<Duration::rep>((1.0 - a) * static_cast<double>(ps->rtt->count()) +
                                                a * static_cast<double>(rtt.count()))};
}

std::optional<Duration> Router::rtt(const PeerId& p) const {
  auto it = peers_.find(p);
  return it == peers_.end() ? std::nullopt : it->second->rtt;
}

void Router::sort_by_rtt(std::vector<PeerId>& v) const {
  std::vector<std::pair<Duration, PeerId>> keyed;
  keyed.reserve(v.size());
  for (auto& p : v) keyed.emplace_back(rtt(p).value_or(Duration::max()), std::move(p));
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::move(keyed[i].second);
}

std::set<PeerId> Router::latency_protected(const TopicId& topic, TimePoint now) const {
  std::set<PeerId> keep;
  auto m = mesh_.find(topic);
  if (m == mesh_.end()) return keep;
  std::vector<std::pair<double, PeerId>> by_score;
  for (const auto& p : m->second) by_score.emplace_back(peer_score(p, now), p);
  std::stable_sort(by_score.begin(), by_score.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; i < by_score.size() && i < cfg_.d_score; ++i) keep.insert(by_score[i].second);
  const auto is_out = [&](const PeerId& p) {
    auto it = peers_.find(p);
    return it != peers_.end() && it->second->outbound;
  };
  const auto outbound = static_cast<std::size_t>(std::count_if(m->second.begin(), m->second.end(), is_out));
  if (outbound <= cfg_.d_out)
    for (const auto& p : m->second)
      if (is_out(p)) keep.insert(p);
  return keep;
}

void Router::latency_swap(const TopicId& topic, TimePoint now) {
  const auto& lc = cfg_.latency;
  for (std::size_t i = 0; i < lc.max_swaps; ++i) {
    auto& m = mesh_[topic];
    if (m.size() < cfg_.d_lo) return;  // the refill at D_lo comes first
    const auto keep = latency_protected(topic, now);
    std::optional<PeerId> slow;
    Duration slow_rtt{};
    for (const auto& p : m) {
      auto r = rtt(p);
      if (keep.count(p) || !r) continue;
      if (!slow || *r > slow_rtt) {
        slow = p;
        slow_rtt = *r;
      }
    }
    if (!slow) return;
    auto fast = select_peers(
        topic, 1,
        [&](const PeerId& p, const PeerState& ps) { return ps.rtt && graftable(topic, p, ps, now); },
        true);
    if (fast.empty()) return;
    const Duration fast_rtt = *rtt(fast.front());
    if (static_cast<double>(slow_rtt.count()) <= lc.swap_ratio * static_cast<double>(fast_rtt.count()) ||
        slow_rtt - fast_rtt < lc.swap_margin)
      return;
    prune_peer(topic, *slow, false, now);
    graft_peer(topic, fast.front(), now);
    ++counters_.latency_swaps;
  }
}

}  // namespace shardnode::pubsub
