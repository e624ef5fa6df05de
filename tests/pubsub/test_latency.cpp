// The latency-aware mesh (GossipsubConfig::latency) on the simulator: meshes move to
// fast links, and fast sybils cannot take the slots D_score and D_out protect.
// Real routers, simulated links and pings, virtual time, one seed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <vector>

#include "gossip_sim.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;

namespace {

const TopicId kTopic = "/shardnode/shard/0/collations/1";

Bytes payload(std::uint32_t i) {
  Bytes b(64, 0);
  for (std::size_t k = 0; k < 4; ++k) b[k] = static_cast<std::uint8_t>(i >> (8 * k));
  return b;
}

GossipSimConfig base(std::uint32_t nodes, std::uint32_t degree, bool latency_aware) {
  GossipSimConfig c;
  c.nodes = nodes;
  c.graph_nodes = nodes;
  c.degree = degree;
  c.seed = 5;
  c.link = sim::LinkParams{80ms, 0.0, 0.0, 10ms};
  c.score.topics[kTopic] = TopicScoreParams::defaults();
  c.gossip.latency.enabled = latency_aware;
  c.ping_interval = 5s;
  return c;
}

// A third of the links are fast (15 ms one way), the rest slow (150 ms).
bool fast_link(std::uint32_t a, std::uint32_t b) { return (std::min(a, b) * 7 + std::max(a, b) * 13) % 3 == 0; }

void two_speed_links(GossipSim& sim) {
  for (std::uint32_t a = 0; a < sim.size(); ++a)
    for (std::uint32_t b = a + 1; b < sim.size(); ++b) {
      if (!sim.linked(a, b)) continue;
      const sim::LinkParams p{fast_link(a, b) ? 15ms : 150ms, 0.0, 0.0, 5ms};
      sim.network().set_link(a, b, p);
      sim.network().set_link(b, a, p);
    }
}

struct MeshRun {
  double fast_share = 0;   // of mesh links (each direction counted), at the end
  double p50_ms = 0, p99_ms = 0;
  double delivery = 0;
  std::uint64_t swaps = 0;
};

MeshRun run_two_speed(bool latency_aware) {
  GossipSim sim(base(60, 12, latency_aware));
  two_speed_links(sim);
  sim.subscribe_all(kTopic);
  sim.run_for(120s);
  std::vector<double> lat;
  std::size_t got = 0, want = 0;
  for (std::uint32_t i = 0; i < 40; ++i) {
    const GossipSim::Node from = (i * 17) % sim.size();
    auto id = sim.publish(from, kTopic, payload(i));
    REQUIRE(id);
    const TimePoint at = sim.now();
    sim.run_for(2s);
    for (const auto& [n, r] : sim.receptions(*id)) lat.push_back(std::chrono::duration<double, std::milli>(r.at - at).count());
    got += sim.receptions(*id).size();
    want += sim.size() - 1;
  }
  MeshRun out;
  std::size_t links = 0, fast = 0;
  for (std::uint32_t n = 0; n < sim.size(); ++n) {
    for (const auto& p : sim.router(n).mesh(kTopic)) {
      ++links;
      fast += fast_link(n, *sim.node_of(p));
    }
    out.swaps += sim.router(n).counters().latency_swaps;
  }
  std::sort(lat.begin(), lat.end());
  out.fast_share = static_cast<double>(fast) / static_cast<double>(links);
  out.p50_ms = lat[lat.size() / 2];
  out.p99_ms = lat[lat.size() * 99 / 100];
  out.delivery = static_cast<double>(got) / static_cast<double>(want);
  return out;
}

}  // namespace

TEST_CASE("latency-aware mesh: meshes move to the fast links and deliveries come sooner", "[scenario][latency]") {
  const MeshRun plain = run_two_speed(false);
  const MeshRun aware = run_two_speed(true);
  INFO("fast share " << plain.fast_share << " -> " << aware.fast_share << ", p50 " << plain.p50_ms << " -> "
                     << aware.p50_ms << " ms, p99 " << plain.p99_ms << " -> " << aware.p99_ms << " ms, swaps "
                     << aware.swaps);
  CHECK(plain.swaps == 0);
  CHECK(aware.swaps > 0);
  // Plain gossipsub picks mesh peers at random: about the graph's third of fast links.
  CHECK(plain.fast_share < 0.45);
  CHECK(aware.fast_share > plain.fast_share + 0.15);
  CHECK(aware.p50_ms < plain.p50_ms);
  CHECK(plain.delivery == 1.0);
  CHECK(aware.delivery == 1.0);
}

namespace {

struct SybilRun {
  std::size_t min_honest = SIZE_MAX, min_outbound = SIZE_MAX, max_sybils = 0;
  std::size_t end_honest = 0, end_sybils = 0;
  double delivery = 0;  // of honest publishes at the victim
};

// 40 honest nodes on 80 ms links; 12 sybils dial the victim (node 20) over 2 ms links,
// subscribe, answer pings at once, accept any GRAFT and forward nothing: only a
// latency preference could put them in the victim's mesh.
SybilRun run_fast_sybils(std::size_t d_score, std::size_t d_out) {
  GossipSimConfig cfg = base(40, 8, true);
  cfg.gossip.d_score = d_score;
  cfg.gossip.d_out = d_out;
  GossipSim sim(cfg);
  sim.subscribe_all(kTopic);
  sim.run_for(10s);
  const GossipSim::Node victim = 20;
  std::set<PeerId> sybils;
  for (int i = 0; i < 12; ++i) {
    const GossipSim::Node s = sim.add_node();
    sim.intercept(s, [](GossipSim::Node, GossipSim::Node, const Rpc&) {});
    REQUIRE(sim.link(s, victim, true));
    const sim::LinkParams fast{2ms, 0.0, 0.0, Duration{0}};
    sim.network().set_link(s, victim, fast);
    sim.network().set_link(victim, s, fast);
    Rpc sub;
    sub.subscriptions.push_back({true, kTopic});
    sim.send_raw(s, victim, sub);
    sybils.insert(sim.peer(s));
  }
  SybilRun out;
  std::size_t got = 0, want = 0;
  for (std::uint32_t i = 0; i < 360; ++i) {
    const GossipSim::Node from = (victim + 1 + (i * 7) % 39) % 40;
    auto id = sim.publish(from, kTopic, payload(i));
    REQUIRE(id);
    sim.run_for(500ms);
    if (i >= 120) {  // after a minute: the swaps have had their rounds
      ++want;
      got += sim.receptions(*id).count(victim);
      std::size_t honest = 0, outbound = 0, syb = 0;
      for (const auto& p : sim.router(victim).mesh(kTopic)) {
        if (sybils.count(p)) {
          ++syb;
          continue;
        }
        ++honest;
        // In the honest graph the lower index dialled: the victim's outbound peers are above it.
        outbound += *sim.node_of(p) > victim;
      }
      out.min_honest = std::min(out.min_honest, honest);
      out.min_outbound = std::min(out.min_outbound, outbound);
      out.max_sybils = std::max(out.max_sybils, syb);
      out.end_honest = honest;
      out.end_sybils = syb;
    }
  }
  out.delivery = static_cast<double>(got) / static_cast<double>(want);
  return out;
}

}  // namespace

TEST_CASE("latency-aware mesh: fast sybils win only unprotected slots, D_score and D_out peers survive",
          "[scenario][latency]") {
  const SybilRun guarded = run_fast_sybils(4, 2);
  INFO("guarded: honest >= " << guarded.min_honest << ", sybils <= " << guarded.max_sybils << ", delivery "
                             << guarded.delivery);
  CHECK(guarded.max_sybils > 0);  // the attack is real: being fast wins the slots nobody protects
  CHECK(guarded.min_honest >= 4);
  CHECK(guarded.min_outbound >= 2);
  CHECK(guarded.delivery == 1.0);
  // Negative control: with nothing protected, the sybils take (nearly) the whole mesh.
  const SybilRun open = run_fast_sybils(0, 0);
  INFO("unprotected: honest at the end " << open.end_honest << ", sybils " << open.end_sybils);
  CHECK(open.end_honest <= 1);
  CHECK(open.end_sybils >= 4);
}
