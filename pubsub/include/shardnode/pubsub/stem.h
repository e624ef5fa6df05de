// The stem phase of Dandelion++ (Fanti et al., SIGMETRICS 2018) before gossip: a
// message first travels along a random path, one peer at a time, and only then is
// gossiped ("fluffed") - from a node that is, with high probability, not its source.
// A spy that hears a message first learns only which peer passed it on.
//
// This class holds the per-node state; the Router (router.h) drives it when
// GossipsubConfig::stem.enabled is set. Sans-IO, like the Router.
//
// - Epochs: every `epoch` the node redraws its role (diffuser with probability q,
//   otherwise relay), its stem destinations (`destinations` outbound peers: an
//   adversary can open many inbound connections to us but cannot make us dial it;
//   inbound ones only when we have no outbound peer at all), the destination of its
//   own messages, and forgets the per-inbound-edge map. Within an epoch, every stem
//   message from the same peer takes the same next hop - the "per-inbound-edge"
//   routing that stops an adversary from learning more by sending the same message
//   along several edges, and makes all of a node's own messages take one path.
// - A node always stems its own messages, in either role.
// - Embargo: the source and every relay keep a message they passed on until they see
//   it in gossip; if that has not happened by `embargo + Exp(embargo_jitter_mean)`,
//   they fluff it themselves, so a relay that drops it cannot suppress it. The
//   exponential part should be large next to one hop's latency, so which holder
//   fires first says little about its place on the path. The source waits longer
//   (`own_embargo`) than relays: when a stem stalls (a loop with no diffuser on it)
//   a relay's timer fires first, so the first gossip comes from a relay, not from
//   the source; the source's own timer is only the last guard against relays that
//   drop.
// - Loops: a holder that gets a message back on the stem passes it on once more, on
//   the route it gives a new message from that peer, then drops further copies
//   without a sign. Source and relays do exactly this, so a spy that sends a message
//   back to the peer it came from cannot tell the source from a relay.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "shardnode/core/random.h"
#include "shardnode/core/result.h"
#include "shardnode/pubsub/mcache.h"
#include "shardnode/pubsub/types.h"

namespace shardnode::pubsub {

struct StemConfig {
  bool enabled = false;
  double fluff_probability = 0.1;  // q: the chance that a node is a diffuser for an epoch
  Duration epoch = std::chrono::minutes(10);
  std::size_t destinations = 2;
  // Relays' embargo. The defaults come from the latency/anonymity frontier measured
  // with Tor-like link latencies (docs/PRIVACY.md): about 8 stem hops of an onion
  // path's one-way trip, and an exponential part 4x one such trip.
  Duration embargo = std::chrono::seconds(2);
  Duration embargo_jitter_mean = std::chrono::seconds(1);
  // The source's embargo for its own messages (plus the same jitter); at least `embargo`.
  Duration own_embargo = std::chrono::seconds(6);
  std::size_t max_embargoed = 10'000;                  // messages held at once
  std::size_t max_embargoed_bytes = 64 * 1024 * 1024;  // and their bytes
  // Stem messages a peer may send us per heartbeat; beyond, they are dropped, and
  // beyond twice as many each costs the peer behaviour penalty (P7).
  std::size_t max_per_peer_per_heartbeat = 64;
  // false: our own messages skip the stem and go out as without it, while we relay
  // others' stems as usual. Only the live experiment's spies run so (`shardnode run
  // --test-spy`, test-only): an adversary's relays that publish plainly. No setting.
  bool own_messages = true;

  Status validate() const;
};

struct StemCounters {
  std::uint64_t originated = 0, relayed = 0, fluffed = 0, embargo_fired = 0, loops = 0, loops_passed_on = 0, no_route = 0,
                rate_limited = 0, malformed = 0, unsupported_peers = 0, not_our_topic = 0, not_held = 0;
};

class StemState {
 public:
  StemState(StemConfig cfg, Random& rng) : cfg_(cfg), rng_(rng) {}

  void add_peer(const PeerId& p, bool outbound);
  // Disconnected (forgets an earlier "unsupported" too: it may have upgraded).
  void remove_peer(const PeerId& p);
  // The peer refused the stem protocol: no stem to it while it stays connected.
  void peer_unsupported(const PeerId& p);

  // Next hop for our own message / for one that came from `from`; nullopt: none.
  // `usable` narrows the choice (peers on the message's topic: a peer off it would
  // drop the message). Our own messages keep the epoch's own destination while it is
  // usable, else one per topic for the epoch, so all our messages on a topic take
  // one path.
  template <class Pred>
  std::optional<PeerId> route_own(TimePoint now, const TopicId& topic, Pred&& usable);
  // A relay's next hop is kept per inbound edge and topic for the epoch: among the
  // destinations on the topic, else any outbound peer on it, never straight back.
  template <class Pred>
  std::optional<PeerId> route_relay(const PeerId& from, const TopicId& topic, TimePoint now, Pred&& usable);
  bool diffuser(TimePoint now);  // this epoch's role

  // A message we passed on (or originated): held until seen in gossip or expiry.
  // `from`: the peer a relayed message came from (nullopt for our own). With
  // `fluff_on_expiry` false the entry just lapses (a topic we cannot watch). Our own
  // messages always find room (a relayed entry is dropped for them); a relayed one
  // finds none when the table is full (false: the caller passes it on unguarded).
  bool hold(const MessageId& id, Message msg, std::optional<PeerId> from, bool fluff_on_expiry, TimePoint now);
  bool holding(const MessageId& id) const { return held_.count(id) != 0; }
  // A held message came back on the stem: true the first time (pass it on once
  // more), false after (drop it).
  bool first_return(const MessageId& id);
  // Seen in gossip (or passed on again): stop holding it. Returns who gave it to us
  // (nullopt inside: it was ours), or nullopt when we do not hold it.
  std::optional<std::optional<PeerId>> release(const MessageId& id);
  struct Expired {
    MessageId id;
    Message msg;
    bool own;
  };
  // Expired entries that are to be fluffed (the others are dropped).
  std::vector<Expired> take_expired(TimePoint now);

  // Per-heartbeat rate limit of stem messages from one peer.
  enum class Admission { ok, drop, abuse };
  Admission admit(const PeerId& from);
  void heartbeat() { received_this_heartbeat_.clear(); }

  StemCounters& counters() { return counters_; }
  const StemCounters& counters() const { return counters_; }
  const StemConfig& config() const { return cfg_; }
  const std::vector<PeerId>& destinations(TimePoint now);
  // This epoch's destinations without starting one (tests, tools).
  const std::vector<PeerId>& current_destinations() const { return destinations_; }
  std::size_t held_count() const { return held_.size(); }

 private:
  void maybe_new_epoch(TimePoint now);
  // A random usable peer: among the destinations, else the outbound peers, else
  // (with `inbound_too`) the inbound ones.
  template <class Pred>
  std::optional<PeerId> pick(Pred&& usable, bool inbound_too);
  void draw_epoch(TimePoint now);
  void draw_destinations();
  void draw_routes();  // destinations and our own first hop, afresh; forgets the epoch's routes
  std::size_t outbound_count() const;
  void drop_peer(const PeerId& p);
  bool has_outbound() const;

  struct Held {
    Message msg;
    std::optional<PeerId> from;
    bool fluff_on_expiry = true;
    TimePoint deadline;
    bool returned = false;  // came back on the stem once already
  };
  void erase(std::unordered_map<MessageId, Held, BytesHash>::iterator it);

  StemConfig cfg_;
  Random& rng_;
  std::map<PeerId, bool> peers_;  // stem-capable peers -> outbound
  std::set<PeerId> unsupported_;
  std::optional<TimePoint> epoch_start_;
  bool diffuser_ = false;
  // The epoch's routes were drawn while we had fewer than 2 x destinations outbound
  // peers (a node that just started knows its bootnodes first): each new outbound
  // peer redraws them, so our first hop is not the bootnode for a whole epoch.
  bool unsettled_ = false;
  std::vector<PeerId> destinations_;
  std::optional<PeerId> own_destination_;
  std::map<TopicId, PeerId> own_by_topic_;  // where own_destination_ is not on the topic, this epoch
  std::map<std::pair<PeerId, TopicId>, PeerId> edge_map_;  // (inbound edge, topic) -> next hop, this epoch
  std::unordered_map<MessageId, Held, BytesHash> held_;
  std::size_t held_bytes_ = 0;
  std::map<PeerId, std::size_t> received_this_heartbeat_;
  StemCounters counters_;
};

template <class Pred>
std::optional<PeerId> StemState::pick(Pred&& usable, bool inbound_too) {
  std::vector<PeerId> choices;
  for (const auto& d : destinations_)
    if (usable(d)) choices.push_back(d);
  if (choices.empty())  // none of our destinations is on the topic: an outbound peer that is
    for (const auto& [p, outbound] : peers_)
      if (outbound && usable(p)) choices.push_back(p);
  if (choices.empty() && inbound_too)
    for (const auto& [p, outbound] : peers_)
      if (!outbound && usable(p)) choices.push_back(p);
  if (choices.empty()) return std::nullopt;
  return choices[static_cast<std::size_t>(rng_.uniform(choices.size()))];
}

template <class Pred>
std::optional<PeerId> StemState::route_own(TimePoint now, const TopicId& topic, Pred&& usable) {
  maybe_new_epoch(now);
  if (own_destination_ && usable(*own_destination_)) return own_destination_;
  if (auto it = own_by_topic_.find(topic); it != own_by_topic_.end() && usable(it->second)) return it->second;
  // With no outbound peer on the topic, an inbound one: still a stem hop, where the
  // only other way would be to gossip it ourselves when our embargo ends.
  auto next = pick(usable, true);
  if (!next) return std::nullopt;
  if (!own_destination_) own_destination_ = next;
  else own_by_topic_[topic] = *next;
  return next;
}

template <class Pred>
std::optional<PeerId> StemState::route_relay(const PeerId& from, const TopicId& topic, TimePoint now, Pred&& usable) {
  maybe_new_epoch(now);
  const auto key = std::make_pair(from, topic);
  if (auto it = edge_map_.find(key); it != edge_map_.end() && usable(it->second)) return it->second;
  auto next = pick([&](const PeerId& p) { return p != from && usable(p); }, false);  // never straight back
  if (next) edge_map_[key] = *next;
  return next;
}

}  // namespace shardnode::pubsub
