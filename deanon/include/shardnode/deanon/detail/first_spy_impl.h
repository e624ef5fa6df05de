#pragma once

#include <algorithm>
#include <tuple>

namespace shardnode::deanon {

template <class IsSpy>
FirstSpyVerdict first_spy(std::vector<SpyObservation> obs, IsSpy&& is_spy) {
  FirstSpyVerdict v;
  std::sort(obs.begin(), obs.end(), [](const SpyObservation& a, const SpyObservation& b) {
    return std::tie(a.at, a.spy, a.from) < std::tie(b.at, b.spy, b.from);
  });
  // Ranking: honest senders by their earliest observed send (ties: lowest index).
  std::vector<std::pair<TimePoint, NodeIndex>> firsts;
  for (const SpyObservation& o : obs) {
    if (is_spy(o.from)) continue;
    const auto it = std::find_if(firsts.begin(), firsts.end(), [&](const auto& f) { return f.second == o.from; });
    if (it == firsts.end()) firsts.emplace_back(o.at, o.from);
  }
  std::sort(firsts.begin(), firsts.end());
  for (const auto& f : firsts) v.ranking.push_back(f.second);
  // The point estimate itself: the sender of the first spy's first receipt.
  for (const SpyObservation& o : obs) {
    if (is_spy(o.from)) continue;
    v.estimate = o.from;
    break;
  }
  // Keep the estimate and the ranking consistent: rank 1 is the estimate.
  if (v.estimate) {
    const auto it = std::find(v.ranking.begin(), v.ranking.end(), *v.estimate);
    if (it != v.ranking.end()) std::rotate(v.ranking.begin(), it, it + 1);
  }
  return v;
}

}  // namespace shardnode::deanon
