#include "shardnode/pubsub/inbound_gate.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "shardnode/pubsub/codec.h"

namespace shardnode::pubsub {

namespace {
double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

std::size_t inbound_entries(const Rpc& rpc) {
  const auto& c = rpc.control;
  return std::max<std::size_t>(1, rpc.publish.size() + rpc.subscriptions.size() + c.ihave.size() + c.iwant.size() +
                                      c.graft.size() + c.prune.size() + c.idontwant.size());
}

Status InboundLimits::validate() const {
  auto bad = [](std::string m) { return Error{PubsubErrc::malformed, "inbound limits: " + std::move(m)}; };
  for (double r : {peer_rpcs_per_s, peer_messages_per_s, peer_bytes_per_s, node_rpcs_per_s, node_messages_per_s,
                   node_bytes_per_s})
    if (!(r > 0.0) || !std::isfinite(r)) return bad("every rate must be positive");
  if (burst <= Duration::zero()) return bad("burst must be positive");
  if (!(start_fraction > 0.0 && start_fraction <= 1.0)) return bad("start_fraction must be in (0, 1]");
  if (grow_after <= Duration::zero()) return bad("grow_after must be positive");
  if (!(admit_per_minute > 0.0) || !std::isfinite(admit_per_minute)) return bad("admit_per_minute must be positive");
  if (!(admit_burst >= 1.0) || !std::isfinite(admit_burst)) return bad("admit_burst must be at least 1");
  return {};
}

void InboundGate::Bucket::refill(TimePoint now, Duration burst) {
  if (now > at) {
    tokens = std::min(rate * seconds(burst), tokens + rate * seconds(now - at));
    at = now;
  }
}

Duration InboundGate::Bucket::until_full_enough() const {
  if (tokens >= 0.0 || rate <= 0.0) return Duration::zero();
  // Round up: at the returned time the bucket is back at zero, not just short of it.
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens / rate)) + Duration(1);
}

InboundGate::InboundGate(InboundLimits limits) : limits_(limits) {
  const double b = seconds(limits_.burst);
  node_rpcs_ = {limits_.node_rpcs_per_s * b, limits_.node_rpcs_per_s, {}};
  node_messages_ = {limits_.node_messages_per_s * b, limits_.node_messages_per_s, {}};
  node_bytes_ = {limits_.node_bytes_per_s * b, limits_.node_bytes_per_s, {}};
  admit_ = {limits_.admit_burst, limits_.admit_per_minute / 60.0, {}};
}

void InboundGate::set_standing(Peer& p, double s, TimePoint now) {
  p.standing = std::clamp(s, limits_.start_fraction, 1.0);
  p.standing_since = now;
  // A lower rate keeps the tokens the peer has (capped at the new burst); a higher
  // one lets it refill faster from here.
  for (auto [bucket, full] : {std::pair{&p.rpcs, limits_.peer_rpcs_per_s}, std::pair{&p.messages, limits_.peer_messages_per_s},
                              std::pair{&p.bytes, limits_.peer_bytes_per_s}}) {
    bucket->refill(now, limits_.burst);
    bucket->rate = full * p.standing;
    bucket->tokens = std::min(bucket->tokens, bucket->rate * seconds(limits_.burst));
  }
}

bool InboundGate::admit(const PeerId& peer, bool outbound, TimePoint now) {
  if (!limits_.enabled) return true;
  if (!outbound) {
    // The admission bucket's capacity is admit_burst tokens, not a rate times burst.
    if (now > admit_.at) {
      admit_.tokens = std::min(limits_.admit_burst, admit_.tokens + admit_.rate * seconds(now - admit_.at));
      admit_.at = now;
    }
    if (admit_.tokens < 1.0) {
      ++counters_.refused;
      return false;
    }
    admit_.tokens -= 1.0;
    ++counters_.admitted;
  }
  auto [it, fresh] = peers_.try_emplace(peer);
  if (fresh) {
    Peer& p = it->second;
    for (Bucket* b : {&p.rpcs, &p.messages, &p.bytes}) b->at = now;
    set_standing(p, limits_.start_fraction, now);
    // A new peer starts with a full (start-sized) burst.
    p.rpcs.tokens = p.rpcs.rate * seconds(limits_.burst);
    p.messages.tokens = p.messages.rate * seconds(limits_.burst);
    p.bytes.tokens = p.bytes.rate * seconds(limits_.burst);
  }
  return true;
}

void InboundGate::remove(const PeerId& peer) { peers_.erase(peer); }

Duration InboundGate::wait_peer(Peer& p, TimePoint now) {
  Duration w = Duration::zero();
  for (Bucket* b : {&p.rpcs, &p.messages, &p.bytes, &node_rpcs_, &node_messages_, &node_bytes_}) {
    b->refill(now, limits_.burst);
    w = std::max(w, b->until_full_enough());
  }
  return w;
}

Duration InboundGate::wait(const PeerId& peer, TimePoint now) {
  if (!limits_.enabled) return Duration::zero();
  auto it = peers_.find(peer);
  if (it == peers_.end()) return Duration::zero();
  return wait_peer(it->second, now);
}

Duration InboundGate::charge(const PeerId& peer, std::size_t bytes, std::size_t messages, TimePoint now) {
  if (!limits_.enabled) return Duration::zero();
  auto it = peers_.find(peer);
  if (it == peers_.end()) return Duration::zero();
  Peer& p = it->second;
  wait_peer(p, now);  // refill first
  p.rpcs.tokens -= 1.0;
  node_rpcs_.tokens -= 1.0;
  p.messages.tokens -= static_cast<double>(messages);
  node_messages_.tokens -= static_cast<double>(messages);
  p.bytes.tokens -= static_cast<double>(bytes);
  node_bytes_.tokens -= static_cast<double>(bytes);
  const Duration w = wait_peer(p, now);
  if (w > Duration::zero()) ++counters_.throttled;
  return w;
}

void InboundGate::heartbeat(TimePoint now, const std::function<double(const PeerId&)>& score) {
  if (!limits_.enabled) return;
  for (auto& [id, p] : peers_) {
    if (score(id) < 0.0) {
      if (p.standing > limits_.start_fraction) {
        ++counters_.demoted;
        set_standing(p, limits_.start_fraction, now);
      } else {
        p.standing_since = now;  // the clock for growing restarts once it is back at >= 0
      }
    } else if (p.standing < 1.0 && now - p.standing_since >= limits_.grow_after) {
      set_standing(p, p.standing * 2.0, now);
    }
  }
}

double InboundGate::standing(const PeerId& peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0.0 : it->second.standing;
}

}  // namespace shardnode::pubsub
