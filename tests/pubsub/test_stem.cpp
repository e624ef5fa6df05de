// The Dandelion++ stem phase (pubsub/stem.h) in the router, driven directly, and on
// the simulator: own messages leave only on the stem, relays keep one next hop per
// inbound edge per epoch, diffusers fluff, a loop is passed on once (the same at the
// source as at a relay), the embargo beats a relay that drops messages (a relay's
// fires before the source's), and our own message is forwarded like a relay's when
// it comes back.
#include <catch2/catch.hpp>

#include <algorithm>

#include "gossip_sim.h"
#include "shardnode/pubsub/codec.h"
#include "shardnode/pubsub/router.h"
#include "shardnode/pubsub/stem.h"
#include "shardnode/sim/rng.h"
#include "shardnode/sim/seeding.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;

namespace {

const TopicId kTopic = "/shardnode/shard/0/collations/1";

PeerId new_peer() { return PeerId::from_public_key(NodeKey::generate().public_key()); }

GossipsubConfig stem_config(double q = 0.0) {
  GossipsubConfig c;
  c.stem.enabled = true;
  c.stem.fluff_probability = q;
  c.stem.embargo = 5s;
  c.stem.own_embargo = 8s;
  c.stem.embargo_jitter_mean = 0s;
  return c;
}

Message msg(std::string_view data) {
  Message m;
  m.topic = kTopic;
  m.data = Bytes(data.begin(), data.end());
  return m;
}

// One router under test with n peers (even indices outbound), all on kTopic.
struct StemFixture {
  sim::SeededRandom rng = sim::seeded_for_simulation(11);
  std::unique_ptr<Router> r;
  std::vector<PeerId> peers;
  TimePoint now{0};

  StemFixture(std::size_t n, GossipsubConfig cfg) {
    r = std::make_unique<Router>(new_peer(), cfg, rng);
    r->subscribe(kTopic, now);
    for (std::size_t i = 0; i < n; ++i) {
      peers.push_back(new_peer());
      REQUIRE(r->add_peer(peers.back(), PeerProtocol::meshsub_1_2, i % 2 == 0, "", now));
      Rpc sub;
      sub.subscriptions = {{true, kTopic}};
      r->handle_rpc(peers.back(), sub, now);
    }
    tick();  // mesh up
    r->take_sends();
    r->take_deliveries();
  }
  bool outbound(const PeerId& p) const {
    auto it = std::find(peers.begin(), peers.end(), p);
    return it != peers.end() && (it - peers.begin()) % 2 == 0;
  }
  std::size_t gossip_copies() {
    std::size_t n = 0;
    for (const auto& o : r->take_sends()) n += o.rpc.publish.size();
    return n;
  }
  void tick(Duration d = 1s) {
    now += d;
    r->heartbeat(now);
  }
};

}  // namespace

TEST_CASE("stem config: bad values are refused") {
  StemConfig ok;
  CHECK(ok.validate());
  auto bad = [](auto edit) {
    StemConfig c;
    edit(c);
    return !c.validate();
  };
  CHECK(bad([](StemConfig& c) { c.fluff_probability = -0.1; }));
  CHECK(bad([](StemConfig& c) { c.fluff_probability = 1.5; }));
  CHECK(bad([](StemConfig& c) { c.epoch = 0s; }));
  CHECK(bad([](StemConfig& c) { c.destinations = 0; }));
  CHECK(bad([](StemConfig& c) { c.embargo = 0s; }));
  CHECK(bad([](StemConfig& c) { c.max_per_peer_per_heartbeat = 0; }));
  GossipsubConfig g;
  g.stem.enabled = true;
  g.stem.destinations = 0;
  CHECK_FALSE(g.validate());
}

TEST_CASE("stem: our own message leaves on the stem only, to one outbound peer per epoch") {
  StemFixture f(8, stem_config());
  std::set<PeerId> hops;
  for (int i = 0; i < 5; ++i) {
    auto id = f.r->publish(kTopic, Bytes{1, 2, static_cast<std::uint8_t>(i)}, f.now);
    REQUIRE(id);
    CHECK(f.gossip_copies() == 0);  // nothing flood-published from our identity
    auto stem = f.r->take_stem_sends();
    REQUIRE(stem.size() == 1);
    CHECK(f.outbound(stem[0].to));
    hops.insert(stem[0].to);
    auto d = f.r->take_deliveries();  // our own application still gets it
    REQUIRE(d.size() == 1);
    CHECK(d[0].id == *id);
  }
  CHECK(hops.size() == 1);
  CHECK(f.r->stem()->counters().originated == 5);
  CHECK_FALSE(f.r->publish(kTopic, Bytes{1, 2, 0}, f.now));  // same content again
}

TEST_CASE("stem: with own_messages off (the live experiment's spies) ours go out plainly, others' still relay") {
  GossipsubConfig cfg = stem_config();
  cfg.stem.own_messages = false;
  cfg.flood_publish = true;
  StemFixture f(8, cfg);
  auto id = f.r->publish(kTopic, Bytes{9, 9}, f.now);
  REQUIRE(id);
  CHECK(f.r->take_stem_sends().empty());
  CHECK(f.gossip_copies() == 8);  // flood-published to every topic peer
  CHECK(f.r->stem()->counters().originated == 0);
  const auto gossiped = f.r->take_own_gossiped();  // in gossip at once: the node may store it
  REQUIRE(gossiped.size() == 1);
  CHECK(gossiped[0] == *id);
  f.r->handle_stem(f.peers[1], msg("relay me"), f.now);
  auto s = f.r->take_stem_sends();
  REQUIRE(s.size() == 1);
  CHECK(f.outbound(s[0].to));
  CHECK(f.r->stem()->counters().relayed == 1);
}

TEST_CASE("stem: routes drawn while we knew only our bootnode are redrawn as outbound peers arrive") {
  // A node starts knowing its bootnode; its first own message must not fix the
  // bootnode as its first hop for the whole epoch (the live experiment found every
  // node whose bootnode was a spy named by it). Until 2 x destinations outbound peers
  // are met, each one redraws the routes; then they hold.
  StemConfig cfg;
  cfg.enabled = true;
  cfg.fluff_probability = 0.0;
  const TopicId topic = "/t";
  auto any = [](const PeerId&) { return true; };
  int bootnode_first = 0;
  constexpr int kSeeds = 400;
  for (int seed = 0; seed < kSeeds; ++seed) {
    sim::SeededRandom rng = sim::seeded_for_simulation(static_cast<std::uint64_t>(seed));
    StemState st(cfg, rng);
    const PeerId boot = new_peer();
    st.add_peer(boot, true);
    TimePoint now{0};
    REQUIRE(st.route_own(now, topic, any) == boot);  // all we have
    std::vector<PeerId> later;
    for (int i = 0; i < 3; ++i) {
      later.push_back(new_peer());
      st.add_peer(later.back(), true);
    }
    now += 1s;
    const auto hop = st.route_own(now, topic, any);
    REQUIRE(hop);
    bootnode_first += *hop == boot ? 1 : 0;
    // Settled (4 outbound peers): a fifth changes nothing this epoch.
    st.add_peer(new_peer(), true);
    CHECK(st.route_own(now + 1s, topic, any) == hop);
    CHECK(st.destinations(now + 1s).size() == 2);
  }
  // Uniform over the four outbound peers: 1/4 (it was 1 before the redraw).
  CHECK(bootnode_first > kSeeds * 15 / 100);
  CHECK(bootnode_first < kSeeds * 35 / 100);
}

TEST_CASE("stem: a relay keeps one next hop per inbound edge, never straight back") {
  StemFixture f(8, stem_config());
  for (const PeerId& from : f.peers) {
    std::set<PeerId> next;
    for (int i = 0; i < 4; ++i) {
      std::string data = from.to_string() + std::to_string(i);
      f.r->handle_stem(from, msg(data), f.now);
      auto s = f.r->take_stem_sends();
      REQUIRE(s.size() == 1);
      CHECK(s[0].to != from);
      CHECK(f.outbound(s[0].to));
      next.insert(s[0].to);
    }
    CHECK(next.size() == 1);
  }
  CHECK(f.gossip_copies() == 0);
  CHECK(f.r->take_deliveries().empty());  // not for our application until it is gossiped
  // All inbound edges map into the same two destinations.
  CHECK(f.r->stem()->counters().relayed == 32);
}

TEST_CASE("stem: a diffuser fluffs what it receives, as a relay would") {
  StemFixture f(8, stem_config(1.0));
  f.r->handle_stem(f.peers[1], msg("fluff me"), f.now);
  CHECK(f.r->take_stem_sends().empty());
  const auto copies = f.gossip_copies();
  CHECK(copies >= 4);  // the mesh, not every topic peer
  CHECK(copies <= f.r->mesh(kTopic).size());
  auto d = f.r->take_deliveries();
  REQUIRE(d.size() == 1);
  // Once fluffed, another stem copy is ignored.
  f.r->handle_stem(f.peers[3], msg("fluff me"), f.now);
  CHECK(f.r->take_stem_sends().empty());
  CHECK(f.gossip_copies() == 0);
}

TEST_CASE("stem: the embargo fluffs a message nobody gossiped, and not one that was") {
  StemFixture f(8, stem_config());
  f.r->handle_stem(f.peers[1], msg("dropped downstream"), f.now);
  f.r->handle_stem(f.peers[1], msg("gossiped downstream"), f.now);
  REQUIRE(f.r->take_stem_sends().size() == 2);
  // The second comes back in gossip from a mesh peer: its embargo is over.
  Rpc back;
  back.publish.push_back(msg("gossiped downstream"));
  f.r->handle_rpc(*f.r->mesh(kTopic).begin(), back, f.now);
  f.r->take_sends();
  REQUIRE(f.r->take_deliveries().size() == 1);
  for (int i = 0; i < 4; ++i) f.tick();
  CHECK(f.gossip_copies() == 0);  // before the 5 s embargo: nothing
  f.tick(2s);
  CHECK(f.gossip_copies() > 0);
  auto d = f.r->take_deliveries();
  REQUIRE(d.size() == 1);
  CHECK(d[0].message.data == msg("dropped downstream").data);
  CHECK(f.r->stem()->counters().embargo_fired == 1);
}

TEST_CASE("stem: our message back from gossip is forwarded like a relay's, not delivered twice") {
  StemFixture f(8, stem_config());
  auto id = f.r->publish(kTopic, Bytes{9, 9}, f.now);
  REQUIRE(id);
  f.r->take_stem_sends();
  REQUIRE(f.r->take_deliveries().size() == 1);
  const PeerId from = *f.r->mesh(kTopic).begin();
  Rpc back;
  Message m;
  m.topic = kTopic;
  m.data = Bytes{9, 9};
  back.publish.push_back(m);
  f.r->handle_rpc(from, back, f.now);
  std::size_t copies = 0;
  for (const auto& o : f.r->take_sends()) {
    if (o.rpc.publish.empty()) continue;
    CHECK(o.to != from);
    CHECK(f.r->mesh(kTopic).count(o.to));
    copies += o.rpc.publish.size();
  }
  CHECK(copies == f.r->mesh(kTopic).size() - 1);
  CHECK(f.r->take_deliveries().empty());
  // Its embargo is over: nothing more goes out for it.
  for (int i = 0; i < 30; ++i) f.tick();
  CHECK(f.gossip_copies() == 0);
}

TEST_CASE("stem: a loop is passed on once on the relay route, then dropped without a sign") {
  StemFixture f(8, stem_config());
  f.r->handle_stem(f.peers[1], msg("round"), f.now);
  auto first = f.r->take_stem_sends();
  REQUIRE(first.size() == 1);
  // Back from another peer: passed on once more, where a new message from that
  // peer would go (never straight back)...
  f.r->handle_stem(f.peers[5], msg("round"), f.now);
  auto again = f.r->take_stem_sends();
  REQUIRE(again.size() == 1);
  CHECK(again[0].to != f.peers[5]);
  f.r->handle_stem(f.peers[5], msg("other message"), f.now);
  auto other = f.r->take_stem_sends();
  REQUIRE(other.size() == 1);
  CHECK(other[0].to == again[0].to);
  // ...and after that, no reaction at all.
  f.r->handle_stem(f.peers[3], msg("round"), f.now);
  f.r->handle_stem(f.peers[1], msg("round"), f.now);
  CHECK(f.r->take_stem_sends().empty());
  CHECK(f.gossip_copies() == 0);
  CHECK(f.r->stem()->counters().loops == 3);
  CHECK(f.r->stem()->counters().loops_passed_on == 1);
  // The embargo ends it.
  f.tick(6s);
  CHECK(f.gossip_copies() > 0);

  Message signed_one = msg("names its author");
  signed_one.from = Bytes{1, 2, 3};
  f.r->handle_stem(f.peers[1], signed_one, f.now);
  Message no_topic = msg("no topic");
  no_topic.topic.clear();
  f.r->handle_stem(f.peers[1], no_topic, f.now);
  CHECK(f.r->stem()->counters().malformed == 2);
  CHECK(f.r->take_stem_sends().empty());

  f.r->take_stem_sends();
  const std::size_t cap = f.r->config().stem.max_per_peer_per_heartbeat;
  for (std::size_t i = 0; i < 2 * cap; ++i) f.r->handle_stem(f.peers[3], msg("burst " + std::to_string(i)), f.now);
  // Up to twice the limit: dropped, no penalty (a burst through a busy edge).
  CHECK(f.r->stem()->counters().rate_limited == cap);
  CHECK(f.r->take_stem_sends().size() == cap);
  CHECK(f.r->score(f.peers[3], f.now) == 0.0);
  for (std::size_t i = 0; i < 10; ++i) f.r->handle_stem(f.peers[3], msg("flood " + std::to_string(i)), f.now);
  // Beyond: each costs P7; a few of them graylist the peer and the rest are dropped unread.
  CHECK(f.r->stem()->counters().rate_limited + f.r->counters().rpcs_graylisted == cap + 10);
  CHECK(f.r->take_stem_sends().empty());
  CHECK(f.r->score(f.peers[3], f.now) < PeerScoreThresholds::defaults().graylist);
}

TEST_CASE("stem: the source treats its message coming back on the stem as a relay would") {
  // A spy that got our message sends it back to us on the stem, as it would to a
  // relay it suspects: we pass it on once, on the relay route for that peer, like a
  // relay; we neither gossip it nor stay silent where a relay would not.
  StemFixture source(8, stem_config());
  REQUIRE(source.r->publish(kTopic, Bytes{7, 7}, source.now));
  auto out = source.r->take_stem_sends();
  REQUIRE(out.size() == 1);
  StemFixture relay(8, stem_config());
  relay.r->handle_stem(relay.peers[1], out[0].message, relay.now);
  REQUIRE(relay.r->take_stem_sends().size() == 1);
  for (StemFixture* f : {&source, &relay}) {
    f->r->handle_stem(f->peers[3], out[0].message, f->now);
    auto back = f->r->take_stem_sends();
    REQUIRE(back.size() == 1);
    CHECK(back[0].to != f->peers[3]);
    CHECK(f->gossip_copies() == 0);
    f->r->handle_stem(f->peers[3], out[0].message, f->now);
    CHECK(f->r->take_stem_sends().empty());
    CHECK(f->r->stem()->counters().loops_passed_on == 1);
  }
}

TEST_CASE("stem: a relay's embargo fires before the source's") {
  StemFixture f(8, stem_config());
  REQUIRE(f.r->publish(kTopic, Bytes{8, 1}, f.now));
  f.r->handle_stem(f.peers[1], msg("relayed"), f.now);
  REQUIRE(f.r->take_stem_sends().size() == 2);
  f.tick(6s);  // past the relays' 5 s, before our own 8 s
  CHECK(f.r->stem()->counters().embargo_fired == 1);
  CHECK(f.gossip_copies() > 0);
  f.tick(3s);
  CHECK(f.r->stem()->counters().embargo_fired == 2);
  StemConfig bad;
  bad.own_embargo = bad.embargo - 1s;
  CHECK_FALSE(bad.validate());
}

TEST_CASE("stem: a peer without the stem protocol is routed around") {
  StemFixture f(8, stem_config());
  REQUIRE(f.r->publish(kTopic, Bytes{4, 2}, f.now));
  auto s = f.r->take_stem_sends();
  REQUIRE(s.size() == 1);
  const PeerId first = s[0].to;
  f.r->stem_undeliverable(first, s[0].message, f.now);
  auto again = f.r->take_stem_sends();
  REQUIRE(again.size() == 1);
  CHECK(again[0].to != first);
  CHECK(f.gossip_copies() == 0);
  CHECK(f.r->stem()->counters().unsupported_peers == 1);
}

TEST_CASE("stem on the simulator: every message reaches everyone, also past a relay that drops them") {
  GossipSimConfig g;
  g.nodes = 60;
  g.degree = 6;
  g.gossip = stem_config(0.1);
  g.seed = 5;
  GossipSim sim(g);
  // The three highest-index nodes have only inbound links (the simulator's lower index
  // dials), so every neighbour may pick them as stem destinations; they swallow
  // everything they get.
  const std::set<GossipSim::Node> holes{57, 58, 59};
  for (auto n : holes) sim.intercept(n, [](GossipSim::Node, GossipSim::Node, const Rpc&) {});
  sim.subscribe_all(kTopic);
  sim.run_for(3s);
  std::vector<MessageId> ids;
  for (GossipSim::Node n = 0; n < 57; n += 3) {
    auto id = sim.publish(n, kTopic, Bytes{static_cast<std::uint8_t>(n), 1});
    REQUIRE(id);
    ids.push_back(*id);
    sim.run_for(100ms);
  }
  sim.run_for(20s);
  for (const auto& id : ids) CHECK(sim.receptions(id).size() == 56);  // all but the publisher and the holes
  CHECK(sim.stats().stem_messages > ids.size());
  std::uint64_t fired = 0;
  for (GossipSim::Node n = 0; n < 57; ++n) fired += sim.router(n).stem()->counters().embargo_fired;
  CHECK(fired > 0);  // some stems ran into a hole
}

TEST_CASE("stem: topics we are not on are not relayed, and our own goes to a destination on the topic") {
  StemFixture f(8, stem_config());
  const TopicId other = "/shardnode/shard/5/collations/1";
  Message m = msg("elsewhere");
  m.topic = other;
  f.r->handle_stem(f.peers[1], m, f.now);
  CHECK(f.r->take_stem_sends().empty());
  CHECK(f.gossip_copies() == 0);
  CHECK(f.r->stem()->counters().not_our_topic == 1);

  // No peer of ours is on it: refused, never published from us.
  auto refused = f.r->publish(other, Bytes{5, 5}, f.now);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == make_error_code(PubsubErrc::no_stem_route));
  // An outbound peer joins it: our message goes to that peer, and nowhere else.
  Rpc sub;
  sub.subscriptions = {{true, other}};
  f.r->handle_rpc(f.peers[6], sub, f.now);
  REQUIRE(f.r->publish(other, Bytes{5, 6}, f.now));
  auto s = f.r->take_stem_sends();
  REQUIRE(s.size() == 1);
  CHECK(s[0].to == f.peers[6]);
  CHECK(f.gossip_copies() == 0);
  CHECK(f.r->take_deliveries().empty());  // not our topic: nothing for our application
  // We cannot see it gossiped there, so its embargo lapses without a fluff from us.
  for (int i = 0; i < 80; ++i) f.tick();
  CHECK(f.gossip_copies() == 0);
  CHECK(f.r->stem()->held_count() == 0);
}

TEST_CASE("stem: on a topic our destinations are not on, own and relayed messages go to a peer that is") {
  // Shards: a node's 2 stem destinations are often not on the shard of a message.
  // A peer off the topic would drop it, so the stem picks an outbound peer on it,
  // one per topic (and per inbound edge) for the epoch.
  StemFixture f(8, stem_config());
  const TopicId other = "/shardnode/shard/7/collations/1";
  f.r->subscribe(other, f.now);
  REQUIRE(f.r->publish(kTopic, Bytes{9, 8, 7}, f.now));  // starts the epoch
  f.r->take_stem_sends();
  const auto dest = f.r->stem()->current_destinations();
  REQUIRE(dest.size() == 2);
  std::vector<PeerId> on_other;
  for (std::size_t i = 0; i < f.peers.size(); i += 2)  // outbound peers only
    if (std::find(dest.begin(), dest.end(), f.peers[i]) == dest.end()) on_other.push_back(f.peers[i]);
  REQUIRE(on_other.size() >= 2);
  for (const PeerId& p : on_other) {
    Rpc sub;
    sub.subscriptions = {{true, other}};
    f.r->handle_rpc(p, sub, f.now);
  }
  f.r->take_sends();
  std::set<PeerId> own_hops, relay_hops;
  for (int i = 0; i < 4; ++i) {
    REQUIRE(f.r->publish(other, Bytes{9, static_cast<std::uint8_t>(i)}, f.now));
    auto s = f.r->take_stem_sends();
    REQUIRE(s.size() == 1);
    own_hops.insert(s[0].to);
    Message m = msg("relayed on 7 #" + std::to_string(i));
    m.topic = other;
    f.r->handle_stem(f.peers[1], m, f.now);
    auto r = f.r->take_stem_sends();
    REQUIRE(r.size() == 1);  // passed on, not fluffed for want of a destination on the topic
    relay_hops.insert(r[0].to);
  }
  CHECK(f.gossip_copies() == 0);
  REQUIRE(own_hops.size() == 1);
  REQUIRE(relay_hops.size() == 1);
  CHECK(std::find(on_other.begin(), on_other.end(), *own_hops.begin()) != on_other.end());
  CHECK(std::find(on_other.begin(), on_other.end(), *relay_hops.begin()) != on_other.end());
  // Our own messages on the first topic still take the epoch's destination.
  REQUIRE(f.r->publish(kTopic, Bytes{9, 9, 9}, f.now));
  auto s = f.r->take_stem_sends();
  REQUIRE(s.size() == 1);
  CHECK(std::find(dest.begin(), dest.end(), s[0].to) != dest.end());
}

TEST_CASE("stem: on a topic where only inbound peers are, our own message goes to one of them") {
  // Cover shards: the peers we meet on a shard may all have dialled us. Without an
  // outbound peer on it our message still leaves on the stem, never from us.
  StemFixture f(8, stem_config());
  const TopicId other = "/shardnode/shard/9/collations/1";
  f.r->subscribe(other, f.now);
  Rpc sub;
  sub.subscriptions = {{true, other}};
  f.r->handle_rpc(f.peers[3], sub, f.now);  // inbound
  f.r->take_sends();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(f.r->publish(other, Bytes{6, static_cast<std::uint8_t>(i)}, f.now));
    auto s = f.r->take_stem_sends();
    REQUIRE(s.size() == 1);
    CHECK(s[0].to == f.peers[3]);
  }
  CHECK(f.gossip_copies() == 0);
  CHECK(f.r->stem()->counters().no_route == 0);
}

TEST_CASE("stem: our own message always finds room in a full embargo table") {
  GossipsubConfig c = stem_config();
  c.stem.max_embargoed = 4;
  StemFixture f(8, c);
  for (int i = 0; i < 6; ++i) f.r->handle_stem(f.peers[1], msg("relayed " + std::to_string(i)), f.now);
  CHECK(f.r->take_stem_sends().size() == 6);  // still passed on, the last two unguarded
  CHECK(f.r->stem()->counters().not_held == 2);
  CHECK(f.r->stem()->held_count() == 4);
  REQUIRE(f.r->publish(kTopic, Bytes{1}, f.now));
  CHECK(f.r->take_stem_sends().size() == 1);
  CHECK(f.gossip_copies() == 0);  // not fluffed for want of room
  CHECK(f.r->stem()->held_count() == 4);
}

TEST_CASE("stem: a peer that refused the protocol is tried again after it reconnects") {
  StemFixture f(2, stem_config());  // one outbound peer (0), one inbound (1)
  REQUIRE(f.r->publish(kTopic, Bytes{3}, f.now));
  auto s = f.r->take_stem_sends();
  REQUIRE(s.size() == 1);
  REQUIRE(s[0].to == f.peers[0]);
  f.r->stem_undeliverable(f.peers[0], s[0].message, f.now);
  // The inbound peer stands in only now that no outbound peer is left.
  auto again = f.r->take_stem_sends();
  REQUIRE(again.size() == 1);
  CHECK(again[0].to == f.peers[1]);
  f.r->remove_peer(f.peers[0], f.now);
  REQUIRE(f.r->add_peer(f.peers[0], PeerProtocol::meshsub_1_2, true, "", f.now));
  Rpc sub;  // it tells us its topics again
  sub.subscriptions = {{true, kTopic}};
  f.r->handle_rpc(f.peers[0], sub, f.now);
  f.tick(11min);  // a new epoch
  REQUIRE(f.r->publish(kTopic, Bytes{4}, f.now));
  auto later = f.r->take_stem_sends();
  REQUIRE(later.size() == 1);
  CHECK(later[0].to == f.peers[0]);
}

TEST_CASE("stem: our large message back from gossip gets the IDONTWANT a relay sends") {
  StemFixture f(8, stem_config());
  const Bytes big(2000, 0x42);
  REQUIRE(f.r->publish(kTopic, big, f.now));
  f.r->take_stem_sends();
  f.r->take_deliveries();
  const PeerId from = *f.r->mesh(kTopic).begin();
  Rpc back;
  Message m;
  m.topic = kTopic;
  m.data = big;
  back.publish.push_back(m);
  f.r->handle_rpc(from, back, f.now);
  std::size_t idontwant = 0;
  for (const auto& o : f.r->take_sends())
    if (!o.rpc.control.idontwant.empty()) {
      CHECK(o.to != from);
      ++idontwant;
    }
  CHECK(idontwant == f.r->mesh(kTopic).size() - 1);
}
