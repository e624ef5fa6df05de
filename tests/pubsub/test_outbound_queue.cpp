// The per-peer outbound lanes (pubsub/outbound_queue.h), driven directly.
#include <catch2/catch.hpp>

#include "shardnode/core/varint.h"
#include "shardnode/pubsub/codec.h"
#include "shardnode/pubsub/outbound_queue.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;

namespace {

Bytes frame(std::size_t n, std::uint8_t fill) { return Bytes(n, fill); }

Message msg(std::string_view data) {
  Message m;
  m.topic = "t";
  m.data = Bytes(data.begin(), data.end());
  return m;
}

Rpc decode_frame(const Bytes& f) {
  const auto len = decode_uvarint(f);
  REQUIRE(len.status == VarintStatus::ok);
  REQUIRE(len.length + len.value == f.size());
  auto rpc = decode_rpc(ByteView(f).subspan(len.length));
  REQUIRE(rpc);
  return *rpc;
}

}  // namespace

TEST_CASE("outbound lanes: control, then our own, then forwards, then gossip", "[pubsub][outbound]") {
  OutboundQueue q;
  const TimePoint t{0};
  REQUIRE(q.push(Lane::gossip, frame(10, 4), t));
  REQUIRE(q.push(Lane::forward, frame(10, 3), t));
  REQUIRE(q.push(Lane::own, frame(10, 2), t));
  REQUIRE(q.push(Lane::control, frame(10, 1), t));
  REQUIRE(q.push(Lane::forward, frame(10, 5), t));
  std::vector<std::uint8_t> order;
  while (auto f = q.pop(1000, t)) order.push_back(f->front());
  CHECK(order == std::vector<std::uint8_t>{1, 2, 3, 5, 4});
  CHECK(q.empty());
}

TEST_CASE("outbound lanes: a frame waits for room and nothing overtakes it", "[pubsub][outbound]") {
  OutboundQueue q;
  const TimePoint t{0};
  REQUIRE(q.push(Lane::control, frame(100, 1), t));
  REQUIRE(q.push(Lane::gossip, frame(5, 2), t));
  CHECK_FALSE(q.pop(50, t));  // the control frame needs 100: the small gossip frame waits too
  auto f = q.pop(100, t);
  REQUIRE(f);
  CHECK(f->front() == 1);
}

TEST_CASE("outbound lanes: each lane is bounded and drops what does not fit", "[pubsub][outbound]") {
  OutboundLimits lim;
  lim.lane_bytes = {100, 100, 100, 100};
  OutboundQueue q(lim);
  const TimePoint t{0};
  CHECK(q.push(Lane::forward, frame(60, 1), t));
  CHECK_FALSE(q.push(Lane::forward, frame(60, 2), t));  // 120 > 100
  CHECK(q.push(Lane::gossip, frame(60, 3), t));         // another lane has its own room
  CHECK(q.push(Lane::forward, frame(40, 4), t));        // exactly full
  CHECK(q.bytes() == 160);
  CHECK(q.lane_bytes(Lane::forward) == 100);
  CHECK(q.counters().dropped[static_cast<std::size_t>(Lane::forward)] == 1);
  CHECK(q.counters().queued[static_cast<std::size_t>(Lane::forward)] == 2);
}

TEST_CASE("outbound lanes: a queue nobody takes from is stalled after stall_after", "[pubsub][outbound]") {
  OutboundLimits lim;
  lim.stall_after = 10s;
  OutboundQueue q(lim);
  TimePoint t{std::chrono::seconds(100)};
  CHECK_FALSE(q.stalled(t + 1h));  // empty: never stalled
  REQUIRE(q.push(Lane::forward, frame(10, 1), t));
  REQUIRE(q.push(Lane::forward, frame(10, 2), t + 5s));
  CHECK_FALSE(q.stalled(t + 9s));
  CHECK(q.stalled(t + 10s));  // counted from when data started waiting
  REQUIRE(q.pop(10, t + 12s));  // progress
  CHECK_FALSE(q.stalled(t + 20s));
  CHECK(q.stalled(t + 22s));
  REQUIRE(q.pop(10, t + 23s));
  CHECK_FALSE(q.stalled(t + 1h));
}

TEST_CASE("split_into_lanes: every part of the router's RPC, each on its lane, nothing lost", "[pubsub][outbound]") {
  Outgoing o;
  o.rpc.subscriptions = {{true, "t"}};
  o.rpc.control.graft = {{"t"}};
  o.rpc.control.prune = {{"u", {}, 60}};
  o.rpc.control.idontwant = {{{Bytes(20, 9)}}};
  o.rpc.control.choke = {{"t"}};
  o.rpc.control.unchoke = {{"u"}};
  o.rpc.control.ihave = {{"t", {Bytes(20, 1)}}};
  o.rpc.control.iwant = {{{Bytes(20, 2)}}};
  o.rpc.publish = {msg("mine-1"), msg("mine-2"), msg("theirs")};
  o.own = 2;
  const Rpc whole = o.rpc;
  auto parts = split_into_lanes(o);
  REQUIRE(parts.size() == 4);
  CHECK(parts[0].lane == Lane::control);
  CHECK(parts[1].lane == Lane::own);
  CHECK(parts[2].lane == Lane::forward);
  CHECK(parts[3].lane == Lane::gossip);
  Rpc merged;
  for (const auto& p : parts) {
    Rpc r = decode_frame(p.frame);
    merged.subscriptions.insert(merged.subscriptions.end(), r.subscriptions.begin(), r.subscriptions.end());
    merged.publish.insert(merged.publish.end(), r.publish.begin(), r.publish.end());
    auto& c = merged.control;
    c.ihave.insert(c.ihave.end(), r.control.ihave.begin(), r.control.ihave.end());
    c.iwant.insert(c.iwant.end(), r.control.iwant.begin(), r.control.iwant.end());
    c.graft.insert(c.graft.end(), r.control.graft.begin(), r.control.graft.end());
    c.prune.insert(c.prune.end(), r.control.prune.begin(), r.control.prune.end());
    c.idontwant.insert(c.idontwant.end(), r.control.idontwant.begin(), r.control.idontwant.end());
    c.choke.insert(c.choke.end(), r.control.choke.begin(), r.control.choke.end());
    c.unchoke.insert(c.unchoke.end(), r.control.unchoke.begin(), r.control.unchoke.end());
  }
  CHECK(merged == whole);
  CHECK(decode_frame(parts[0].frame).control.choke.size() == 1);  // CHOKE/UNCHOKE ride the control lane
  CHECK(decode_frame(parts[1].frame).publish == std::vector<Message>{msg("mine-1"), msg("mine-2")});

  Outgoing only_forward;
  only_forward.rpc.publish = {msg("x")};
  auto one = split_into_lanes(only_forward);
  REQUIRE(one.size() == 1);
  CHECK(one[0].lane == Lane::forward);
}

TEST_CASE("the router marks its own messages, ahead of forwards to the same peer", "[pubsub][outbound][router]") {
  // Two routers' worth of logic is not needed: one router, one peer subscribed; a
  // message from another peer is forwarded, then we publish: ours comes first.
  struct Rng final : Random {
    std::uint64_t x = 1;
    std::uint64_t next_u64() override { return x = x * 6364136223846793005ULL + 1442695040888963407ULL; }
  } rng;
  auto id = [](std::uint8_t f) { return PeerId::from_public_key(NodeKey::from_seed(Bytes(32, f)).value().public_key()); };
  GossipsubConfig cfg;
  cfg.flood_publish = true;
  Router r(id(1), cfg, rng);
  const TimePoint t{std::chrono::seconds(1)};
  r.subscribe("t", t);
  for (const std::uint8_t p : {std::uint8_t{2}, std::uint8_t{3}}) {
    REQUIRE(r.add_peer(id(p), PeerProtocol::meshsub_1_1, true, "", t));
    Rpc sub;
    sub.subscriptions = {{true, "t"}};
    r.handle_rpc(id(p), sub, t);
  }
  r.heartbeat(t + 1s);  // meshes
  (void)r.take_sends();
  Rpc fwd;
  fwd.publish = {msg("from 2")};
  r.handle_rpc(id(2), fwd, t + 1s);
  REQUIRE(r.publish("t", Bytes{'m', 'e'}, t + 1s));
  bool seen = false;
  for (auto& o : r.take_sends()) {
    if (o.to != id(3)) continue;
    seen = true;
    REQUIRE(o.rpc.publish.size() == 2);
    CHECK(o.own == 1);
    CHECK(o.rpc.publish[0].data == Bytes{'m', 'e'});
    CHECK(o.rpc.publish[1] == msg("from 2"));
  }
  CHECK(seen);
}
