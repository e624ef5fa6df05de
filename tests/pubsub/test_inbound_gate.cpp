// Inbound budgets and admission (pubsub/inbound_gate.h), driven directly on made-up time.
#include <catch2/catch.hpp>

#include "shardnode/core/keys.h"
#include "shardnode/pubsub/inbound_gate.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;

namespace {

PeerId new_peer() { return PeerId::from_public_key(NodeKey::generate().public_key()); }

InboundLimits small() {
  InboundLimits l;
  l.peer_rpcs_per_s = 10;
  l.peer_messages_per_s = 100;
  l.peer_bytes_per_s = 10000;
  l.node_rpcs_per_s = 1000;
  l.node_messages_per_s = 10000;
  l.node_bytes_per_s = 1e6;
  l.burst = 1s;
  l.start_fraction = 0.25;
  l.grow_after = 10s;
  l.admit_per_minute = 6;
  l.admit_burst = 2;
  return l;
}

// RPCs of `bytes` and `messages` each that the gate lets through in `span`, reading
// whenever wait() says the peer may be read.
std::size_t read_for(InboundGate& g, const PeerId& p, TimePoint& now, Duration span, std::size_t bytes,
                     std::size_t messages) {
  const TimePoint end = now + span;
  std::size_t n = 0;
  while (true) {
    now += g.wait(p, now);
    if (now >= end) break;
    g.charge(p, bytes, messages, now);
    ++n;
  }
  now = end;
  return n;
}

}  // namespace

TEST_CASE("inbound gate: a new peer gets the start budget, the burst and then the rate", "[pubsub][inbound]") {
  InboundGate g(small());
  const auto p = new_peer();
  TimePoint now{0};
  REQUIRE(g.admit(p, true, now));
  CHECK(g.standing(p) == Approx(0.25));
  // 2.5 RPCs/s at the start: a burst of 2.5 (3 reads, the last one into deficit),
  // then one every 0.4 s.
  CHECK(g.charge(p, 10, 1, now) == Duration::zero());
  CHECK(g.charge(p, 10, 1, now) == Duration::zero());
  const auto w = g.charge(p, 10, 1, now);
  CHECK(w > 150ms);
  CHECK(w < 250ms);
  CHECK(g.counters().throttled == 1);
  const auto n = read_for(g, p, now, 10s, 10, 1);
  CHECK(n >= 24);
  CHECK(n <= 26);
}

TEST_CASE("inbound gate: bytes and messages are budgets of their own, and one big RPC goes through into deficit",
          "[pubsub][inbound]") {
  InboundGate g(small());
  const auto p = new_peer();
  TimePoint now{0};
  REQUIRE(g.admit(p, true, now));
  // 2,500 bytes/s at the start: a 25,000-byte RPC is read, then the peer waits ~9 s.
  const auto w = g.charge(p, 25000, 1, now);
  CHECK(w > 8s);
  CHECK(w < 10s);
  CHECK(g.wait(p, now + 5s) > Duration::zero());
  CHECK(g.wait(p, now + w) == Duration::zero());
  // 25 messages/s: an RPC of 100 messages costs 3 s of waiting after the burst.
  now += w;
  const auto w2 = g.charge(p, 1, 100, now);
  CHECK(w2 > 2s);
  CHECK(w2 < 4s);
}

TEST_CASE("inbound gate: standing doubles while the score is >= 0 and falls back when it is not",
          "[pubsub][inbound]") {
  InboundGate g(small());
  const auto p = new_peer();
  TimePoint now{0};
  REQUIRE(g.admit(p, false, now));
  double score = 0;
  auto score_of = [&](const PeerId&) { return score; };
  for (int s = 0; s < 9; ++s) g.heartbeat(now += 1s, score_of);
  CHECK(g.standing(p) == Approx(0.25));
  g.heartbeat(now += 1s, score_of);
  CHECK(g.standing(p) == Approx(0.5));
  g.heartbeat(now += 10s, score_of);
  CHECK(g.standing(p) == Approx(1.0));
  g.heartbeat(now += 10s, score_of);
  CHECK(g.standing(p) == Approx(1.0));
  // At full standing the rate is 10 RPCs/s.
  auto n = read_for(g, p, now, 10s, 1, 1);
  CHECK(n >= 100);
  CHECK(n <= 112);
  score = -1;
  g.heartbeat(now += 1s, score_of);
  CHECK(g.standing(p) == Approx(0.25));
  CHECK(g.counters().demoted == 1);
  n = read_for(g, p, now, 10s, 1, 1);
  CHECK(n >= 24);
  CHECK(n <= 28);
  // Growing starts again only once the score is back at >= 0 for grow_after.
  g.heartbeat(now += 20s, score_of);
  score = 0;
  g.heartbeat(now += 5s, score_of);
  CHECK(g.standing(p) == Approx(0.25));
  g.heartbeat(now += 5s, score_of);
  CHECK(g.standing(p) == Approx(0.5));
}

TEST_CASE("inbound gate: inbound identities are admitted at a bounded rate, outbound ones always",
          "[pubsub][inbound]") {
  InboundGate g(small());
  TimePoint now{0};
  CHECK(g.admit(new_peer(), false, now));
  CHECK(g.admit(new_peer(), false, now));
  CHECK_FALSE(g.admit(new_peer(), false, now));  // the burst of 2 is spent
  CHECK(g.admit(new_peer(), true, now));          // we dialled it
  CHECK_FALSE(g.admit(new_peer(), false, now + 9s));
  CHECK(g.admit(new_peer(), false, now + 10s));  // 6 a minute: one every 10 s
  CHECK(g.counters().admitted == 3);
  CHECK(g.counters().refused == 2);
  // A thousand fresh keys in ten minutes get 2 + 60 admissions.
  std::size_t in = 0;
  now += 10s;
  for (int i = 0; i < 1000; ++i) in += g.admit(new_peer(), false, now += 600ms);
  CHECK(in >= 60);
  CHECK(in <= 62);
}

TEST_CASE("inbound gate: the node budget caps all peers together", "[pubsub][inbound]") {
  auto l = small();
  l.node_rpcs_per_s = 5;  // below two peers' start budgets together
  l.start_fraction = 1.0;
  InboundGate g(l);
  const auto a = new_peer(), b = new_peer();
  TimePoint now{0};
  REQUIRE(g.admit(a, true, now));
  REQUIRE(g.admit(b, true, now));
  std::size_t n = 0;
  const TimePoint end = now + 20s;
  while (now < end) {
    const auto wa = g.wait(a, now), wb = g.wait(b, now);
    now += std::min(wa, wb);
    if (now >= end) break;
    g.charge(wa <= wb ? a : b, 1, 1, now);
    ++n;
  }
  CHECK(n >= 100);
  CHECK(n <= 106);
}

TEST_CASE("inbound gate: off, nothing waits and everyone is admitted, unknown peers never wait, bad limits are refused",
          "[pubsub][inbound]") {
  auto l = small();
  l.enabled = false;
  InboundGate g(l);
  const auto p = new_peer();
  TimePoint now{0};
  for (int i = 0; i < 10; ++i) CHECK(g.admit(new_peer(), false, now));
  CHECK(g.charge(p, 1 << 20, 1000, now) == Duration::zero());
  InboundGate on(small());
  CHECK(on.wait(p, now) == Duration::zero());
  CHECK(on.charge(p, 1 << 20, 1000, now) == Duration::zero());
  CHECK(small().validate());
  auto bad = small();
  bad.peer_bytes_per_s = 0;
  CHECK_FALSE(bad.validate());
  bad = small();
  bad.start_fraction = 1.5;
  CHECK_FALSE(bad.validate());
  bad = small();
  bad.admit_burst = 0.5;
  CHECK_FALSE(bad.validate());
}
