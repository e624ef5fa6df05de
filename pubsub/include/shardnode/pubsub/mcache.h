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

struct BytesHash {
  std::size_t operator()(const Bytes& b) const noexcept {
    // FNV-1a; ids are content hashes already, so this only spreads buckets.
    std::uint64_t h = 1469598103934665603ull;
    for (auto c : b) h = (h ^ c) * 1099511628211ull;
    return static_cast<std::size_t>(h);
  }
};

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
  struct WindowEntry {
    MessageId id;
    TopicId topic;
  };
  std::size_t gossip_length_;
  std::unordered_map<MessageId, Entry, BytesHash> msgs_;
  std::deque<std::vector<WindowEntry>> windows_;  // front: newest
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
  std::deque<std::pair<TimePoint, MessageId>> order_;
};

}  // namespace shardnode::pubsub
