#include "shardnode/pubsub/mcache.h"

namespace shardnode::pubsub {

MessageCache::MessageCache(std::size_t history_length, std::size_t gossip_length)
    : gossip_length_(gossip_length), windows_(history_length == 0 ? 1 : history_length) {}

bool MessageCache::put(const MessageId& id, const Message& msg) {
  auto [it, fresh] = msgs_.try_emplace(id);
  if (!fresh) return false;
  it->second.msg = msg;
  windows_.front().push_back(&*it);
  return true;
}

const Message* MessageCache::get(const MessageId& id) const {
  auto it = msgs_.find(id);
  return it == msgs_.end() ? nullptr : &it->second.msg;
}

const Message* MessageCache::get_for_peer(const MessageId& id, const PeerId& peer, std::size_t max_transmissions) {
  auto it = msgs_.find(id);
  if (it == msgs_.end()) return nullptr;
  auto& n = it->second.transmissions[peer];
  if (n >= max_transmissions) return nullptr;
  ++n;
  return &it->second.msg;
}

std::size_t MessageCache::transmissions(const MessageId& id, const PeerId& peer) const {
  auto it = msgs_.find(id);
  if (it == msgs_.end()) return 0;
  auto t = it->second.transmissions.find(peer);
  return t == it->second.transmissions.end() ? 0 : t->second;
}

std::vector<MessageId> MessageCache::gossip_ids(const TopicId& topic) const {
  std::vector<MessageId> out;
  std::size_t w = 0;
  for (const auto& window : windows_) {
    if (w++ >= gossip_length_) break;
    for (const auto* e : window)
      if (e->second.msg.topic == topic) out.push_back(e->first);
  }
  return out;
}

void MessageCache::shift() {
  for (const auto* e : windows_.back()) msgs_.erase(msgs_.find(e->first));
  windows_.pop_back();
  windows_.emplace_front();
}

bool SeenCache::add(const MessageId& id, TimePoint now) {
  prune(now);
  auto [it, fresh] = seen_.emplace(id, now);
  if (!fresh) return false;
  order_.emplace_back(now, &it->first);
  return true;
}

void SeenCache::prune(TimePoint now) {
  while (!order_.empty() && order_.front().first + ttl_ <= now) {
    auto it = seen_.find(*order_.front().second);
    order_.pop_front();
    seen_.erase(it);
  }
}

}  // namespace shardnode::pubsub
