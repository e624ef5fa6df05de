// Gossipsub's message cache (gossipsub-v1.0.md "Message Cache"): the messages of
// the last `history_length` heartbeats, of which the newest `gossip_length` windows
// are advertised in IHAVE. Also counts IWANT retransmissions per (message, peer).
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "shardnode/pubsub/types.h"

namespace shardnode::pubsub {

class MessageCache {
 public:
  MessageCache(std::size_t history_length, std::size_t gossip_length);

  // Returns false if the id is already cached.
  bool put(const MessageId& id, const Message& msg);
  const Message* get(const MessageId& id) const;
  // For an IWANT: the message, counting one more transmission to `peer`; nullopt if
  // unknown or already sent `max_transmissions` times to that peer.
  const Message* get_for_peer(const MessageId& id, const PeerId& peer, std::size_t max_transmissions);
  // How often the message was sent to `peer` in answer to IWANTs.
  std::size_t transmissions(const MessageId& id, const PeerId& peer) const;
  // Ids in the gossip windows for `topic`, newest window first.
  std::vector<MessageId> gossip_ids(const TopicId& topic) const;
  // Heartbeat: drops the oldest window.
  void shift();
  std::size_t size() const { return msgs_.size(); }

 private:
  struct Entry {
    Message msg;
    std::map<PeerId, std::size_t> transmissions;
  };
  using Map = std::unordered_map<MessageId, Entry, BytesHash>;
  std::size_t gossip_length_;
  Map msgs_;
  // Each window points at its entries in msgs_ (a node-based map: what is stored
  // does not move), so an id and topic are not copied again per message.
  std::deque<std::vector<const Map::value_type*>> windows_;  // front: newest
};

// Ids seen within the last `ttl` (first-seen strategy). Pruned by time.
class SeenCache {
 public:
  explicit SeenCache(Duration ttl) : ttl_(ttl) {}
  // True if `id` was not seen within ttl (and records it).
  bool add(const MessageId& id, TimePoint now);
  bool contains(const MessageId& id) const { return seen_.count(id) != 0; }
  void prune(TimePoint now);
  std::size_t size() const { return seen_.size(); }

 private:
  Duration ttl_;
  std::unordered_map<MessageId, TimePoint, BytesHash> seen_;
  // When each id was seen, oldest first, pointing at seen_'s keys (they do not move).
  std::deque<std::pair<TimePoint, const MessageId*>> order_;
};

}  // namespace shardnode::pubsub
