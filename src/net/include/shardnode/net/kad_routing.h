// The Kademlia routing table: 256 buckets of at most k peers, bucket i holding the
// peers whose key shares exactly i leading bits with ours. Sans-IO: times are the
// caller's.
//
// Insertion follows Kademlia: a peer already present is refreshed (last seen); a new
// peer joins its bucket if there is room; a full bucket keeps its old peers (peers
// that stayed long are likely to stay; a flood of new identities cannot displace
// them) and `update` answers bucket_full with the bucket's least recently seen peer,
// which the caller may check (a request) and `remove` if it is gone.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/net/kad.h"

namespace shardnode::net::kad {

class RoutingTable {
 public:
  struct Entry {
    PeerId id;
    Key key;
    TimePoint last_seen{};
  };
  enum class Outcome { added, refreshed, bucket_full, self };
  struct Update {
    Outcome outcome;
    std::optional<PeerId> oldest;  // bucket_full: the bucket's least recently seen peer
  };

  RoutingTable(const PeerId& self, std::size_t k = 20);

  Update update(const PeerId& peer, TimePoint now);
  bool remove(const PeerId& peer);
  bool contains(const PeerId& peer) const;
  // Up to n peers, closest to `target` first (ties cannot happen: keys are distinct).
  std::vector<PeerId> closest(const Key& target, std::size_t n) const;
  std::size_t size() const { return size_; }
  std::size_t k() const { return k_; }
  const Key& self_key() const { return self_key_; }
  const std::vector<Entry>& bucket(unsigned i) const { return buckets_.at(i); }
  // The highest bucket index holding a peer (0 when empty): refreshing buckets up to
  // it covers the populated part of the key space.
  unsigned deepest_bucket() const;

 private:
  PeerId self_;
  Key self_key_;
  std::size_t k_;
  std::size_t size_ = 0;
  std::vector<std::vector<Entry>> buckets_;  // 256
};

}  // namespace shardnode::net::kad
