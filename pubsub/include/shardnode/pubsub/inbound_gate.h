// Inbound budgets (sans-IO): how much of a peer's traffic we read, and how many new
// identities we let in. On Tor an identity costs nothing, so a spammer flagged and
// banned by peer id comes back with a new key; what holds is that
//  - each peer has token buckets for RPCs, messages and bytes per second, and the
//    node has one more set for all peers together; a peer that has spent its budget
//    is not read until the buckets refill (the caller pauses its stream: the sender's
//    transport window fills and it is the sender that waits), so the excess never
//    reaches the decoder, the hash or a validator;
//  - a new identity starts with start_fraction of the full per-peer budget, doubling
//    every grow_after it keeps a score >= 0, and falls back to the start when its
//    score goes negative;
//  - inbound identities are admitted at a bounded rate (a token bucket), so fresh
//    keys arrive no faster than admit_per_minute however many a spammer makes.
// The pubsub service reads through one; the simulator (GossipSim) runs the same class.
//
// Buckets run a deficit: an RPC read while the bucket is non-negative is charged in
// full (it may go below zero), and the peer is not read again until it is back at
// zero. So one RPC of any size gets through an empty bucket, and the sustained rate
// is still the bucket's rate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>

#include "shardnode/core/clock.h"
#include "shardnode/core/result.h"
#include "shardnode/pubsub/types.h"

namespace shardnode::pubsub {

struct InboundLimits {
  bool enabled = true;
  // One peer at full standing, per second.
  double peer_rpcs_per_s = 200, peer_messages_per_s = 1000, peer_bytes_per_s = 4.0 * 1024 * 1024;
  // All peers together, per second.
  double node_rpcs_per_s = 4000, node_messages_per_s = 20000, node_bytes_per_s = 32.0 * 1024 * 1024;
  // A bucket holds this much time's worth of its rate (the burst).
  Duration burst = std::chrono::seconds(1);
  // A new identity's share of the per-peer budget; it doubles every grow_after of a
  // score >= 0 until it is 1.
  double start_fraction = 1.0 / 16;
  Duration grow_after = std::chrono::seconds(10);
  // New inbound identities per minute, and how many may arrive at once.
  double admit_per_minute = 60, admit_burst = 32;

  Status validate() const;
};

struct InboundCounters {
  std::uint64_t admitted = 0, refused = 0;    // inbound identities
  std::uint64_t throttled = 0;                // reads postponed because a budget was spent
  std::uint64_t demoted = 0;                  // peers sent back to the start budget
};

// What an RPC costs the messages budget: its messages, subscriptions and control
// entries (at least 1).
std::size_t inbound_entries(const Rpc& rpc);

class InboundGate {
 public:
  explicit InboundGate(InboundLimits limits = {});

  // A peer connected. Outbound peers (we dialled them) are always admitted; an
  // inbound one takes an admission token or is refused (close it). Either way the
  // peer starts at the start budget.
  bool admit(const PeerId& peer, bool outbound, TimePoint now);
  void remove(const PeerId& peer);

  // How long before `peer` may be read again (zero: now). Unknown peers: zero.
  Duration wait(const PeerId& peer, TimePoint now);
  // Charge an RPC read from `peer`: its frame size and how many messages it carried
  // (published messages plus control ids). Returns wait() after the charge.
  Duration charge(const PeerId& peer, std::size_t bytes, std::size_t messages, TimePoint now);
  // Once per heartbeat: grow the standing of peers scoring >= 0, send those below
  // back to the start.
  void heartbeat(TimePoint now, const std::function<double(const PeerId&)>& score);

  // The peer's current share of the full per-peer budget (0 when unknown).
  double standing(const PeerId& peer) const;
  std::size_t peers() const { return peers_.size(); }
  const InboundCounters& counters() const { return counters_; }
  const InboundLimits& limits() const { return limits_; }

 private:
  struct Bucket {
    double tokens = 0, rate = 0;  // rate per second; capacity = rate * burst
    TimePoint at{};
    void refill(TimePoint now, Duration burst);
    Duration until_full_enough() const;  // time until tokens >= 0
  };
  struct Peer {
    Bucket rpcs, messages, bytes;
    double standing = 0;
    TimePoint standing_since{};
  };
  void set_standing(Peer& p, double s, TimePoint now);
  Duration wait_peer(Peer& p, TimePoint now);

  InboundLimits limits_;
  std::map<PeerId, Peer> peers_;
  Bucket node_rpcs_, node_messages_, node_bytes_, admit_;
  InboundCounters counters_;
};

}  // namespace shardnode::pubsub
