// The live experiment's loader and scoring (deanon/live.h) on hand-written run
// directories: the graph from the events files, the window, the spies' first
// receipts, deliveries, the simulator's twin, and malformed input.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "shardnode/deanon/live.h"

using namespace shardnode;
using namespace shardnode::deanon;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kTopic = "/shardnode/shard/0/collations/1";

// Nodes a, b, c, d honest; s the spy. Connections (dialler first): a-b, b-s, s-c,
// c-d, and d-a, which closed before the window opened.
struct RunDir {
  fs::path dir;
  std::map<std::string, std::vector<json>> receipts, events;
  json manifest;

  explicit RunDir(const std::string& name) {
    dir = fs::temp_directory_path() / ("sn-live-test-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    manifest = json{{"mode", "plain"}, {"topic", kTopic}, {"window", {100.0, 300.0}}, {"flood_publish", true},
                    {"message_interval_ms", 100.0}, {"nodes", json::array()}};
    for (const std::string n : {"a", "b", "c", "s", "d"})
      manifest["nodes"].push_back(json{{"name", n}, {"peer_id", "peer-" + n}, {"spy", n == "s"},
                                       {"receipts", n + ".receipts"}, {"events", n + ".events"}});
    link("a", "b", 10);
    link("b", "s", 10);
    link("s", "c", 10);
    link("c", "d", 10);
    link("d", "a", 10);
    events["d"].push_back(json{{"t", 50.0}, {"event", "disconnected"}, {"peer", "peer-a"}});
    events["a"].push_back(json{{"t", 50.0}, {"event", "disconnected"}, {"peer", "peer-d"}});
  }
  ~RunDir() { fs::remove_all(dir); }
  void link(const std::string& from, const std::string& to, double t) {
    events[from].push_back(json{{"t", t}, {"event", "connected"}, {"peer", "peer-" + to}, {"direction", "outbound"}});
    events[to].push_back(json{{"t", t}, {"event", "connected"}, {"peer", "peer-" + from}, {"direction", "inbound"}});
  }
  void receipt(const std::string& node, double t, const std::string& kind, const std::string& id,
               const std::string& from = "") {
    json r{{"t", t}, {"kind", kind}, {"topic", kTopic}, {"id", id}};
    if (!from.empty()) r["from"] = "peer-" + from;
    receipts[node].push_back(r);
  }
  fs::path write(const std::string& extra_receipt_line = "") {
    std::ofstream(dir / "run.json") << manifest.dump();
    for (const std::string n : {"a", "b", "c", "s", "d"}) {
      std::ofstream r(dir / (n + ".receipts"));
      for (const json& j : receipts[n]) r << j.dump() << "\n";
      if (n == "s") r << extra_receipt_line;
      std::ofstream e(dir / (n + ".events"));
      for (const json& j : events[n]) e << j.dump() << "\n";
    }
    return dir;
  }
};

// m1 from a (the spy hears it from b first: wrong), m2 from b (from b first:
// right), m0 from c before the window (not counted).
void two_messages(RunDir& r) {
  r.receipt("c", 90.0, "own", "e0");
  r.receipt("a", 120.0, "own", "a1");
  r.receipt("b", 120.05, "gossip", "a1", "a");
  r.receipt("b", 120.05, "deliver", "a1");
  r.receipt("s", 120.10, "gossip", "a1", "b");
  r.receipt("s", 120.20, "gossip", "a1", "c");
  r.receipt("s", 120.30, "gossip", "a1", "b");  // a duplicate: only the first per sender counts
  r.receipt("c", 120.15, "gossip", "a1", "s");
  r.receipt("c", 120.15, "deliver", "a1");
  r.receipt("d", 120.25, "deliver", "a1");
  r.receipt("b", 200.0, "own", "b2");
  r.receipt("s", 200.04, "gossip", "b2", "b");
  r.receipt("a", 200.05, "gossip", "b2", "b");
  r.receipt("a", 200.05, "deliver", "b2");
  r.receipt("s", 200.06, "gossip", "b2", "stranger");  // a peer not in the run
}

}  // namespace

TEST_CASE("live: the graph, the window, the spies' first receipts and deliveries", "[deanon][live]") {
  RunDir r("basic");
  two_messages(r);
  auto run = load_live_run(r.write());
  REQUIRE(run);
  CHECK(run->mode == "plain");
  // d-a closed before the window: four edges, each with its dialler first.
  using E = std::pair<NodeIndex, NodeIndex>;
  std::vector<E> edges = run->edges;
  std::sort(edges.begin(), edges.end());
  CHECK(edges == std::vector<E>{{0, 1}, {1, 3}, {2, 4}, {3, 2}});
  CHECK(run->spies == std::vector<NodeIndex>{3});
  CHECK(run->logs.truth.size() == 2);  // e0 was published before the window
  CHECK(run->messages_outside_window == 1);
  CHECK(run->unknown_senders == 1);
  // Two observations of a1 (from b, from c), one of b2.
  REQUIRE(run->logs.observations.size() == 2);
  std::size_t obs = 0;
  for (const auto& [id, o] : run->logs.observations) obs += o.size();
  CHECK(obs == 3);
  // Deliveries at other honest nodes: a1 at b, c, d; b2 at a.
  REQUIRE(run->logs.latencies_ms.size() == 4);
  CHECK(run->logs.latencies_ms.front() == Approx(50.0).margin(0.01));
  // One-hop delays in plain mode: gossip straight from the source (b heard a1 from a;
  // s and a heard b2 from b).
  CHECK(run->one_hop_ms.size() == 3);

  const RunResult res = score_live_run(*run);
  CHECK(res.messages == 2);
  CHECK(res.guesses == 2);
  CHECK(res.correct == 1);  // b2 right, a1 named b
  CHECK(res.recall == Approx(0.5));
  CHECK(res.delivered == Approx(4.0 / 6.0));  // 2 messages x 3 other honest nodes
  CHECK(std::isnan(res.posterior_recall));    // one spy: no probe arrives anywhere, no timing adversary

  // The twin: the same graph, spy and publishers, the measured link latency.
  CHECK(run->sim.topology == TopologyKind::given);
  CHECK(run->sim.edges.size() == 4);
  CHECK(run->sim.fixed_spies == std::vector<std::uint32_t>{3});
  CHECK(run->sim.fixed_validators == std::vector<std::uint32_t>{0, 1});
  CHECK(run->sim.validate());
  ExperimentConfig twin = run->sim;
  twin.runs = 1;
  const RunResult sim = run_once(twin, 0);
  CHECK(sim.messages == 2);
  CHECK(sim.spies == 1);
}

TEST_CASE("live: the spies' own messages calibrate the timing adversary", "[deanon][live]") {
  RunDir r("probes");
  two_messages(r);
  // A second spy, c; s publishes probes that c hears from s (1 hop) and from d (3 hops).
  r.manifest["nodes"][2]["spy"] = true;
  for (int k = 0; k < 12; ++k) {
    const double t = 130.0 + k;
    char id[8];
    std::snprintf(id, sizeof id, "ff%02x", k);
    r.receipt("s", t, "own", id);
    r.receipt("c", t + 0.05, "gossip", id, "s");
    r.receipt("c", t + 0.02, "gossip", id, "d");  // a stranger's path the hop count calls 3 hops
  }
  auto run = load_live_run(r.write());
  REQUIRE(run);
  CHECK(run->probes.size() == 12);
  CHECK(run->probe_receipts.size() == 24);
  const RunResult res = score_live_run(*run);
  CHECK(res.calibration_samples == 24);
  CHECK(!std::isnan(res.posterior_recall));
}

TEST_CASE("live: malformed run directories are refused with the file named", "[deanon][live]") {
  SECTION("a torn last line is tolerated") {
    RunDir r("torn");
    two_messages(r);
    CHECK(load_live_run(r.write("{\"t\": 1")));
  }
  SECTION("a bad line in the middle names its line") {
    RunDir r("bad-line");
    two_messages(r);
    auto run = load_live_run(r.write("not json\n{\"t\": 1}\n"));
    REQUIRE(!run);
    CHECK(run.error().what().find("s.receipts:6") != std::string::npos);
  }
  SECTION("an unknown kind") {
    RunDir r("kind");
    two_messages(r);
    r.receipt("s", 150.0, "teleport", "a1", "b");
    auto run = load_live_run(r.write());
    REQUIRE(!run);
    CHECK(run.error().what().find("unknown kind") != std::string::npos);
  }
  SECTION("a manifest without a window, with a bad mode, without a spy, or missing") {
    RunDir r("manifest");
    two_messages(r);
    r.manifest.erase("window");
    auto run = load_live_run(r.write());
    REQUIRE(!run);
    CHECK(run.error().what().find("run.json") != std::string::npos);
    RunDir m("mode");
    two_messages(m);
    m.manifest["mode"] = "loud";
    CHECK(!load_live_run(m.write()));
    RunDir n("nospy");
    two_messages(n);
    n.manifest["nodes"][3]["spy"] = false;
    CHECK(!load_live_run(n.write()));
    CHECK(!load_live_run(fs::temp_directory_path() / "sn-live-test-does-not-exist"));
  }
  SECTION("no honest message in the window") {
    RunDir r("empty");
    r.receipt("a", 10.0, "own", "a1");
    auto run = load_live_run(r.write());
    REQUIRE(!run);
    CHECK(run.error().what().find("no honest message") != std::string::npos);
  }
}

TEST_CASE("live: compare_live summarises live runs beside their twins", "[deanon][live]") {
  RunDir r1("cmp1"), r2("cmp2");
  two_messages(r1);
  two_messages(r2);
  auto c = compare_live({r1.write(), r2.write()}, 2, 7);
  REQUIRE(c);
  CHECK(c->live.size() == 2);
  CHECK(c->simulated.size() == 4);
  CHECK(c->live_summary.recall.mean == Approx(0.5));
  CHECK(c->live_summary.recall.samples == 2);
  const json j = json::parse(to_json(*c));
  CHECK(j.at("mode") == "plain");
  CHECK(j.at("live").at("first-spy recall").at("mean") == Approx(0.5));
  CHECK(to_table(*c).find("first-spy recall") != std::string::npos);
  RunDir p("cmp-private");
  two_messages(p);
  p.manifest["mode"] = "private";
  p.manifest["stem"] = json{{"fluff", 0.1}, {"embargo_ms", 2000}, {"embargo_jitter_ms", 1000}, {"own_embargo_ms", 6000}};
  auto mixed = compare_live({r1.write(), p.write()}, 1, 7);
  REQUIRE(!mixed);
  CHECK(mixed.error().what().find("different modes") != std::string::npos);
}
