#include "shardnode/net/kad_lookup.h"

namespace shardnode::net::kad {

Lookup::Lookup(const Key& target, const PeerId& self, const std::vector<PeerId>& seeds, LookupConfig cfg)
    : target_(target), self_(self), cfg_(cfg) {
  if (cfg_.alpha == 0) cfg_.alpha = 1;
  if (cfg_.k == 0) cfg_.k = 1;
  for (const auto& s : seeds) add(s);
}

void Lookup::add(const PeerId& p) {
  if (p == self_) return;
  const Key d = distance(key_of(p), target_);
  if (by_distance_.count(d)) return;
  if (by_distance_.size() >= cfg_.max_candidates) {
    // Full: a newcomer farther than every candidate is dropped; otherwise the farthest
    // candidate still waiting makes room (one in flight or answered is kept).
    auto last = std::prev(by_distance_.end());
    if (d > last->first) return;
    for (auto it = by_distance_.rbegin(); it != by_distance_.rend(); ++it)
      if (it->second.state == State::waiting || it->second.state == State::failed) {
        by_distance_.erase(std::next(it).base());
        break;
      }
    if (by_distance_.size() >= cfg_.max_candidates) return;
  }
  by_distance_.emplace(d, Candidate{p});
}

bool Lookup::closest_answered() const {
  std::size_t seen = 0;
  for (const auto& [d, c] : by_distance_) {
    if (c.state == State::failed) continue;
    if (c.state != State::answered) return false;
    if (++seen == cfg_.k) break;
  }
  return true;
}

std::vector<PeerId> Lookup::next(TimePoint now) {
  std::vector<PeerId> out;
  if (finished()) return out;
  std::size_t rank = 0;  // among candidates that have not failed
  for (auto& [d, c] : by_distance_) {
    if (in_flight_ >= cfg_.alpha || requests_ >= cfg_.max_requests) break;
    if (c.state == State::failed) continue;
    if (rank++ >= cfg_.k) break;  // beyond the k closest: not worth asking yet
    if (c.state != State::waiting) continue;
    c.state = State::in_flight;
    c.deadline = now + cfg_.request_timeout;
    ++in_flight_;
    ++requests_;
    out.push_back(c.id);
  }
  return out;
}

void Lookup::on_response(const PeerId& from, const std::vector<PeerId>& closer) {
  auto it = by_distance_.find(distance(key_of(from), target_));
  if (it == by_distance_.end() || it->second.state != State::in_flight) return;  // unasked or late: ignored
  it->second.state = State::answered;
  --in_flight_;
  for (const auto& p : closer) add(p);
}

void Lookup::on_failure(const PeerId& from) {
  auto it = by_distance_.find(distance(key_of(from), target_));
  if (it == by_distance_.end() || it->second.state != State::in_flight) return;
  it->second.state = State::failed;
  --in_flight_;
  ++failures_;
}

std::vector<PeerId> Lookup::tick(TimePoint now) {
  std::vector<PeerId> expired;
  for (auto& [d, c] : by_distance_)
    if (c.state == State::in_flight && now >= c.deadline) {
      c.state = State::failed;
      --in_flight_;
      ++failures_;
      expired.push_back(c.id);
    }
  return expired;
}

bool Lookup::finished() const {
  if (in_flight_ > 0) return false;
  if (closest_answered()) return true;
  if (requests_ >= cfg_.max_requests) return true;
  // Nothing left to ask among the k closest that have not failed?
  std::size_t rank = 0;
  for (const auto& [d, c] : by_distance_) {
    if (c.state == State::failed) continue;
    if (rank++ >= cfg_.k) break;
    if (c.state == State::waiting) return false;
  }
  return true;
}

std::vector<PeerId> Lookup::closest() const {
  std::vector<PeerId> out;
  for (const auto& [d, c] : by_distance_) {
    if (c.state != State::answered) continue;
    out.push_back(c.id);
    if (out.size() == cfg_.k) break;
  }
  return out;
}

}  // namespace shardnode::net::kad
