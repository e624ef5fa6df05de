// Router: peer bookkeeping, RPC intake, messages, validation, forwarding, control
// messages. Heartbeat work (mesh upkeep, gossip, promises, flags) is in heartbeat.cpp.
#include "router_state.h"

#include <sodium.h>

#include <algorithm>

#include "shardnode/core/log.h"
#include "shardnode/pubsub/codec.h"

namespace shardnode::pubsub {

MessageId default_message_id(const Message& m) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::uint8_t len[8];
  std::uint64_t n = m.topic.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(n >> (8 * i));
  crypto_hash_sha256_update(&st, len, sizeof len);
  crypto_hash_sha256_update(&st, reinterpret_cast<const std::uint8_t*>(m.topic.data()), m.topic.size());
  crypto_hash_sha256_update(&st, m.data.data(), m.data.size());
  std::uint8_t out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, out);
  return MessageId(out, out + 20);
}

Status GossipsubConfig::validate() const {
  auto bad = [](std::string m) { return Error{PubsubErrc::malformed, "gossipsub config: " + std::move(m)}; };
  if (!(d_lo <= d && d <= d_hi)) return bad("need d_lo <= d <= d_hi");
  if (d_score > d) return bad("need d_score <= d");
  if (!(d_out < d_lo && d_out <= d / 2)) return bad("need d_out < d_lo and d_out <= d/2");
  if (mcache_gossip > mcache_len || mcache_len == 0) return bad("need 0 < mcache_gossip <= mcache_len");
  if (heartbeat_interval <= Duration::zero()) return bad("heartbeat_interval must be positive");
  if (gossip_factor < 0.0 || gossip_factor > 1.0) return bad("gossip_factor must be in [0, 1]");
  if (!message_id) return bad("message_id function missing");
  if (graft_accept_limit != 0 && !(d <= graft_accept_limit && graft_accept_limit <= d_hi))
    return bad("need d <= graft_accept_limit <= d_hi (or 0)");
  if (latency.alpha <= 0.0 || latency.alpha > 1.0 || latency.swap_ratio < 1.0 || latency.swap_margin < Duration::zero())
    return bad("latency needs 0 < alpha <= 1, swap_ratio >= 1 and swap_margin >= 0");
  if (choke.enabled && (choke.unchoked == 0 || choke.alpha <= 0.0 || choke.alpha > 1.0))
    return bad("choke needs unchoked >= 1 and 0 < alpha <= 1");
  if (stem.enabled)
    if (Status st = stem.validate(); !st) return st;
  return {};
}

Router::Router(PeerId self, GossipsubConfig cfg, Random& rng, PeerScoreParams score_params,
               PeerScoreThresholds thresholds)
    : self_(std::move(self)),
      cfg_(std::move(cfg)),
      rng_(rng),
      thresholds_(thresholds),
      mcache_(cfg_.mcache_len, cfg_.mcache_gossip),
      seen_(cfg_.seen_ttl) {
  if (cfg_.scoring) score_ = std::make_unique<PeerScore>(std::move(score_params));
  if (cfg_.stem.enabled) stem_ = std::make_unique<StemState>(cfg_.stem, rng_);
}

Router::~Router() = default;

Router::PeerState* Router::peer(const PeerId& p) {
  auto it = peers_.find(p);
  return it == peers_.end() ? nullptr : it->second.get();
}

bool Router::is_gossipsub(const PeerState& ps) const { return ps.proto != PeerProtocol::floodsub; }

double Router::peer_score(const PeerId& p, TimePoint now) const { return score_ ? score_->score(p, now) : 0.0; }
double Router::score(const PeerId& p, TimePoint now) const { return peer_score(p, now); }

bool Router::in_backoff(const TopicId& topic, const PeerId& p, TimePoint now) const {
  auto t = backoff_.find(topic);
  if (t == backoff_.end()) return false;
  auto it = t->second.find(p);
  return it != t->second.end() && now < it->second;
}

void Router::add_backoff(const TopicId& topic, const PeerId& p, Duration d, TimePoint now) {
  auto& until = backoff_[topic][p];
  until = std::max(until, now + d);
}

bool Router::add_peer(const PeerId& p, PeerProtocol proto, bool outbound, const std::string& colocation_key,
                      TimePoint now) {
  if (auto b = banned_until_.find(p); b != banned_until_.end()) {
    if (now < b->second) return false;
    banned_until_.erase(b);
  }
  if (peers_.count(p)) return true;
  auto ps = std::make_unique<PeerState>();
  ps->proto = proto;
  ps->outbound = outbound;
  peers_[p] = std::move(ps);
  if (score_) score_->add_peer(p, colocation_key, now);
  if (stem_) stem_->add_peer(p, outbound);
  // Tell the new peer what we are subscribed to.
  for (const auto& t : subscriptions_) out(p).subscriptions.push_back({true, t});
  return true;
}

void Router::remove_peer(const PeerId& p, TimePoint now) {
  auto it = peers_.find(p);
  if (it == peers_.end()) return;
  for (const auto& t : it->second->topics) {
    topic_peers_[t].erase(p);
    if (mesh_[t].erase(p) && score_) score_->prune(p, t, now);
    fanout_[t].erase(p);
  }
  for (auto& [t, m] : mesh_) m.erase(p);
  peers_.erase(it);
  outbox_.erase(p);
  own_out_.erase(p);
  idontwant_out_.erase(p);
  if (stem_) {
    stem_->remove_peer(p);
    // Stem messages still queued for it take another route.
    std::vector<Message> rerouted;
    for (auto& o : stem_out_)
      if (o.to == p) rerouted.push_back(std::move(o.message));
    std::erase_if(stem_out_, [&](const StemOutgoing& o) { return o.to == p; });
    for (auto& m : rerouted) reroute_stem(std::move(m), now);
  }
  if (score_) score_->remove_peer(p, now);
}

// ------------------------------------------------------------------ intake

void Router::handle_rpc(const PeerId& from, Rpc rpc, TimePoint now) {
  if (!deferred_iwant_.empty()) flush_deferred_iwants(now);
  PeerState* ps = peer(from);
  if (!ps) return;
  if (score_ && peer_score(from, now) < thresholds_.graylist) {
    ++counters_.rpcs_graylisted;
    flag(from, now);
    return;
  }
  for (const auto& s : rpc.subscriptions) handle_subscription(from, *ps, s, now);
  // IDONTWANT first: a message in this same RPC must not be forwarded back to a peer
  // that just told us it has it.
  if (is_gossipsub(*ps))
    for (const auto& d : rpc.control.idontwant) handle_idontwant(from, *ps, d, now);
  for (std::size_t i = 0; i < rpc.publish.size(); ++i) {
    const auto bad_before = counters_.messages_invalid + counters_.messages_unsubscribed;
    handle_message(from, std::move(rpc.publish[i]), now);
    // A message that cost its sender (P4, P7) may have taken it below the graylist:
    // the rest of its RPC is not worth hashing or validating.
    if (score_ && counters_.messages_invalid + counters_.messages_unsubscribed != bad_before &&
        peer_score(from, now) < thresholds_.graylist) {
      counters_.messages_graylisted += rpc.publish.size() - i - 1;
      flag(from, now);
      return;
    }
  }
  if (!is_gossipsub(*ps)) return;  // floodsub has no control messages
  std::vector<ControlPrune> prunes;
  for (const auto& ih : rpc.control.ihave) handle_ihave(from, *ps, ih, now);
  for (const auto& iw : rpc.control.iwant) handle_iwant(from, *ps, iw, now);
  for (const auto& g : rpc.control.graft) handle_graft(from, *ps, g, prunes, now);
  for (const auto& p : rpc.control.prune) handle_prune(from, *ps, p, now);
  handle_choke(from, *ps, rpc.control, now);
  if (!prunes.empty()) {
    auto& o = out(from).control.prune;
    o.insert(o.end(), prunes.begin(), prunes.end());
  }
}

void Router::handle_subscription(const PeerId& from, PeerState& ps, const SubOpts& s, TimePoint now) {
  if (s.subscribe) {
    if (ps.topics.count(s.topic)) return;
    if (ps.topics.size() >= cfg_.max_topics_per_peer) {
      ++counters_.subscriptions_ignored;
      return;
    }
    ps.topics.insert(s.topic);
    topic_peers_[s.topic].insert(from);
  } else {
    if (!ps.topics.erase(s.topic)) return;
    topic_peers_[s.topic].erase(from);
    if (mesh_[s.topic].erase(from) && score_) score_->prune(from, s.topic, now);
    fanout_[s.topic].erase(from);
  }
}

void Router::handle_message(const PeerId& from, Message msg, TimePoint now) {
  ++counters_.messages_received;
  if (Status st = check_strict_no_sign(msg); !st) {
    // The whole point of StrictNoSign is that messages name nobody: reject (P4).
    ++counters_.sign_policy_rejected;
    ++counters_.messages_invalid;
    if (score_) score_->reject_message(from, cfg_.message_id(msg), msg.topic, RejectReason::signature_policy, now);
    return;
  }
  if (msg.data.size() > cfg_.max_message_size) {
    ++counters_.messages_invalid;
    if (score_) score_->reject_message(from, cfg_.message_id(msg), msg.topic, RejectReason::invalid, now);
    return;
  }
  if (!subscriptions_.count(msg.topic)) {
    // Dropped unhashed and unvalidated; its sender pays unless the message crossed
    // our unsubscription in flight (shard jumps and cover shards leave topics often).
    ++counters_.messages_ignored;
    ++counters_.messages_unsubscribed;
    auto left = left_.find(msg.topic);
    const bool in_flight = left != left_.end() && now < left->second + cfg_.unsubscribe_backoff + cfg_.heartbeat_interval;
    if (score_ && !in_flight && cfg_.unsubscribed_message_penalty > 0.0)
      score_->add_penalty(from, cfg_.unsubscribed_message_penalty);
    return;
  }
  const MessageId id = cfg_.message_id(msg);
  // A delivery fulfils any IWANT promise for it; the answer from the peer we asked
  // times a round trip.
  if (auto pr = promises_.find(id); pr != promises_.end()) {
    if (auto asked = pr->second.find(from); asked != pr->second.end())
      observe_rtt(from, now - (asked->second - cfg_.iwant_followup_time));
    promises_.erase(pr);
  }
  if (!seen_.add(id, now)) {
    ++counters_.messages_duplicate;
    if (score_) score_->duplicate_message(from, id, msg.topic, now);
    choke_note(from, msg.topic, id, false, now);
    return;
  }
  if (score_) score_->validate_message(id, msg.topic, now);
  choke_note(from, msg.topic, id, true, now);

  // gossipsub v1.2: tell mesh peers not to send us this one (before validation).
  if (msg.data.size() >= cfg_.idontwant_size_threshold) {
    const auto choked_here = choked_out_.find(msg.topic);
    for (const auto& p : mesh_[msg.topic]) {
      if (p == from) continue;
      // A peer we choked only announces: its IHAVE costs little and tells us how
      // early it had the message (the choke statistics), so it gets no IDONTWANT.
      if (choked_here != choked_out_.end() && choked_here->second.count(p)) continue;
      PeerState* mp = peer(p);
      // Queued apart, and sent ahead of the RPC that may carry the payload itself.
      if (mp && mp->proto == PeerProtocol::meshsub_1_2) idontwant_out_[p].push_back(id);
    }
  }
  // A message we stemmed is now in gossip: stop its embargo. Our own one we forward
  // like any relay (IDONTWANT above included), but without delivering it twice or
  // asking the validator, which may call it a duplicate of what we published and
  // make us the node that does not forward it.
  if (auto held = stem_ ? stem_->release(id) : std::nullopt; held && !*held) {
    own_gossiped_.push_back(id);
    if (score_) score_->deliver_message(from, id, msg.topic, now);
    mcache_.put(id, msg);
    forward(id, msg, from, now);
    return;
  }

  validate(id, std::move(msg), from, now);
}

void Router::validate(const MessageId& id, Message msg, const PeerId& source, TimePoint now) {
  auto v = validators_.find(msg.topic);
  std::optional<ValidationResult> verdict = ValidationResult::accept;
  if (v != validators_.end() && v->second) verdict = v->second(source, msg);
  if (verdict) return finish_validation(id, std::move(msg), source, *verdict, now);
  if (pending_.size() >= cfg_.max_pending_validations) {
    ++counters_.validation_queue_dropped;
    if (score_) score_->reject_message(source, id, msg.topic, RejectReason::queue_full, now);
    return;
  }
  pending_[id] = std::make_unique<Pending>(Pending{std::move(msg), source, now});
}

void Router::report_validation(const MessageId& id, ValidationResult r, TimePoint now) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  auto p = std::move(it->second);
  pending_.erase(it);
  finish_validation(id, std::move(p->msg), p->source, r, now);
}

void Router::finish_validation(const MessageId& id, Message msg, const PeerId& source, ValidationResult r,
                               TimePoint now) {
  if (r == ValidationResult::reject) {
    ++counters_.messages_invalid;
    if (score_) score_->reject_message(source, id, msg.topic, RejectReason::invalid, now);
    return;
  }
  if (r == ValidationResult::ignore) {
    ++counters_.messages_ignored;
    if (score_) score_->reject_message(source, id, msg.topic, RejectReason::ignored, now);
    return;
  }
  if (score_) score_->deliver_message(source, id, msg.topic, now);
  mcache_.put(id, msg);
  forward(id, msg, source, now);
  ++counters_.messages_delivered;
  deliveries_.push_back({msg.topic, id, std::move(msg), source});
}

void Router::forward(const MessageId& id, const Message& msg, const PeerId& source, TimePoint now) {
  std::set<PeerId> to;
  const auto& tp = topic_peers_[msg.topic];
  for (const auto& p : tp) {
    PeerState* ps = peer(p);
    if (!ps || p == source) continue;
    const bool flood = !is_gossipsub(*ps) || cfg_.explicit_peers.count(p);
    if (flood && peer_score(p, now) >= thresholds_.publish) to.insert(p);
  }
  for (const auto& p : mesh_[msg.topic])
    if (p != source) to.insert(p);
  const auto choking = choked_by_.find(msg.topic);
  for (const auto& p : to) {
    PeerState* ps = peer(p);
    if (!ps) continue;
    if (ps->dont_send.count(id)) {
      ++counters_.sends_suppressed_by_idontwant;
      continue;
    }
    if (choking != choked_by_.end() && choking->second.count(p)) {
      // It choked us: announce, it asks if we are first (choke extension).
      auto& ihave = out(p).control.ihave;
      auto it = std::find_if(ihave.begin(), ihave.end(), [&](const ControlIHave& x) { return x.topic == msg.topic; });
      if (it == ihave.end()) it = ihave.insert(ihave.end(), ControlIHave{msg.topic, {}});
      it->ids.push_back(id);
      ++counters_.sends_lazy;
      continue;
    }
    out(p).publish.push_back(msg);
    ++counters_.messages_forwarded;
  }
}

Result<MessageId> Router::publish(const TopicId& topic, Bytes data, TimePoint now) {
  if (data.size() > cfg_.max_message_size)
    return Error{PubsubErrc::too_large, "message of " + std::to_string(data.size()) + " bytes exceeds " +
                                            std::to_string(cfg_.max_message_size)};
  Message msg;
  msg.data = std::move(data);
  msg.topic = topic;
  const MessageId id = cfg_.message_id(msg);
  if (stem_ && cfg_.stem.own_messages) {
    // Never from our own identity into gossip: the stem carries it away first. It
    // is not "seen" yet, so when it comes back in gossip we forward it like a relay.
    if (seen_.contains(id) || stem_->holding(id))
      return Error{PubsubErrc::malformed, "duplicate message (same content seen recently)"};
    const bool subscribed = subscriptions_.count(topic) != 0;
    // The first hop must be on the topic: a relay drops a message on a topic it is
    // not on (it could neither validate it nor see it gossiped), and on a topic we
    // are not on it is also the only one that guards it.
    auto next = stem_->route_own(now, topic, [&](const PeerId& p) { return on_topic(p, topic); });
    if (!next && !subscribed)
      return Error{PubsubErrc::no_stem_route, "stem: none of our peers is on " + topic};
    ++counters_.messages_published;
    ++stem_->counters().originated;
    if (subscribed) deliveries_.push_back({topic, id, msg, self_});
    if (next) {
      stem_send(*next, id, std::move(msg), std::nullopt, now);
    } else {
      // No destination yet (no peers): held, it is gossiped when the embargo ends
      // rather than at once from us.
      ++stem_->counters().no_route;
      stem_->hold(id, std::move(msg), std::nullopt, true, now);
    }
    return id;
  }
  if (!seen_.add(id, now)) return Error{PubsubErrc::malformed, "duplicate message (same content seen recently)"};
  mcache_.put(id, msg);
  ++counters_.messages_published;
  if (stem_) own_gossiped_.push_back(id);  // stem on, own messages off it: in gossip now

  std::set<PeerId> to;
  const bool flood = cfg_.flood_publish && !cfg_.flood_publish_off.count(topic);
  for (const auto& p : topic_peers_[topic]) {
    PeerState* ps = peer(p);
    if (!ps) continue;
    if ((flood || !is_gossipsub(*ps) || cfg_.explicit_peers.count(p)) && peer_score(p, now) >= thresholds_.publish)
      to.insert(p);
  }
  if (!flood) {
    if (subscriptions_.count(topic)) {
      for (const auto& p : mesh_[topic]) to.insert(p);
    } else {
      auto& f = fanout_[topic];
      if (f.empty()) {
        auto picked = select_peers(topic, cfg_.d, [&](const PeerId& p, const PeerState& ps) {
          return is_gossipsub(ps) && !cfg_.explicit_peers.count(p) && peer_score(p, now) >= thresholds_.publish;
        });
        f.insert(picked.begin(), picked.end());
      }
      for (const auto& p : f) to.insert(p);
      fanout_last_publish_[topic] = now;
    }
  }
  for (const auto& p : to) {  // ours go ahead of any forward already waiting for p
    auto& pub = out(p).publish;
    auto& k = own_out_[p];
    pub.insert(pub.begin() + static_cast<std::ptrdiff_t>(std::min(k, pub.size())), msg);
    ++k;
  }
  if (subscriptions_.count(topic)) deliveries_.push_back({topic, id, msg, self_});
  return id;
}

// ------------------------------------------------------------------ stem

bool Router::on_topic(const PeerId& p, const TopicId& topic) const {
  auto it = topic_peers_.find(topic);
  return it != topic_peers_.end() && it->second.count(p) != 0;
}

void Router::stem_send(const PeerId& to, const MessageId& id, Message msg, std::optional<PeerId> from,
                       TimePoint now) {
  const bool own = !from;
  // We can only watch for the fluff on a topic we are on; elsewhere the entry just
  // lapses (our own message on such a topic must not be published from us).
  const bool watch = subscriptions_.count(msg.topic) != 0;
  if (!stem_->hold(id, msg, std::move(from), watch, now)) ++stem_->counters().not_held;  // full: upstream guards it
  if (!own) ++stem_->counters().relayed;
  stem_out_.push_back({to, std::move(msg)});
}

void Router::handle_stem(const PeerId& from, Message msg, TimePoint now) {
  if (!stem_ || !peer(from)) return;
  if (score_ && peer_score(from, now) < thresholds_.graylist) {
    ++counters_.rpcs_graylisted;
    return;
  }
  if (auto a = stem_->admit(from); a != StemState::Admission::ok) {
    ++stem_->counters().rate_limited;
    if (a == StemState::Admission::abuse && score_) score_->add_penalty(from, 1.0);
    return;
  }
  if (!check_strict_no_sign(msg) || msg.data.size() > cfg_.max_message_size || msg.topic.empty()) {
    ++stem_->counters().malformed;
    if (score_) score_->add_penalty(from, 1.0);
    return;
  }
  // A topic we are not on: we could neither validate the message nor see it fluffed.
  if (!subscriptions_.count(msg.topic)) {
    ++stem_->counters().not_our_topic;
    return;
  }
  const MessageId id = cfg_.message_id(msg);
  if (seen_.contains(id)) return;  // already in gossip: the stem is over
  if (stem_->holding(id)) {
    // Round a loop. Pass it on once more, on the route a new message from `from`
    // would take, so a stem caught in a cycle can still reach a diffuser; then say
    // nothing. Source and relays do the same, so sending a message back to the peer
    // it came from tells a prober nothing about who the source is. (A diffuser only
    // holds its own messages - it fluffs relayed ones at once - and drops the copy,
    // as it drops one it has already fluffed.) The holders' embargoes end the rest.
    ++stem_->counters().loops;
    if (stem_->diffuser(now) || !stem_->first_return(id)) return;
    auto next = stem_->route_relay(from, msg.topic, now, [&](const PeerId& p) { return on_topic(p, msg.topic); });
    if (!next) return;
    ++stem_->counters().loops_passed_on;
    stem_out_.push_back({*next, std::move(msg)});
    return;
  }
  if (stem_->diffuser(now)) return fluff(id, std::move(msg), false, now);
  // The next hop must be on the topic, or it would drop the message: with none, the
  // stem ends here.
  auto next = stem_->route_relay(from, msg.topic, now, [&](const PeerId& p) { return on_topic(p, msg.topic); });
  if (next) return stem_send(*next, id, std::move(msg), from, now);
  ++stem_->counters().no_route;
  fluff(id, std::move(msg), false, now);
}

void Router::stem_undeliverable(const PeerId& to, Message msg, TimePoint now) {
  if (!stem_) return;
  stem_->peer_unsupported(to);
  reroute_stem(std::move(msg), now);
}

void Router::reroute_stem(Message msg, TimePoint now) {
  const MessageId id = cfg_.message_id(msg);
  if (seen_.contains(id)) return;
  const auto held = stem_->release(id);
  // Not held (the embargo fired, or the table was full): upstream holders guard it.
  if (!held) return;
  const std::optional<PeerId> from = *held;
  const bool subscribed = subscriptions_.count(msg.topic) != 0;
  auto usable = [&](const PeerId& p) { return on_topic(p, msg.topic); };
  std::optional<PeerId> next =
      from ? stem_->route_relay(*from, msg.topic, now, usable) : stem_->route_own(now, msg.topic, usable);
  if (next) return stem_send(*next, id, std::move(msg), from, now);
  ++stem_->counters().no_route;
  if (subscribed) fluff(id, std::move(msg), !from, now);
}

void Router::fluff(const MessageId& id, Message msg, bool own, TimePoint now) {
  // Not our topic (any more: we held it, then left the topic). Sending it would be a
  // message on a topic we do not announce - the very signal subscription
  // fingerprinting looks for, and from its source if it is ours. The stem after us
  // still guards it.
  if (!subscriptions_.count(msg.topic)) {
    ++stem_->counters().not_our_topic;
    return;
  }
  if (!seen_.add(id, now)) return;
  ++stem_->counters().fluffed;
  if (own) {
    own_gossiped_.push_back(id);
    mcache_.put(id, msg);
    forward(id, msg, self_, now);
    return;
  }
  // A relayed message is checked like one from gossip before we vouch for it.
  validate(id, std::move(msg), self_, now);
}

void Router::stem_heartbeat(TimePoint now) {
  stem_->heartbeat();
  for (auto& e : stem_->take_expired(now)) {
    ++stem_->counters().embargo_fired;
    fluff(e.id, std::move(e.msg), e.own, now);
  }
}

void Router::subscribe(const TopicId& topic, TimePoint now) {
  if (!subscriptions_.insert(topic).second) return;
  left_.erase(topic);
  for (const auto& [p, ps] : peers_) out(p).subscriptions.push_back({true, topic});
  // Join: start from fanout peers, then fill up to D.
  auto& m = mesh_[topic];
  if (auto f = fanout_.find(topic); f != fanout_.end()) {
    for (const auto& p : f->second)
      if (peer_score(p, now) >= 0.0 && !in_backoff(topic, p, now)) m.insert(p);
    fanout_.erase(f);
    fanout_last_publish_.erase(topic);
  }
  if (m.size() < cfg_.d) {
    auto more = select_peers(topic, cfg_.d - m.size(), [&](const PeerId& p, const PeerState& ps) {
      return is_gossipsub(ps) && !m.count(p) && !cfg_.explicit_peers.count(p) && !in_backoff(topic, p, now) &&
             peer_score(p, now) >= 0.0;
    });
    m.insert(more.begin(), more.end());
  }
  for (const auto& p : m) {
    out(p).control.graft.push_back({topic});
    if (score_) score_->graft(p, topic, now);
  }
}

void Router::unsubscribe(const TopicId& topic, TimePoint now) {
  if (!subscriptions_.erase(topic)) return;
  left_[topic] = now;
  for (const auto& [p, ps] : peers_) out(p).subscriptions.push_back({false, topic});
  auto m = std::move(mesh_[topic]);
  mesh_.erase(topic);
  for (const auto& p : m) {
    out(p).control.prune.push_back(make_prune(topic, p, true, true, now));
    add_backoff(topic, p, cfg_.unsubscribe_backoff, now);
    if (score_) score_->prune(p, topic, now);
  }
}

// ------------------------------------------------------------------ control

void Router::handle_ihave(const PeerId& from, PeerState& ps, const ControlIHave& ih, TimePoint now) {
  if (peer_score(from, now) < thresholds_.gossip || !subscriptions_.count(ih.topic)) {
    ++counters_.ihave_ignored;
    return;
  }
  // A mesh peer we choked announces instead of pushing: expected, not gossip to cap;
  // its announcement counts as a delivery (P3, and the choke statistics).
  const auto choked_it = choked_out_.find(ih.topic);
  const bool choked_peer = choked_it != choked_out_.end() && choked_it->second.count(from) != 0;
  if (!choked_peer && ++ps.ihave_this_heartbeat > cfg_.max_ihave_messages) {
    ++counters_.ihave_ignored;
    return;
  }
  if (choked_peer)
    for (const auto& id : ih.ids)
      if (seen_.contains(id)) {
        if (score_) score_->duplicate_message(from, id, ih.topic, now);
        choke_note(from, ih.topic, id, false, now);
      }
  if (ps.iasked_this_heartbeat >= cfg_.max_ihave_length) {
    ++counters_.ihave_ignored;
    return;
  }
  std::vector<MessageId> want;
  for (const auto& id : ih.ids) {
    if (seen_.contains(id) || pending_.count(id)) continue;
    if (choked_peer && pushed_soon(ih.topic, id)) {
      deferred_iwant_.try_emplace(id, DeferredIWant{from, now + cfg_.choke.iwant_delay});
      continue;
    }
    want.push_back(id);
  }
  if (want.empty()) return;
  rng_.shuffle(want);
  const std::size_t room = cfg_.max_ihave_length - ps.iasked_this_heartbeat;
  if (want.size() > room) want.resize(room);
  ps.iasked_this_heartbeat += want.size();
  // Track one random promise per IWANT (as go does): a peer that advertises and
  // never delivers pays P7.
  const MessageId& promised = want[static_cast<std::size_t>(rng_.uniform(want.size()))];
  promises_[promised].emplace(from, now + cfg_.iwant_followup_time);
  out(from).control.iwant.push_back({std::move(want)});
}

void Router::handle_iwant(const PeerId& from, PeerState& ps, const ControlIWant& iw, TimePoint now) {
  (void)ps;
  if (peer_score(from, now) < thresholds_.gossip) {
    ++counters_.iwant_ignored;
    // Still count re-requests of messages it already had its share of: otherwise an
    // IWANT spammer hovers just below the gossip threshold and is never graylisted.
    const bool excess = std::any_of(iw.ids.begin(), iw.ids.end(), [&](const MessageId& id) {
      return mcache_.transmissions(id, from) >= cfg_.gossip_retransmission;
    });
    if (excess && score_) score_->add_penalty(from, cfg_.iwant_excess_penalty);
    return;
  }
  bool excess = false;
  for (const auto& id : iw.ids) {
    const Message* m = mcache_.get_for_peer(id, from, cfg_.gossip_retransmission);
    if (!m) {
      ++counters_.iwant_ignored;
      // Asking again for a message we already sent it gossip_retransmission times is
      // not something an honest peer does (go only caps it; we also count it).
      excess = excess || mcache_.get(id) != nullptr;
      continue;
    }
    out(from).publish.push_back(*m);
  }
  if (excess && score_) score_->add_penalty(from, cfg_.iwant_excess_penalty);
}

void Router::handle_graft(const PeerId& from, PeerState& ps, const ControlGraft& g, std::vector<ControlPrune>& prunes,
                          TimePoint now) {
  (void)ps;
  if (!subscriptions_.count(g.topic)) {
    // Unknown topic: no PX (it would leak our peers); count the behaviour - unless we
    // left the topic lately and the GRAFT crossed our unsubscription in flight
    // (shard jumps and cover subscriptions leave topics all the time).
    ++counters_.graft_rejected;
    auto left = left_.find(g.topic);
    const bool in_flight = left != left_.end() && now < left->second + cfg_.unsubscribe_backoff + cfg_.heartbeat_interval;
    if (score_ && !in_flight && cfg_.unknown_topic_graft_penalty > 0.0)
      score_->add_penalty(from, cfg_.unknown_topic_graft_penalty);
    return;
  }
  auto& m = mesh_[g.topic];
  if (m.count(from)) return;
  if (cfg_.explicit_peers.count(from)) {
    ++counters_.graft_rejected;
    prunes.push_back(make_prune(g.topic, from, false, false, now));
    return;
  }
  const double s = peer_score(from, now);
  if (auto t = backoff_.find(g.topic); t != backoff_.end()) {
    if (auto b = t->second.find(from); b != t->second.end() && now < b->second) {
      // GRAFT during backoff (P7); a GRAFT right after the PRUNE counts double.
      ++counters_.graft_backoff_violations;
      if (score_) {
        score_->add_penalty(from, 1.0);
        const TimePoint pruned_at = b->second - cfg_.prune_backoff;
        if (now < pruned_at + cfg_.graft_flood_threshold) score_->add_penalty(from, 1.0);
      }
      add_backoff(g.topic, from, cfg_.prune_backoff, now);
      prunes.push_back(make_prune(g.topic, from, false, false, now));
      return;
    }
  }
  const std::size_t accept_up_to = cfg_.graft_accept_limit > 0 ? cfg_.graft_accept_limit : cfg_.d_hi;
  if (s < 0.0 || (m.size() >= accept_up_to && !peers_[from]->outbound)) {
    ++counters_.graft_rejected;
    prunes.push_back(make_prune(g.topic, from, s >= 0.0, false, now));
    add_backoff(g.topic, from, cfg_.prune_backoff, now);
    return;
  }
  m.insert(from);
  forget_choke(g.topic, from);  // grafted: unchoked both ways
  if (score_) score_->graft(from, g.topic, now);
}

void Router::handle_prune(const PeerId& from, PeerState& ps, const ControlPrune& p, TimePoint now) {
  (void)ps;
  if (mesh_[p.topic].erase(from) && score_) score_->prune(from, p.topic, now);
  Duration backoff = cfg_.prune_backoff;
  if (p.backoff_seconds) backoff = std::chrono::seconds(std::min<std::uint64_t>(*p.backoff_seconds, 24 * 3600));
  add_backoff(p.topic, from, backoff, now);
  if (!cfg_.do_px || p.peers.empty() || peer_score(from, now) < thresholds_.accept_px) return;
  std::size_t taken = 0;
  for (const auto& info : p.peers) {
    if (taken >= cfg_.prune_peers) break;
    auto id = PeerId::from_bytes(info.peer_id);
    if (!id || *id == self_ || peers_.count(*id)) continue;
    px_candidates_.push_back({*id, info.signed_peer_record});
    ++taken;
  }
}

void Router::handle_idontwant(const PeerId& from, PeerState& ps, const ControlIDontWant& d, TimePoint now) {
  (void)from;
  (void)now;
  if (ps.proto != PeerProtocol::meshsub_1_2) return;
  for (const auto& id : d.ids) {
    if (ps.idontwant_this_heartbeat >= cfg_.max_idontwant_messages) {
      ++counters_.idontwant_ignored;
      return;
    }
    ++ps.idontwant_this_heartbeat;
    ps.dont_send[id] = heartbeat_ticks_ + cfg_.idontwant_ttl_heartbeats;
  }
}

ControlPrune Router::make_prune(const TopicId& topic, const PeerId& to, bool px, bool unsubscribe, TimePoint now) {
  ControlPrune p;
  p.topic = topic;
  const Duration b = unsubscribe ? cfg_.unsubscribe_backoff : cfg_.prune_backoff;
  p.backoff_seconds = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(b).count());
  PeerState* ps = peer(to);
  if (px && cfg_.do_px && ps && ps->proto != PeerProtocol::meshsub_1_0) {
    auto picks = select_peers(topic, cfg_.prune_peers, [&](const PeerId& q, const PeerState&) {
      return q != to && peer_score(q, now) >= 0.0;
    });
    for (const auto& pk : picks) p.peers.push_back({pk.bytes(), record_source_ ? record_source_(pk) : std::nullopt});
  }
  return p;
}

}  // namespace shardnode::pubsub
