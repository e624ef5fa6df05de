// The shard layer on the simulator: 100 nodes with real gossipsub routers and real
// shard managers, 8 shards, virtual time (no sleeps), one seed per scenario.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>

#include "shard_sim.h"
#include "shardnode/core/errors.h"
#include "shardnode/shard/topics.h"
#include "shardnode/shard/errors.h"

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

// Collations every second, kept for 8 periods; syncs page 4 collations at a time.
ShardSimConfig collation_config(std::uint64_t seed) {
  ShardSimConfig c = config(seed);
  c.collation.period_ms = 1000;
  c.collation.retention_periods = 8;
  c.collation.sync_max_count = 4;
  return c;
}

// The collations of shard k held by any started member of k other than `except`.
std::set<Hash32> union_on_shard(ShardSim& sim, std::uint32_t k, std::uint32_t except) {
  std::set<Hash32> all;
  for (std::uint32_t n = 0; n < kNodes; ++n) {
    if (n == except || !sim.started(n) || !sim.manager(n).shards().count(k)) continue;
    auto got = sim.collations(n, k);
    all.insert(got.begin(), got.end());
  }
  return all;
}

// 100 nodes on their duties, then collations for 12 periods, then `late` joins shard
// k, collations go on for 8 s, stop, and 2 s to settle. Returns when the joiner joined.
// `on_synced` runs as soon as the joiner's sync of k is done.
std::uint64_t run_late_join(ShardSim& sim, std::uint32_t late, std::uint32_t k,
                            const std::function<void()>& on_synced = {}) {
  for (std::uint32_t n = 0; n < kNodes; ++n)
    if (n != late) sim.start(n, duties(n));
  sim.run_for(8s);  // tables and meshes
  sim.set_auto_propose(true);
  sim.run_for(12s);
  // Every member of k holds the retention window's collations.
  const auto before = union_on_shard(sim, k, late);
  REQUIRE(before.size() >= sim.config().collation.retention_periods);
  REQUIRE(sim.collations(late).empty());
  const auto joined = sim.now_ms();
  sim.start(late, {k});
  bool synced = false;
  for (int i = 0; i < 80; ++i) {  // 8 s, looking every 100 ms
    sim.run_for(100ms);
    const SyncRecord* s = sim.sync(late, k);
    if (!synced && s && s->done) {
      synced = true;
      if (on_synced) on_synced();
    }
  }
  sim.set_auto_propose(false);
  sim.run_for(2s);
  return joined;
}

// The joiner ends with exactly the collations the shard's members hold.
void check_joiner_set(ShardSim& sim, std::uint32_t late, std::uint32_t k) {
  const auto mine = sim.collations(late, k);
  const auto theirs = union_on_shard(sim, k, late);
  CHECK(theirs.size() >= 6);
  CHECK(mine == theirs);
  CHECK(sim.collations(late) == mine);  // nothing from other shards
  for (const auto& id : mine) {
    const Collation* c = sim.collation(late, id);
    REQUIRE(c);
    CHECK(c->header.shard == k);
    CHECK(verify(*c));
  }
  // The members agree among themselves too.
  for (std::uint32_t n = 0; n < kNodes; ++n)
    if (n != late && sim.manager(n).shards().count(k)) CHECK(sim.collations(n, k) == theirs);
}

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

TEST_CASE("a late joiner syncs past collations by request", "[shard][scenario][collation]") {
  ShardSim sim(collation_config(21));
  const std::uint32_t late = kNodes - 1, k = 3;
  const auto joined = run_late_join(sim, late, k);

  const SyncRecord* s = sim.sync(late, k);
  REQUIRE(s);
  CHECK(s->done);
  CHECK(s->finished_ms > joined);
  CHECK(s->finished_ms - joined < 6000);  // bounded: table, jump (dial, graft), then the window
  CHECK(s->invalid == 0);
  CHECK(s->bad.empty());
  // The window came by request, in pages of 4 (truncated answers continued).
  CHECK(s->received >= 6);
  CHECK(s->requests >= 2);
  REQUIRE(s->completed_by);
  CHECK(sim.manager(late).table().get(*s->completed_by)->contains(k));
  CHECK(s->to_period - s->from_period == sim.config().collation.retention_periods + 1);
  check_joiner_set(sim, late, k);

  // The same protocol by hash, and its limits, over the simulated round trip.
  const auto peer = *sim.gossip().node_of(*s->completed_by);
  REQUIRE(sim.gossip().linked(late, peer));
  const Hash32 id = *sim.collations(late, k).begin();
  auto ask = [&](const CollationRequest& req) {
    std::optional<Result<Bytes>> got;
    sim.request(late, peer, kCollationProtocol, encode_collation_request(req),
                [&got](Result<Bytes> r) { got = std::move(r); });
    CHECK_FALSE(got);  // not before the round trip
    sim.run_for(100ms);
    REQUIRE(got);
    return std::move(*got);
  };
  auto by_hash = ask(CollationHashRequest{id});
  REQUIRE(by_hash);
  auto resp = decode_collation_response(*by_hash, CollationProtocolLimits{});
  REQUIRE(resp);
  REQUIRE(resp->collations.size() == 1);
  CHECK(collation_hash(decode_collation(resp->collations[0]).value().header) == id);
  Hash32 unknown{};
  unknown[0] = 0x5a;
  resp = decode_collation_response(ask(CollationHashRequest{unknown}).value(), CollationProtocolLimits{});
  REQUIRE(resp);
  CHECK(resp->collations.empty());
  // A count over the protocol's cap is refused, not clamped; so is a span over its cap.
  auto too_many = ask(CollationRangeRequest{k, 0, 10, 257});
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error().code == ShardErrc::oversize);
  CHECK(ask(CollationRangeRequest{k, 0, 20000, 4}).error().code == ShardErrc::oversize);
  // A range answer is capped at max_count and says it was truncated.
  resp = decode_collation_response(ask(CollationRangeRequest{k, 0, 1000, 2}).value(), CollationProtocolLimits{});
  REQUIRE(resp);
  CHECK(resp->collations.size() == 2);
  CHECK(resp->truncated);
}

TEST_CASE("a late joiner rejects a forged collation, penalises its sender and syncs from another peer",
          "[shard][scenario][collation][malformed]") {
  ShardSim sim(collation_config(22));
  const std::uint32_t late = kNodes - 1, k = 5;
  // Whichever member of k the joiner asks first answers its window with a forged
  // collation (a valid-looking header for shard k, signature broken) among real ones.
  std::optional<std::uint32_t> forger;
  Hash32 forged_id{};
  for (std::uint32_t m = 0; m < kNodes; ++m) {
    if (m == late || !duties(m).count(k)) continue;
    sim.set_answer(m, kCollationProtocol,
                   [&sim, &forger, &forged_id, late, k](std::uint32_t self, std::uint32_t from,
                                                        ByteView req) -> std::optional<Bytes> {
                     if (from != late || forger) return std::nullopt;
                     forger = self;
                     auto honest = sim.answer_collations(self, req);
                     REQUIRE(honest);
                     auto resp = decode_collation_response(*honest, CollationProtocolLimits{});
                     REQUIRE(resp);
                     auto fake = make_collation(sim.validator_key(self), k, sim.current_period(), Hash32{},
                                                Bytes{'f', 'o', 'r', 'g', 'e', 'd'});
                     fake.signature[5] ^= 0x10;
                     REQUIRE(decode_collation(encode(fake)).error().code == ShardErrc::bad_signature);
                     forged_id = collation_hash(fake.header);
                     resp->collations.insert(resp->collations.begin(), encode(fake));
                     return encode_collation_response(*resp);
                   });
  }
  // P7 decays (by 0.2 a second by default): look at the joiner's score of the forger
  // as soon as the sync is done.
  double penalty_at_sync = -1, penalty_of_completer = -1;
  const auto joined = run_late_join(sim, late, k, [&] {
    auto* scoring = sim.gossip().router(late).scoring();
    const SyncRecord* s = sim.sync(late, k);
    REQUIRE(scoring);
    REQUIRE(forger);
    REQUIRE(s->completed_by);
    penalty_at_sync = scoring->breakdown(sim.gossip().peer(*forger), sim.gossip().now()).behaviour_penalty;
    penalty_of_completer = scoring->breakdown(*s->completed_by, sim.gossip().now()).behaviour_penalty;
  });
  REQUIRE(forger);
  const PeerId bad = sim.gossip().peer(*forger);

  const SyncRecord* s = sim.sync(late, k);
  REQUIRE(s);
  CHECK(s->done);
  CHECK(s->finished_ms - joined < 6000);
  REQUIRE_FALSE(s->asked.empty());
  CHECK(s->asked.front() == bad);
  CHECK(s->invalid == 1);
  CHECK(s->bad == std::set<PeerId>{bad});
  REQUIRE(s->completed_by);
  CHECK(*s->completed_by != bad);
  // Rejected, never stored; the sender got a behaviour penalty (P7) at the joiner.
  CHECK(sim.collation(late, forged_id) == nullptr);
  CHECK(penalty_at_sync > 0);
  CHECK(penalty_of_completer == 0);
  check_joiner_set(sim, late, k);
}

TEST_CASE("shard jumps over a cold table dial the target shard's peers from the table",
          "[shard][scenario][collation]") {
  ShardSim sim(collation_config(15));
  for (std::uint32_t n = 0; n < kNodes; ++n) sim.start(n, duties(n));
  sim.run_for(10s);
  // Jumpers with no connection at all to any peer of their target shard (and not
  // adjacent to each other): everything they reach on it they must dial from the table.
  std::map<std::uint32_t, std::uint32_t> jumped;  // node -> target
  std::map<std::uint32_t, std::set<std::uint32_t>> neighbours_before;
  for (std::uint32_t n = 0; n < kNodes && jumped.size() < 8; ++n) {
    const auto& nb = sim.gossip().network().neighbors(n);
    bool next_to_jumper = false;
    for (auto m : nb) next_to_jumper = next_to_jumper || jumped.count(m);
    if (next_to_jumper) continue;
    for (std::uint32_t t = 0; t < kShards; ++t) {
      if (duties(n).count(t)) continue;
      if (std::none_of(nb.begin(), nb.end(), [t](std::uint32_t m) { return duties(m).count(t) == 1; })) {
        jumped[n] = t;
        neighbours_before[n] = std::set<std::uint32_t>(nb.begin(), nb.end());
        break;
      }
    }
  }
  REQUIRE(jumped.size() >= 5);
  for (const auto& [n, to] : jumped) {
    CHECK(sim.manager(n).table().peers_on(to).size() >= 10);  // the table knows the shard ...
    for (const auto& p : sim.manager(n).table().peers_on(to)) CHECK_FALSE(sim.gossip().linked(n, *sim.gossip().node_of(p)));  // ... but no connection
    REQUIRE(sim.manager(n).jump(*duties(n).begin(), to, sim.now_ms()));
  }
  sim.run_for(5s);
  for (const auto& [n, to] : jumped) {
    const auto& m = sim.manager(n);
    REQUIRE_FALSE(m.jumps().empty());
    const auto& j = m.jumps().back();
    CHECK(j.shard == to);
    CHECK(j.completed);
    CHECK(j.dialled >= sim.config().shard.jump_mesh_target);
    CHECK(j.took_ms() < 3000);
    const auto mesh = sim.gossip().router(n).mesh(collation_topic(to));
    CHECK(mesh.size() >= sim.config().shard.jump_mesh_target);
    for (const auto& p : mesh) {
      const auto other = *sim.gossip().node_of(p);
      CHECK(neighbours_before[n].count(other) == 0);  // dialled for the jump
      CHECK(duties(other).count(to) == 1);
    }
    // The new shard's sync ran over the dialled connections.
    const SyncRecord* s = sim.sync(n, to);
    REQUIRE(s);
    CHECK(s->done);
  }
  // A collation proposed on a target shard now reaches its jumper.
  const auto& [jumper, shard] = *jumped.begin();
  std::uint32_t proposer = 0;
  while (proposer == jumper || !duties(proposer).count(shard)) ++proposer;
  auto id = sim.propose_collation(proposer, shard, Bytes{1, 2, 3});
  REQUIRE(id);
  sim.run_for(2s);
  CHECK(sim.collation(jumper, *id) != nullptr);
  CHECK(union_on_shard(sim, shard, kNodes).count(*id) == 1);
}

TEST_CASE("beacon headers on the beacon topic: every node converges on the same head",
          "[shard][scenario][beacon]") {
  ShardSimConfig c = config(31);
  c.beacon.enabled = true;
  c.beacon.slot_ms = 2000;
  c.beacon.proposers_per_slot = 2;  // two rival headers every slot
  c.gossip.score.topics[std::string(kBeaconTopic)] = pubsub::TopicScoreParams::defaults();
  ShardSim sim(c);
  std::vector<std::uint32_t> proposers;
  for (std::uint32_t n = 0; n < kNodes; n += 10) {
    sim.set_beacon_proposer(n, true);
    proposers.push_back(n);
  }
  for (std::uint32_t n = 0; n < kNodes; ++n) sim.start(n, {});

  // Check 1.5 s into every slot: all 100 nodes hold the same head, the best of the slot.
  sim.run_for(3500ms);
  for (std::uint64_t slot = 1; slot <= 12; ++slot) {
    INFO("slot " << slot);
    std::vector<BeaconHeader> rivals;
    for (auto p : proposers)
      for (const auto& h : sim.beacon_proposals(p))
        if (h.slot == slot) rivals.push_back(h);
    REQUIRE(rivals.size() == 2);
    CHECK(beacon_hash(rivals[0]) != beacon_hash(rivals[1]));
    const Hash32 best = std::min(beacon_hash(rivals[0]), beacon_hash(rivals[1]));
    std::size_t on_best = 0;
    for (std::uint32_t n = 0; n < kNodes; ++n) {
      const auto& head = sim.beacon(n).head();
      if (head && head->hash == best) ++on_best;
    }
    CHECK(on_best == kNodes);
    // Every proposal builds on the head its proposer had: the previous slot's best.
    if (slot > 1) {
      for (const auto& h : rivals) CHECK(sim.beacon(0).known(h.parent_hash));
    }
    sim.run_for(2s);
  }

  // Attacks from a non-proposer: a forged header (bad signature), a validly signed
  // header far in the future, garbage bytes.
  const std::uint32_t attacker = 3;
  const auto slot = sim.beacon(0).slot_at(sim.now_ms());
  const Hash32 head_before = sim.beacon(0).head()->hash;
  auto forged = make_beacon_header(sim.validator_key(attacker), slot, head_before, Hash32{});
  forged.signature[0] ^= 1;
  const auto future = make_beacon_header(sim.validator_key(attacker), slot + 50, head_before, Hash32{});
  std::uint64_t rejected_before = 0, ignored_before = 0;
  for (std::uint32_t n = 0; n < kNodes; ++n) {
    rejected_before += sim.beacon(n).counters().rejected;
    ignored_before += sim.beacon(n).counters().ignored;
  }
  CHECK(rejected_before == 0);
  // (In this order: the first rejection graylists the attacker at its neighbours,
  // which then drop whatever else it sends unvalidated.)
  REQUIRE(sim.gossip().publish(attacker, std::string(kBeaconTopic), encode(future)));
  REQUIRE(sim.gossip().publish(attacker, std::string(kBeaconTopic), encode(forged)));
  REQUIRE(sim.gossip().publish(attacker, std::string(kBeaconTopic), Bytes{0x0a, 0xff, 0x01}));
  sim.run_for(300ms);  // still within the slot
  std::uint64_t rejected = 0, ignored = 0;
  std::size_t flagged = 0;
  for (std::uint32_t n = 0; n < kNodes; ++n) {
    if (n == attacker) continue;
    rejected += sim.beacon(n).counters().rejected;
    ignored += sim.beacon(n).counters().ignored;
    flagged += sim.gossip().router(n).is_flagged(sim.gossip().peer(attacker));
    CHECK(sim.beacon(n).head()->hash == head_before);  // neither became anyone's head
    CHECK_FALSE(sim.beacon(n).known(beacon_hash(forged)));
    CHECK_FALSE(sim.beacon(n).known(beacon_hash(future)));
  }
  CHECK(rejected >= 1);             // the forged header, at the attacker's neighbours (never forwarded)
  CHECK(ignored > ignored_before);  // the future header
  CHECK(flagged >= 1);              // invalid messages on a scored topic (P4)
  // Proposals go on and the network still agrees.
  sim.run_for(2s);
  const auto& h0 = sim.beacon(0).head();
  REQUIRE(h0);
  CHECK(h0->header.slot == slot + 1);
  // (The attacker itself is graylisted by its neighbours, which stop sending to it.)
  for (std::uint32_t n = 0; n < kNodes; ++n)
    if (n != attacker) CHECK(sim.beacon(n).head() == h0);
}

TEST_CASE("cover subscriptions: random extra shards, announced and redrawn every epoch", "[shard][scenario][privacy]") {
  ShardSimConfig c = config(41);
  c.gossip.nodes = 40;
  c.shard.shard_count = 16;
  c.shard.cover_shards = 3;
  // Longer than gossipsub's unsubscribe backoff (10 s) plus a heartbeat: a shard left
  // at one draw and drawn again at the next is re-grafted only after the backoff.
  c.shard.cover_epoch_ms = 30'000;
  c.shard.announce_interval_ms = 120'000;
  ShardSim sim(c);
  auto duty = [](std::uint32_t n) { return std::set<std::uint32_t>{n % 16}; };
  for (std::uint32_t n = 0; n < 40; ++n) sim.start(n, duty(n));
  sim.run_for(5s);
  std::vector<std::set<std::uint32_t>> first(40);
  for (std::uint32_t n = 0; n < 40; ++n) {
    const auto& m = sim.manager(n);
    first[n] = m.cover_shards();
    CHECK(m.cover_shards().size() == 3);
    CHECK_FALSE(m.cover_shards().count(n % 16));  // cover never duplicates a duty
    CHECK(m.shards().size() == 4);                // the duty and 3 cover shards, all announced
    for (auto s : m.cover_shards()) CHECK(sim.gossip().router(n).subscribed(collation_topic(s)));
  }
  // Others' tables list every node on its cover shards too: the table cannot tell them apart.
  for (std::uint32_t n = 0; n < 40; n += 5) {
    auto rec = sim.manager((n + 1) % 40).table().get(sim.gossip().peer(n));
    REQUIRE(rec);
    for (std::uint32_t s = 0; s < 16; ++s) CHECK(rec->contains(s) == (sim.manager(n).shards().count(s) == 1));
  }
  sim.run_for(30s);  // one epoch on
  std::size_t changed = 0;
  for (std::uint32_t n = 0; n < 40; ++n) {
    const auto& m = sim.manager(n);
    CHECK(m.counters().cover_rotations == 2);
    if (m.cover_shards() != first[n]) ++changed;
    for (auto s : first[n])
      if (!m.cover_shards().count(s) && s != n % 16) CHECK_FALSE(sim.gossip().router(n).subscribed(collation_topic(s)));
  }
  CHECK(changed >= 35);  // a fresh draw of 3 of 15: the same set again has probability 1/455
  // Joining a shard that is cover makes it a duty: it stays through the next draws.
  auto& m0 = sim.manager(0);
  const std::uint32_t s = *m0.cover_shards().begin();
  const auto announcements = m0.counters().announcements;
  REQUIRE(m0.join(s, sim.now_ms()));
  CHECK_FALSE(m0.is_cover(s));
  CHECK(m0.counters().announcements == announcements);  // same announced set: no new record
  sim.run_for(2s);
  // Still a jump, done at once (its mesh was up): whoever waits on it hears of it.
  REQUIRE_FALSE(m0.jumps().empty());
  CHECK(m0.jumps().back().shard == s);
  CHECK(m0.jumps().back().completed);
  sim.run_for(58s);
  CHECK(m0.shards().count(s));
  CHECK(m0.shards().count(0));
  CHECK(m0.cover_shards().size() == 3);
  CHECK(m0.shards().size() == 5);
  // A cover shard is not ours to leave or jump from.
  const std::uint32_t cover = *m0.cover_shards().begin();
  CHECK_FALSE(m0.leave(cover, sim.now_ms()));
  CHECK_FALSE(m0.jump(cover, 1, sim.now_ms()));
  // The churn of leaving and joining costs nobody their score.
  for (std::uint32_t n = 0; n < 40; ++n) CHECK(sim.gossip().router(n).flagged_peers().empty());
}

TEST_CASE("a jump whose table lists nobody on the shard asks beyond it, every dial_retry_ms until the timeout",
          "[shard][scenario]") {
  ShardSimConfig c = config(21);
  c.gossip.nodes = 20;
  c.shard.shard_count = kShards + 1;  // shard kShards: nobody's duty
  c.shard.jump_timeout_ms = 40'000;
  c.shard.dial_retry_ms = 15'000;
  ShardSim sim(c);
  for (std::uint32_t n = 0; n < 20; ++n) sim.start(n, duties(n));
  sim.run_for(60s);  // the joins at start (empty tables) are over
  // A jump to a shard the table lists: no lookup beyond the table.
  const std::uint32_t listed = *duties(1).begin();
  const auto before0 = sim.manager(0).counters().member_lookups;
  REQUIRE(sim.manager(0).jump(*duties(0).begin(), listed, sim.now_ms()));
  sim.run_for(5s);
  CHECK(sim.manager(0).counters().member_lookups == before0);
  // The empty shard: looked up at once, at 15 s and 30 s, then the jump ends alone.
  const auto before2 = sim.manager(2).counters().member_lookups;
  REQUIRE(sim.manager(2).jump(*duties(2).begin(), kShards, sim.now_ms()));
  sim.run_for(45s);
  const auto& m = sim.manager(2);
  CHECK(m.counters().member_lookups - before2 == 3);
  REQUIRE_FALSE(m.jumps().empty());
  CHECK(m.jumps().back().shard == kShards);
  CHECK(m.jumps().back().member_lookups == 3);
}
