// Gossipsub scenarios on the simulator: real routers, simulated links, virtual
// time, one seed. No sleeps; every run is reproducible.
#include <catch2/catch.hpp>

#include <algorithm>

#include "gossip_sim.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;

namespace {

const TopicId kTopic = "/shardnode/shard/0/collations/1";

GossipSimConfig base(std::uint32_t nodes, std::uint32_t degree, std::uint64_t seed = 1) {
  GossipSimConfig c;
  c.nodes = nodes;
  c.degree = degree;
  c.seed = seed;
  c.score.topics[kTopic] = TopicScoreParams::defaults();
  return c;
}

Bytes payload(std::uint32_t i, std::size_t size = 64) {
  Bytes b(size, static_cast<std::uint8_t>(i));
  for (std::size_t k = 0; k < 4 && k < size; ++k) b[k] = static_cast<std::uint8_t>(i >> (8 * k));
  return b;
}

// Share of `honest` nodes (other than the publisher) that received the message.
double reach(GossipSim& sim, const MessageId& id, const std::vector<GossipSim::Node>& honest, GossipSim::Node from) {
  const auto& rec = sim.receptions(id);
  std::size_t got = 0, want = 0;
  for (auto n : honest) {
    if (n == from) continue;
    ++want;
    got += rec.count(n);
  }
  return want ? static_cast<double>(got) / static_cast<double>(want) : 1.0;
}

}  // namespace

TEST_CASE("mesh degrees settle within D_lo..D_hi in a 200-node network", "[scenario]") {
  GossipSim sim(base(200, 20));
  sim.subscribe_all(kTopic);
  for (int round = 0; round < 5; ++round) {
    sim.run_for(10s);
    for (std::uint32_t n = 0; n < sim.size(); ++n) {
      const auto m = sim.router(n).mesh(kTopic).size();
      INFO("node " << n << " mesh " << m << " at round " << round);
      CHECK(m >= sim.router(n).config().d_lo);
      CHECK(m <= sim.router(n).config().d_hi);
    }
  }
}

TEST_CASE("a publish reaches all of 1,000 nodes", "[scenario]") {
  GossipSim sim(base(1000, 8));
  sim.subscribe_all(kTopic);
  sim.run_for(5s);
  std::vector<MessageId> ids;
  for (std::uint32_t i = 0; i < 5; ++i) {
    auto id = sim.publish(i * 97, kTopic, payload(i));
    REQUIRE(id);
    ids.push_back(*id);
    sim.run_for(2s);
  }
  sim.run_for(5s);
  for (const auto& id : ids) CHECK(sim.receptions(id).size() == 999);
}

TEST_CASE("IDONTWANT cuts duplicate receipts of large messages", "[scenario]") {
  auto run = [](PeerProtocol proto) {
    auto cfg = base(300, 12, 5);
    cfg.protocol = proto;
    cfg.link.latency = 50ms;
    cfg.link.bandwidth_bytes_per_sec = 2e6;  // large messages take a while: IDONTWANT has time to act
    GossipSim sim(cfg);
    sim.subscribe_all(kTopic);
    sim.run_for(5s);
    const auto before = sim.stats().message_receipts;
    for (std::uint32_t i = 0; i < 10; ++i) {
      REQUIRE(sim.publish(i * 13, kTopic, payload(i, 32 * 1024)));
      sim.run_for(3s);
    }
    CHECK(sim.stats().first_deliveries == 10u * 299u);
    return sim.stats().message_receipts - before;
  };
  const auto without = run(PeerProtocol::meshsub_1_1);
  const auto with = run(PeerProtocol::meshsub_1_2);
  INFO("receipts without IDONTWANT " << without << ", with " << with);
  CHECK(static_cast<double>(with) < 0.9 * static_cast<double>(without));
}

TEST_CASE("fanout peers serve a non-subscriber's publish and expire after fanout_ttl", "[scenario]") {
  auto cfg = base(50, 10);
  cfg.gossip.flood_publish = false;
  GossipSim sim(cfg);
  for (std::uint32_t n = 1; n < sim.size(); ++n) sim.subscribe(n, kTopic);
  sim.run_for(5s);
  auto id = sim.publish(0, kTopic, payload(1));
  REQUIRE(id);
  CHECK(sim.router(0).fanout(kTopic).size() == sim.router(0).config().d);
  sim.run_for(5s);
  CHECK(sim.receptions(*id).size() == 49);
  sim.run_for(60s);
  CHECK(sim.router(0).fanout(kTopic).empty());
}

// ----------------------------------------------------------------------------
// The attacks of go-libp2p-pubsub's gossipsub_spam_test.go. Each attacker is
// connected to several honest nodes; the attacked nodes must flag it (score below
// the graylist threshold) and honest delivery must stay >= 99 %.

namespace {

struct AttackRun {
  std::size_t flagged_by = 0;     // honest neighbours that flagged the attacker
  std::size_t neighbours = 0;
  double min_reach = 1.0;         // worst honest delivery ratio over the published messages
  double worst_score = 0.0;       // the attacker's lowest score at a victim when the attack ended
};

// `script(sim, attacker, victim, round)` runs every 100 ms for each victim.
template <class Script>
AttackRun run_attack(Script script, bool attacker_subscribes = true) {
  auto cfg = base(100, 8, 11);
  GossipSim sim(cfg);
  const GossipSim::Node attacker = 0;
  std::vector<GossipSim::Node> victims;
  for (GossipSim::Node v = 1; v <= 10; ++v) {
    sim.link(attacker, v);
    victims.push_back(v);
  }
  std::vector<GossipSim::Node> honest;
  for (GossipSim::Node n = 1; n < sim.size(); ++n) honest.push_back(n);
  sim.intercept(attacker, [](GossipSim::Node, GossipSim::Node, const Rpc&) {});  // the attacker ignores everyone
  for (auto n : honest) sim.subscribe(n, kTopic);
  if (attacker_subscribes)
    for (auto v : victims) sim.send_raw(attacker, v, Rpc{{{true, kTopic}}, {}, {}});
  sim.run_for(3s);

  int round = 0;
  auto tick = sim.scheduler().every(100ms, 0ms, [&] {
    for (auto v : victims) script(sim, attacker, v, round);
    ++round;
  });
  AttackRun out;
  std::vector<MessageId> ids;
  for (std::uint32_t i = 0; i < 30; ++i) {
    const auto from = honest[(i * 37) % honest.size()];
    auto id = sim.publish(from, kTopic, payload(1000 + i));
    REQUIRE(id);
    ids.push_back(*id);
    sim.run_for(1s);
  }
  for (auto v : victims)
    out.worst_score = std::min(out.worst_score, sim.router(v).score(sim.peer(attacker), sim.now()));
  sim.scheduler().cancel(tick);
  sim.run_for(3s);
  for (std::size_t i = 0; i < ids.size(); ++i)
    out.min_reach = std::min(out.min_reach, reach(sim, ids[i], honest, honest[(i * 37) % honest.size()]));
  out.neighbours = victims.size();
  for (auto v : victims) out.flagged_by += sim.router(v).is_flagged(sim.peer(attacker)) ||
                                          sim.router(v).counters().peers_flagged > 0;
  return out;
}

void expect_flagged(const AttackRun& r) {
  INFO("flagged by " << r.flagged_by << " of " << r.neighbours << ", worst honest reach " << r.min_reach
                      << ", attacker score " << r.worst_score);
  CHECK(r.flagged_by == r.neighbours);
  CHECK(r.min_reach >= 0.99);
}

}  // namespace

TEST_CASE("attack: IWANT spam for a cached message is capped and flags the attacker", "[scenario][spam]") {
  std::map<GossipSim::Node, MessageId> known;
  auto r = run_attack([&](GossipSim& sim, GossipSim::Node a, GossipSim::Node v, int) {
    // Learn an id the victim has cached from its message cache gossip, then ask for it over and over.
    if (!known.count(v)) {
      Rpc probe;
      auto id = sim.publish(v, kTopic, payload(50000 + v));  // the victim's own fresh message
      if (id) known[v] = *id;
      return;
    }
    Rpc rpc;
    rpc.control.iwant = {{{known[v]}}};
    sim.send_raw(a, v, rpc);
  });
  expect_flagged(r);
}

TEST_CASE("attack: IHAVE spam with never-delivered ids breaks promises and flags the attacker", "[scenario][spam]") {
  std::uint32_t counter = 0;
  auto r = run_attack([&](GossipSim& sim, GossipSim::Node a, GossipSim::Node v, int) {
    Rpc rpc;
    ControlIHave ih{kTopic, {}};
    for (int i = 0; i < 50; ++i) ih.ids.push_back(payload(++counter, 20));
    rpc.control.ihave = {ih};
    sim.send_raw(a, v, rpc);
  });
  expect_flagged(r);
}

TEST_CASE("attack: GRAFT during backoff is penalised and flags the attacker", "[scenario][spam]") {
  auto r = run_attack([&](GossipSim& sim, GossipSim::Node a, GossipSim::Node v, int round) {
    Rpc rpc;
    if (round % 2 == 0) rpc.control.prune = {{kTopic, {}, 60}};
    else rpc.control.graft = {{kTopic}};
    sim.send_raw(a, v, rpc);
  });
  expect_flagged(r);
}

TEST_CASE("attack: GRAFT for an unknown topic is refused and flags the attacker", "[scenario][spam]") {
  std::uint32_t counter = 0;
  auto r = run_attack(
      [&](GossipSim& sim, GossipSim::Node a, GossipSim::Node v, int) {
        Rpc rpc;
        rpc.control.graft = {{"/no/such/topic/" + std::to_string(++counter)}};
        sim.send_raw(a, v, rpc);
      },
      false);
  expect_flagged(r);
}

TEST_CASE("attack: invalid-message spam is rejected (P4) and flags the attacker", "[scenario][spam]") {
  // Honest validators reject 33-byte messages; honest ones are 64 bytes.
  auto cfg_validator = [](GossipSim& sim) {
    for (std::uint32_t n = 1; n < sim.size(); ++n)
      sim.router(n).set_validator(kTopic, [](const PeerId&, const Message& m) {
        return m.data.size() == 33 ? ValidationResult::reject : ValidationResult::accept;
      });
  };
  bool configured = false;
  std::uint32_t counter = 0;
  auto r = run_attack([&](GossipSim& sim, GossipSim::Node a, GossipSim::Node v, int) {
    if (!configured) {
      cfg_validator(sim);
      configured = true;
    }
    Message m;
    m.topic = kTopic;
    m.data = payload(++counter, 33);
    Rpc rpc;
    rpc.publish = {m};
    sim.send_raw(a, v, rpc);
  });
  expect_flagged(r);
}
