// Gossipsub v1.1 peer scoring. See score.h; the semantics follow go-libp2p-pubsub's
// score.go, with the differences noted at the functions concerned.
#include "shardnode/pubsub/score.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "shardnode/core/errors.h"

namespace shardnode::pubsub {

namespace {

using std::chrono::seconds;

Status bad(const std::string& msg) { return Error{make_error_code(ConfigErrc::out_of_range), msg}; }

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool finite(double v) { return std::isfinite(v); }
bool unit_open(double v) { return finite(v) && v > 0.0 && v < 1.0; }

// Multiplies a non-negative counter by decay^ticks and zeroes it below decay_to_zero.
// Equivalent to `ticks` single-interval steps: the counter only shrinks, so it ends
// below the threshold iff some step took it there.
void decay(double& v, double factor, double ticks, double decay_to_zero) {
  if (v == 0.0) return;
  v = unit_open(factor) ? v * std::pow(factor, ticks) : 0.0;
  if (v < decay_to_zero) v = 0.0;
}

void add_capped(double& v, double cap) { v = std::min(v + 1.0, cap); }

}  // namespace

double score_parameter_decay(Duration decay_time, Duration decay_interval, double decay_to_zero) {
  if (decay_interval <= Duration::zero() || decay_time <= Duration::zero()) return 0.0;
  const double ticks = std::chrono::duration<double>(decay_time) / std::chrono::duration<double>(decay_interval);
  return std::pow(decay_to_zero, 1.0 / ticks);
}

// ---------------------------------------------------------------------------
// Parameters

TopicScoreParams TopicScoreParams::defaults() {
  TopicScoreParams p;
  p.topic_weight = 1.0;  // every scored topic counts fully; lower it for chatty, low-value topics
  // P1: +0.01 per second in the mesh, at most +36 after an hour: enough to prefer
  // long-standing mesh peers when pruning an oversubscribed mesh, far too little to
  // offset even one invalid message (P4 below).
  p.time_in_mesh_weight = 0.01;
  p.time_in_mesh_quantum = seconds(1);
  p.time_in_mesh_cap = 3600.0;
  // P2: +1 per first delivery, halving every decay interval (rust-libp2p's decay), so
  // it reflects the last few seconds of useful forwarding; the cap of 100 keeps a
  // peer from banking a large credit it could later spend on misbehaviour.
  p.first_message_deliveries_weight = 1.0;
  p.first_message_deliveries_decay = 0.5;
  p.first_message_deliveries_cap = 100.0;
  // P3/P3b: off. The threshold must match a topic's real message rate, or healthy mesh
  // peers of a quiet topic get pruned for "under-delivering". The other values are
  // rust-libp2p's, as a starting point once a deployment sets the weights.
  p.mesh_message_deliveries_weight = 0.0;
  p.mesh_message_deliveries_decay = 0.5;
  p.mesh_message_deliveries_cap = 100.0;
  p.mesh_message_deliveries_threshold = 20.0;
  p.mesh_message_deliveries_window = std::chrono::milliseconds(10);
  p.mesh_message_deliveries_activation = seconds(5);
  p.mesh_failure_penalty_weight = 0.0;
  p.mesh_failure_penalty_decay = 0.5;
  // P4: -100 * invalid^2. One invalid message puts a newcomer below the default
  // graylist threshold (-80); two put even a peer with maximal P1+P2 (+136) there.
  // Decay 0.3 per interval (rust-libp2p): a peer that stops sending junk recovers
  // within a few seconds, so graylisting tracks ongoing spam, not history.
  p.invalid_message_deliveries_weight = -100.0;
  p.invalid_message_deliveries_decay = 0.3;
  return p;
}

Status TopicScoreParams::validate() const {
  if (!finite(topic_weight) || topic_weight < 0.0) return bad("topic_weight must be >= 0 (got " + num(topic_weight) + ")");
  // P1
  if (time_in_mesh_quantum <= Duration::zero()) return bad("time_in_mesh_quantum must be positive");
  if (!finite(time_in_mesh_weight) || time_in_mesh_weight < 0.0)
    return bad("time_in_mesh_weight must be >= 0, 0 disables P1 (got " + num(time_in_mesh_weight) + ")");
  if (time_in_mesh_weight != 0.0 && (!finite(time_in_mesh_cap) || time_in_mesh_cap <= 0.0))
    return bad("time_in_mesh_cap must be positive (got " + num(time_in_mesh_cap) + ")");
  // P2
  if (!finite(first_message_deliveries_weight) || first_message_deliveries_weight < 0.0)
    return bad("first_message_deliveries_weight must be >= 0, 0 disables P2 (got " +
               num(first_message_deliveries_weight) + ")");
  if (first_message_deliveries_weight != 0.0 && !unit_open(first_message_deliveries_decay))
    return bad("first_message_deliveries_decay must be in (0, 1) (got " + num(first_message_deliveries_decay) + ")");
  if (first_message_deliveries_weight != 0.0 &&
      (!finite(first_message_deliveries_cap) || first_message_deliveries_cap <= 0.0))
    return bad("first_message_deliveries_cap must be positive (got " + num(first_message_deliveries_cap) + ")");
  // P3
  if (!finite(mesh_message_deliveries_weight) || mesh_message_deliveries_weight > 0.0)
    return bad("mesh_message_deliveries_weight must be <= 0, 0 disables P3 (got " +
               num(mesh_message_deliveries_weight) + ")");
  const bool p3 = mesh_message_deliveries_weight != 0.0;
  if (p3 && !unit_open(mesh_message_deliveries_decay))
    return bad("mesh_message_deliveries_decay must be in (0, 1) (got " + num(mesh_message_deliveries_decay) + ")");
  if (p3 && (!finite(mesh_message_deliveries_cap) || mesh_message_deliveries_cap <= 0.0))
    return bad("mesh_message_deliveries_cap must be positive (got " + num(mesh_message_deliveries_cap) + ")");
  if (p3 && (!finite(mesh_message_deliveries_threshold) || mesh_message_deliveries_threshold <= 0.0))
    return bad("mesh_message_deliveries_threshold must be positive (got " + num(mesh_message_deliveries_threshold) +
               ")");
  if (mesh_message_deliveries_window < Duration::zero()) return bad("mesh_message_deliveries_window must be >= 0");
  if (p3 && mesh_message_deliveries_activation < seconds(1))
    return bad("mesh_message_deliveries_activation must be at least 1s");
  // P3b
  if (!finite(mesh_failure_penalty_weight) || mesh_failure_penalty_weight > 0.0)
    return bad("mesh_failure_penalty_weight must be <= 0, 0 disables P3b (got " + num(mesh_failure_penalty_weight) +
               ")");
  if (mesh_failure_penalty_weight != 0.0 && !unit_open(mesh_failure_penalty_decay))
    return bad("mesh_failure_penalty_decay must be in (0, 1) (got " + num(mesh_failure_penalty_decay) + ")");
  // P4
  if (!finite(invalid_message_deliveries_weight) || invalid_message_deliveries_weight > 0.0)
    return bad("invalid_message_deliveries_weight must be <= 0, 0 disables P4 (got " +
               num(invalid_message_deliveries_weight) + ")");
  if (!unit_open(invalid_message_deliveries_decay))
    return bad("invalid_message_deliveries_decay must be in (0, 1) (got " + num(invalid_message_deliveries_decay) +
               ")");
  return {};
}

PeerScoreParams PeerScoreParams::defaults() {
  PeerScoreParams p;
  p.topic_score_cap = 3600.0;  // rust-libp2p: positive topic scores can't swamp P5-P7
  p.app_specific_weight = 1.0;  // the hook's value counts as score points directly
  p.app_specific_score = [](const PeerId&) { return 0.0; };
  // P6 (rust-libp2p): up to 10 peers per address are free; the 11th costs each of them
  // -5, the 14th -80 (graylisted). Onion peers (empty key) are exempt.
  p.ip_colocation_factor_weight = -5.0;
  p.ip_colocation_factor_threshold = 10;
  // P7 (rust-libp2p): -10 * penalty^2, decaying 0.2 per interval, so a burst of router
  // penalties is felt immediately and forgotten within a few seconds.
  p.behaviour_penalty_weight = -10.0;
  p.behaviour_penalty_threshold = 0.0;
  p.behaviour_penalty_decay = 0.2;
  p.decay_interval = seconds(1);
  p.decay_to_zero = 0.01;  // go's default (rust uses 0.1)
  p.retain_score = seconds(3600);
  return p;
}

Status PeerScoreParams::validate() const {
  for (const auto& [topic, tp] : topics) {
    if (Status s = tp.validate(); !s) return bad("topic '" + topic + "': " + s.error().message);
  }
  if (!finite(topic_score_cap) || topic_score_cap < 0.0)
    return bad("topic_score_cap must be >= 0, 0 for no cap (got " + num(topic_score_cap) + ")");
  if (!app_specific_score) return bad("app_specific_score is missing (use a function returning 0 to disable P5)");
  if (!finite(app_specific_weight)) return bad("app_specific_weight must be finite");
  if (!finite(ip_colocation_factor_weight) || ip_colocation_factor_weight > 0.0)
    return bad("ip_colocation_factor_weight must be <= 0, 0 disables P6 (got " + num(ip_colocation_factor_weight) +
               ")");
  if (ip_colocation_factor_weight != 0.0 && ip_colocation_factor_threshold < 1)
    return bad("ip_colocation_factor_threshold must be at least 1");
  if (!finite(behaviour_penalty_weight) || behaviour_penalty_weight > 0.0)
    return bad("behaviour_penalty_weight must be <= 0, 0 disables P7 (got " + num(behaviour_penalty_weight) + ")");
  if (behaviour_penalty_weight != 0.0 && !unit_open(behaviour_penalty_decay))
    return bad("behaviour_penalty_decay must be in (0, 1) (got " + num(behaviour_penalty_decay) + ")");
  if (!finite(behaviour_penalty_threshold) || behaviour_penalty_threshold < 0.0)
    return bad("behaviour_penalty_threshold must be >= 0 (got " + num(behaviour_penalty_threshold) + ")");
  if (decay_interval < seconds(1)) return bad("decay_interval must be at least 1s");
  if (!unit_open(decay_to_zero)) return bad("decay_to_zero must be in (0, 1) (got " + num(decay_to_zero) + ")");
  if (retain_score < Duration::zero()) return bad("retain_score must be >= 0");
  if (seen_ttl <= Duration::zero()) return bad("seen_ttl must be positive");
  if (max_delivery_records < 1) return bad("max_delivery_records must be at least 1");
  return {};
}

PeerScoreThresholds PeerScoreThresholds::defaults() {
  // rust-libp2p's defaults. With the default P4 weight one invalid message (-100)
  // crosses all three negative thresholds.
  return PeerScoreThresholds{-10.0, -50.0, -80.0, 10.0, 20.0};
}

Status PeerScoreThresholds::validate() const {
  if (!finite(gossip) || gossip > 0.0) return bad("gossip threshold must be <= 0 (got " + num(gossip) + ")");
  if (!finite(publish) || publish > 0.0 || publish > gossip)
    return bad("publish threshold must be <= 0 and <= the gossip threshold (got " + num(publish) + ")");
  if (!finite(graylist) || graylist > 0.0 || graylist > publish)
    return bad("graylist threshold must be <= 0 and <= the publish threshold (got " + num(graylist) + ")");
  if (!finite(accept_px) || accept_px < 0.0) return bad("accept_px threshold must be >= 0 (got " + num(accept_px) + ")");
  if (!finite(opportunistic_graft) || opportunistic_graft < 0.0)
    return bad("opportunistic_graft threshold must be >= 0 (got " + num(opportunistic_graft) + ")");
  return {};
}

std::string describe(const ScoreBreakdown& b) {
  if (!b.known) return "score 0 (unknown peer)";
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(2);
  os << "score " << b.total << " =";
  const std::pair<const char*, double> terms[] = {{"p1", b.p1}, {"p2", b.p2}, {"p3", b.p3},
                                                  {"p3b", b.p3b}, {"p4", b.p4}, {"topic-cap", b.topic_cap_adjustment},
                                                  {"p5", b.p5}, {"p6", b.p6}, {"p7", b.p7}};
  for (const auto& [name, v] : terms) {
    if (v != 0.0) os << ' ' << name << ' ' << v;
  }
  if (b.p6 != 0.0) os << " (" << b.colocated_peers << " peers share its address)";
  if (b.p7 != 0.0) os << " (behaviour penalty " << b.behaviour_penalty << ")";
  for (const auto& t : b.topics) {
    if (t.total == 0.0) continue;
    os << " [" << t.topic << ':';
    if (t.invalid_message_deliveries != 0.0) os << " invalid " << t.invalid_message_deliveries;
    if (t.first_message_deliveries != 0.0) os << " first " << t.first_message_deliveries;
    if (t.mesh_deliveries_active) os << " mesh " << t.mesh_message_deliveries;
    if (t.mesh_failure_penalty != 0.0) os << " mesh-failures " << t.mesh_failure_penalty;
    os << " -> " << t.total << ']';
  }
  if (!b.connected) os << " (disconnected, retained)";
  return os.str();
}

// ---------------------------------------------------------------------------
// PeerScore

PeerScore::PeerScore(PeerScoreParams params) : params_(std::move(params)) {
  if (params_.decay_interval <= Duration::zero()) params_.decay_interval = seconds(1);  // never divide by 0
}

Result<PeerScore> PeerScore::create(PeerScoreParams params) {
  if (Status s = params.validate(); !s) return s.error();
  return PeerScore(std::move(params));
}

Status PeerScore::set_topic_params(const TopicId& topic, TopicScoreParams p) {
  if (Status s = p.validate(); !s) return bad("topic '" + topic + "': " + s.error().message);
  params_.topics[topic] = p;
  for (auto& [peer, st] : peers_) {
    auto it = st.topics.find(topic);
    if (it == st.topics.end()) continue;
    it->second.first_message_deliveries = std::min(it->second.first_message_deliveries, p.first_message_deliveries_cap);
    it->second.mesh_message_deliveries = std::min(it->second.mesh_message_deliveries, p.mesh_message_deliveries_cap);
  }
  return {};
}

// A record whose retention has run out is dead even before refresh() purges it.
const PeerScore::PeerStats* PeerScore::live(const PeerId& peer, TimePoint now) const {
  auto it = peers_.find(peer);
  if (it == peers_.end() || (!it->second.connected && now > it->second.expire)) return nullptr;
  return &it->second;
}

bool PeerScore::known(const PeerId& peer) const { return peers_.count(peer) != 0; }

bool PeerScore::connected(const PeerId& peer) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second.connected;
}

PeerScore::TopicStats* PeerScore::topic_stats(PeerStats& st, const TopicId& topic) {
  if (!params_.topics.count(topic)) return nullptr;  // unscored topics are never tracked
  return &st.topics[topic];
}

// Unlike go, whose flag is set at refresh and survives a prune, P3 is active only
// while the peer is in the mesh and has been there longer than the activation time.
bool PeerScore::mesh_deliveries_active(const TopicStats& ts, const TopicScoreParams& tp, TimePoint now) const {
  return ts.in_mesh && now - ts.graft_time > tp.mesh_message_deliveries_activation;
}

void PeerScore::apply_mesh_failure(TopicStats& ts, const TopicScoreParams& tp, TimePoint now) {
  if (mesh_deliveries_active(ts, tp, now) && ts.mesh_message_deliveries < tp.mesh_message_deliveries_threshold) {
    const double deficit = tp.mesh_message_deliveries_threshold - ts.mesh_message_deliveries;
    ts.mesh_failure_penalty += deficit * deficit;
  }
}

void PeerScore::uncount_colocation(const std::string& key) {
  if (key.empty()) return;
  auto it = colocation_counts_.find(key);
  if (it == colocation_counts_.end()) return;
  if (--it->second == 0) colocation_counts_.erase(it);
}

void PeerScore::forget(std::map<PeerId, PeerStats>::iterator it) {
  if (it->second.connected) {
    uncount_colocation(it->second.colocation_key);
  } else {
    retained_.erase({it->second.expire, it->first});
  }
  peers_.erase(it);
}

void PeerScore::add_peer(const PeerId& peer, const std::string& colocation_key, TimePoint now) {
  auto it = peers_.find(peer);
  if (it != peers_.end() && !it->second.connected && now > it->second.expire) {
    forget(it);  // retention ran out: start afresh
    it = peers_.end();
  }
  if (it == peers_.end()) it = peers_.emplace(peer, PeerStats{}).first;
  PeerStats& st = it->second;  // a fresh record is connected with an empty key
  if (st.connected) {
    if (st.colocation_key == colocation_key) return;
    uncount_colocation(st.colocation_key);
  } else {
    retained_.erase({st.expire, peer});  // a retained peer is back, with its counters
    st.connected = true;
  }
  st.colocation_key = colocation_key;
  if (!colocation_key.empty()) ++colocation_counts_[colocation_key];
}

// go retains scores <= 0; we retain only negative ones: a zero score carries nothing
// worth remembering, and retaining it would let identity churn fill the table.
void PeerScore::remove_peer(const PeerId& peer, TimePoint now) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.connected) return;
  PeerStats& st = it->second;
  if (compute(peer, st, now, nullptr) >= 0.0 || params_.retain_score <= Duration::zero() ||
      params_.max_retained_peers == 0) {
    forget(it);
    return;
  }
  for (auto& [topic, ts] : st.topics) {
    ts.first_message_deliveries = 0.0;
    if (auto tp = params_.topics.find(topic); tp != params_.topics.end()) apply_mesh_failure(ts, tp->second, now);
    ts.in_mesh = false;
  }
  uncount_colocation(st.colocation_key);  // retained peers neither count towards nor receive P6
  st.connected = false;
  st.expire = now + params_.retain_score;
  retained_.emplace(st.expire, peer);
  while (retained_.size() > params_.max_retained_peers) forget(peers_.find(retained_.begin()->second));
}

void PeerScore::graft(const PeerId& peer, const TopicId& topic, TimePoint now) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || !it->second.connected) return;
  TopicStats* ts = topic_stats(it->second, topic);
  if (!ts) return;
  ts->in_mesh = true;
  ts->graft_time = now;
}

void PeerScore::prune(const PeerId& peer, const TopicId& topic, TimePoint now) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  TopicStats* ts = topic_stats(it->second, topic);
  if (!ts) return;
  apply_mesh_failure(*ts, params_.topics.at(topic), now);  // sticky P3b
  ts->in_mesh = false;
}

void PeerScore::mark_invalid(const PeerId& peer, const TopicId& topic) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  if (TopicStats* ts = topic_stats(it->second, topic)) ts->invalid_message_deliveries += 1.0;
}

void PeerScore::mark_first(const PeerId& peer, const TopicId& topic) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  TopicStats* ts = topic_stats(it->second, topic);
  if (!ts) return;
  const TopicScoreParams& tp = params_.topics.at(topic);
  add_capped(ts->first_message_deliveries, tp.first_message_deliveries_cap);
  if (ts->in_mesh) add_capped(ts->mesh_message_deliveries, tp.mesh_message_deliveries_cap);
}

// A near-first delivery: during validation (`validated` empty), or within the P3
// window after it.
void PeerScore::mark_near_first(const PeerId& peer, const TopicId& topic, TimePoint now,
                                std::optional<TimePoint> validated) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  TopicStats* ts = topic_stats(it->second, topic);
  if (!ts || !ts->in_mesh) return;
  const TopicScoreParams& tp = params_.topics.at(topic);
  if (validated && now - *validated > tp.mesh_message_deliveries_window) return;
  add_capped(ts->mesh_message_deliveries, tp.mesh_message_deliveries_cap);
}

void PeerScore::expire_records(TimePoint now) {
  while (!delivery_expiry_.empty() && now > delivery_expiry_.front().first) {
    deliveries_.erase(delivery_expiry_.front().second);
    delivery_expiry_.pop_front();
  }
}

// Finds or starts the record for `id` (go's getRecord). Each record has exactly one
// entry in delivery_expiry_, so popping the oldest entries bounds the table.
PeerScore::DeliveryRecord& PeerScore::record(const MessageId& id, TimePoint now) {
  expire_records(now);
  auto [it, inserted] = deliveries_.try_emplace(id);
  if (inserted) {
    it->second.first_seen = now;
    delivery_expiry_.emplace_back(now + params_.seen_ttl, id);
    while (deliveries_.size() > std::max<std::size_t>(params_.max_delivery_records, 1)) {
      deliveries_.erase(delivery_expiry_.front().second);  // never `it`: it is the newest
      delivery_expiry_.pop_front();
    }
  }
  return it->second;
}

void PeerScore::validate_message(const MessageId& id, const TopicId&, TimePoint now) { (void)record(id, now); }

void PeerScore::deliver_message(const PeerId& from, const MessageId& id, const TopicId& topic, TimePoint now) {
  DeliveryRecord& rec = record(id, now);
  // go credits P2 before this check; a second deliver for one message is a router bug
  // we would rather not reward.
  if (rec.status != DeliveryStatus::unknown) return;
  mark_first(from, topic);
  rec.status = DeliveryStatus::valid;
  rec.validated = now;
  // Mesh peers that sent it while it was being validated delivered near-first.
  for (const PeerId& p : rec.peers) {
    if (p != from) mark_near_first(p, topic, now, std::nullopt);
  }
}

void PeerScore::reject_message(const PeerId& from, const MessageId& id, const TopicId& topic, RejectReason reason,
                               TimePoint now) {
  switch (reason) {
    case RejectReason::signature_policy:
    case RejectReason::self_origin:
      mark_invalid(from, topic);  // clearly invalid, but its id is not worth tracking
      return;
    case RejectReason::queue_full:   // never validated: we don't know anything
    case RejectReason::blacklisted:  // dropped by policy, not by validation
      return;
    case RejectReason::invalid:
    case RejectReason::ignored:
    case RejectReason::throttled:
      break;
  }
  DeliveryRecord& rec = record(id, now);
  if (rec.status != DeliveryStatus::unknown) return;
  if (reason == RejectReason::invalid) {
    rec.status = DeliveryStatus::invalid;
    mark_invalid(from, topic);
    for (const PeerId& p : rec.peers) mark_invalid(p, topic);  // they forwarded it too
  } else {
    rec.status = reason == RejectReason::ignored ? DeliveryStatus::ignored : DeliveryStatus::throttled;
  }
  rec.peers.clear();  // no longer needed
}

void PeerScore::duplicate_message(const PeerId& from, const MessageId& id, const TopicId& topic, TimePoint now) {
  if (!peers_.count(from)) return;  // nothing to credit or penalise; keeps records small
  DeliveryRecord& rec = record(id, now);
  if (rec.peers.count(from)) return;  // each peer counts once per message
  switch (rec.status) {
    case DeliveryStatus::unknown:  // being validated: settle at deliver/reject
      rec.peers.insert(from);
      break;
    case DeliveryStatus::valid:
      rec.peers.insert(from);
      mark_near_first(from, topic, now, rec.validated);
      break;
    case DeliveryStatus::invalid:  // every copy of an invalid message counts against its sender
      mark_invalid(from, topic);
      break;
    case DeliveryStatus::ignored:
    case DeliveryStatus::throttled:
      break;
  }
}

void PeerScore::add_penalty(const PeerId& peer, double count) {
  if (!finite(count) || count <= 0.0) return;
  auto it = peers_.find(peer);
  if (it != peers_.end()) it->second.behaviour_penalty += count;
}

void PeerScore::refresh(TimePoint now) {
  expire_records(now);
  while (!retained_.empty() && now > retained_.begin()->first) forget(peers_.find(retained_.begin()->second));

  if (!last_decay_) {
    last_decay_ = now;  // the decay clock starts here
    return;
  }
  if (now <= *last_decay_) return;
  const auto ticks = (now - *last_decay_) / params_.decay_interval;  // whole intervals only
  if (ticks <= 0) return;
  *last_decay_ += ticks * params_.decay_interval;
  const double n = static_cast<double>(ticks);
  const double dz = params_.decay_to_zero;
  for (auto& [peer, st] : peers_) {
    // Retained peers don't decay (go): disconnecting must not launder a bad score.
    if (!st.connected) continue;
    for (auto& [topic, ts] : st.topics) {
      auto tp = params_.topics.find(topic);
      if (tp == params_.topics.end()) continue;
      decay(ts.first_message_deliveries, tp->second.first_message_deliveries_decay, n, dz);
      decay(ts.mesh_message_deliveries, tp->second.mesh_message_deliveries_decay, n, dz);
      decay(ts.mesh_failure_penalty, tp->second.mesh_failure_penalty_decay, n, dz);
      decay(ts.invalid_message_deliveries, tp->second.invalid_message_deliveries_decay, n, dz);
    }
    decay(st.behaviour_penalty, params_.behaviour_penalty_decay, n, dz);
  }
}

double PeerScore::score(const PeerId& peer, TimePoint now) const {
  const PeerStats* st = live(peer, now);
  return st ? compute(peer, *st, now, nullptr) : 0.0;
}

ScoreBreakdown PeerScore::breakdown(const PeerId& peer, TimePoint now) const {
  ScoreBreakdown b;
  if (const PeerStats* st = live(peer, now)) compute(peer, *st, now, &b);
  return b;
}

// The score function; fills `out` (if given) with every term.
double PeerScore::compute(const PeerId& peer, const PeerStats& st, TimePoint now, ScoreBreakdown* out) const {
  double topics = 0.0;
  for (const auto& [topic, ts] : st.topics) {
    auto tpi = params_.topics.find(topic);
    if (tpi == params_.topics.end()) continue;
    const TopicScoreParams& tp = tpi->second;
    const double w = tp.topic_weight;

    // P1: whole quanta in the mesh, computed from `now` (go uses the value cached at
    // the last refresh, up to one decay interval stale).
    const Duration in_mesh = ts.in_mesh ? std::max(Duration::zero(), now - ts.graft_time) : Duration::zero();
    double p1 = 0.0;
    if (ts.in_mesh && tp.time_in_mesh_quantum > Duration::zero()) {
      p1 = std::min(static_cast<double>(in_mesh / tp.time_in_mesh_quantum), tp.time_in_mesh_cap) *
           tp.time_in_mesh_weight;
    }
    const double p2 = ts.first_message_deliveries * tp.first_message_deliveries_weight;
    const bool active = mesh_deliveries_active(ts, tp, now);
    double p3 = 0.0;
    if (active && ts.mesh_message_deliveries < tp.mesh_message_deliveries_threshold) {
      const double deficit = tp.mesh_message_deliveries_threshold - ts.mesh_message_deliveries;
      p3 = deficit * deficit * tp.mesh_message_deliveries_weight;
    }
    const double p3b = ts.mesh_failure_penalty * tp.mesh_failure_penalty_weight;
    const double p4 =
        ts.invalid_message_deliveries * ts.invalid_message_deliveries * tp.invalid_message_deliveries_weight;
    const double total = (p1 + p2 + p3 + p3b + p4) * w;
    topics += total;

    if (out) {
      out->p1 += p1 * w;
      out->p2 += p2 * w;
      out->p3 += p3 * w;
      out->p3b += p3b * w;
      out->p4 += p4 * w;
      out->topics.push_back(TopicScoreBreakdown{topic, ts.in_mesh, in_mesh, active, ts.first_message_deliveries,
                                                ts.mesh_message_deliveries, ts.mesh_failure_penalty,
                                                ts.invalid_message_deliveries, p1 * w, p2 * w, p3 * w, p3b * w,
                                                p4 * w, total});
    }
  }
  // The cap limits only what topics add; penalties are never capped.
  const double capped = params_.topic_score_cap > 0.0 ? std::min(topics, params_.topic_score_cap) : topics;

  // P5. A non-finite hook value would make every threshold comparison false.
  double app = params_.app_specific_score ? params_.app_specific_score(peer) : 0.0;
  if (!finite(app)) app = 0.0;
  const double p5 = app * params_.app_specific_weight;

  // P6: only connected peers with a non-whitelisted key.
  std::size_t colocated = 0;
  double p6 = 0.0;
  if (st.connected && !st.colocation_key.empty() && !params_.ip_colocation_factor_whitelist.count(st.colocation_key)) {
    if (auto c = colocation_counts_.find(st.colocation_key); c != colocation_counts_.end()) colocated = c->second;
    if (colocated > params_.ip_colocation_factor_threshold) {
      const double surplus = static_cast<double>(colocated - params_.ip_colocation_factor_threshold);
      p6 = surplus * surplus * params_.ip_colocation_factor_weight;
    }
  }

  // P7
  double p7 = 0.0;
  if (st.behaviour_penalty > params_.behaviour_penalty_threshold) {
    const double excess = st.behaviour_penalty - params_.behaviour_penalty_threshold;
    p7 = excess * excess * params_.behaviour_penalty_weight;
  }

  const double score = capped + p5 + p6 + p7;
  if (out) {
    out->known = true;
    out->connected = st.connected;
    out->total = score;
    out->topic_cap_adjustment = capped - topics;
    out->p5 = p5;
    out->p6 = p6;
    out->p7 = p7;
    out->app_specific_score = app;
    out->colocated_peers = colocated;
    out->behaviour_penalty = st.behaviour_penalty;
  }
  return score;
}

}  // namespace shardnode::pubsub
