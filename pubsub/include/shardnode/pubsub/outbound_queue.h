// A peer's outbound queue with lanes (sans-IO; the pubsub service holds one per
// peer and writes from it whenever the peer's stream has room). Control (GRAFT,
// PRUNE, IDONTWANT, subscriptions) goes first, then our own messages, then forwards
// of others' messages, then gossip (IHAVE/IWANT): a slow peer gets what matters
// first, and what it cannot take is dropped from the back lanes, bounded per lane,
// never buffered without end. A peer whose queue has not moved for a while is slow:
// the service reports and disconnects it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

#include "shardnode/core/bytes.h"
#include "shardnode/core/clock.h"
#include "shardnode/pubsub/router.h"

namespace shardnode::pubsub {

enum class Lane : std::uint8_t { control = 0, own = 1, forward = 2, gossip = 3 };
inline constexpr std::size_t kLanes = 4;
const char* to_string(Lane l);

struct OutboundLimits {
  // Bytes each lane may hold for one peer (frames as written, length prefix included).
  std::array<std::size_t, kLanes> lane_bytes = {256 * 1024, 4 * 1024 * 1024, 4 * 1024 * 1024, 512 * 1024};
  // A queue holding data that nothing was taken from for this long is stalled.
  Duration stall_after = std::chrono::seconds(30);
};

class OutboundQueue {
 public:
  explicit OutboundQueue(OutboundLimits limits = {}) : limits_(limits) {}

  // Queues one frame on its lane; false when the lane has no room for it (the frame
  // is dropped and counted; the caller decides what a dropped control frame means).
  bool push(Lane lane, Bytes frame, TimePoint now);
  // The next frame in lane order if it fits in `room` bytes (a frame never jumps a
  // larger one ahead of it in a higher lane: order across lanes is by priority only).
  std::optional<Bytes> pop(std::size_t room, TimePoint now);

  bool empty() const { return bytes_ == 0 && frames_ == 0; }
  std::size_t bytes() const { return bytes_; }
  std::size_t lane_bytes(Lane l) const { return lanes_[static_cast<std::size_t>(l)].bytes; }
  // Data has waited `stall_after` with nothing taken.
  bool stalled(TimePoint now) const { return !empty() && now - last_progress_ >= limits_.stall_after; }

  struct Counters {
    std::array<std::uint64_t, kLanes> queued{}, dropped{}, sent{};
  };
  const Counters& counters() const { return counters_; }

 private:
  struct LaneQ {
    std::deque<Bytes> frames;
    std::size_t bytes = 0;
  };
  OutboundLimits limits_;
  std::array<LaneQ, kLanes> lanes_;
  std::size_t bytes_ = 0, frames_ = 0;
  TimePoint last_progress_{};
  Counters counters_;
};

// Splits one of the router's RPCs into the lanes' parts, encoded and framed
// (uvarint length prefix): control, our own messages, forwards, gossip - each
// present only when non-empty. Together they carry exactly the RPC's contents.
struct LanedFrame {
  Lane lane;
  Bytes frame;
};
std::vector<LanedFrame> split_into_lanes(Outgoing o);

}  // namespace shardnode::pubsub
