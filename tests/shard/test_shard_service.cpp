// The shard manager on live hosts over TCP loopback: preference tables fill by gossip
// and by request, a jump dials the shard's peers and grafts them, and a malformed
// table request is refused without harm. Real clock; waits have deadlines.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

#include "../support/io_wait.h"
#include "../support/live_shard_node.h"
#include "shardnode/net/request_response.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/node/shard_service.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/collation_protocol.h"
#include "shardnode/shard/table_protocol.h"
#include "shardnode/shard/topics.h"

using namespace shardnode;
using namespace std::chrono_literals;
using shardnode::test::run_until;
namespace asio = boost::asio;

namespace {

using Net = test::LiveNet;
using ShardNode = test::LiveShardNode;
using test::connect;

// A node with a collation store at `file`.
ShardNode::Tweak store_at(std::filesystem::path file) {
  return [file = std::move(file)](node::ShardServiceConfig& sc, pubsub::ServiceConfig&) { sc.store_file = file; };
}

}  // namespace

TEST_CASE("live shard service: tables by gossip and by request and a jump that dials and grafts", "[shard][live]") {
  asio::io_context io;
  Net net;
  // Nodes 0-3 form a line; 1 and 2 are on shard 5, the others elsewhere.
  std::vector<std::unique_ptr<ShardNode>> n;
  const std::vector<std::set<std::uint32_t>> duties = {{0}, {5}, {5, 1}, {2}};
  for (const auto& d : duties) n.push_back(std::make_unique<ShardNode>(io, net, d));
  for (std::size_t i = 0; i + 1 < n.size(); ++i) connect(io, *n[i], *n[i + 1]);
  for (auto& x : n) REQUIRE(x->shards->start());
  REQUIRE(run_until(io, [&] {
    for (auto& x : n)
      if (x->m().table().size() != n.size()) return false;
    return true;
  }));
  CHECK(n[0]->m().table().peers_on(5).size() == 2);

  SECTION("a late joiner gets the table by request") {
    n.push_back(std::make_unique<ShardNode>(io, net, std::set<std::uint32_t>{0}));
    auto& late = *n.back();
    connect(io, late, *n[0]);
    REQUIRE(late.shards->start());
    REQUIRE(run_until(io, [&] { return late.m().table().size() == n.size(); }));
    CHECK(late.m().counters().table_responses >= 1);
    CHECK(n[0]->m().counters().table_requests_served >= 1);

    // It jumps to shard 5: dials nodes 1 and 2 (it knew neither) and grafts them.
    REQUIRE(late.m().jump(0, 5, late.shards->now_ms()));
    REQUIRE(run_until(io, [&] { return !late.m().jumps().empty(); }, 30s));
    const auto& j = late.m().jumps().back();
    CHECK(j.completed);
    CHECK(j.shard == 5);
    CHECK(j.dialled >= 2);
    CHECK(late.host->connected(n[1]->host->peer_id()));
    CHECK(late.host->connected(n[2]->host->peer_id()));
    CHECK(late.ps->router().mesh(shard::collation_topic(5)).size() >= 2);
    // The network learns of the move.
    REQUIRE(run_until(io, [&] {
      auto r = n[3]->m().table().get(late.host->peer_id());
      return r && r->contains(5) && !r->contains(0);
    }));
  }

  SECTION("collations: a validator publishes, the shard's nodes accept once, a wrong-shard one is rejected") {
    n[1]->shards->set_validator_key(std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::generate()));
    std::vector<shard::Hash32> got;
    n[2]->shards->on_collation([&](const shard::Collation& c, const shard::Hash32& id) {
      CHECK(c.header.shard == 5);
      got.push_back(id);
    });
    // Wait for the shard-5 mesh between nodes 1 and 2.
    REQUIRE(run_until(io, [&] { return !n[1]->ps->router().mesh(shard::collation_topic(5)).empty(); }));
    auto id = n[1]->shards->publish_collation(5, Bytes{'h', 'i'});
    REQUIRE(id);
    REQUIRE(run_until(io, [&] { return got.size() == 1; }));
    CHECK(got[0] == *id);
    CHECK_FALSE(n[0]->shards->publish_collation(5, Bytes{1}));      // no validator key
    CHECK_FALSE(n[1]->shards->publish_collation(3, Bytes{1}));      // not on shard 3
    // A collation for shard 1 sent on shard 5's topic: rejected, not delivered.
    auto wrong = shard::make_collation(shard::ValidatorKey::generate(), 1, n[1]->shards->current_period(), {}, Bytes{7});
    const auto rejected = n[2]->shards->collations_rejected();
    REQUIRE(n[1]->ps->publish(shard::collation_topic(5), shard::encode(wrong)));
    REQUIRE(run_until(io, [&] { return n[2]->shards->collations_rejected() > rejected; }));
    CHECK(got.size() == 1);
  }

  SECTION("a malformed table request is refused and the node carries on") {
    std::optional<std::shared_ptr<net::Stream>> st;
    n[0]->host->new_stream(n[1]->host->peer_id(), {shard::kTableProtocol}, [&](auto r) {
      REQUIRE(r);
      st = *r;
    });
    REQUIRE(run_until(io, [&] { return st.has_value(); }));
    bool closed = false;
    (*st)->on_close([&](std::error_code) { closed = true; });
    (*st)->on_data([](ByteView) {});
    const Bytes garbage = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    REQUIRE((*st)->write(garbage));
    REQUIRE(run_until(io, [&] { return closed; }));
    CHECK(n[0]->host->connected(n[1]->host->peer_id()));
    // A well-formed request asking for more than the cap still gets (capped) records.
    const auto before = n[1]->m().counters().table_requests_served;
    auto resp = n[1]->m().answer_table_request(shard::encode_table_request(1u << 30));
    REQUIRE(resp);
    CHECK(n[1]->m().counters().table_requests_served == before + 1);
  }
  for (auto& x : n) x->shards->stop();
  for (auto& x : n) x->ps->stop();
  for (auto& x : n) x->host->close();
}

TEST_CASE("live collation sync: a joiner fetches the shard's stored collations by request", "[shard][live]") {
  asio::io_context io;
  Net net;
  std::string tmpl = "/tmp/sn-cs-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl.data());
  ShardNode a(io, net, {5}, store_at(dir / "a.db")), b(io, net, {5}, store_at(dir / "b.db")),
      c(io, net, {1}, store_at(dir / "c.db"));
  connect(io, a, b);
  connect(io, c, a);
  REQUIRE(a.shards->start());
  REQUIRE(b.shards->start());
  REQUIRE(c.shards->start());
  a.shards->set_validator_key(std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::generate()));
  REQUIRE(run_until(io, [&] { return !a.ps->router().mesh(shard::collation_topic(5)).empty(); }));
  std::vector<shard::Hash32> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(a.shards->publish_collation(5, Bytes{'c', static_cast<std::uint8_t>('0' + i)}).value());
  REQUIRE(run_until(io, [&] { return b.shards->store()->count().value() == 3; }));
  CHECK(a.shards->store()->count().value() == 3);
  CHECK(c.shards->store()->count().value() == 0);  // not on shard 5

  // c asks a for shard 5's recent periods: all three arrive, verified and stored.
  const auto cur = a.shards->current_period();
  std::optional<Result<std::size_t>> got;
  c.shards->request_collations(a.host->peer_id(), shard::CollationRangeRequest{5, cur > 5 ? cur - 5 : 0, cur, 100},
                               [&](Result<std::size_t> r) { got = std::move(r); });
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  REQUIRE(*got);
  CHECK(**got == 3);
  for (const auto& id : ids) CHECK(c.shards->store()->contains(id));
  // By hash, something it already has: nothing new.
  got.reset();
  c.shards->request_collations(a.host->peer_id(), shard::CollationHashRequest{ids[1]},
                               [&](Result<std::size_t> r) { got = std::move(r); });
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  REQUIRE(*got);
  CHECK(**got == 0);
  // A request over the span cap is refused (the stream is reset) and a keeps serving.
  got.reset();
  c.shards->request_collations(a.host->peer_id(), shard::CollationRangeRequest{5, 0, 1'000'000, 10},
                               [&](Result<std::size_t> r) { got = std::move(r); });
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  CHECK_FALSE(*got);
  CHECK(a.host->connected(c.host->peer_id()));
  for (auto* x : {&a, &b, &c}) {
    x->shards->stop();
    x->ps->stop();
    x->host->close();
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("live collation sync: a peer serving a forgery is penalised and the sync completes from another",
          "[shard][live][collation][malformed]") {
  // a and b are on shard 5 and hold a's three collations; c joins shard 5 by a jump and
  // syncs its window. Whichever of a and b c asks first answers with a forged
  // collation among the real ones: c must penalise it, never ask it again, and finish
  // the sync from the other - the shard runtime's sync, the same code as the simulator's.
  asio::io_context io;
  Net net;
  std::string tmpl = "/tmp/sn-cf-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl.data());
  ShardNode a(io, net, {5}, store_at(dir / "a.db")), b(io, net, {5}, store_at(dir / "b.db")),
      c(io, net, {1}, store_at(dir / "c.db"));
  connect(io, a, b);
  connect(io, c, a);
  connect(io, c, b);
  for (auto* x : {&a, &b, &c}) REQUIRE(x->shards->start());
  a.shards->set_validator_key(std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::generate()));
  REQUIRE(run_until(io, [&] { return !a.ps->router().mesh(shard::collation_topic(5)).empty(); }));
  std::vector<shard::Hash32> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(a.shards->publish_collation(5, Bytes{'f', static_cast<std::uint8_t>('0' + i)}).value());
  REQUIRE(run_until(io, [&] { return b.shards->store()->count().value() == 3; }));
  REQUIRE(run_until(io, [&] { return c.m().table().peers_on(5).size() == 2; }));

  // Both members' collation protocol, wrapped: the first request from c gets a forgery.
  std::optional<PeerId> forger;
  shard::Hash32 forged_id{};
  std::vector<std::unique_ptr<net::RequestResponse>> wrappers;
  for (ShardNode* m : {&a, &b}) {
    wrappers.push_back(std::make_unique<net::RequestResponse>(io, *m->host));
    wrappers.back()->serve(shard::kCollationProtocol, 128,
                           [&, m](const PeerId& from, ByteView req) -> Result<Bytes> {
                             auto honest = m->shards->collations().answer(from, req);
                             if (from != c.host->peer_id() || forger || !honest) return honest;
                             forger = m->host->peer_id();
                             auto resp = shard::decode_collation_response(*honest, shard::CollationProtocolLimits{});
                             REQUIRE(resp);
                             auto fake = shard::make_collation(shard::ValidatorKey::generate(), 5,
                                                               m->shards->current_period(), shard::Hash32{},
                                                               Bytes{'f', 'o', 'r', 'g', 'e', 'd'});
                             fake.signature[7] ^= 0x01;
                             forged_id = shard::collation_hash(fake.header);
                             resp->collations.insert(resp->collations.begin(), shard::encode(fake));
                             return shard::encode_collation_response(*resp);
                           });
  }
  std::optional<shard::SyncRecord> synced;
  c.shards->on_sync_done([&](const shard::SyncRecord& s) { synced = s; });
  REQUIRE(c.m().jump(1, 5, c.shards->now_ms()));
  REQUIRE(run_until(io, [&] { return synced.has_value(); }, 30s));
  REQUIRE(forger);
  CHECK(synced->shard == 5);
  CHECK(synced->done);
  CHECK(synced->bad == std::set<PeerId>{*forger});
  CHECK(synced->invalid == 1);
  REQUIRE(synced->completed_by);
  CHECK(*synced->completed_by != *forger);
  CHECK(synced->asked.front() == *forger);
  CHECK(synced->received == 3);
  for (const auto& id : ids) CHECK(c.shards->store()->contains(id));
  CHECK_FALSE(c.shards->store()->contains(forged_id));
  // Penalised at c (P7), the honest peer not.
  auto* scoring = c.ps->router().scoring();
  REQUIRE(scoring);
  const auto now = c.ps->now();
  CHECK(scoring->breakdown(*forger, now).behaviour_penalty > 0);
  CHECK(scoring->breakdown(*synced->completed_by, now).behaviour_penalty == 0);
  wrappers.clear();
  for (auto* x : {&a, &b, &c}) {
    x->shards->stop();
    x->ps->stop();
    x->host->close();
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("live shard service: beacon headers on their topic, a forger flagged", "[shard][live][beacon]") {
  asio::io_context io;
  Net net;
  auto beacon_cfg = [](bool proposer) {
    return [proposer](node::ShardServiceConfig& sc, pubsub::ServiceConfig& pc) {
      sc.period_s = 1;  // one beacon slot per second
      sc.beacon_proposer = proposer;
      pc.score.topics[std::string(shard::kBeaconTopic)] = pubsub::TopicScoreParams::defaults();
    };
  };
  ShardNode proposer(io, net, {0}, beacon_cfg(true));
  ShardNode follower(io, net, {0}, beacon_cfg(false));
  ShardNode forger(io, net, {0}, beacon_cfg(false));
  auto vkey = std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::generate());
  const auto vpub = vkey->public_key();
  proposer.shards->set_validator_key(std::move(vkey));
  connect(io, proposer, follower);
  connect(io, forger, follower);
  std::vector<shard::BeaconHead> heads;
  follower.shards->on_beacon_head([&](const shard::BeaconHead& h) { heads.push_back(h); });
  for (auto* x : {&proposer, &follower, &forger}) REQUIRE(x->shards->start());

  // The follower takes the proposer's headers as they come, one slot after another.
  REQUIRE(run_until(io, [&] { return heads.size() >= 2; }, 15s));
  CHECK(heads.back().header.proposer == vpub);
  CHECK(heads.back().header.slot > heads.front().header.slot);
  CHECK(heads.back().header.parent_hash == heads[heads.size() - 2].hash);
  REQUIRE(follower.shards->beacon());
  CHECK(follower.shards->beacon()->head()->hash == heads.back().hash);

  // A header with a broken signature and plain garbage are rejected; the forger is flagged.
  auto forged = shard::make_beacon_header(shard::ValidatorKey::generate(),
                                          follower.shards->beacon()->slot_at(follower.shards->now_ms()),
                                          shard::Hash32{}, shard::Hash32{});
  forged.signature[5] ^= 0x20;
  REQUIRE(run_until(io, [&] { return !forger.ps->router().mesh(std::string(shard::kBeaconTopic)).empty(); }));
  REQUIRE(forger.ps->publish(std::string(shard::kBeaconTopic), shard::encode(forged)));
  REQUIRE(forger.ps->publish(std::string(shard::kBeaconTopic), Bytes{0xde, 0xad, 0xbe, 0xef}));
  REQUIRE(run_until(io, [&] { return follower.ps->router().is_flagged(forger.host->peer_id()); }, 10s));
  CHECK(follower.shards->beacon()->head()->header.proposer == vpub);
  CHECK_FALSE(follower.ps->router().is_flagged(proposer.host->peer_id()));
}

TEST_CASE("live shard service: records of nodes that join later reach earlier peers by gossip", "[shard][live]") {
  // A star: the jumper J meets the hub first and asks it for its table (empty then);
  // members connect to the hub later. Their announcements, made when they connect,
  // must reach J through the hub's gossip, not wait for the next periodic one.
  asio::io_context io;
  Net net;
  ShardNode hub(io, net, {0}), j(io, net, {0});
  connect(io, j, hub);
  REQUIRE(hub.shards->start());
  REQUIRE(j.shards->start());
  REQUIRE(run_until(io, [&] { return j.m().counters().table_responses >= 1; }));
  std::vector<std::unique_ptr<ShardNode>> members;
  for (std::uint32_t k = 1; k <= 4; ++k) {
    members.push_back(std::make_unique<ShardNode>(io, net, std::set<std::uint32_t>{k}));
    REQUIRE(members.back()->shards->start());  // announces to nobody, then connects
    connect(io, *members.back(), hub);
  }
  REQUIRE(run_until(io, [&] {
    for (auto& m : members)
      if (!j.m().table().get(m->host->peer_id())) return false;
    return true;
  }, 15s));
  CHECK(j.m().counters().table_requests_sent == 1);  // learnt by gossip, not by asking again
  CHECK_FALSE(j.host->connected(members[0]->host->peer_id()));
}

TEST_CASE("live stem mode: our collation is stored and served only once it is in gossip", "[shard][live][stem]") {
  asio::io_context io;
  Net net;
  std::string tmpl = "/tmp/sn-stem-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl.data());
  auto stem_store = [&](const char* name) {
    return [file = dir / name](node::ShardServiceConfig& sc, pubsub::ServiceConfig& pc) {
      sc.store_file = file;
      pc.gossip.stem.enabled = true;
      pc.gossip.stem.fluff_probability = 0.0;
      pc.gossip.flood_publish = false;
    };
  };
  ShardNode a(io, net, {5}, stem_store("a.db")), b(io, net, {5}, stem_store("b.db"));
  connect(io, a, b);  // b is a's only (outbound) peer, so its stem destination
  REQUIRE(a.shards->start());
  REQUIRE(b.shards->start());
  a.shards->set_validator_key(std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::generate()));
  REQUIRE(run_until(io, [&] { return !a.ps->router().mesh(shard::collation_topic(5)).empty(); }));
  const auto id = a.shards->publish_collation(5, Bytes{'s', 't'}).value();
  // On the stem: a spy asking a for the current period must not find it there yet.
  CHECK_FALSE(a.shards->store()->contains(id));
  CHECK(a.shards->collations_accepted() == 0);
  // b cannot pass it on (a, its only peer, sent it): it gossips it, a sees it back.
  REQUIRE(run_until(io, [&] { return a.shards->store()->contains(id) && b.shards->store()->contains(id); }));
  // Everything a sends of its own takes the stem (its preference records too); b
  // gossiped the collation, a gossiped nothing of its own.
  CHECK(a.ps->router().stem()->counters().originated >= 2);
  CHECK(a.ps->router().stem()->counters().fluffed == 0);
  CHECK(b.ps->router().stem()->counters().fluffed >= 1);
  // A shard neither we nor any peer of ours is on: refused, never published from us.
  CHECK_FALSE(a.shards->publish_collation(6, Bytes{'x'}));
  for (auto* x : {&a, &b}) {
    x->shards->stop();
    x->ps->stop();
    x->host->close();
  }
  std::filesystem::remove_all(dir);
}

// P5 on live nodes: b knows a's validator key; a's collations reach b from a, and
// b's score for a carries the credit, while c, publishing collations under a key of
// its own, earns none.
TEST_CASE("live shard service: delivering a known validator's collations raises P5", "[shard][live][p5]") {
  asio::io_context io;
  Net net;
  auto vkey = std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::generate());
  const auto vpub = vkey->public_key();
  ShardNode a(io, net, {5}), c(io, net, {5});
  ShardNode b(io, net, {5}, [vpub](node::ShardServiceConfig& sc, pubsub::ServiceConfig&) {
    sc.known_validators = {vpub};
  });
  connect(io, a, b);
  connect(io, c, b);
  for (auto* x : {&a, &b, &c}) REQUIRE(x->shards->start());
  a.shards->set_validator_key(std::move(vkey));
  c.shards->set_validator_key(std::make_unique<shard::ValidatorKey>(shard::ValidatorKey::generate()));
  REQUIRE(run_until(io, [&] { return b.ps->router().mesh(shard::collation_topic(5)).size() == 2; }));
  for (int i = 0; i < 3; ++i) {
    REQUIRE(a.shards->publish_collation(5, Bytes{'a', static_cast<std::uint8_t>(i)}));
    REQUIRE(c.shards->publish_collation(5, Bytes{'c', static_cast<std::uint8_t>(i)}));
  }
  auto* scoring = b.ps->router().scoring();
  REQUIRE(scoring);
  // Three first deliveries, a little decayed (half-life 10 minutes).
  REQUIRE(run_until(io, [&] { return b.shards->collations().counters().accepted == 6; }));
  INFO(pubsub::describe(scoring->breakdown(a.host->peer_id(), b.ps->now())));
  CHECK(scoring->breakdown(a.host->peer_id(), b.ps->now()).p5 == Approx(3.0).epsilon(0.05));
  CHECK(scoring->breakdown(c.host->peer_id(), b.ps->now()).p5 == 0.0);
  for (auto* x : {&a, &b, &c}) {
    x->shards->stop();
    x->ps->stop();
    x->host->close();
  }
}
