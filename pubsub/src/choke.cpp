// The choke extension (libp2p/specs PR 681): CHOKE/UNCHOKE from mesh peers, lazy push
// to the peers that choked us (in forward(), router.cpp), and our own choking from
// first-delivery statistics. GossipsubConfig::Choke has the rules.
#include <algorithm>

#include "router_state.h"

namespace shardnode::pubsub {

std::set<PeerId> Router::choked(const TopicId& topic) const {
  auto it = choked_out_.find(topic);
  return it == choked_out_.end() ? std::set<PeerId>{} : it->second;
}

std::set<PeerId> Router::choked_by(const TopicId& topic) const {
  auto it = choked_by_.find(topic);
  return it == choked_by_.end() ? std::set<PeerId>{} : it->second;
}

void Router::set_choked(const TopicId& topic, const PeerId& p, bool choked) {
  auto& set = choked_out_[topic];
  if (choked ? !set.insert(p).second : set.erase(p) == 0) return;
  if (choked) {
    out(p).control.choke.push_back({topic});
    ++counters_.chokes_sent;
  } else {
    out(p).control.unchoke.push_back({topic});
    ++counters_.unchokes_sent;
  }
}

void Router::forget_choke(const TopicId& topic, const PeerId& p) {
  if (auto it = choked_out_.find(topic); it != choked_out_.end()) it->second.erase(p);
  if (auto it = choked_by_.find(topic); it != choked_by_.end()) it->second.erase(p);
  if (auto it = choke_stats_.find(topic); it != choke_stats_.end()) it->second.erase(p);
}

void Router::handle_choke(const PeerId& from, PeerState& ps, const Control& c, TimePoint now) {
  (void)now;
  const std::size_t n = c.choke.size() + c.unchoke.size();
  if (n == 0) return;
  ps.choke_this_heartbeat += n;
  if (ps.choke_this_heartbeat > cfg_.choke.max_received) {
    // The spec asks to penalise a peer that chokes and unchokes us all the time.
    if (score_) score_->add_penalty(from, 1.0);
    return;
  }
  for (const auto& x : c.choke) {
    ++counters_.chokes_received;
    // Only a mesh peer can choke us: outside the mesh we push nothing to it anyway.
    if (auto m = mesh_.find(x.topic); m != mesh_.end() && m->second.count(from)) choked_by_[x.topic].insert(from);
  }
  for (const auto& x : c.unchoke) {
    ++counters_.unchokes_received;
    if (auto it = choked_by_.find(x.topic); it != choked_by_.end()) it->second.erase(from);
  }
}

void Router::choke_note(const PeerId& from, const TopicId& topic, const MessageId& id, bool first, TimePoint now) {
  if (!cfg_.choke.enabled) return;
  auto m = mesh_.find(topic);
  if (m == mesh_.end() || !m->second.count(from)) return;
  if (first) {
    first_copy_[id] = FirstCopy{topic, now, {from}};
    // A choked peer whose copy (the answer to our IWANT) came first would have been
    // first: it pushes again.
    if (auto c = choked_out_.find(topic); c != choked_out_.end() && c->second.count(from))
      set_choked(topic, from, false);
    return;
  }
  auto it = first_copy_.find(id);
  if (it == first_copy_.end() || now - it->second.at > cfg_.choke.first_window) return;
  auto& credited = it->second.credited;
  if (std::find(credited.begin(), credited.end(), from) == credited.end()) credited.push_back(from);
}

bool Router::pushed_soon(const TopicId& topic, const MessageId& id) const {
  auto m = mesh_.find(topic);
  if (m == mesh_.end()) return false;
  auto c = choked_out_.find(topic);
  for (const auto& p : m->second) {
    if (c != choked_out_.end() && c->second.count(p)) continue;
    if (cfg_.choke.defer_all_iwants) return true;
    auto it = peers_.find(p);
    if (it != peers_.end() && it->second->dont_send.count(id)) return true;
  }
  return false;
}

void Router::flush_deferred_iwants(TimePoint now) {
  for (auto it = deferred_iwant_.begin(); it != deferred_iwant_.end();) {
    if (seen_.contains(it->first) || pending_.count(it->first) || !peers_.count(it->second.peer)) {
      it = deferred_iwant_.erase(it);
      continue;
    }
    if (now < it->second.at) {
      ++it;
      continue;
    }
    // The copy we waited for did not come: ask the peer that announced it.
    promises_[it->first].emplace(it->second.peer, now + cfg_.iwant_followup_time);
    out(it->second.peer).control.iwant.push_back({{it->first}});
    it = deferred_iwant_.erase(it);
  }
}

void Router::choke_heartbeat(TimePoint now) {
  flush_deferred_iwants(now);
  // Leaving the mesh unchokes, both ways.
  const auto in_mesh = [&](const TopicId& t, const PeerId& p) {
    auto m = mesh_.find(t);
    return m != mesh_.end() && m->second.count(p) != 0;
  };
  for (auto* sets : {&choked_out_, &choked_by_})
    for (auto it = sets->begin(); it != sets->end();) {
      std::erase_if(it->second, [&](const PeerId& p) { return !in_mesh(it->first, p); });
      it = it->second.empty() ? sets->erase(it) : std::next(it);
    }
  for (auto it = choke_stats_.begin(); it != choke_stats_.end();) {
    std::erase_if(it->second, [&](const auto& kv) { return !in_mesh(it->first, kv.first); });
    it = it->second.empty() ? choke_stats_.erase(it) : std::next(it);
  }
  if (!cfg_.choke.enabled) {
    first_copy_.clear();
    return;
  }
  const auto& cc = cfg_.choke;
  // Close the trials whose window has passed: every mesh peer of the topic is judged.
  for (auto it = first_copy_.begin(); it != first_copy_.end();) {
    if (now - it->second.at <= cc.first_window) {
      ++it;
      continue;
    }
    if (auto m = mesh_.find(it->second.topic); m != mesh_.end()) {
      auto& stats = choke_stats_[it->second.topic];
      const auto& credited = it->second.credited;
      for (const auto& p : m->second) {
        auto& st = stats[p];
        const double x = std::find(credited.begin(), credited.end(), p) != credited.end() ? 1.0 : 0.0;
        st.share = (1.0 - cc.alpha) * st.share + cc.alpha * x;
        ++st.trials;
      }
    }
    it = first_copy_.erase(it);
  }
  const std::size_t target = std::max<std::size_t>(cc.unchoked, 1);
  for (const auto& topic : subscriptions_) {
    auto m = mesh_.find(topic);
    if (m == mesh_.end() || m->second.size() <= target) continue;
    auto& stats = choke_stats_[topic];
    auto& out_set = choked_out_[topic];
    std::vector<std::pair<double, PeerId>> judged;  // best share first
    std::size_t unchoked_now = 0;
    for (const auto& p : m->second) {
      if (!out_set.count(p)) ++unchoked_now;
      if (auto s = stats.find(p); s != stats.end() && s->second.trials >= cc.min_trials)
        judged.emplace_back(s->second.share, p);
    }
    std::sort(judged.begin(), judged.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::size_t changes = 0;
    std::set<PeerId> unchoked_here;
    // Unchoke a choked peer that now beats the worst peer still pushing to us.
    double worst = 2.0;
    for (const auto& [share, p] : judged)
      if (!out_set.count(p)) worst = std::min(worst, share);
    for (const auto& [share, p] : judged) {
      if (changes >= cc.max_changes) break;
      if (out_set.count(p) && share > worst + cc.unchoke_margin) {
        set_choked(topic, p, false);
        unchoked_here.insert(p);
        ++unchoked_now;
        ++changes;
      }
    }
    // Choke the judged peers outside the best `target`, worst first, while more than
    // `target` push to us (peers not judged yet keep pushing).
    for (std::size_t i = judged.size(); i-- > target;) {
      if (changes >= cc.max_changes || unchoked_now <= target) break;
      const PeerId& p = judged[i].second;
      if (out_set.count(p) || unchoked_here.count(p)) continue;
      set_choked(topic, p, true);
      --unchoked_now;
      ++changes;
    }
  }
}

}  // namespace shardnode::pubsub
