// Router heartbeat: mesh upkeep (v1.1: negative-score pruning, D_lo/D_hi, D_score,
// D_out, opportunistic grafting), fanout expiry, adaptive gossip, IWANT promises,
// spam-source flags, and the per-heartbeat resets.
#include <algorithm>

#include "router_state.h"
#include "shardnode/core/log.h"

namespace shardnode::pubsub {

std::vector<PeerId> Router::select_peers(const TopicId& topic, std::size_t n,
                                         const std::function<bool(const PeerId&, const PeerState&)>& pred,
                                         bool fastest) {
  std::vector<PeerId> cands;
  auto it = topic_peers_.find(topic);
  if (it == topic_peers_.end() || n == 0) return cands;
  for (const auto& p : it->second) {
    auto ps = peers_.find(p);
    if (ps != peers_.end() && pred(p, *ps->second)) cands.push_back(p);
  }
  rng_.shuffle(cands);
  if (fastest && cfg_.latency.enabled) sort_by_rtt(cands);
  if (cands.size() > n) cands.resize(n);
  return cands;
}

void Router::graft_peer(const TopicId& topic, const PeerId& p, TimePoint now) {
  if (!mesh_[topic].insert(p).second) return;
  forget_choke(topic, p);  // grafted: unchoked both ways
  if (score_) score_->graft(p, topic, now);
  out(p).control.graft.push_back({topic});
}

void Router::prune_peer(const TopicId& topic, const PeerId& p, bool px, TimePoint now) {
  if (!mesh_[topic].erase(p)) return;
  if (score_) score_->prune(p, topic, now);
  add_backoff(topic, p, cfg_.prune_backoff, now);
  out(p).control.prune.push_back(make_prune(topic, p, px, false, now));
}

bool Router::graftable(const TopicId& topic, const PeerId& p, const PeerState& ps, TimePoint now) const {
  auto m = mesh_.find(topic);
  return is_gossipsub(ps) && (m == mesh_.end() || !m->second.count(p)) && !cfg_.explicit_peers.count(p) &&
         !in_backoff(topic, p, now) && peer_score(p, now) >= 0.0;
}

void Router::maintain_mesh(const TopicId& topic, TimePoint now) {
  auto& m = mesh_[topic];
  const auto eligible = [&](const PeerId& p, const PeerState& ps) { return graftable(topic, p, ps, now); };
  for (const auto& p : std::vector<PeerId>(m.begin(), m.end()))
    if (peer_score(p, now) < 0.0) prune_peer(topic, p, false, now);

  if (m.size() < cfg_.d_lo)
    for (const auto& p : select_peers(topic, cfg_.d - m.size(), eligible, true)) graft_peer(topic, p, now);

  if (m.size() > cfg_.d_hi) {
    std::vector<PeerId> all(m.begin(), m.end());
    rng_.shuffle(all);  // random order among equal scores
    std::stable_sort(all.begin(), all.end(),
                     [&](const PeerId& a, const PeerId& b) { return peer_score(a, now) > peer_score(b, now); });
    // The best D_score stay; the rest of the D slots go to random others (with the
    // latency-aware mesh: the fastest others).
    std::vector<PeerId> keep(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(cfg_.d_score));
    std::vector<PeerId> rest(all.begin() + static_cast<std::ptrdiff_t>(cfg_.d_score), all.end());
    rng_.shuffle(rest);
    if (cfg_.latency.enabled) sort_by_rtt(rest);
    std::vector<PeerId> chosen(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(cfg_.d - cfg_.d_score));
    std::vector<PeerId> dropped(rest.begin() + static_cast<std::ptrdiff_t>(cfg_.d - cfg_.d_score), rest.end());
    // Keep at least D_out outbound peers: swap outbound peers from `dropped` in.
    const auto is_out = [&](const PeerId& p) { return peers_.count(p) && peers_[p]->outbound; };
    std::size_t outbound = static_cast<std::size_t>(std::count_if(keep.begin(), keep.end(), is_out) +
                                                    std::count_if(chosen.begin(), chosen.end(), is_out));
    for (auto d = dropped.begin(); d != dropped.end() && outbound < cfg_.d_out; ++d) {
      if (!is_out(*d)) continue;
      // An inbound peer chosen (with the latency-aware mesh: the slowest) gives way.
      auto victim = chosen.end();
      for (auto c = chosen.begin(); c != chosen.end(); ++c)
        if (!is_out(*c) && (victim == chosen.end() || cfg_.latency.enabled)) victim = c;
      if (victim == chosen.end()) break;
      std::swap(*victim, *d);
      ++outbound;
    }
    for (const auto& p : dropped) prune_peer(topic, p, true, now);
  }

  if (m.size() >= cfg_.d_lo) {
    std::size_t outbound = 0;
    for (const auto& p : m) outbound += peers_.count(p) && peers_[p]->outbound;
    if (outbound < cfg_.d_out) {
      auto more = select_peers(
          topic, cfg_.d_out - outbound,
          [&](const PeerId& p, const PeerState& ps) { return ps.outbound && eligible(p, ps); }, true);
      for (const auto& p : more) graft_peer(topic, p, now);
    }
  }

  if (cfg_.latency.enabled && cfg_.latency.swap_ticks > 0 && heartbeat_ticks_ % cfg_.latency.swap_ticks == 0)
    latency_swap(topic, now);

  // Opportunistic grafting: if the mesh's median score sags, graft better peers.
  if (score_ && cfg_.opportunistic_graft_ticks > 0 && heartbeat_ticks_ % cfg_.opportunistic_graft_ticks == 0 &&
      m.size() > 1) {
    std::vector<double> scores;
    for (const auto& p : m) scores.push_back(peer_score(p, now));
    std::nth_element(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(scores.size() / 2), scores.end());
    const double median = scores[scores.size() / 2];
    if (median < thresholds_.opportunistic_graft) {
      auto better = select_peers(topic, cfg_.opportunistic_graft_peers, [&](const PeerId& p, const PeerState& ps) {
        return eligible(p, ps) && peer_score(p, now) > median;
      });
      for (const auto& p : better) graft_peer(topic, p, now);
    }
  }
}

void Router::maintain_fanout(TimePoint now) {
  for (auto it = fanout_.begin(); it != fanout_.end();) {
    const auto& topic = it->first;
    auto last = fanout_last_publish_.find(topic);
    if (last == fanout_last_publish_.end() || last->second + cfg_.fanout_ttl <= now) {
      fanout_last_publish_.erase(topic);
      it = fanout_.erase(it);
      continue;
    }
    auto& f = it->second;
    for (const auto& p : std::vector<PeerId>(f.begin(), f.end())) {
      PeerState* ps = peer(p);
      if (!ps || !ps->topics.count(topic) || peer_score(p, now) < thresholds_.publish) f.erase(p);
    }
    if (f.size() < cfg_.d) {
      auto more = select_peers(topic, cfg_.d - f.size(), [&](const PeerId& p, const PeerState& ps) {
        return is_gossipsub(ps) && !f.count(p) && !cfg_.explicit_peers.count(p) &&
               peer_score(p, now) >= thresholds_.publish;
      });
      f.insert(more.begin(), more.end());
    }
    ++it;
  }
}

void Router::emit_gossip(TimePoint now) {
  std::map<PeerId, std::size_t> ihave_budget;
  auto gossip_topic = [&](const TopicId& topic, const std::set<PeerId>& exclude) {
    auto ids = mcache_.gossip_ids(topic);
    if (ids.empty()) return;
    auto cands = select_peers(topic, SIZE_MAX, [&](const PeerId& p, const PeerState& ps) {
      return is_gossipsub(ps) && !exclude.count(p) && !cfg_.explicit_peers.count(p) &&
             peer_score(p, now) >= thresholds_.gossip;
    });
    const auto adaptive = static_cast<std::size_t>(cfg_.gossip_factor * static_cast<double>(cands.size()));
    const std::size_t target = std::max(cfg_.d_lazy, adaptive);
    if (cands.size() > target) cands.resize(target);  // already shuffled
    for (const auto& p : cands) {
      // At most max_ihave_length ids per peer per heartbeat across all topics, so
      // one RPC never exceeds what a receiver accepts.
      std::size_t& used = ihave_budget[p];
      if (used >= cfg_.max_ihave_length) continue;
      std::vector<MessageId> send = ids;
      if (send.size() > cfg_.max_ihave_length - used) {
        rng_.shuffle(send);
        send.resize(cfg_.max_ihave_length - used);
      }
      used += send.size();
      out(p).control.ihave.push_back({topic, std::move(send)});
    }
  };
  for (const auto& [topic, m] : mesh_)
    if (subscriptions_.count(topic)) gossip_topic(topic, m);
  for (const auto& [topic, f] : fanout_) gossip_topic(topic, f);
}

void Router::check_promises(TimePoint now) {
  for (auto it = promises_.begin(); it != promises_.end();) {
    auto& by_peer = it->second;
    for (auto p = by_peer.begin(); p != by_peer.end();) {
      if (p->second <= now) {
        ++counters_.broken_promises;
        if (score_ && peers_.count(p->first)) score_->add_penalty(p->first, 1.0);
        p = by_peer.erase(p);
      } else {
        ++p;
      }
    }
    it = by_peer.empty() ? promises_.erase(it) : std::next(it);
  }
}

void Router::update_flags(TimePoint now) {
  if (!score_) return;
  std::vector<PeerId> below;
  for (const auto& [p, ps] : peers_) {
    if (peer_score(p, now) >= thresholds_.graylist) flagged_.erase(p);
    else below.push_back(p);
  }
  for (const auto& p : below) flag(p, now);
}

void Router::flag(const PeerId& p, TimePoint now) {
  if (!score_ || flagged_.count(p)) return;
  const double s = peer_score(p, now);
  FlaggedPeer f{p, now, s, score_->breakdown(p, now)};
  logging::get("pubsub")->warn("spam source flagged: peer {} score {:.2f} (graylist {:.2f}): {}", p.to_string(), s,
                               thresholds_.graylist, describe(f.breakdown));
  flagged_.emplace(p, std::move(f));
  ++counters_.peers_flagged;
  if (cfg_.flag_policy == GossipsubConfig::FlagPolicy::disconnect_and_ban) {
    disconnects_.push_back(p);
    banned_until_[p] = now + cfg_.ban_duration;
  }
}

void Router::heartbeat(TimePoint now) {
  ++heartbeat_ticks_;
  // Flags first: the score then still holds the whole last interval's behaviour,
  // before refresh() decays it.
  update_flags(now);
  if (score_) score_->refresh(now);
  for (auto t = backoff_.begin(); t != backoff_.end();) {
    // A heartbeat of slack before forgetting, so we never GRAFT a peer early.
    std::erase_if(t->second, [&](const auto& kv) { return kv.second + cfg_.heartbeat_interval <= now; });
    t = t->second.empty() ? backoff_.erase(t) : std::next(t);
  }
  for (const auto& topic : subscriptions_) maintain_mesh(topic, now);
  maintain_fanout(now);
  emit_gossip(now);
  check_promises(now);
  choke_heartbeat(now);
  if (stem_) stem_heartbeat(now);
  for (auto& [p, ps] : peers_) {
    ps->ihave_this_heartbeat = ps->iasked_this_heartbeat = ps->idontwant_this_heartbeat = 0;
    ps->choke_this_heartbeat = 0;
    std::erase_if(ps->dont_send, [&](const auto& kv) { return kv.second <= heartbeat_ticks_; });
  }
  std::erase_if(banned_until_, [&](const auto& kv) { return kv.second <= now; });
  std::erase_if(left_, [&](const auto& kv) {
    return kv.second + cfg_.unsubscribe_backoff + cfg_.heartbeat_interval <= now;
  });
  std::erase_if(pending_, [&](const auto& kv) { return kv.second->received + cfg_.seen_ttl <= now; });
  mcache_.shift();
  seen_.prune(now);
}

std::vector<Outgoing> Router::take_sends() {
  std::vector<Outgoing> v;
  v.reserve(idontwant_out_.size() + outbox_.size());
  for (auto& [p, ids] : idontwant_out_) {
    Rpc rpc;
    rpc.control.idontwant.push_back({std::move(ids)});
    v.push_back({p, std::move(rpc)});
  }
  idontwant_out_.clear();
  for (auto& [p, rpc] : outbox_) {
    if (rpc.empty()) continue;
    auto own = own_out_.find(p);
    const std::size_t k = own == own_out_.end() ? 0 : std::min(own->second, rpc.publish.size());
    v.push_back({p, std::move(rpc), k});
  }
  outbox_.clear();
  own_out_.clear();
  return v;
}

std::vector<Delivery> Router::take_deliveries() { return std::exchange(deliveries_, {}); }
std::vector<PeerId> Router::take_disconnects() { return std::exchange(disconnects_, {}); }
std::vector<Router::PxCandidate> Router::take_px_candidates() { return std::exchange(px_candidates_, {}); }

std::set<PeerId> Router::mesh(const TopicId& t) const {
  auto it = mesh_.find(t);
  return it == mesh_.end() ? std::set<PeerId>{} : it->second;
}
std::set<PeerId> Router::fanout(const TopicId& t) const {
  auto it = fanout_.find(t);
  return it == fanout_.end() ? std::set<PeerId>{} : it->second;
}
std::set<PeerId> Router::topic_peers(const TopicId& t) const {
  auto it = topic_peers_.find(t);
  return it == topic_peers_.end() ? std::set<PeerId>{} : it->second;
}

std::vector<FlaggedPeer> Router::flagged_peers() const {
  std::vector<FlaggedPeer> v;
  for (const auto& [p, f] : flagged_) v.push_back(f);
  return v;
}

}  // namespace shardnode::pubsub
