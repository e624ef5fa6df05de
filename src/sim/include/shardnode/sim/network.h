// Network<Payload>: simulated links between N in-process nodes on a Scheduler.
//
// Nodes are dense indices 0..N-1. A link is two directions, each with its own
// parameters and FIFO queue. A message sent at `now` on direction a->b:
//   start      = max(now, free_at)              (waits for earlier messages)
//   free_at    = start + size / bandwidth       (serialization; 0 bandwidth = none)
//   lost       = rng.chance(loss)               (a lost message still used the link)
//   deliver_at = max(free_at + latency + U[0, jitter], previous deliver_at)
// so every direction delivers in send order even with jitter. Messages still in
// flight when their link is disconnected are dropped.
//
// Determinism: all randomness comes from the network's SeededRandom, drawn in
// send() in call order (loss only when 0 < loss < 1, jitter only when jitter > 0);
// deliveries are scheduler events, ordered by (time, send order).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "shardnode/sim/rng.h"
#include "shardnode/sim/scheduler.h"

namespace shardnode::sim {

using NodeIndex = std::uint32_t;

struct LinkParams {
  Duration latency{0};
  double bandwidth_bytes_per_sec = 0.0;  // 0 = unlimited
  double loss = 0.0;                     // probability in [0, 1]
  Duration jitter{0};                    // extra delay, uniform in [0, jitter] ns
};

struct NetworkStats {
  std::uint64_t sent = 0;                  // accepted by send() (including later losses)
  std::uint64_t delivered = 0;
  std::uint64_t dropped_loss = 0;
  std::uint64_t dropped_disconnected = 0;  // in flight when the link went down
  std::uint64_t no_link = 0;               // send() refused: no such link
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_delivered = 0;
};

struct NodeStats {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t lost = 0;  // sent by this node and dropped (loss or disconnect)
};

// Serialization time of `size` bytes, rounded to the nearest nanosecond.
inline Duration serialization_delay(std::size_t size, double bytes_per_sec) {
  if (bytes_per_sec <= 0.0 || size == 0) return Duration{0};
  return Duration{std::llround(static_cast<double>(size) * 1e9 / bytes_per_sec)};
}

template <class Payload>
class Network {
 public:
  using Handler = std::function<void(NodeIndex from, const Payload& payload)>;
  // Called on every delivery, before the receiver's handler (spies log here).
  using Observer = std::function<void(TimePoint at, NodeIndex from, NodeIndex to, const Payload& payload)>;

  // The scheduler must outlive the network; pending deliveries are cancelled when
  // the network is destroyed.
  Network(Scheduler& scheduler, SeededRandom rng) : sched_(scheduler), rng_(rng) {}
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;
  ~Network() {
    for (const InFlight& m : msgs_)
      if (m.payload) sched_.cancel(m.event);
  }

  Scheduler& scheduler() noexcept { return sched_; }
  TimePoint now() const noexcept { return sched_.now(); }
  SeededRandom& rng() noexcept { return rng_; }

  NodeIndex add_node(Handler handler = {}) {
    if (nodes_.size() >= kNone) throw std::length_error("Network: too many nodes");
    nodes_.emplace_back();
    handlers_.push_back(std::move(handler));  // deque: stable while handlers run
    return static_cast<NodeIndex>(nodes_.size() - 1);
  }
  // Do not replace a handler from inside that same handler.
  void set_handler(NodeIndex node, Handler handler) { handlers_.at(node) = std::move(handler); }
  void set_observer(Observer observer) { observer_ = std::move(observer); }
  std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(nodes_.size()); }

  // Bidirectional link. False (and no change) when already connected. Throws
  // std::out_of_range on an unknown node, std::invalid_argument on a self link.
  bool connect(NodeIndex a, NodeIndex b, const LinkParams& params) { return connect(a, b, params, params); }
  bool connect(NodeIndex a, NodeIndex b, const LinkParams& a_to_b, const LinkParams& b_to_a) {
    check(a);
    check(b);
    if (a == b) throw std::invalid_argument("Network: self link");
    if (connected(a, b)) return false;
    link_out(a, b, new_direction(a, b, a_to_b));
    link_out(b, a, new_direction(b, a, b_to_a));
    return true;
  }
  // Drops both directions and everything in flight on them. False if not connected.
  bool disconnect(NodeIndex a, NodeIndex b) {
    const std::uint32_t ab = direction(a, b);
    if (ab == kNone) return false;
    const std::uint32_t ba = direction(b, a);
    unlink_out(a, b);
    unlink_out(b, a);
    drop_direction(ab);
    drop_direction(ba);
    return true;
  }
  bool connected(NodeIndex a, NodeIndex b) const { return direction(a, b) != kNone; }
  // Sorted ascending.
  const std::vector<NodeIndex>& neighbors(NodeIndex a) const { return nodes_.at(a).neighbors; }
  // Parameters of direction a->b, or nullptr when not connected.
  const LinkParams* link(NodeIndex a, NodeIndex b) const {
    const std::uint32_t d = direction(a, b);
    return d == kNone ? nullptr : &dirs_[d].params;
  }
  // Changes direction a->b for messages sent from now on. False if not connected.
  bool set_link(NodeIndex a, NodeIndex b, const LinkParams& params) {
    const std::uint32_t d = direction(a, b);
    if (d == kNone) return false;
    dirs_[d].params = params;
    return true;
  }

  // Queues `payload` on a->b. False when there is no such link (nothing is sent);
  // true otherwise, even if the message is then lost.
  bool send(NodeIndex from, NodeIndex to, Payload payload, std::size_t size_bytes) {
    const std::uint32_t di = direction(from, to);
    if (di == kNone) {
      ++stats_.no_link;
      return false;
    }
    Direction& d = dirs_[di];
    const TimePoint start = std::max(now(), d.free_at);
    d.free_at = start + serialization_delay(size_bytes, d.params.bandwidth_bytes_per_sec);
    ++stats_.sent;
    stats_.bytes_sent += size_bytes;
    NodeStats& ns = nodes_[from].stats;
    ++ns.sent;
    ns.bytes_sent += size_bytes;
    if (rng_.chance(d.params.loss)) {
      ++stats_.dropped_loss;
      ++ns.lost;
      return true;
    }
    TimePoint at = d.free_at + d.params.latency;
    if (d.params.jitter > Duration{0})
      at += Duration{static_cast<Duration::rep>(rng_.uniform(static_cast<std::uint64_t>(d.params.jitter.count()) + 1))};
    at = std::max(at, d.last_delivery);
    d.last_delivery = at;

    const std::uint32_t mi = new_message();
    InFlight& m = msgs_[mi];
    m.payload.emplace(std::move(payload));
    m.size = size_bytes;
    m.dir = di;
    m.next = kNone;
    if (d.tail == kNone) d.head = mi;
    else msgs_[d.tail].next = mi;
    d.tail = mi;
    ++in_flight_;
    m.event = sched_.schedule_at(at, [this, mi] { deliver(mi); });
    return true;
  }

  const NetworkStats& stats() const noexcept { return stats_; }
  const NodeStats& node_stats(NodeIndex node) const { return nodes_.at(node).stats; }
  std::size_t in_flight() const noexcept { return in_flight_; }

 private:
  static constexpr std::uint32_t kNone = 0xffffffffU;

  struct Node {
    std::vector<NodeIndex> neighbors;  // sorted
    std::vector<std::uint32_t> out;    // out[i]: direction to neighbors[i]
    NodeStats stats;
  };
  struct Direction {
    NodeIndex from = 0;
    NodeIndex to = 0;
    LinkParams params;
    TimePoint free_at{0};
    TimePoint last_delivery{0};
    std::uint32_t head = kNone;  // FIFO of in-flight messages (intrusive list)
    std::uint32_t tail = kNone;
  };
  struct InFlight {
    std::optional<Payload> payload;  // empty = free slot
    std::size_t size = 0;
    std::uint32_t dir = 0;
    std::uint32_t next = kNone;
    EventHandle event;
  };

  void check(NodeIndex a) const {
    if (a >= nodes_.size()) throw std::out_of_range("Network: unknown node");
  }

  std::uint32_t direction(NodeIndex a, NodeIndex b) const {
    if (a >= nodes_.size()) return kNone;
    const Node& n = nodes_[a];
    const auto it = std::lower_bound(n.neighbors.begin(), n.neighbors.end(), b);
    if (it == n.neighbors.end() || *it != b) return kNone;
    return n.out[static_cast<std::size_t>(it - n.neighbors.begin())];
  }

  std::uint32_t new_direction(NodeIndex from, NodeIndex to, const LinkParams& params) {
    std::uint32_t di;
    if (!free_dirs_.empty()) {
      di = free_dirs_.back();
      free_dirs_.pop_back();
    } else {
      dirs_.emplace_back();
      di = static_cast<std::uint32_t>(dirs_.size() - 1);
    }
    dirs_[di] = Direction{from, to, params, now(), now(), kNone, kNone};
    return di;
  }

  void link_out(NodeIndex a, NodeIndex b, std::uint32_t di) {
    Node& n = nodes_[a];
    const auto it = std::lower_bound(n.neighbors.begin(), n.neighbors.end(), b);
    const auto pos = it - n.neighbors.begin();
    n.neighbors.insert(it, b);
    n.out.insert(n.out.begin() + pos, di);
  }

  void unlink_out(NodeIndex a, NodeIndex b) {
    Node& n = nodes_[a];
    const auto it = std::lower_bound(n.neighbors.begin(), n.neighbors.end(), b);
    const auto pos = it - n.neighbors.begin();
    n.neighbors.erase(it);
    n.out.erase(n.out.begin() + pos);
  }

  void drop_direction(std::uint32_t di) {
    Direction& d = dirs_[di];
    for (std::uint32_t mi = d.head; mi != kNone;) {
      InFlight& m = msgs_[mi];
      const std::uint32_t next = m.next;
      sched_.cancel(m.event);
      ++stats_.dropped_disconnected;
      ++nodes_[d.from].stats.lost;
      free_message(mi);
      mi = next;
    }
    d.head = d.tail = kNone;
    free_dirs_.push_back(di);
  }

  std::uint32_t new_message() {
    if (!free_msgs_.empty()) {
      const std::uint32_t mi = free_msgs_.back();
      free_msgs_.pop_back();
      return mi;
    }
    if (msgs_.size() >= kNone) throw std::length_error("Network: too many messages in flight");
    msgs_.emplace_back();
    return static_cast<std::uint32_t>(msgs_.size() - 1);
  }

  void free_message(std::uint32_t mi) {
    msgs_[mi].payload.reset();
    msgs_[mi].event = EventHandle{};
    free_msgs_.push_back(mi);
    --in_flight_;
  }

  void deliver(std::uint32_t mi) {
    InFlight& m = msgs_[mi];
    Direction& d = dirs_[m.dir];
    // Deliveries on one direction run in send order, so this is the head.
    d.head = m.next;
    if (d.head == kNone) d.tail = kNone;
    const NodeIndex from = d.from;
    const NodeIndex to = d.to;
    const std::size_t size = m.size;
    Payload payload = std::move(*m.payload);
    free_message(mi);  // handlers may send, growing msgs_: no references past here

    ++stats_.delivered;
    stats_.bytes_delivered += size;
    NodeStats& ns = nodes_[to].stats;
    ++ns.received;
    ns.bytes_received += size;
    if (observer_) observer_(now(), from, to, payload);
    if (const Handler& h = handlers_[to]; h) h(from, payload);
  }

  Scheduler& sched_;
  SeededRandom rng_;
  std::vector<Node> nodes_;
  std::deque<Handler> handlers_;
  std::vector<Direction> dirs_;
  std::vector<std::uint32_t> free_dirs_;
  std::vector<InFlight> msgs_;
  std::vector<std::uint32_t> free_msgs_;
  std::size_t in_flight_ = 0;
  Observer observer_;
  NetworkStats stats_;
};

}  // namespace shardnode::sim
