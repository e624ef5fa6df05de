// The shard layer on the simulator: 100 nodes with real gossipsub routers and real
// shard managers, 8 shards, virtual time (no sleeps), one seed per scenario.
#include <catch2/catch.hpp>

#include <map>

#include "shard_sim.h"
#include "shardnode/shard/topics.h"

using namespace shardnode;
using namespace shardnode::shard;
using namespace std::chrono_literals;

namespace {

constexpr std::uint32_t kNodes = 100;
constexpr std::uint32_t kShards = 8;

ShardSimConfig config(std::uint64_t seed) {
  ShardSimConfig c;
  c.gossip.nodes = kNodes;
  c.gossip.degree = 8;
  c.gossip.seed = seed;
  c.gossip.gossip.heartbeat_interval = 700ms;
  c.shard.shard_count = kShards;
  c.shard.announce_interval_ms = 120'000;
  c.shard.record_ttl_ms = 600'000;
  // Score the preference topic as a node does (invalid records cost P4).
  c.gossip.score.topics[std::string(kPreferenceTopic)] = pubsub::TopicScoreParams::defaults();
  return c;
}

// Two shards per node, spread so every shard has ~25 nodes.
std::set<std::uint32_t> duties(std::uint32_t n) { return {n % kShards, (n / kShards + n) % kShards}; }

}  // namespace

TEST_CASE("shard preference tables converge on 100 nodes", "[shard][scenario]") {
  ShardSim sim(config(11));
  for (std::uint32_t n = 0; n < kNodes; ++n) sim.start(n, duties(n));
  sim.run_for(20s);
  for (std::uint32_t n = 0; n < kNodes; ++n) {
    const auto& t = sim.manager(n).table();
    REQUIRE(t.size() == kNodes);
    // Every record says what its node is on.
    for (std::uint32_t m = 0; m < kNodes; m += 7) {
      auto rec = t.get(sim.gossip().peer(m));
      REQUIRE(rec);
      for (std::uint32_t s = 0; s < kShards; ++s) CHECK(rec->contains(s) == (duties(m).count(s) == 1));
    }
  }
  // peers_on agrees with the duties.
  std::size_t on_shard_3 = 0;
  for (std::uint32_t m = 0; m < kNodes; ++m) on_shard_3 += duties(m).count(3);
  CHECK(sim.manager(0).table().peers_on(3).size() == on_shard_3);
}

TEST_CASE("a late joiner gets the preference table by request", "[shard][scenario]") {
  ShardSim sim(config(12));
  const std::uint32_t late = kNodes - 1;
  for (std::uint32_t n = 0; n < late; ++n) sim.start(n, duties(n));
  sim.run_for(20s);
  CHECK(sim.manager(late).table().size() == 0);
  // Nobody re-announces for two minutes: what the joiner learns now comes by request.
  sim.start(late, {0});
  sim.run_for(3s);
  const auto& m = sim.manager(late);
  CHECK(m.counters().table_requests_sent >= 1);
  CHECK(m.counters().table_responses >= 1);
  CHECK(m.table().size() == kNodes);
  CHECK(m.counters().records_accepted <= 1);  // at most its own echo came by gossip
  // And everyone learns about the joiner through its announcement.
  CHECK(sim.manager(0).table().get(sim.gossip().peer(late)).has_value());
}

TEST_CASE("shard jumps complete: subscribe then dial the shard's peers then graft", "[shard][scenario]") {
  ShardSim sim(config(13));
  for (std::uint32_t n = 0; n < kNodes; ++n) sim.start(n, duties(n));
  sim.run_for(20s);
  // Ten nodes jump to a shard they are not on.
  std::map<std::uint32_t, std::uint32_t> jumped;  // node -> new shard
  for (std::uint32_t n = 0; n < 10; ++n) {
    const std::uint32_t from = *duties(n).begin();
    std::uint32_t to = (from + 3) % kShards;
    while (duties(n).count(to)) to = (to + 1) % kShards;
    REQUIRE(sim.manager(n).jump(from, to, sim.now_ms()));
    jumped[n] = to;
  }
  sim.run_for(15s);
  for (const auto& [n, to] : jumped) {
    const auto& m = sim.manager(n);
    REQUIRE(m.jumps().size() >= 1);
    const auto& j = m.jumps().back();
    CHECK(j.shard == to);
    CHECK(j.completed);
    CHECK(j.took_ms() < 5000);
    CHECK(sim.gossip().router(n).mesh(collation_topic(to)).size() >= 1);
    CHECK(m.shards().count(to) == 1);
  }
  // The rest of the network sees the move in the jumpers' re-announcements.
  for (const auto& [n, to] : jumped) {
    auto rec = sim.manager(50).table().get(sim.gossip().peer(n));
    REQUIRE(rec);
    CHECK(rec->contains(to));
  }
}

TEST_CASE("forged short and expired preference records are rejected and their sender scored",
          "[shard][scenario][malformed]") {
  ShardSim sim(config(14));
  const std::uint32_t attacker = 0, victim = 1;
  // The attacker answers table requests with one forged, one short and one expired
  // record next to a valid one.
  sim.set_table_answer(attacker, [&sim] {
    const auto now_s = sim.now_ms() / 1000;
    auto forged = make_preference(sim.gossip().key(5), 1, now_s + 300, kShards, {1});
    forged.signature[3] ^= 0x40;
    auto good = make_preference(sim.gossip().key(6), 1, now_s + 300, kShards, {2});
    auto expired = make_preference(sim.gossip().key(7), 1, now_s - 10, kShards, {3});
    Bytes shortrec = encode(good);
    shortrec.resize(shortrec.size() / 2);
    return encode_table_response({encode(forged), shortrec, encode(expired), encode(good)});
  });
  // Only the attacker is connected to the victim when the victim joins.
  for (std::uint32_t n = 0; n < kNodes; ++n)
    if (n != victim) sim.start(n, duties(n));
  // The victim's lowest-numbered neighbour (asked first) is the attacker.
  sim.gossip().link(victim, attacker);
  sim.run_for(2s);
  auto& vr = sim.gossip().router(victim);
  REQUIRE(vr.scoring());
  const double before = vr.scoring()->breakdown(sim.gossip().peer(attacker), sim.gossip().now()).behaviour_penalty;
  const auto answered_before = sim.table_requests_answered(attacker);
  sim.start(victim, {0});
  sim.run_for(2s);
  const auto& m = sim.manager(victim);
  REQUIRE(sim.table_requests_answered(attacker) == answered_before + 1);
  // Forged and short count against the sender; an expired record may just have
  // expired in transit, so it is dropped without blame.
  CHECK(m.counters().table_records_invalid == 2);
  // ... as a behaviour penalty (P7) on the attacker at the victim.
  CHECK(vr.scoring()->breakdown(sim.gossip().peer(attacker), sim.gossip().now()).behaviour_penalty > before);  // (P7 decays; 2 s later it is still there)
  // The forged record (node 5 on shard 1 only) never entered the table; node 5's own does.
  auto rec5 = m.table().get(sim.gossip().peer(5));
  REQUIRE(rec5);
  for (std::uint32_t s = 0; s < kShards; ++s) CHECK(rec5->contains(s) == (duties(5).count(s) == 1));
  // Node 7's expired record was not stored over its live one either.
  auto rec7 = m.table().get(sim.gossip().peer(7));
  REQUIRE(rec7);
  CHECK(rec7->expires_at > sim.now_ms() / 1000);

  // Over gossip: the attacker publishes a forged record; every receiver rejects it.
  auto forged = make_preference(sim.gossip().key(9), 99, sim.now_ms() / 1000 + 300, kShards, {7});
  forged.signature[0] ^= 1;
  const auto rejected_before = sim.manager(2).counters().records_rejected;
  (void)sim.gossip().publish(attacker, std::string(kPreferenceTopic), encode(forged));
  sim.run_for(2s);
  std::uint64_t rejections = 0;
  for (std::uint32_t n = 1; n < kNodes; ++n) rejections += sim.manager(n).counters().records_rejected;
  CHECK(rejections >= 1);
  CHECK(sim.manager(2).counters().records_rejected >= rejected_before);
  // Node 9's real record is untouched by the forgery.
  auto rec9 = sim.manager(2).table().get(sim.gossip().peer(9));
  REQUIRE(rec9);
  CHECK(rec9->contains(7) == (duties(9).count(7) == 1));
  // Its receivers scored the attacker down (P4) past the graylist threshold and
  // flagged it as a spam source.
  std::size_t flagged = 0;
  for (std::uint32_t n = 1; n < kNodes; ++n) flagged += sim.gossip().router(n).is_flagged(sim.gossip().peer(attacker));
  CHECK(flagged >= 1);
}
