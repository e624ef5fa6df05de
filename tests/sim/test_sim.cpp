// The simulator: seeded randomness, scheduler, simulated links, topologies.
// Every time asserted here is virtual and exact; nothing sleeps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "shardnode/sim/seeding.h"
#include "shardnode/sim/sim.h"

using namespace std::chrono_literals;
using shardnode::Duration;
using shardnode::TimePoint;
using namespace shardnode::sim;

namespace {

struct Arrival {
  TimePoint at;
  NodeIndex from;
  NodeIndex to;
  int payload;
  friend bool operator==(const Arrival&, const Arrival&) = default;
};

// Records every delivery through the observer hook, the way a spy would.
struct Recorder {
  std::vector<Arrival> arrivals;
  void attach(Network<int>& net) {
    net.set_observer([this](TimePoint at, NodeIndex from, NodeIndex to, const int& p) {
      arrivals.push_back({at, from, to, p});
    });
  }
};

std::uint64_t hash_step(std::uint64_t h, std::uint64_t v) { return mix64(h ^ mix64(v + 0x9e3779b97f4a7c15ULL)); }

// A busy little network: random 4-regular graph, heterogeneous latencies, jitter,
// loss, bandwidth, nodes gossiping with their own forked RNGs. Returns a hash of
// the full delivery trace (time, from, to, payload).
std::uint64_t trace_hash(std::uint64_t seed) {
  SeededRandom root = seeded_for_simulation(seed);
  Scheduler sched;
  Network<int> net(sched, root.fork(0));
  constexpr std::uint32_t kNodes = 60;
  std::vector<SeededRandom> node_rng;
  for (NodeIndex i = 0; i < kNodes; ++i) node_rng.push_back(root.fork(1000 + i));
  for (NodeIndex i = 0; i < kNodes; ++i)
    net.add_node([&net, &node_rng, i](NodeIndex, const int& p) {
      if (p % 3 != 0) return;  // some messages are relayed onward once
      const auto& nb = net.neighbors(i);
      net.send(i, nb[node_rng[i].uniform(nb.size())], p + 1, 200);
    });
  SeededRandom topo_rng = root.fork(1);
  const Topology t = random_regular(kNodes, 4, topo_rng);
  apply_topology(net, t, [&topo_rng](NodeIndex, NodeIndex) {
    return LinkParams{.latency = Duration{static_cast<Duration::rep>(5'000'000 + topo_rng.uniform(50'000'000))},
                      .bandwidth_bytes_per_sec = 100'000.0,
                      .loss = 0.05,
                      .jitter = 2ms};
  });
  for (NodeIndex i = 0; i < kNodes; ++i)
    sched.every(100ms, Duration{static_cast<Duration::rep>(node_rng[i].uniform(100'000'000))}, [&net, &node_rng, i] {
      const auto& nb = net.neighbors(i);
      net.send(i, nb[node_rng[i].uniform(nb.size())], static_cast<int>(node_rng[i].uniform(1000)), 500);
    });
  std::uint64_t h = 0;
  net.set_observer([&h](TimePoint at, NodeIndex from, NodeIndex to, const int& p) {
    h = hash_step(hash_step(hash_step(hash_step(h, static_cast<std::uint64_t>(at.count())), from), to),
                  static_cast<std::uint64_t>(p));
  });
  sched.run_until(TimePoint{5s});
  REQUIRE(net.stats().delivered > 2000);
  return h;
}

}  // namespace

TEST_CASE("Same seed gives the same random stream, a different seed another", "[sim]") {
  static_assert(mix64(0x9e3779b97f4a7c15ULL) == 0xe220a8397b1dcdafULL);  // splitmix64(0), first output
  SeededRandom a = seeded_for_simulation(7), b = seeded_for_simulation(7), c = seeded_for_simulation(8);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t x = a.next_u64();
    REQUIRE(x == b.next_u64());
    differs = differs || x != c.next_u64();
  }
  CHECK(differs);
  double sum = 0.0;
  for (int i = 0; i < 100'000; ++i) sum += a.unit();
  CHECK(sum / 100'000.0 == Approx(0.5).margin(0.01));
}

TEST_CASE("Forked streams are deterministic, independent and ignore the parent's position", "[sim]") {
  SeededRandom root = seeded_for_simulation(2024);
  SeededRandom early = root.fork(5);
  for (int i = 0; i < 100; ++i) root.next_u64();
  SeededRandom late = root.fork(5);
  for (int i = 0; i < 100; ++i) REQUIRE(early.next_u64() == late.next_u64());
  CHECK(root.fork(5).seed() == seeded_for_simulation(2024).fork(5).seed());

  // Sibling, nested and parent streams share no values and are not shifted copies.
  std::set<std::uint64_t> seen;
  std::vector<SeededRandom> streams{seeded_for_simulation(2024), root.fork(1), root.fork(2), root.fork(1).fork(2),
                                    root.fork(2).fork(1)};
  for (auto& s : streams)
    for (int i = 0; i < 10'000; ++i) seen.insert(s.next_u64());
  CHECK(seen.size() == 5 * 10'000);

  // Bits of two sibling streams agree about half the time.
  SeededRandom x = root.fork(10), y = root.fork(11);
  int agree = 0;
  for (int i = 0; i < 10'000; ++i) agree += std::popcount(~(x.next_u64() ^ y.next_u64()));
  CHECK(agree / 640'000.0 == Approx(0.5).margin(0.01));
}

TEST_CASE("Task stores small callables inline and large or move-only ones too", "[sim]") {
  int hits = 0;
  auto small = [&hits, a = 1, b = 2] { hits += a + b; };
  STATIC_REQUIRE(Task::stored_inline<decltype(small)>());
  Task t1 = small;
  Task t2 = std::move(t1);
  CHECK_FALSE(t1);
  t2();
  std::array<std::uint64_t, 16> big{};
  big[15] = 10;
  auto large = [&hits, big] { hits += static_cast<int>(big[15]); };
  STATIC_REQUIRE_FALSE(Task::stored_inline<decltype(large)>());
  Task t3 = large;
  Task t4;
  t4 = std::move(t3);
  t4();
  Task t5 = [&hits, p = std::make_unique<int>(100)] { hits += *p; };
  t5();
  CHECK(hits == 113);
}

TEST_CASE("Events run in time order, ties in insertion order, and never in the past", "[sim]") {
  Scheduler s(TimePoint{1s});
  std::vector<std::pair<int, TimePoint>> log;
  auto note = [&](int id) { return [&log, &s, id] { log.emplace_back(id, s.now()); }; };
  s.schedule_at(TimePoint{3s}, note(1));
  s.schedule_at(TimePoint{2s}, note(2));
  s.schedule_at(TimePoint{3s}, note(3));
  s.schedule_after(0s, note(4));
  s.schedule_at(TimePoint{0s}, note(5));  // in the past: runs at now, after 4
  s.schedule_at(TimePoint{2s}, [&] {
    log.emplace_back(6, s.now());
    s.schedule_after(0s, note(7));  // same time: after everything already queued for 2s
    s.schedule_at(TimePoint{1s}, note(8));
  });
  s.schedule_at(TimePoint{2s}, note(9));
  CHECK(s.run_until_idle() == 9);
  const std::vector<std::pair<int, TimePoint>> want{{4, 1s}, {5, 1s}, {2, 2s}, {6, 2s}, {9, 2s},
                                                    {7, 2s}, {8, 2s}, {1, 3s}, {3, 3s}};
  CHECK(log == want);
  CHECK(s.now() == 3s);
  CHECK(s.events_run() == 9);
  CHECK_FALSE(s.step());
}

TEST_CASE("Cancel prevents an event, and only once", "[sim]") {
  Scheduler s;
  int ran = 0;
  const EventHandle a = s.schedule_after(5ms, [&] { ran += 1; });
  const EventHandle b = s.schedule_after(10ms, [&] { ran += 10; });
  CHECK(s.pending(a));
  CHECK(s.cancel(a));
  CHECK_FALSE(s.cancel(a));
  CHECK_FALSE(s.pending(a));
  CHECK(s.pending_count() == 1);
  CHECK(s.next_event_time() == TimePoint{10ms});
  s.run_until_idle();
  CHECK(ran == 10);
  CHECK_FALSE(s.cancel(b));  // already ran
  CHECK_FALSE(s.cancel(EventHandle{}));

  // Mass cancellation (exercises compaction of the queue).
  std::vector<EventHandle> hs;
  std::vector<int> order;
  for (int i = 0; i < 10'000; ++i) hs.push_back(s.schedule_after(Duration{10'000 - i}, [&order, i] { order.push_back(i); }));
  for (int i = 0; i < 10'000; ++i)
    if (i % 10 != 0) CHECK(s.cancel(hs[static_cast<std::size_t>(i)]));
  CHECK(s.run_until_idle() == 1000);
  REQUIRE(order.size() == 1000);
  CHECK(order.front() == 9990);
  CHECK(order.back() == 0);
}

TEST_CASE("every() fires at exact multiples of its period until cancelled", "[sim]") {
  Scheduler s;
  std::vector<TimePoint> fired;
  const EventHandle h = s.every(10ms, 5ms, [&] { fired.push_back(s.now()); });
  CHECK(s.run_until(TimePoint{50ms}) == 5);
  CHECK(fired == std::vector<TimePoint>{5ms, 15ms, 25ms, 35ms, 45ms});
  CHECK(s.pending(h));
  CHECK(s.cancel(h));
  CHECK(s.run_until(TimePoint{100ms}) == 0);
  CHECK(fired.size() == 5);

  // Cancelling itself from inside the callback stops it.
  int n = 0;
  EventHandle self;
  self = s.every(1ms, 0ms, [&] {
    if (++n == 3) s.cancel(self);
  });
  s.run_until_idle(100);
  CHECK(n == 3);
  CHECK(s.now() == 102ms);
  CHECK(s.idle());
  CHECK_THROWS_AS(s.every(0ms, 0ms, [] {}), std::invalid_argument);
}

TEST_CASE("run_until stops at the bound and leaves later events queued", "[sim]") {
  Scheduler s;
  std::vector<int> ran;
  s.schedule_at(TimePoint{10ms}, [&] { ran.push_back(10); });
  s.schedule_at(TimePoint{20ms}, [&] { ran.push_back(20); });
  s.schedule_at(TimePoint{30ms}, [&] { ran.push_back(30); });
  CHECK(s.run_until(TimePoint{20ms}) == 2);
  CHECK(ran == std::vector<int>{10, 20});
  CHECK(s.now() == 20ms);
  CHECK(s.pending_count() == 1);
  CHECK(s.run_until(TimePoint{25ms}) == 0);
  CHECK(s.now() == 25ms);
  CHECK(s.next_event_time() == TimePoint{30ms});
  CHECK(s.run_for(5ms) == 1);
  CHECK(s.now() == 30ms);

  // run_until_idle bounded by events and by a deadline; time stays at the last event.
  for (int i = 1; i <= 5; ++i) s.schedule_after(Duration{std::chrono::milliseconds{i}}, [] {});
  CHECK(s.run_until_idle(2) == 2);
  CHECK(s.now() == 32ms);
  CHECK(s.run_until_idle(Scheduler::kNoLimit, TimePoint{34ms}) == 2);
  CHECK(s.now() == 34ms);
  CHECK(s.pending_count() == 1);
}

TEST_CASE("A message arrives exactly after the link latency", "[sim]") {
  Scheduler s;
  Network<int> net(s, seeded_for_simulation(1));
  std::vector<std::tuple<TimePoint, NodeIndex, int>> got;
  const NodeIndex a = net.add_node();
  const NodeIndex b = net.add_node([&](NodeIndex from, const int& p) { got.emplace_back(s.now(), from, p); });
  REQUIRE(net.connect(a, b, LinkParams{.latency = 25ms}));
  s.run_until(TimePoint{10ms});
  REQUIRE(net.send(a, b, 7, 100));
  CHECK(net.in_flight() == 1);
  s.run_until(TimePoint{34'999'999ns});
  CHECK(got.empty());
  s.run_until_idle();
  REQUIRE(got.size() == 1);
  CHECK(got[0] == std::tuple{TimePoint{35ms}, a, 7});
  CHECK(net.stats().delivered == 1);
  CHECK(net.stats().bytes_delivered == 100);
  CHECK(net.node_stats(a).sent == 1);
  CHECK(net.node_stats(b).received == 1);
}

TEST_CASE("Bandwidth serializes back-to-back messages, and directions are independent", "[sim]") {
  Scheduler s;
  Network<int> net(s, seeded_for_simulation(1));
  Recorder rec;
  rec.attach(net);
  const NodeIndex a = net.add_node(), b = net.add_node();
  net.connect(a, b, LinkParams{.latency = 10ms, .bandwidth_bytes_per_sec = 1e6});  // 1000 B = 1 ms
  for (int i = 0; i < 3; ++i) net.send(a, b, i, 1000);
  net.send(b, a, 9, 1000);
  s.run_until(TimePoint{20ms});
  net.send(a, b, 3, 500);  // link idle again: 20 + 0.5 + 10
  s.run_until_idle();
  const std::vector<Arrival> want{{TimePoint{11ms}, a, b, 0}, {TimePoint{11ms}, b, a, 9}, {TimePoint{12ms}, a, b, 1},
                                  {TimePoint{13ms}, a, b, 2}, {TimePoint{30'500us}, a, b, 3}};
  CHECK(rec.arrivals == want);
  CHECK(serialization_delay(3, 7.0) == Duration{428'571'429});  // rounded to the nearest ns
}

TEST_CASE("Delivery order per direction is FIFO even with jitter", "[sim]") {
  Scheduler s;
  Network<int> net(s, seeded_for_simulation(99));
  Recorder rec;
  rec.attach(net);
  const NodeIndex a = net.add_node(), b = net.add_node();
  net.connect(a, b, LinkParams{.latency = 1ms, .jitter = 5ms});
  std::vector<TimePoint> sent_at;
  for (int i = 0; i < 1000; ++i) {
    s.schedule_at(TimePoint{std::chrono::microseconds{10 * i}}, [&net, &sent_at, &s, a, b, i] {
      sent_at.push_back(s.now());
      net.send(a, b, i, 10);
    });
  }
  s.run_until_idle();
  REQUIRE(rec.arrivals.size() == 1000);
  int clamped = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    CHECK(rec.arrivals[i].payload == static_cast<int>(i));
    CHECK(rec.arrivals[i].at >= sent_at[i] + 1ms);
    CHECK(rec.arrivals[i].at <= sent_at[i] + 6ms);
    if (i > 0 && rec.arrivals[i].at == rec.arrivals[i - 1].at) ++clamped;
  }
  CHECK(clamped > 100);  // jitter alone would have reordered these
}

TEST_CASE("Loss drops the configured fraction, exactly reproducibly for a seed", "[sim]") {
  Scheduler s;
  Network<int> net(s, seeded_for_simulation(42));
  const NodeIndex a = net.add_node(), b = net.add_node();
  net.connect(a, b, LinkParams{.latency = 1ms, .loss = 0.1});
  for (int i = 0; i < 10'000; ++i) REQUIRE(net.send(a, b, i, 1));
  s.run_until_idle();
  const auto& st = net.stats();
  CHECK(st.sent == 10'000);
  CHECK(st.delivered + st.dropped_loss == 10'000);
  CHECK(st.dropped_loss > 900);
  CHECK(st.dropped_loss < 1100);
  CHECK(st.dropped_loss == 1045);  // measured once for seed 42
  CHECK(net.node_stats(a).lost == st.dropped_loss);
}

TEST_CASE("Same seed gives an identical delivery trace, a different seed another", "[sim]") {
  const std::uint64_t h1 = trace_hash(5);
  CHECK(trace_hash(5) == h1);
  CHECK(trace_hash(6) != h1);
}

TEST_CASE("Disconnect drops in-flight messages, and a new link starts clean", "[sim]") {
  Scheduler s;
  Network<int> net(s, seeded_for_simulation(3));
  Recorder rec;
  rec.attach(net);
  const NodeIndex a = net.add_node(), b = net.add_node(), c = net.add_node();
  net.connect(a, b, LinkParams{.latency = 10ms});
  net.connect(a, c, LinkParams{.latency = 10ms});
  net.send(a, b, 1, 10);
  net.send(b, a, 2, 10);
  net.send(a, c, 3, 10);
  s.schedule_at(TimePoint{5ms}, [&] { CHECK(net.disconnect(b, a)); });
  s.run_until(TimePoint{5ms});
  CHECK_FALSE(net.connected(a, b));
  CHECK_FALSE(net.send(a, b, 4, 10));
  CHECK(net.stats().dropped_disconnected == 2);
  CHECK(net.stats().no_link == 1);
  CHECK(net.in_flight() == 1);
  CHECK(s.pending_count() == 1);  // the dropped deliveries were cancelled
  s.run_until_idle();
  CHECK(rec.arrivals == std::vector<Arrival>{{TimePoint{10ms}, a, c, 3}});
  CHECK_FALSE(net.disconnect(a, b));

  REQUIRE(net.connect(a, b, LinkParams{.latency = 1ms}));
  net.send(a, b, 5, 10);
  s.run_until_idle();
  CHECK(rec.arrivals.back() == Arrival{TimePoint{11ms}, a, b, 5});
}

TEST_CASE("Destroying a network cancels its pending deliveries", "[sim]") {
  Scheduler s;
  int delivered = 0;
  {
    Network<std::string> net(s, seeded_for_simulation(4));
    const NodeIndex a = net.add_node();
    const NodeIndex b = net.add_node([&delivered](NodeIndex, const std::string&) { ++delivered; });
    net.connect(a, b, LinkParams{.latency = 1ms});
    net.send(a, b, std::string(1000, 'x'), 1000);
    CHECK(s.pending_count() == 1);
  }
  CHECK(s.idle());
  s.run_until_idle();
  CHECK(delivered == 0);
}

TEST_CASE("Links: neighbours sorted, duplicates refused, handlers can reply", "[sim]") {
  Scheduler s;
  Network<int> net(s, seeded_for_simulation(3));
  for (int i = 0; i < 4; ++i) net.add_node();
  CHECK(net.connect(0, 3, LinkParams{.latency = 3ms}));
  CHECK(net.connect(0, 1, LinkParams{.latency = 3ms}, LinkParams{.latency = 4ms}));
  CHECK_FALSE(net.connect(1, 0, LinkParams{}));
  CHECK_THROWS_AS(net.connect(2, 2, LinkParams{}), std::invalid_argument);
  CHECK_THROWS_AS(net.connect(0, 9, LinkParams{}), std::out_of_range);
  CHECK(net.neighbors(0) == std::vector<NodeIndex>{1, 3});
  CHECK(net.neighbors(1) == std::vector<NodeIndex>{0});
  CHECK(net.link(1, 0)->latency == 4ms);
  CHECK(net.link(1, 2) == nullptr);
  CHECK_FALSE(net.send(1, 2, 0, 1));

  // Ping-pong: 0 -> 1 takes 3 ms, 1 -> 0 takes 4 ms.
  std::vector<TimePoint> times;
  auto bounce = [&](NodeIndex self) {
    return [&net, &times, &s, self](NodeIndex from, const int& p) {
      times.push_back(s.now());
      if (p < 4) net.send(self, from, p + 1, 1);
    };
  };
  net.set_handler(0, bounce(0));
  net.set_handler(1, bounce(1));
  net.send(0, 1, 0, 1);
  s.run_until_idle();
  CHECK(times == std::vector<TimePoint>{3ms, 7ms, 10ms, 14ms, 17ms});
}

TEST_CASE("Line, ring, mesh and G(n,p) topologies", "[sim]") {
  CHECK(line(4).edges == std::vector<Edge>{{0, 1}, {1, 2}, {2, 3}});
  CHECK(ring(4).edges.size() == 4);
  CHECK(ring(4).degrees() == std::vector<std::uint32_t>{2, 2, 2, 2});
  CHECK(ring(2).edges.size() == 1);
  CHECK(full_mesh(5).edges.size() == 10);
  CHECK(full_mesh(5).connected());
  CHECK(Topology{3, {{0, 1}}}.components() == 2);

  SeededRandom r1 = seeded_for_simulation(11), r2 = seeded_for_simulation(11);
  const Topology g = erdos_renyi(200, 0.05, r1);
  CHECK(g.edges == erdos_renyi(200, 0.05, r2).edges);
  CHECK(g.edges.size() > 850);  // expected 995
  CHECK(g.edges.size() < 1150);
  std::set<std::pair<NodeIndex, NodeIndex>> unique;
  for (const Edge& e : g.edges) {
    CHECK(e.a < e.b);
    CHECK(e.b < 200);
    unique.emplace(e.a, e.b);
  }
  CHECK(unique.size() == g.edges.size());
  CHECK(erdos_renyi(10, 0.0, r1).edges.empty());

  Scheduler s;
  Network<int> net(s, seeded_for_simulation(1));
  for (int i = 0; i < 5; ++i) net.add_node();
  apply_topology(net, ring(5), LinkParams{.latency = 2ms});
  CHECK(net.neighbors(0) == std::vector<NodeIndex>{1, 4});
  CHECK(net.link(4, 0)->latency == 2ms);
  Network<int> small(s, seeded_for_simulation(1));
  CHECK_THROWS_AS(apply_topology(small, ring(5), LinkParams{}), std::out_of_range);
  CHECK(erdos_renyi(10, 1.0, r1).edges.size() == 45);
}

TEST_CASE("Random regular graphs: exact degrees, simple, connected, within bounds", "[sim]") {
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    SeededRandom rng = seeded_for_simulation(seed);
    const Topology t = random_regular(100, 3, rng);
    CHECK(t.connected());
    for (std::uint32_t d : t.degrees()) CHECK(d == 3);
    std::set<std::pair<NodeIndex, NodeIndex>> unique;
    for (const Edge& e : t.edges) {
      CHECK(e.a < e.b);
      unique.emplace(e.a, e.b);
    }
    CHECK(unique.size() == t.edges.size());
  }
  SeededRandom rng = seeded_for_simulation(1);
  const auto odd = random_regular(11, 3, rng).degrees();  // 33 stubs: node 10 gets 2
  CHECK(odd == std::vector<std::uint32_t>{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2});
  CHECK(random_regular(6, 9, rng).edges.size() == 15);  // d >= n-1: the full mesh
  CHECK(random_regular(8, 6, rng).degrees() == std::vector<std::uint32_t>(8, 6));  // dense
}

TEST_CASE("A flood over a 1,000-node random 8-regular network reaches every node", "[sim]") {
  const auto wall_start = std::chrono::steady_clock::now();
  SeededRandom root = seeded_for_simulation(1000);
  SeededRandom topo_rng = root.fork(1);
  const Topology t = random_regular(1000, 8, topo_rng);
  REQUIRE(t.connected());
  for (std::uint32_t d : t.degrees()) REQUIRE(d == 8);

  Scheduler s;
  Network<int> net(s, root.fork(2));
  std::vector<TimePoint> first_seen(1000, TimePoint::max());
  std::uint32_t reached = 0;
  for (NodeIndex i = 0; i < 1000; ++i)
    net.add_node([&net, &first_seen, &reached, &s, i](NodeIndex from, const int& p) {
      if (first_seen[i] != TimePoint::max()) return;
      first_seen[i] = s.now();
      ++reached;
      for (NodeIndex n : net.neighbors(i))
        if (n != from) net.send(i, n, p, 1024);
    });
  SeededRandom link_rng = root.fork(3);
  apply_topology(net, t, [&link_rng](NodeIndex, NodeIndex) {
    return LinkParams{.latency = Duration{static_cast<Duration::rep>(10'000'000 + link_rng.uniform(90'000'001))},
                      .bandwidth_bytes_per_sec = 1e6,
                      .jitter = 1ms};
  });
  for (NodeIndex i = 0; i < 1000; ++i) REQUIRE(net.neighbors(i).size() == 8);

  const auto flood_start = std::chrono::steady_clock::now();
  first_seen[0] = s.now();
  reached = 1;
  for (NodeIndex n : net.neighbors(0)) net.send(0, n, 42, 1024);
  s.run_until_idle();
  const auto wall_end = std::chrono::steady_clock::now();

  CHECK(reached == 1000);
  CHECK(net.stats().sent == 8 + 999 * 7);
  CHECK(net.stats().delivered == net.stats().sent);
  const TimePoint last = *std::max_element(first_seen.begin(), first_seen.end());
  CHECK(last > 0ms);
  using ms = std::chrono::duration<double, std::milli>;
  std::cout << "[sim] 1,000-node 8-regular flood: " << net.stats().delivered << " deliveries, all reached by "
            << ms(last).count() << " ms virtual; wall " << ms(wall_end - flood_start).count()
            << " ms flood, " << ms(wall_end - wall_start).count() << " ms with topology\n";
}
