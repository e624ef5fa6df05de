// Two node processes over a private Tor network (`shardnode testnet up`), each with
// its own embedded tor - as two validators meet - beside a raw stream between two
// plain `tor` client processes measured in the same run:
//   1. connect: the sender dials the receiver's onion service (published by the
//      receiver's tor, fetched by the sender's) to a Noise+yamux connection;
//   2. gossip: the sender publishes `size`-byte messages (gossipsub over
//      noise+yamux over the onion stream), the receiver reports each arrival over a
//      pipe with its CLOCK_MONOTONIC time (the same clock in both processes):
//      publish-to-delivery latency one message in flight, and msgs/s with `window`
//      in flight;
//   3. raw: two Debian `tor` processes started here with the network's client.torrc
//      lines - one hosting a HiddenServiceDir onion service forwarding to a unix
//      socket, the other the SOCKS client - and the same records written straight to
//      the stream (no libp2p): the ceiling for 2.
// The node processes run the shipped stack (TorSession with the embedded tor, Host
// with the onion transport, PubsubService) without the shard layer.
//
//   4. round trips: a second stream between the plain tors, 64-byte records echoed
//      by the service side, one in flight: the onion round trip (p50/p95).
// With --receiver-testnet the receiving node and the plain service tor use another
// client torrc (a `testnet up --latency wan` region: D/client-<region>.torrc).
//
//   onion_pair_bench --testnet <dir>/client.torrc [--receiver-testnet <dir>/client-na-east.torrc]
//                    [--messages 2000] [--latency-messages 100] [--round-trips 100]
//                    [--size 1024] [--window 200] [--yamux-window BYTES] [--tor tor]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <fstream>
#include <set>

#include "onion_common.h"
#include "shardnode/core/log.h"
#include "shardnode/net/asio_stream.h"
#include "shardnode/onion/testnet_client.h"
#include "shardnode/pubsub/service.h"

using namespace shardnode;
using namespace shardnode::bench;

namespace {

const pubsub::TopicId kTopic = "/shardnode/bench/onion-pair/1";
using Lines = std::vector<std::pair<std::string, std::string>>;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Wall::now().time_since_epoch()).count();
}

void write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // the other side is gone
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Processes this bench started (the receiver, plain tors): stopped on any exit.
std::set<pid_t>& children() {
  static std::set<pid_t> c;
  return c;
}
void stop_children() {
  for (pid_t p : children()) ::kill(p, SIGTERM);
  for (int i = 0; i < 100 && !children().empty(); ++i) {
    for (auto it = children().begin(); it != children().end();) {
      if (::waitpid(*it, nullptr, WNOHANG) != 0) it = children().erase(it);
      else ++it;
    }
    if (!children().empty()) ::usleep(100 * 1000);
  }
  for (pid_t p : children()) {
    ::kill(p, SIGKILL);
    ::waitpid(p, nullptr, 0);
  }
  children().clear();
}

onion::TorSession& start_tor(asio::io_context& io, const Lines& lines, const fs::path& dir,
                             std::unique_ptr<onion::TorSession>& holder) {
  onion::TorSessionOptions so;
  so.tor.data_dir = dir / "tor";
  so.tor.extra_options = lines;
  so.bootstrap_timeout = 200s;
  auto r = onion::TorSession::start(io, so);
  if (!r) die(r.error().what());
  holder = std::move(*r);
  std::optional<Error> fatal;
  holder->on_fatal([&](const Error& e) { fatal = e; });
  if (!run_until(io, [&] { return holder->bootstrapped() || fatal; }, 200s) || fatal)
    die("tor did not bootstrap: " + (fatal ? fatal->what() : holder->bootstrap().describe()));
  holder->on_fatal([](const Error& e) { die("tor: " + e.what()); });
  return *holder;
}

// --yamux-window: both nodes' yamux receive window per stream (default: the node's).
std::uint32_t g_yamux_window = kNodeStreamWindow;

pubsub::ServiceConfig pubsub_config() {
  pubsub::ServiceConfig pc;
  pc.gossip.heartbeat_interval = 200ms;
  // Throughput of the router and transport: the inbound budgets (pubsub/inbound_gate.h;
  // a new peer starts at 62 messages a second) would be what this measures otherwise.
  pc.inbound.enabled = false;
  return pc;
}

// The receiving node (a forked process): publishes its onion service, tells the
// sender its address, then reports every arrival as (seq, monotonic ns) until the
// sender closes `down`.
[[noreturn]] void run_receiver(const Lines& lines, const fs::path& dir, int up, int down) {
  asio::io_context io;
  std::unique_ptr<onion::TorSession> holder;
  auto& tor = start_tor(io, lines, dir, holder);
  {
    OnionNode b(io, tor, dir / "b.sock", {}, g_yamux_window);
    b.listen_and_publish(io);
    const std::string line = "addr " + b.addr().with_peer_id(b.host->peer_id()).to_string() + "\n";
    write_all(up, line.data(), line.size());
    pubsub::PubsubService pb(io, *b.host, pubsub_config());
    pb.on_message([&](const pubsub::Delivery& d) {
      std::uint64_t rec[2] = {0, static_cast<std::uint64_t>(now_ns())};
      std::memcpy(&rec[0], d.message.data.data(), 8);
      write_all(up, rec, sizeof rec);
    });
    pb.start();
    pb.subscribe(kTopic);
    asio::posix::stream_descriptor ctl(io, down);
    bool done = false;
    std::array<char, 64> buf{};
    std::function<void()> wait_eof = [&] {
      ctl.async_read_some(asio::buffer(buf), [&](const boost::system::error_code& ec, std::size_t) {
        if (ec) done = true;
        else wait_eof();
      });
    };
    wait_eof();
    run_until(io, [&] { return done; }, std::chrono::hours(2));
    pb.stop();
  }
  tor.close();
  io.restart();
  io.poll();
  (void)holder->shutdown(10s);
  std::_Exit(0);
}

pid_t spawn_tor(const std::string& tor_bin, const fs::path& torrc, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execlp(tor_bin.c_str(), tor_bin.c_str(), "-f", torrc.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  children().insert(pid);
  return pid;
}

void write_torrc(const fs::path& file, const Lines& lines, const std::vector<std::string>& extra) {
  std::ofstream o(file);
  for (const auto& [k, v] : lines) o << k << " " << v << "\n";
  for (const auto& e : extra) o << e << "\n";
  if (!o) die("cannot write " + file.string());
}

}  // namespace

int main(int argc, char** argv) {
  std::string testnet, receiver_testnet, tor_bin = "tor";
  std::size_t messages = 2000, latency_messages = 100, round_trips = 100, size = 1024, window = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--testnet") testnet = argv[i + 1];
    else if (a == "--receiver-testnet") receiver_testnet = argv[i + 1];
    else if (a == "--round-trips") round_trips = std::stoul(argv[i + 1]);
    else if (a == "--yamux-window") g_yamux_window = static_cast<std::uint32_t>(std::stoul(argv[i + 1]));
    else if (a == "--messages") messages = std::stoul(argv[i + 1]);
    else if (a == "--latency-messages") latency_messages = std::stoul(argv[i + 1]);
    else if (a == "--size") size = std::stoul(argv[i + 1]);
    else if (a == "--window") window = std::stoul(argv[i + 1]);
    else if (a == "--tor") tor_bin = argv[i + 1];
    else die("unknown option " + a);
  }
  if (testnet.empty()) die("usage: onion_pair_bench --testnet <dir>/client.torrc [options]");
  size = std::max<std::size_t>(size, 16);
  (void)logging::configure({"warn", "", {}});
  auto lines_r = onion::load_testnet_client_options(testnet);
  if (!lines_r) die(lines_r.error().what());
  const Lines lines = *lines_r;
  if (receiver_testnet.empty()) receiver_testnet = testnet;
  auto rlines_r = onion::load_testnet_client_options(receiver_testnet);
  if (!rlines_r) die(rlines_r.error().what());
  const Lines rlines = *rlines_r;

  std::string tmpl = "/tmp/sn-opb-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl.data());
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  std::atexit([] { stop_children(); });

  int up[2], down[2];
  if (::pipe(up) != 0 || ::pipe(down) != 0) die("pipe failed");
  const pid_t receiver = ::fork();
  if (receiver < 0) die("fork failed");
  if (receiver == 0) {
    ::close(up[0]);
    ::close(down[1]);
    run_receiver(rlines, dir / "b", up[1], down[0]);
  }
  children().insert(receiver);
  ::close(up[1]);
  ::close(down[0]);

  // ---- 1 and 2: the sending node, in this process.
  asio::io_context io;
  std::unique_ptr<onion::TorSession> holder;
  const auto t_boot = Wall::now();
  auto& tor = start_tor(io, lines, dir / "a", holder);
  std::printf("sender's tor bootstrapped in %.1f s\n", ms(Wall::now() - t_boot) / 1000);

  // Arrivals from the receiver.
  asio::posix::stream_descriptor from_b(io, up[0]);
  std::string inbox;
  std::optional<std::string> b_addr;
  std::map<std::uint64_t, std::int64_t> sent_at;
  std::vector<double> lat;
  std::size_t received = 0;      // every arrival
  std::uint64_t count_from = 0;  // `counted`: arrivals of messages with a seq above this
  std::size_t counted = 0;
  bool b_gone = false;
  std::array<char, 16 * 256> rbuf{};
  std::function<void()> read_b = [&] {
    from_b.async_read_some(asio::buffer(rbuf), [&](const boost::system::error_code& ec, std::size_t n) {
      if (ec) {
        b_gone = true;
        return;
      }
      inbox.append(rbuf.data(), n);
      if (!b_addr) {
        const auto nl = inbox.find('\n');
        if (nl == std::string::npos) return read_b();
        b_addr = inbox.substr(5, nl - 5);
        inbox.erase(0, nl + 1);
      }
      while (inbox.size() >= 16) {
        std::uint64_t rec[2];
        std::memcpy(rec, inbox.data(), 16);
        inbox.erase(0, 16);
        if (auto it = sent_at.find(rec[0]); it != sent_at.end()) {
          lat.push_back(static_cast<double>(static_cast<std::int64_t>(rec[1]) - it->second) / 1e6);
          sent_at.erase(it);  // arrived (a duplicate would not count twice)
        }
        ++received;
        if (rec[0] > count_from) ++counted;
      }
      read_b();
    });
  };
  read_b();
  if (!run_until(io, [&] { return b_addr.has_value() || b_gone; }, 400s) || !b_addr)
    die("the receiving node never published its onion service");
  auto target = Multiaddr::parse(*b_addr);
  if (!target) die("bad address from the receiver: " + *b_addr);

  OnionNode a(io, tor, dir / "a.sock", {}, g_yamux_window);
  pubsub::PubsubService pa(io, *a.host, pubsub_config());
  pa.start();
  pa.subscribe(kTopic);
  std::optional<Result<PeerId>> cr;
  const auto c0 = Wall::now();
  a.host->connect(*target, [&](Result<PeerId> x) { cr = std::move(x); });
  if (!run_until(io, [&] { return cr.has_value(); }, 200s) || !*cr)
    die("connect to the receiver failed: " + (cr ? cr->error().what() : std::string("timeout")));
  const double connect_ms = ms(Wall::now() - c0);
  std::printf("connected to the receiving node in %.0f ms (%llu SOCKS retries)\n", connect_ms,
              static_cast<unsigned long long>(a.transport->counters().dial_retries));

  std::uint64_t seq = 0;
  auto publish = [&] {
    Bytes msg(size, 0x5a);
    ++seq;
    std::memcpy(msg.data(), &seq, 8);
    sent_at[seq] = now_ns();
    (void)pa.publish(kTopic, std::move(msg));
  };
  // Warm up until the mesh carries messages: one message per 500 ms (a publish per
  // loop turn would queue a backlog behind a slow path and skew what follows), then
  // wait until every warm-up message arrived.
  {
    auto next = Wall::now();
    if (!run_until(io, [&] {
          if (received == 0 && Wall::now() >= next) {
            publish();
            next = Wall::now() + 500ms;
          }
          return received > 0 || b_gone;
        }, 120s) || b_gone)
      die("gossip over tor never delivered");
    run_until(io, [&] { return sent_at.empty() || b_gone; }, 30s);
  }
  lat.clear();
  for (std::size_t i = 0; i < latency_messages; ++i) {
    publish();
    const std::uint64_t mine = seq;
    if (!run_until(io, [&] { return !sent_at.count(mine); }, 60s)) die("gossip latency message lost");
  }
  const auto gossip_latency = lat;
  const std::uint64_t pub_base = seq;
  count_from = seq;
  counted = 0;
  const auto g0 = Wall::now();
  run_until(io, [&] {
    while (seq - pub_base < messages && (seq - pub_base) - counted < window) publish();
    return counted >= messages || b_gone;
  }, 600s);
  const double gossip_secs = ms(Wall::now() - g0) / 1000;
  const std::size_t gossip_got = counted;
  pa.stop();
  ::close(down[1]);  // the receiver stops
  run_until(io, [&] { return b_gone; }, 30s);
  tor.close();
  io.restart();
  io.poll();
  (void)holder->shutdown(10s);

  // ---- 3: a raw stream between two plain tor clients.
  const fs::path ts = dir / "plain-service", tc = dir / "plain-client";
  fs::create_directories(ts / "hs");
  fs::create_directories(tc);
  fs::permissions(ts, fs::perms::owner_all, fs::perm_options::replace);
  fs::permissions(ts / "hs", fs::perms::owner_all, fs::perm_options::replace);
  fs::permissions(tc, fs::perms::owner_all, fs::perm_options::replace);
  const fs::path raw_sock = dir / "raw.sock", socks_sock = tc / "socks";
  write_torrc(ts / "torrc", rlines,
              {"DataDirectory " + ts.string(), "SocksPort 0", "HiddenServiceDir " + (ts / "hs").string(),
               "HiddenServicePort 4001 unix:" + raw_sock.string(), "Log notice file " + (ts / "notice.log").string()});
  write_torrc(tc / "torrc", lines,
              {"DataDirectory " + tc.string(), "SocksPort unix:" + socks_sock.string() + " OnionTrafficOnly ExtendedErrors",
               "Log notice file " + (tc / "notice.log").string()});
  asio::io_context rio;
  asio::local::stream_protocol::acceptor acceptor(rio, asio::local::stream_protocol::endpoint(raw_sock.string()));
  // The service tor opens a unix connection per stream it is asked for, and a stream
  // that the client gave up on (a SOCKS attempt that failed and was retried) may
  // still have opened one: keep accepting, and measure on the newest (the others stay
  // open until the end, so nothing points at a closed stream).
  std::unique_ptr<net::ByteStream> server;
  std::vector<std::unique_ptr<net::ByteStream>> older;
  std::size_t accepted = 0;
  std::function<void()> accept_next = [&] {
    acceptor.async_accept([&](const boost::system::error_code& ec, asio::local::stream_protocol::socket s) {
      if (ec) return;
      ++accepted;
      if (server) older.push_back(std::move(server));
      server = std::make_unique<net::AsioStream<asio::local::stream_protocol::socket>>(std::move(s), Multiaddr{},
                                                                                       Multiaddr{});
      accept_next();
    });
  };
  accept_next();
  spawn_tor(tor_bin, ts / "torrc", ts / "stdout.log");
  spawn_tor(tor_bin, tc / "torrc", tc / "stdout.log");
  std::string hostname;
  run_until(rio, [&] {
    std::ifstream h(ts / "hs" / "hostname");
    return static_cast<bool>(std::getline(h, hostname)) && hostname.size() == 62;
  }, 120s);
  if (hostname.size() != 62) die("the plain tor never wrote its onion hostname (" + ts.string() + ")");
  auto hs = Multiaddr::parse("/onion3/" + hostname.substr(0, 56) + ":4001");
  if (!hs) die("bad onion hostname " + hostname);
  net::OnionTransportConfig otc;
  otc.socks_endpoint = "unix:" + socks_sock.string();
  otc.service_socket = dir / "unused.sock";
  otc.dial_timeout = 300s;  // the plain tors bootstrap first, then the descriptor must be published
  net::OnionTransport raw(rio, NodeKey::generate(), nullptr, otc);
  std::optional<Result<std::unique_ptr<net::ByteStream>>> dr;
  const auto r0 = Wall::now();
  raw.dial(*hs, [&](Result<std::unique_ptr<net::ByteStream>> x) { dr = std::move(x); });
  if (!run_until(rio, [&] { return dr.has_value(); }, 320s) || !*dr)
    die("raw dial between the plain tors failed: " + (dr ? dr->error().what() : std::string("timeout")));
  std::printf("plain tors: stream up %.1f s after start (bootstrap, publish, connect; %llu SOCKS retries, %zu "
              "service-side connections)\n",
              ms(Wall::now() - r0) / 1000, static_cast<unsigned long long>(raw.counters().dial_retries), accepted);
  auto client = std::move(**dr);
  const StreamFigures rawf = measure_raw_stream(rio, *client, server, size, latency_messages, messages, window);
  client->close();
  if (server) server->close();
  // 4. Round trips on a second stream (the rendezvous circuit exists by now).
  // The raw stream's service side steps aside; the next accept lands in `server`.
  if (server) older.push_back(std::move(server));
  std::optional<Result<std::unique_ptr<net::ByteStream>>> dr2;
  raw.dial(*hs, [&](Result<std::unique_ptr<net::ByteStream>> x) { dr2 = std::move(x); });
  if (!run_until(rio, [&] { return dr2.has_value(); }, 120s) || !*dr2)
    die("second raw dial failed: " + (dr2 ? dr2->error().what() : std::string("timeout")));
  auto client2 = std::move(**dr2);
  const std::vector<double> rtt = measure_round_trips(rio, *client2, server, 64, round_trips);
  client2->close();
  if (server) server->close();
  for (auto& o : older) o->close();
  raw.close();
  rio.restart();
  rio.poll();
  stop_children();

  std::printf("\nonion_pair_bench: private Tor network %s (receiver %s), %zu-byte messages, window %zu\n",
              testnet.c_str(), receiver_testnet.c_str(), size, window);
  std::printf("connect, node to node (two embedded tors): %.0f ms\n", connect_ms);
  std::printf("%-40s %10s %14s %14s\n", "two processes over Tor", "msgs/s", "latency p50", "latency p99");
  std::printf("%-40s %10.0f %11.1f ms %11.1f ms   (%zu/%zu in %.1f s)\n", "gossipsub, two nodes (embedded tors)",
              static_cast<double>(gossip_got) / gossip_secs, pct(gossip_latency, 0.5), pct(gossip_latency, 0.99),
              gossip_got, messages, gossip_secs);
  std::printf("%-40s %10.0f %11.1f ms %11.1f ms   (%zu/%zu in %.1f s)\n", "raw stream, two plain tor clients",
              rawf.rate(), pct(rawf.latency_ms, 0.5), pct(rawf.latency_ms, 0.99), rawf.got, messages, rawf.secs);
  const double ratio = rawf.rate() > 0 ? static_cast<double>(gossip_got) / gossip_secs / rawf.rate() : 0;
  std::printf("gossip / raw throughput: %.0f %%\n", 100 * ratio);
  std::printf("onion round trip, plain tors, 64 B echoed, one in flight: p50 %.0f ms, p95 %.0f ms, p99 %.0f ms "
              "(min %.0f, max %.0f, n %zu)\n",
              pct(rtt, 0.5), pct(rtt, 0.95), pct(rtt, 0.99), pct(rtt, 0.0), pct(rtt, 1.0), rtt.size());
  fs::remove_all(dir);
  return 0;
}
