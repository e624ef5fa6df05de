#include "shardnode/pubsub/stem.h"

#include <algorithm>
#include <cmath>

#include "shardnode/core/errors.h"

namespace shardnode::pubsub {
namespace {

Error bad(const std::string& what) { return Error{make_error_code(ConfigErrc::out_of_range), "stem: " + what}; }

}  // namespace

Status StemConfig::validate() const {
  if (!(fluff_probability >= 0.0 && fluff_probability <= 1.0)) return bad("fluff probability must be in [0, 1]");
  if (epoch <= Duration{0}) return bad("epoch must be positive");
  if (destinations < 1 || destinations > 8) return bad("destinations must be in [1, 8]");
  if (embargo <= Duration{0} || embargo_jitter_mean < Duration{0})
    return bad("embargo must be positive and its jitter not negative");
  if (own_embargo < embargo) return bad("the source's embargo must be at least the relays' embargo");
  if (max_embargoed < 1 || max_embargoed_bytes < 1) return bad("max_embargoed and its bytes must be at least 1");
  if (max_per_peer_per_heartbeat < 1) return bad("max_per_peer_per_heartbeat must be at least 1");
  return Status::ok_status();
}

bool StemState::has_outbound() const {
  return std::any_of(peers_.begin(), peers_.end(), [](const auto& kv) { return kv.second; });
}

void StemState::add_peer(const PeerId& p, bool outbound) {
  if (unsupported_.count(p)) return;
  peers_[p] = outbound;
  // Mid-epoch, a new outbound peer fills a missing destination slot (a node starts
  // with no peers at all) or replaces an inbound stand-in; an inbound one fills a
  // slot only while we have no outbound peer at all.
  if (!epoch_start_ || std::find(destinations_.begin(), destinations_.end(), p) != destinations_.end()) return;
  if (outbound && unsettled_) {
    // Routes drawn from the few peers met first (the bootnodes): draw them again
    // over every outbound peer we have now. The epoch and our role in it stay.
    draw_routes();
    return;
  }
  auto inbound = std::find_if(destinations_.begin(), destinations_.end(), [&](const PeerId& d) {
    auto it = peers_.find(d);
    return it != peers_.end() && !it->second;
  });
  if (outbound && inbound != destinations_.end()) {
    std::erase_if(edge_map_, [&](const auto& kv) { return kv.second == *inbound; });
    if (own_destination_ == *inbound) own_destination_.reset();
    std::erase_if(own_by_topic_, [&](const auto& kv) { return kv.second == *inbound; });
    *inbound = p;
  } else if (destinations_.size() < cfg_.destinations && (outbound || !has_outbound())) {
    destinations_.push_back(p);
  }
}

void StemState::remove_peer(const PeerId& p) {
  unsupported_.erase(p);
  drop_peer(p);
}

void StemState::peer_unsupported(const PeerId& p) {
  if (!unsupported_.insert(p).second) return;
  ++counters_.unsupported_peers;
  drop_peer(p);
}

void StemState::drop_peer(const PeerId& p) {
  peers_.erase(p);
  std::erase_if(edge_map_, [&](const auto& kv) { return kv.first.first == p || kv.second == p; });
  if (own_destination_ == p) own_destination_.reset();
  std::erase_if(own_by_topic_, [&](const auto& kv) { return kv.second == p; });
  auto it = std::find(destinations_.begin(), destinations_.end(), p);
  if (it == destinations_.end()) return;
  destinations_.erase(it);
  // Replace it for the rest of the epoch: an outbound peer, or an inbound one only
  // when we have no outbound peer at all.
  const bool any_outbound = has_outbound();
  std::vector<PeerId> pool;
  for (const auto& [q, outbound] : peers_)
    if (outbound == any_outbound && std::find(destinations_.begin(), destinations_.end(), q) == destinations_.end())
      pool.push_back(q);
  if (!pool.empty()) destinations_.push_back(pool[static_cast<std::size_t>(rng_.uniform(pool.size()))]);
}

void StemState::maybe_new_epoch(TimePoint now) {
  if (!epoch_start_ || now >= *epoch_start_ + cfg_.epoch) draw_epoch(now);
}

void StemState::draw_epoch(TimePoint now) {
  epoch_start_ = now;
  diffuser_ = rng_.unit() < cfg_.fluff_probability;
  draw_routes();
}

std::size_t StemState::outbound_count() const {
  return static_cast<std::size_t>(std::count_if(peers_.begin(), peers_.end(), [](const auto& kv) { return kv.second; }));
}

void StemState::draw_routes() {
  edge_map_.clear();
  draw_destinations();
  own_destination_.reset();
  own_by_topic_.clear();
  if (!destinations_.empty())
    own_destination_ = destinations_[static_cast<std::size_t>(rng_.uniform(destinations_.size()))];
  unsettled_ = outbound_count() < 2 * cfg_.destinations;
}

void StemState::draw_destinations() {
  destinations_.clear();
  std::vector<PeerId> out, in;
  for (const auto& [p, outbound] : peers_) (outbound ? out : in).push_back(p);
  rng_.shuffle(out);
  rng_.shuffle(in);
  // Outbound peers only, unless we have none (a node nobody accepted a dial from yet).
  const std::vector<PeerId>& pool = !out.empty() ? out : in;
  for (std::size_t i = 0; i < pool.size() && destinations_.size() < cfg_.destinations; ++i)
    destinations_.push_back(pool[i]);
}

const std::vector<PeerId>& StemState::destinations(TimePoint now) {
  maybe_new_epoch(now);
  return destinations_;
}

bool StemState::diffuser(TimePoint now) {
  maybe_new_epoch(now);
  return diffuser_;
}

bool StemState::hold(const MessageId& id, Message msg, std::optional<PeerId> from, bool fluff_on_expiry,
                     TimePoint now) {
  if (auto it = held_.find(id); it != held_.end()) erase(it);
  const bool own = !from;
  auto full = [&] {
    return held_.size() >= cfg_.max_embargoed || held_bytes_ + msg.data.size() > cfg_.max_embargoed_bytes;
  };
  if (full() && !own) return false;
  // Our own message makes room: relayed entries go, soonest deadline first (their
  // upstream holders still guard them).
  while (full()) {
    auto victim = held_.end();
    for (auto it = held_.begin(); it != held_.end(); ++it)
      if (it->second.from && (victim == held_.end() || it->second.deadline < victim->second.deadline)) victim = it;
    if (victim == held_.end()) break;  // all ours: hold it anyway, the caps bound relayed ones
    erase(victim);
  }
  // Exponential jitter: the holders' timers are memoryless, so which of them fires
  // first says little about its position on the path.
  const double mean = std::chrono::duration<double>(cfg_.embargo_jitter_mean).count();
  const double jitter = mean > 0.0 ? -mean * std::log1p(-rng_.unit()) : 0.0;
  const TimePoint deadline = now + (own ? cfg_.own_embargo : cfg_.embargo) +
                            std::chrono::duration_cast<Duration>(std::chrono::duration<double>(jitter));
  held_bytes_ += msg.data.size();
  held_[id] = Held{std::move(msg), std::move(from), fluff_on_expiry, deadline};
  return true;
}

void StemState::erase(std::unordered_map<MessageId, Held, BytesHash>::iterator it) {
  held_bytes_ -= it->second.msg.data.size();
  held_.erase(it);
}

bool StemState::first_return(const MessageId& id) {
  auto it = held_.find(id);
  if (it == held_.end() || it->second.returned) return false;
  it->second.returned = true;
  return true;
}

std::optional<std::optional<PeerId>> StemState::release(const MessageId& id) {
  auto it = held_.find(id);
  if (it == held_.end()) return std::nullopt;
  std::optional<PeerId> from = std::move(it->second.from);
  erase(it);
  return from;
}

std::vector<StemState::Expired> StemState::take_expired(TimePoint now) {
  std::vector<Expired> v;
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->second.deadline <= now) {
      held_bytes_ -= it->second.msg.data.size();
      if (it->second.fluff_on_expiry) v.push_back({it->first, std::move(it->second.msg), !it->second.from});
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  // A fixed order, independent of the hash table's.
  std::sort(v.begin(), v.end(), [](const Expired& a, const Expired& b) { return a.id < b.id; });
  return v;
}

StemState::Admission StemState::admit(const PeerId& from) {
  const std::size_t n = ++received_this_heartbeat_[from];
  if (n <= cfg_.max_per_peer_per_heartbeat) return Admission::ok;
  // A burst of honest traffic funnelled through one edge can pass the limit; only
  // well beyond it is it abuse.
  return n <= 2 * cfg_.max_per_peer_per_heartbeat ? Admission::drop : Admission::abuse;
}

}  // namespace shardnode::pubsub
