#include "shardnode/net/kad_routing.h"

#include <algorithm>

namespace shardnode::net::kad {

RoutingTable::RoutingTable(const PeerId& self, std::size_t k)
    : self_(self), self_key_(key_of(self)), k_(k == 0 ? 1 : k), buckets_(256) {}

RoutingTable::Update RoutingTable::update(const PeerId& peer, TimePoint now) {
  if (peer == self_) return {Outcome::self, std::nullopt};
  const Key key = key_of(peer);
  auto& b = buckets_[std::min(common_prefix_length(self_key_, key), 255u)];
  for (auto& e : b)
    if (e.id == peer) {
      e.last_seen = std::max(e.last_seen, now);
      return {Outcome::refreshed, std::nullopt};
    }
  if (b.size() >= k_) {
    auto oldest = std::min_element(b.begin(), b.end(), [](const Entry& x, const Entry& y) { return x.last_seen < y.last_seen; });
    return {Outcome::bucket_full, oldest->id};
  }
  b.push_back({peer, key, now});
  ++size_;
  return {Outcome::added, std::nullopt};
}

bool RoutingTable::remove(const PeerId& peer) {
  auto& b = buckets_[std::min(common_prefix_length(self_key_, key_of(peer)), 255u)];
  auto it = std::find_if(b.begin(), b.end(), [&](const Entry& e) { return e.id == peer; });
  if (it == b.end()) return false;
  b.erase(it);
  --size_;
  return true;
}

bool RoutingTable::contains(const PeerId& peer) const {
  if (peer == self_) return false;
  const auto& b = buckets_[std::min(common_prefix_length(self_key_, key_of(peer)), 255u)];
  return std::any_of(b.begin(), b.end(), [&](const Entry& e) { return e.id == peer; });
}

std::vector<PeerId> RoutingTable::closest(const Key& target, std::size_t n) const {
  std::vector<std::pair<Key, const Entry*>> all;
  all.reserve(size_);
  for (const auto& b : buckets_)
    for (const auto& e : b) all.emplace_back(distance(e.key, target), &e);
  const std::size_t m = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(m), all.end(),
                    [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<PeerId> out;
  out.reserve(m);
  for (std::size_t i = 0; i < m; ++i) out.push_back(all[i].second->id);
  return out;
}

unsigned RoutingTable::deepest_bucket() const {
  for (unsigned i = 256; i-- > 0;)
    if (!buckets_[i].empty()) return i;
  return 0;
}

}  // namespace shardnode::net::kad
