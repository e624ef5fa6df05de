// Gossipsub on the simulator: N real routers (default 1,000) on a random regular
// graph, simulated links with latency, jitter and a bandwidth limit, one topic that
// every node subscribes to, gossipsub defaults (D=6). After a warm-up, M messages
// are published from random nodes; the bench prints delivery, hop counts, delivery
// latency (virtual time), duplicates per delivery, and where the copies came from,
// with and without IDONTWANT (meshsub/1.2 vs /1.1) on the same seed, plus the
// wall-clock time and memory of each simulation. It prints; it asserts nothing.
//
//   gossip_sim_bench [--nodes N] [--messages M] [--seed S] [--jobs J] [--sha256-ids]
//                    (defaults 1000 / 100 / 1 / 2)
//
// Each row runs in its own forked process, J at a time (one per core by default),
// so a row's peak RSS (ru_maxrss) and wall time are its own.
//
// Message ids: by default the bench names a message by its first 16 bytes (a stamp
// plus random bytes, unique here) and its length, not by the router's default
// SHA-256 of the whole content. The virtual-time figures came out identical either
// way (checked with --nodes 300 --messages 10), but the simulator hashes every copy
// of every message about three times (harness and router), and libsodium's SHA-256
// of 32 KiB copies then takes ~87 % of the wall time (~40 s per 32 KiB row for 20
// messages). --sha256-ids restores the default to measure that.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include "gossip_sim.h"
#include "shardnode/sim/seeding.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;
using BenchTimer = std::chrono::steady_clock;

namespace {

const TopicId kTopic = "/shardnode/bench/gossip/1";

struct Options {
  std::uint32_t nodes = 1000;
  std::uint32_t messages = 100;
  std::uint64_t seed = 1;
  std::uint32_t jobs = 2;
  std::uint32_t warm = 100;  // messages published (and not measured) before the measured ones
  bool sha256_ids = false;
  std::string only;  // run only the rows whose name contains this
};

// One row of the table: what differs from the base configuration.
struct Case {
  std::string name;
  std::size_t size = 1024;
  PeerProtocol proto = PeerProtocol::meshsub_1_2;
  bool flood_publish = true;
  std::size_t d = 6, d_lo = 4, d_hi = 12;
  Duration validation{0};  // > 0: validators answer asynchronously after this delay
  double bandwidth = 10e6;  // bytes/s per link direction
  bool choke = false;       // routers choke mesh peers (GossipsubConfig::choke)
  bool tor = false;         // the Tor-like latency model instead of 50 ms + U[0, 20 ms]
  bool defer_all = false;   // choke.defer_all_iwants
  std::size_t graft_accept = 0;  // graft_accept_limit (0: D_hi)
  std::size_t unchoked = 3;      // choke.unchoked
  bool latency = false;     // the latency-aware mesh (GossipsubConfig::latency), peers pinged every 10 s
  Duration settle{0};       // extra unmeasured time before the warm-up traffic
};

// The Tor-like model: each link (an onion-to-onion circuit) gets its own one-way
// latency for the whole run, lognormal with a median of 200 ms (sigma 0.5: 5 % below
// 88 ms, 5 % above 455 ms), plus U[0, 20 ms] per message, and OnionPerf's median
// onion-service throughput (2.45 Mbit/s) per direction (docs/LATENCY.md).
void tor_like_links(GossipSim& sim, std::uint64_t seed) {
  sim::SeededRandom rng = sim::seeded_for_simulation(seed).fork(81);
  auto& net = sim.network();
  for (std::uint32_t a = 0; a < sim.size(); ++a)
    for (std::uint32_t b = a + 1; b < sim.size(); ++b) {
      if (!net.link(a, b)) continue;
      // Box-Muller: one standard normal draw.
      const double u1 = std::max(rng.unit(), 1e-12), u2 = rng.unit();
      const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
      const auto one_way = std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(200.0 * std::exp(0.5 * z)));
      const sim::LinkParams p{one_way, 2.45e6 / 8.0, 0.0, 20ms};
      net.set_link(a, b, p);
      net.set_link(b, a, p);
    }
}

struct Figures {
  std::uint64_t deliveries = 0, expected = 0;
  std::uint32_t hops_p50 = 0, hops_p99 = 0, hops_max = 0;
  double lat_p50_ms = 0, lat_p99_ms = 0;
  double dup_per_delivery = 0;
  double mesh_mean = 0;          // mean mesh size when publishing starts
  double origin_per_msg = 0;     // copies the publisher sent, per message
  double iwant_per_delivery = 0; // copies sent as IWANT replies by relays, per delivery
  double suppressed_per_delivery = 0;  // sends skipped because of an IDONTWANT
  double mb_on_wire = 0;         // all RPC bytes sent from the first publish to the end (MB)
  double wall_s = 0;
  double rss_delta_mib = 0;      // resident set with the simulation alive, minus before it
  double peak_rss_mib = 0;       // ru_maxrss of the row's process
  double choked_share = 0;       // mesh links (one direction each) choked at the end
  double lazy_per_delivery = 0;  // IHAVEs sent instead of a copy (the peer choked us), per delivery
  double choke_changes_per_node = 0;  // CHOKE + UNCHOKE sent over the whole run, per node
};
static_assert(std::is_trivially_copyable_v<Figures>);  // sent through a pipe

double current_rss_mib() {
  std::ifstream f("/proc/self/statm");
  unsigned long long pages_total = 0, pages_resident = 0;
  if (!(f >> pages_total >> pages_resident)) return 0.0;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

template <class T>
T percentile(std::vector<T>& v, double p) {
  if (v.empty()) return T{};
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// Message i: its index in the first 4 bytes (so the observer can tell messages
// apart without hashing), then seeded random bytes.
Bytes payload(std::uint32_t i, std::size_t size, sim::SeededRandom& rng) {
  Bytes b(size);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng.next());
  for (std::size_t k = 0; k < 4; ++k) b[k] = static_cast<std::uint8_t>(i >> (8 * k));
  return b;
}

std::uint32_t stamp(const Message& m) {
  std::uint32_t i = 0;
  for (std::size_t k = 0; k < 4 && k < m.data.size(); ++k) i |= static_cast<std::uint32_t>(m.data[k]) << (8 * k);
  return i;
}

// Unique for the bench's payloads: the stamp and 12 random bytes, then the length.
MessageId bench_message_id(const Message& m) {
  MessageId id(m.data.begin(), m.data.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(16, m.data.size())));
  const std::uint64_t n = m.data.size();
  for (std::size_t k = 0; k < 4; ++k) id.push_back(static_cast<std::uint8_t>(n >> (8 * k)));
  return id;
}

struct CounterSums {
  std::uint64_t forwarded = 0, suppressed = 0, lazy = 0;
};

CounterSums sum_counters(GossipSim& sim) {
  CounterSums s;
  for (std::uint32_t n = 0; n < sim.size(); ++n) {
    const auto& c = sim.router(n).counters();
    s.forwarded += c.messages_forwarded;
    s.suppressed += c.sends_suppressed_by_idontwant;
    s.lazy += c.sends_lazy;
  }
  return s;
}

Figures run(const Options& opt, const Case& c) {
  const auto wall_start = BenchTimer::now();
  const double rss_start = current_rss_mib();
  GossipSimConfig cfg;
  cfg.nodes = opt.nodes;
  cfg.degree = 12;  // room for D=6 meshes (and D_hi=12) on every node
  cfg.seed = opt.seed;
  cfg.link = sim::LinkParams{50ms, c.bandwidth, 0.0, 20ms};  // 50 ms + U[0, 20 ms]
  cfg.protocol = c.proto;
  cfg.gossip.flood_publish = c.flood_publish;
  if (!opt.sha256_ids) cfg.gossip.message_id = bench_message_id;
  cfg.gossip.d = c.d;
  cfg.gossip.d_lo = c.d_lo;
  cfg.gossip.d_hi = c.d_hi;
  cfg.gossip.d_score = std::min(cfg.gossip.d_score, c.d);
  cfg.gossip.d_out = std::min(cfg.gossip.d_out, std::min(c.d_lo - 1, c.d / 2));
  cfg.score.topics[kTopic] = TopicScoreParams::defaults();
  cfg.gossip.choke.enabled = c.choke;
  cfg.gossip.choke.defer_all_iwants = c.defer_all;
  cfg.gossip.choke.unchoked = c.unchoked;
  cfg.gossip.graft_accept_limit = c.graft_accept;
  cfg.gossip.latency.enabled = c.latency;
  if (c.latency) cfg.ping_interval = 10s;

  GossipSim sim(cfg);
  if (c.tor) tor_like_links(sim, opt.seed);
  sim.subscribe_all(kTopic);
  if (c.validation > Duration{0}) {
    // Validation that takes time (signature and content checks): the router parks the
    // message, answers come back `c.validation` later. The outputs are flushed by
    // GossipSim::subscribe (a no-op for a topic already joined, then a drain).
    for (std::uint32_t n = 0; n < sim.size(); ++n) {
      sim.router(n).set_validator(kTopic, [&sim, &c, n](const PeerId&, const Message& m) {
        const MessageId id = sim.router(n).config().message_id(m);
        sim.scheduler().schedule_after(c.validation, [&sim, n, id] {
          sim.router(n).report_validation(id, ValidationResult::accept, sim.now());
          sim.subscribe(n, kTopic);
        });
        return std::optional<ValidationResult>{};
      });
    }
  }
  sim.run_for(10s + c.settle);  // warm-up: meshes form
  {
    // Then traffic like the measured one, unmeasured (the choke statistics need it;
    // every row gets the same).
    sim::SeededRandom warm_pick = sim::seeded_for_simulation(opt.seed).fork(79);
    sim::SeededRandom warm_content = sim::seeded_for_simulation(opt.seed).fork(80);
    for (std::uint32_t i = 0; i < opt.warm; ++i) {
      // Stamps past the measured range, so the observer below never counts them.
      (void)sim.publish(static_cast<GossipSim::Node>(warm_pick.uniform(sim.size())), kTopic,
                        payload(opt.messages + 1 + i, c.size, warm_content));
      sim.run_for(100ms);
    }
    sim.run_for(5s);
  }

  double mesh_total = 0;
  for (std::uint32_t n = 0; n < sim.size(); ++n) mesh_total += static_cast<double>(sim.router(n).mesh(kTopic).size());

  // Same publishers and contents in every row (same seed).
  sim::SeededRandom pick = sim::seeded_for_simulation(opt.seed).fork(77);
  std::vector<GossipSim::Node> origin(opt.messages);
  for (auto& o : origin) o = static_cast<GossipSim::Node>(pick.uniform(sim.size()));
  std::uint64_t origin_copies = 0;
  sim.network().set_observer([&](TimePoint, sim::NodeIndex from, sim::NodeIndex, const SimRpc& rpc) {
    for (const auto& m : rpc.rpc.publish) {
      const std::uint32_t i = stamp(m);
      if (i < origin.size() && origin[i] == from) ++origin_copies;
    }
  });

  const SimStats before = sim.stats();
  const CounterSums cbefore = sum_counters(sim);
  std::vector<MessageId> ids;
  std::vector<TimePoint> published_at;
  sim::SeededRandom content = sim::seeded_for_simulation(opt.seed).fork(78);
  for (std::uint32_t i = 0; i < opt.messages; ++i) {
    auto id = sim.publish(origin[i], kTopic, payload(i, c.size, content));
    if (!id) {
      std::fprintf(stderr, "publish %u failed: %s\n", i, id.error().what().c_str());
      std::exit(1);
    }
    ids.push_back(*id);
    published_at.push_back(sim.now());
    sim.run_for(100ms);
  }
  sim.run_for(5s);  // let the last ones (and any IWANT recovery) finish

  Figures f;
  std::vector<std::uint32_t> hops;
  std::vector<double> lat;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (const auto& [node, r] : sim.receptions(ids[i])) {
      hops.push_back(r.hops);
      lat.push_back(std::chrono::duration<double, std::milli>(r.at - published_at[i]).count());
    }
  }
  f.expected = static_cast<std::uint64_t>(opt.messages) * (opt.nodes - 1);
  f.deliveries = hops.size();
  f.hops_max = hops.empty() ? 0 : *std::max_element(hops.begin(), hops.end());
  f.hops_p50 = percentile(hops, 0.50);
  f.hops_p99 = percentile(hops, 0.99);
  f.lat_p50_ms = percentile(lat, 0.50);
  f.lat_p99_ms = percentile(lat, 0.99);

  const SimStats& after = sim.stats();
  const CounterSums cafter = sum_counters(sim);
  const auto receipts = after.message_receipts - before.message_receipts;
  const auto firsts = after.first_deliveries - before.first_deliveries;
  const double d = static_cast<double>(std::max<std::uint64_t>(firsts, 1));
  f.dup_per_delivery = static_cast<double>(receipts - firsts) / d;
  f.mesh_mean = mesh_total / static_cast<double>(sim.size());
  f.origin_per_msg = static_cast<double>(origin_copies) / static_cast<double>(std::max<std::uint32_t>(opt.messages, 1));
  // Every copy received was a mesh forward, a copy from the publisher, or an IWANT reply.
  const auto forwarded = cafter.forwarded - cbefore.forwarded;
  const auto iwant = receipts > forwarded + origin_copies ? receipts - forwarded - origin_copies : 0;
  f.iwant_per_delivery = static_cast<double>(iwant) / d;
  f.suppressed_per_delivery = static_cast<double>(cafter.suppressed - cbefore.suppressed) / d;
  f.lazy_per_delivery = static_cast<double>(cafter.lazy - cbefore.lazy) / d;
  double links = 0, choked = 0;
  for (std::uint32_t n = 0; n < sim.size(); ++n) {
    links += static_cast<double>(sim.router(n).mesh(kTopic).size());
    choked += static_cast<double>(sim.router(n).choked(kTopic).size());
  }
  f.choked_share = links > 0 ? choked / links : 0.0;
  std::uint64_t churn = 0;
  for (std::uint32_t n = 0; n < sim.size(); ++n)
    churn += sim.router(n).counters().chokes_sent + sim.router(n).counters().unchokes_sent;
  f.choke_changes_per_node = static_cast<double>(churn) / static_cast<double>(sim.size());
  f.mb_on_wire = static_cast<double>(after.bytes - before.bytes) / 1e6;
  f.rss_delta_mib = current_rss_mib() - rss_start;
  f.peak_rss_mib = peak_rss_mib();
  sim.network().set_observer({});
  f.wall_s = std::chrono::duration<double>(BenchTimer::now() - wall_start).count();
  return f;
}

const char* proto_name(PeerProtocol p) {
  switch (p) {
    case PeerProtocol::meshsub_1_2: return "1.2 (IDONTWANT)";
    case PeerProtocol::meshsub_1_1: return "1.1 (none)";
    default: return "?";
  }
}

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--sha256-ids") {
      o.sha256_ids = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    if (a == "--only") {
      o.only = argv[++i];
      continue;
    }
    const unsigned long long v = std::strtoull(argv[++i], nullptr, 10);
    if (a == "--nodes" && v >= 14) o.nodes = static_cast<std::uint32_t>(v);
    else if (a == "--messages" && v >= 1) o.messages = static_cast<std::uint32_t>(v);
    else if (a == "--seed") o.seed = v;
    else if (a == "--jobs" && v >= 1 && v <= 64) o.jobs = static_cast<std::uint32_t>(v);
    else if (a == "--warm") o.warm = static_cast<std::uint32_t>(v);
    else return false;
  }
  return true;
}

// A row in a child process: the figures come back through a pipe.
struct Child {
  pid_t pid = -1;
  int fd = -1;
};

Child start(const Options& opt, const Case& c) {
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (pid == 0) {
    close(fds[0]);
    const Figures f = run(opt, c);
    const ssize_t w = write(fds[1], &f, sizeof f);
    _exit(w == static_cast<ssize_t>(sizeof f) ? 0 : 1);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

bool finish(const Child& ch, Figures& f) {
  std::size_t got = 0;
  auto* p = reinterpret_cast<char*>(&f);
  while (got < sizeof f) {
    const ssize_t r = read(ch.fd, p + got, sizeof f - got);
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  close(ch.fd);
  int status = 0;
  waitpid(ch.pid, &status, 0);
  return got == sizeof f && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (std::size_t size : {std::size_t{1024}, std::size_t{32 * 1024}})
    for (PeerProtocol p : {PeerProtocol::meshsub_1_1, PeerProtocol::meshsub_1_2}) {
      Case c;
      c.name = "defaults";
      c.size = size;
      c.proto = p;
      v.push_back(c);
    }
  Case c;
  c.size = 32 * 1024;
  c.name = "flood_publish off";
  c.flood_publish = false;
  v.push_back(c);
  // What drives duplicates: the time between a first receipt (IDONTWANT goes out) and
  // the forward (after validation), and the mesh degree.
  c = Case{};
  c.size = 32 * 1024;
  c.name = "validation 20 ms";
  c.validation = 20ms;
  v.push_back(c);
  c.name = "validation 100 ms";
  c.validation = 100ms;
  v.push_back(c);
  c = Case{};
  c.size = 32 * 1024;
  c.name = "D=4 (D_lo 3, D_hi 8)";
  c.d = 4;
  c.d_lo = 3;
  c.d_hi = 8;
  v.push_back(c);
  // The choke extension: each router keeps 3 mesh peers pushing to it, the rest announce.
  for (std::size_t size : {std::size_t{1024}, std::size_t{32 * 1024}}) {
    c = Case{};
    c.name = "choke";
    c.size = size;
    c.choke = true;
    v.push_back(c);
  }
  c.size = 1024;
  c.name = "choke, defer all IWANTs";
  c.defer_all = true;
  v.push_back(c);
  // GRAFTs accepted only up to D: meshes nearer D.
  for (bool choke : {false, true}) {
    c = Case{};
    c.name = choke ? "GRAFT up to D, choke" : "GRAFT up to D";
    c.graft_accept = 6;
    c.choke = choke;
    v.push_back(c);
  }
  // The Tor-like latency model (1 KiB: 32 KiB every 100 ms would saturate 2.45 Mbit/s links).
  for (bool choke : {false, true}) {
    c = Case{};
    c.name = choke ? "tor-like, choke" : "tor-like";
    c.tor = true;
    c.choke = choke;
    v.push_back(c);
  }
  c.name = "tor-like, choke, defer all IWANTs";
  c.defer_all = true;
  v.push_back(c);
  // The latency-aware mesh, after a minute more for its swaps (every 10 heartbeats);
  // plain gossipsub gets the same minute for comparison.
  for (bool tor : {false, true})
    for (int variant = 0; variant < 3; ++variant) {
      c = Case{};
      c.tor = tor;
      c.settle = 60s;
      c.latency = variant > 0;
      c.choke = variant == 2;
      c.name = std::string(tor ? "tor-like, " : "") + "+60 s" +
               (variant == 0 ? "" : variant == 1 ? ", latency-aware" : ", latency-aware, choke");
      v.push_back(c);
    }
  // Everything that cuts duplicates at once, on the tor-like links.
  c.name = "tor-like, +60 s, latency-aware, GRAFT up to D, choke";
  c.graft_accept = 6;
  v.push_back(c);
  c.name = "tor-like, +60 s, latency-aware, GRAFT up to D, choke, 4 unchoked";
  c.unchoked = 4;
  v.push_back(c);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, opt)) {
    std::fprintf(stderr,
                 "usage: %s [--nodes N>=14] [--messages M>=1] [--warm W] [--seed S] [--jobs J] [--sha256-ids] "
                 "[--only NAME]\n",
                 argv[0]);
    return 2;
  }
  std::printf("gossipsub on %u simulated nodes: random 12-regular graph, links 50 ms + U[0,20 ms] and 10 MB/s "
              "per direction, no loss; one topic, all subscribed; 10 s warm-up, then %u messages from random "
              "nodes every 100 ms after %u unmeasured ones; seed %llu; message ids: %s; %u rows at a time\n\n",
              opt.nodes, opt.messages, opt.warm, static_cast<unsigned long long>(opt.seed),
              opt.sha256_ids ? "SHA-256 of the content (default)" : "first 16 bytes + length", opt.jobs);
  std::printf("| case | size | protocol | deliveries | hops p50/p99 (max) | latency ms p50/p99 | dup/delivery | "
              "mean mesh | publisher copies/msg | IWANT copies/delivery | IDONTWANT-skipped/delivery | "
              "IHAVE-instead/delivery | mesh links choked (CHOKE+UNCHOKE/node) | MB sent | wall s | RSS MiB delta (peak) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");

  auto all = cases();
  if (!opt.only.empty())
    std::erase_if(all, [&](const Case& c) { return c.name.find(opt.only) == std::string::npos; });
  const auto t0 = BenchTimer::now();
  std::vector<Child> running;  // in row order
  std::size_t next = 0;
  bool ok = true;
  for (std::size_t row = 0; row < all.size(); ++row) {
    while (next < all.size() && running.size() < opt.jobs) running.push_back(start(opt, all[next++]));
    const Case& c = all[row];
    Figures f;
    if (!finish(running.front(), f)) {
      std::printf("| %s | %zu KiB | %s | (failed) |\n", c.name.c_str(), c.size / 1024, proto_name(c.proto));
      ok = false;
    } else {
      std::printf("| %s | %zu KiB | %s | %llu / %llu (%.2f %%) | %u / %u (%u) | %.0f / %.0f | %.2f | %.2f | %.1f | "
                  "%.3f | %.3f | %.3f | %.1f %% (%.1f) | %.0f | %.1f | %.0f (%.0f) |\n",
                  c.name.c_str(), c.size / 1024, proto_name(c.proto), static_cast<unsigned long long>(f.deliveries),
                  static_cast<unsigned long long>(f.expected),
                  100.0 * static_cast<double>(f.deliveries) / static_cast<double>(f.expected), f.hops_p50,
                  f.hops_p99, f.hops_max, f.lat_p50_ms, f.lat_p99_ms, f.dup_per_delivery, f.mesh_mean,
                  f.origin_per_msg, f.iwant_per_delivery, f.suppressed_per_delivery, f.lazy_per_delivery,
                  100.0 * f.choked_share, f.choke_changes_per_node, f.mb_on_wire, f.wall_s,
                  f.rss_delta_mib, f.peak_rss_mib);
    }
    std::fflush(stdout);
    running.erase(running.begin());
  }
  std::printf("\ntotal wall %.1f s\n", std::chrono::duration<double>(BenchTimer::now() - t0).count());
  return ok ? 0 : 1;
}
