// The `wan` latency profile's pieces without tor: the sans-IO delay line on a
// ManualClock (order, delay, jitter bounds, rate cap, end of stream), placement and
// forward.json, the wan torrcs, and one loopback run of the real forwarder loop.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "delay.h"      // onion/testnet/src
#include "four_nodes.h"
#include "forwarder.h"  // onion/testnet/src
#include "latency.h"    // onion/testnet/src
#include "shardnode/core/clock.h"
#include "shardnode/onion/errors.h"
#include "shardnode/testnet/testnet.h"
#include "torrc.h"  // onion/testnet/src

using namespace shardnode;
using namespace shardnode::testnet;
using namespace shardnode::testnet::detail;
using namespace std::chrono_literals;

namespace {

std::string pattern(std::size_t n, std::size_t from = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((from + i) * 131 % 251);
  return s;
}

}  // namespace

TEST_CASE("delay line: bytes leave after the delay, in order", "[testnet][delay]") {
  ManualClock clk;
  DelayLine line({.delay = 50ms, .jitter = 0ms, .rate = 0, .burst = 1024}, 1);
  line.push(clk.now(), "abc");
  clk.advance(10ms);
  line.push(clk.now(), "def");
  std::string out;
  CHECK(line.pull(clk.now(), out, 100) == 0);
  REQUIRE(line.next_event(clk.now()) == TimePoint(50ms));
  clk.set(TimePoint(49ms));
  CHECK(line.pull(clk.now(), out, 100) == 0);
  clk.set(TimePoint(50ms));
  CHECK(line.pull(clk.now(), out, 100) == 3);
  CHECK(out == "abc");
  CHECK(line.next_event(clk.now()) == TimePoint(60ms));
  clk.set(TimePoint(60ms));
  CHECK(line.pull(clk.now(), out, 2) == 2);  // the caller's room limits a pull
  CHECK(line.pull(clk.now(), out, 100) == 1);
  CHECK(out == "abcdef");
  CHECK(line.empty());
  CHECK_FALSE(line.next_event(clk.now()).has_value());
}

TEST_CASE("delay line: jitter is bounded, seeded, and never reorders", "[testnet][delay]") {
  auto run = [](std::uint64_t seed) {
    ManualClock clk;
    DelayLine line({.delay = 20ms, .jitter = 30ms, .rate = 0, .burst = 1024}, seed);
    std::vector<TimePoint> ready;
    TimePoint prev{0};
    for (int i = 0; i < 200; ++i) {
      line.push(clk.now(), pattern(10, static_cast<std::size_t>(i) * 10));
      const TimePoint r = line.last_ready();
      CHECK(r >= clk.now() + 20ms);             // never less than the delay
      CHECK(r <= std::max(clk.now() + 50ms, prev));  // at most delay + jitter, unless held by the one before
      CHECK(r >= prev);                          // order kept
      prev = r;
      ready.push_back(r);
      clk.advance(1ms);
    }
    // Everything comes out, in order, once the last time is reached.
    std::string out;
    CHECK(line.pull(prev, out, 1 << 20) == 2000);
    CHECK(out == pattern(2000));
    return ready;
  };
  const auto a = run(7);
  CHECK(a == run(7));  // same seed, same schedule
  CHECK(a != run(8));
  bool spread = false;  // the jitter is actually applied
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] - TimePoint(std::chrono::milliseconds(i)) > 25ms) spread = true;
  CHECK(spread);
}

TEST_CASE("delay line: the rate cap holds over time, after one burst", "[testnet][delay]") {
  ManualClock clk;
  // 100 kB/s, 4 KiB bucket, no delay: 100 kB queued drain in about 1 s.
  DelayLine line({.delay = 0ms, .jitter = 0ms, .rate = 100'000, .burst = 4096}, 1);
  const std::string data = pattern(100'000);
  line.push(clk.now(), data);
  std::string out;
  CHECK(line.pull(clk.now(), out, 1 << 20) == 4096);  // the full bucket at once
  int wakeups = 0;
  while (!line.empty()) {
    auto t = line.next_event(clk.now());
    REQUIRE(t.has_value());
    REQUIRE(*t > clk.now());
    clk.set(*t);
    ++wakeups;
    line.pull(clk.now(), out, 1 << 20);
    // Never more than the bucket plus what the rate allowed since 0.
    const auto allowed = 4096 + 100'000 * std::chrono::duration<double>(clk.now()).count();
    REQUIRE(static_cast<double>(out.size()) <= allowed + 1);
  }
  CHECK(out == data);
  const double secs = std::chrono::duration<double>(clk.now()).count();
  CHECK(secs > 0.95);
  CHECK(secs < 0.97);
  CHECK(wakeups < 200);  // about one per KiB, not one per byte
}

TEST_CASE("delay line: the end of stream follows the last byte", "[testnet][delay]") {
  ManualClock clk;
  DelayLine line({.delay = 30ms, .jitter = 0ms, .rate = 0, .burst = 1024}, 1);
  line.push(clk.now(), "bye");
  clk.advance(1ms);
  line.push_eof(clk.now());
  clk.set(TimePoint(30ms));
  CHECK_FALSE(line.eof_due(clk.now()));
  std::string out;
  CHECK(line.pull(clk.now(), out, 100) == 3);
  CHECK_FALSE(line.eof_due(clk.now()));  // its own time (31 ms) not reached
  CHECK(line.next_event(clk.now()) == TimePoint(31ms));
  clk.set(TimePoint(31ms));
  CHECK(line.eof_due(clk.now()));
}

TEST_CASE("wan profile: symmetric matrix, deterministic placement, forward.json round trip", "[testnet][delay]") {
  const auto& p = wan_profile();
  REQUIRE(p.regions.size() == p.one_way_ms.size());
  for (std::size_t i = 0; i < p.regions.size(); ++i)
    for (std::size_t j = 0; j < p.regions.size(); ++j) CHECK(p.one_way_ms[i][j] == p.one_way_ms[j][i]);
  CHECK(place_nodes(3, 4, 42) == place_nodes(3, 4, 42));
  const auto v = place_nodes(3, 4, 42);
  REQUIRE(v.size() == 7);
  for (int r : v) CHECK((r >= 0 && r < static_cast<int>(p.regions.size())));
  bool differs = false;
  for (std::uint64_t s = 1; s < 20 && !differs; ++s) differs = place_nodes(3, 4, s) != v;
  CHECK(differs);
  CHECK(node_address(0) == "127.0.1.1");
  CHECK(client_address(2) == "127.0.2.3");

  ForwardConfig c;
  c.profile = p;
  c.seed = 99;
  c.default_region = 2;
  c.sources = {{"127.0.2.1", 0}, {"127.0.1.1", 3}};
  c.routes = {{"a0", "127.0.1.1", 15000, "127.0.1.1", 15010, 3}};
  auto back = parse_forward_config(forward_config_json(c));
  REQUIRE(back.ok());
  CHECK(back->profile.one_way_ms == p.one_way_ms);
  CHECK(back->routes[0].target_port == 15010);
  CHECK(back->sources[1].region == 3);
  c.routes[0].target_addr = "10.0.0.1";
  auto refused = parse_forward_config(forward_config_json(c));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().what().find("loopback") != std::string::npos);
  CHECK_FALSE(parse_forward_config("{").ok());
}

TEST_CASE("wan torrcs: each node on its own address, real ORPort NoAdvertise, advertised NoListen", "[testnet][delay]") {
  TestnetState st = four_node_state("/tmp/sn-wan");
  for (std::size_t i = 0; i < st.nodes.size(); ++i) {
    auto& n = st.nodes[i];
    n.address = node_address(static_cast<int>(i));
    n.real_or_port = 20200 + static_cast<int>(i);
    n.region = "eu-west";
  }
  for (const auto& n : st.nodes) {
    const std::string t = node_torrc(n, st.nodes, 20);
    const std::string a = n.address;
    CHECK(t.find("Address " + a + "\n") != std::string::npos);
    CHECK(t.find("OutboundBindAddress " + a + "\n") != std::string::npos);
    CHECK(t.find("ORPort " + a + ":" + std::to_string(n.real_or_port) + " NoAdvertise\n") != std::string::npos);
    CHECK(t.find("ORPort " + a + ":" + std::to_string(n.or_port) + " NoListen\n") != std::string::npos);
    CHECK(t.find("127.0.0.1") == std::string::npos);
    CHECK((t.find("DirPort " + a + ":") != std::string::npos) == n.authority);
    CHECK(t.find("DirAuthority a1 orport=20001 no-v2 v3ident=" + std::string(40, '1') + " 127.0.1.2:20101 ") !=
          std::string::npos);
  }
  const std::string client = client_torrc_text(st, "na-west", client_address(1));
  CHECK(client.find("OutboundBindAddress 127.0.2.2\n") != std::string::npos);
  CHECK(client.find("region na-west") != std::string::npos);
}

TEST_CASE("testnet up refuses an unknown latency profile", "[testnet][delay]") {
  TestnetOptions o;
  o.dir = "/tmp/sn-never-created-latency";
  o.latency = "satellite";
  auto r = testnet_up(o, {});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == make_error_code(TestnetErrc::bad_options));
  CHECK(r.error().what().find("lan or wan") != std::string::npos);
}

// The real forwarder loop on loopback: a caller in region 1 (by its source address)
// reaches a route in region 0 through a 40 ms one-way delay; the target sees the
// caller's address, bytes arrive intact and in order, each way no sooner than 40 ms.
TEST_CASE("forwarder: loopback round trip is delayed both ways, intact and in order", "[testnet][delay]") {
  // The target: a plain listener on 127.0.3.1 (any free port).
  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(lfd >= 0);
  sockaddr_in la{};
  la.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.3.1", &la.sin_addr);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&la), sizeof la) == 0);
  REQUIRE(::listen(lfd, 4) == 0);
  socklen_t len = sizeof la;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&la), &len);

  ForwardConfig cfg;
  cfg.profile.regions = {"here", "there"};
  cfg.profile.one_way_ms = {{1, 40}, {40, 1}};
  cfg.profile.jitter_ms = 5;
  cfg.profile.rate = 0;
  cfg.profile.burst = 64 * 1024;
  cfg.seed = 3;
  cfg.default_region = 0;
  cfg.sources = {{"127.0.3.2", 1}};
  cfg.routes = {{"t", "127.0.3.1", 0, "127.0.3.1", ntohs(la.sin_port), 0}};
  SteadyClock clock;
  auto fwd = Forwarder::open(cfg, clock);
  REQUIRE(fwd.ok());
  const int port = (*fwd)->listen_port(0);
  REQUIRE(port > 0);
  int stop[2];
  REQUIRE(::pipe2(stop, O_CLOEXEC) == 0);
  std::thread loop([&] { CHECK((*fwd)->run(stop[0]).ok()); });

  // The caller, bound to its region's address.
  const int cfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.3.2", &src.sin_addr);
  REQUIRE(::bind(cfd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.3.1", &dst.sin_addr);
  REQUIRE(::connect(cfd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0);

  // Reads exactly n bytes or fails at a 5 s deadline (poll; no fixed sleeps).
  auto read_n = [&](int fd, std::size_t n) {
    std::string got;
    const auto deadline = clock.now() + 5s;
    while (got.size() < n && clock.now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[65536];
      const ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - got.size()), 0);
      if (r <= 0) break;
      got.append(buf, static_cast<std::size_t>(r));
    }
    return got;
  };

  const std::string up = pattern(300'000);
  const TimePoint t0 = clock.now();
  std::thread writer([&] {
    for (std::size_t off = 0; off < up.size(); off += 10'000)
      REQUIRE(::send(cfd, up.data() + off, 10'000, MSG_NOSIGNAL) == 10'000);
  });
  sockaddr_in peer{};
  socklen_t plen = sizeof peer;
  const int sfd = ::accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
  REQUIRE(sfd >= 0);
  char peer_addr[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &peer.sin_addr, peer_addr, sizeof peer_addr);
  CHECK(std::string(peer_addr) == "127.0.3.2");  // the node sees who called
  const std::string first = read_n(sfd, 1);
  const auto up_delay = clock.now() - t0;
  const std::string rest = read_n(sfd, up.size() - 1);
  writer.join();
  CHECK(first + rest == up);
  CHECK(up_delay >= 40ms);

  const std::string down = pattern(5000, 17);
  const TimePoint t1 = clock.now();
  REQUIRE(::send(sfd, down.data(), down.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(down.size()));
  CHECK(read_n(cfd, down.size()) == down);
  CHECK(clock.now() - t1 >= 40ms);

  // End of stream passes through: the caller closes its side, the target reads EOF.
  ::shutdown(cfd, SHUT_WR);
  pollfd p{sfd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 5000) == 1);
  char c;
  CHECK(::recv(sfd, &c, 1, 0) == 0);

  CHECK((*fwd)->connections_accepted() == 1);
  REQUIRE(::write(stop[1], "x", 1) == 1);
  loop.join();
  for (int fd : {cfd, sfd, lfd, stop[0], stop[1]}) ::close(fd);
}
