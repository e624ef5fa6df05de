#include "shardnode/pubsub/outbound_queue.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "shardnode/core/varint.h"
#include "shardnode/pubsub/codec.h"

namespace shardnode::pubsub {

const char* to_string(Lane l) {
  switch (l) {
    case Lane::control: return "control";
    case Lane::own: return "own";
    case Lane::forward: return "forward";
    case Lane::gossip: return "gossip";
  }
  return "?";
}

bool OutboundQueue::push(Lane lane, Bytes frame, TimePoint now) {
  const auto i = static_cast<std::size_t>(lane);
  auto& q = lanes_[i];
  if (q.bytes + frame.size() > limits_.lane_bytes[i]) {
    ++counters_.dropped[i];
    return false;
  }
  if (empty()) last_progress_ = now;  // a stall counts from when data starts waiting
  q.bytes += frame.size();
  bytes_ += frame.size();
  ++frames_;
  ++counters_.queued[i];
  q.frames.push_back(std::move(frame));
  return true;
}

std::optional<Bytes> OutboundQueue::pop(std::size_t room, TimePoint now) {
  for (std::size_t i = 0; i < kLanes; ++i) {
    auto& q = lanes_[i];
    if (q.frames.empty()) continue;
    if (q.frames.front().size() > room) return std::nullopt;  // lower lanes wait behind it
    Bytes f = std::move(q.frames.front());
    q.frames.pop_front();
    q.bytes -= f.size();
    bytes_ -= f.size();
    --frames_;
    ++counters_.sent[i];
    last_progress_ = now;
    return f;
  }
  return std::nullopt;
}

std::vector<LanedFrame> split_into_lanes(Outgoing o) {
  std::vector<LanedFrame> out;
  auto add = [&](Lane lane, const Rpc& part) {
    if (part.empty()) return;
    const Bytes body = encode_rpc(part);
    Bytes frame;
    frame.reserve(body.size() + kMaxVarintBytes);
    append_uvarint(frame, body.size());
    frame.insert(frame.end(), body.begin(), body.end());
    out.push_back({lane, std::move(frame)});
  };
  Rpc& rpc = o.rpc;
  Rpc control;
  control.subscriptions = std::move(rpc.subscriptions);
  control.control.graft = std::move(rpc.control.graft);
  control.control.prune = std::move(rpc.control.prune);
  control.control.idontwant = std::move(rpc.control.idontwant);
  control.control.choke = std::move(rpc.control.choke);
  control.control.unchoke = std::move(rpc.control.unchoke);
  add(Lane::control, control);
  const std::size_t own = std::min(o.own, rpc.publish.size());
  if (own > 0) {
    Rpc mine;
    mine.publish.assign(std::make_move_iterator(rpc.publish.begin()),
                        std::make_move_iterator(rpc.publish.begin() + static_cast<std::ptrdiff_t>(own)));
    add(Lane::own, mine);
  }
  if (rpc.publish.size() > own) {
    Rpc fwd;
    fwd.publish.assign(std::make_move_iterator(rpc.publish.begin() + static_cast<std::ptrdiff_t>(own)),
                       std::make_move_iterator(rpc.publish.end()));
    add(Lane::forward, fwd);
  }
  Rpc gossip;
  gossip.control.ihave = std::move(rpc.control.ihave);
  gossip.control.iwant = std::move(rpc.control.iwant);
  add(Lane::gossip, gossip);
  return out;
}

}  // namespace shardnode::pubsub
