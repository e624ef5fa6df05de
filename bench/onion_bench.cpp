// Over a private Tor network (`shardnode testnet up`), in one run and one embedded
// tor (several onion services in one process; every byte still crosses two
// three-hop circuits through the network's relays):
//   1. time to connect to a new onion peer: a fresh onion service is published,
//      then dialled; from connect() to a Noise+yamux connection (p50/p95);
//   2. gossip between two nodes over Tor: msgs/s with a window of messages in
//      flight, and publish-to-delivery latency one message at a time;
//   3. the same two measurements on a raw stream (the onion transport's bytes, no
//      libp2p) over the same network, for comparison.
//
//   onion_bench --testnet <dir>/client.torrc [--connects 10] [--messages 2000]
//               [--latency-messages 100] [--size 1024] [--window 200]
#include <cstring>
#include <map>

#include "onion_common.h"
#include "shardnode/core/log.h"
#include "shardnode/onion/testnet_client.h"
#include "shardnode/pubsub/service.h"

using namespace shardnode;
using namespace shardnode::bench;

int main(int argc, char** argv) {
  std::string testnet;
  std::size_t connects = 10, messages = 2000, latency_messages = 100, size = 1024, window = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--testnet") testnet = argv[i + 1];
    else if (a == "--connects") connects = std::stoul(argv[i + 1]);
    else if (a == "--messages") messages = std::stoul(argv[i + 1]);
    else if (a == "--latency-messages") latency_messages = std::stoul(argv[i + 1]);
    else if (a == "--size") size = std::stoul(argv[i + 1]);
    else if (a == "--window") window = std::stoul(argv[i + 1]);
  }
  if (testnet.empty()) die("usage: onion_bench --testnet <dir>/client.torrc [options]");
  size = std::max<std::size_t>(size, 16);
  (void)logging::configure({"warn", "", {}});
  auto lines = onion::load_testnet_client_options(testnet);
  if (!lines) die(lines.error().what());

  std::string tmpl = "/tmp/sn-ob-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl.data());
  asio::io_context io;
  onion::TorSessionOptions so;
  so.tor.data_dir = dir / "tor";
  so.tor.extra_options = *lines;
  so.bootstrap_timeout = 200s;
  auto tor_r = onion::TorSession::start(io, so);
  if (!tor_r) die(tor_r.error().what());
  auto& tor = **tor_r;
  std::optional<Error> fatal;
  tor.on_fatal([&](const Error& e) { fatal = e; });
  const auto t_boot = Wall::now();
  if (!run_until(io, [&] { return tor.bootstrapped() || fatal; }, 200s) || fatal)
    die("tor did not bootstrap: " + (fatal ? fatal->what() : tor.bootstrap().describe()));
  std::printf("tor bootstrapped in %.1f s\n", ms(Wall::now() - t_boot) / 1000);

  // 1. Connect to new onion peers.
  OnionNode dialer(io, tor, dir / "d.sock");
  std::vector<double> connect_ms;
  std::uint64_t retries_before = 0;
  for (std::size_t i = 0; i < connects; ++i) {
    OnionNode target(io, tor, dir / ("t" + std::to_string(i) + ".sock"));
    target.listen_and_publish(io);
    std::optional<Result<PeerId>> r;
    const auto t0 = Wall::now();
    dialer.host->connect(target.addr(), [&](Result<PeerId> x) { r = std::move(x); });
    if (!run_until(io, [&] { return r.has_value(); }, 200s) || !*r)
      die("connect " + std::to_string(i) + ": " + (r ? r->error().what() : std::string("timeout")));
    connect_ms.push_back(ms(Wall::now() - t0));
    std::printf("  connect %zu: %.0f ms\n", i + 1, connect_ms.back());
    dialer.host->disconnect(target.host->peer_id());
  }
  const auto retries = dialer.transport->counters().dial_retries - retries_before;

  // 2. Gossip over Tor between A and B.
  const pubsub::TopicId topic = "/shardnode/bench/onion/1";
  OnionNode a(io, tor, dir / "a.sock"), b(io, tor, dir / "b.sock");
  b.listen_and_publish(io);
  pubsub::ServiceConfig pc;
  pc.gossip.heartbeat_interval = 200ms;
  // Throughput of the router and transport: the inbound budgets (pubsub/inbound_gate.h;
  // a new peer starts at 62 messages a second) would be what this measures otherwise.
  pc.inbound.enabled = false;
  pubsub::PubsubService pa(io, *a.host, pc), pb(io, *b.host, pc);
  std::map<std::uint64_t, Wall::time_point> sent_at;
  std::vector<double> gossip_lat;
  std::size_t received = 0;      // every arrival
  std::uint64_t count_from = 0;  // `counted`: arrivals of messages with a seq above this
  std::size_t counted = 0;
  pb.on_message([&](const pubsub::Delivery& d) {
    std::uint64_t seq = 0;
    std::memcpy(&seq, d.message.data.data(), 8);
    if (auto it = sent_at.find(seq); it != sent_at.end()) {
      gossip_lat.push_back(ms(Wall::now() - it->second));
      sent_at.erase(it);
    }
    ++received;
    if (seq > count_from) ++counted;
  });
  pa.start();
  pb.start();
  pa.subscribe(topic);
  pb.subscribe(topic);
  std::optional<Result<PeerId>> cr;
  a.host->connect(b.addr(), [&](Result<PeerId> x) { cr = std::move(x); });
  if (!run_until(io, [&] { return cr.has_value(); }, 200s) || !*cr) die("gossip connect failed");
  std::uint64_t seq = 0;
  auto publish = [&] {
    Bytes msg(size, 0x5a);
    ++seq;
    std::memcpy(msg.data(), &seq, 8);
    sent_at[seq] = Wall::now();
    (void)pa.publish(topic, std::move(msg));
  };
  // Warm up until the mesh carries messages: one message per 500 ms, then wait until
  // every warm-up message arrived (no backlog skews what follows).
  {
    auto next = Wall::now();
    if (!run_until(io, [&] {
          if (received == 0 && Wall::now() >= next) {
            publish();
            next = Wall::now() + 500ms;
          }
          return received > 0;
        }, 60s))
      die("gossip over tor never delivered");
    run_until(io, [&] { return sent_at.empty(); }, 30s);
  }
  // Latency: one message in flight.
  gossip_lat.clear();
  for (std::size_t i = 0; i < latency_messages; ++i) {
    publish();
    const std::uint64_t mine = seq;
    if (!run_until(io, [&] { return !sent_at.count(mine); }, 30s)) die("gossip latency message lost");
  }
  const auto gossip_latency = gossip_lat;
  // Throughput: a window of messages in flight.
  const std::uint64_t pub_base = seq;
  count_from = seq;
  counted = 0;
  const auto g0 = Wall::now();
  run_until(io, [&] {
    while (seq - pub_base < messages && (seq - pub_base) - counted < window) publish();
    return counted >= messages;
  }, 300s);
  const double gossip_secs = ms(Wall::now() - g0) / 1000;
  const std::size_t gossip_got = counted;
  pa.stop();
  pb.stop();

  // 3. A raw stream over the same network: the onion transport without libp2p on top.
  std::unique_ptr<net::ByteStream> server, client;
  net::OnionTransportConfig tc;
  tc.socks_endpoint = tor.socks_endpoint();
  tc.service_socket = dir / "raw.sock";
  tc.pow_defense = false;
  NodeKey raw_key = NodeKey::generate();
  net::OnionTransport raw(io, raw_key, tor.control(), tc);
  std::optional<Status> raw_pub;
  raw.on_published([&](Status s) { raw_pub = std::move(s); });
  tor.on_hs_desc([&raw](const onion::HsDescEvent& ev) { raw.on_hs_desc(ev); });
  const Multiaddr raw_addr = Multiaddr::onion3(raw_key.public_key(), 4001);
  if (auto l = raw.listen(raw_addr, [&](std::unique_ptr<net::ByteStream> s) { server = std::move(s); }); !l)
    die(l.error().what());
  if (!run_until(io, [&] { return raw_pub.has_value(); }, 200s) || !*raw_pub) die("raw service not published");
  std::optional<Result<std::unique_ptr<net::ByteStream>>> dr;
  raw.dial(raw_addr, [&](Result<std::unique_ptr<net::ByteStream>> x) { dr = std::move(x); });
  if (!run_until(io, [&] { return dr.has_value(); }, 200s) || !*dr) die("raw dial failed");
  client = std::move(**dr);
  const StreamFigures rawf = measure_raw_stream(io, *client, server, size, latency_messages, messages, window);
  const auto& raw_latency = rawf.latency_ms;
  const double raw_secs = rawf.secs;
  const std::size_t raw_got = rawf.got;

  std::printf("\nonion_bench: private Tor network %s, %zu-byte messages\n", testnet.c_str(), size);
  std::printf("connect to a new onion peer (%zu peers, %llu SOCKS retries): p50 %.0f ms  p95 %.0f ms  max %.0f ms\n",
              connects, static_cast<unsigned long long>(retries), pct(connect_ms, 0.5), pct(connect_ms, 0.95),
              pct(connect_ms, 1.0));
  std::printf("%-28s %12s %14s %14s\n", "two nodes over Tor", "msgs/s", "latency p50", "latency p99");
  std::printf("%-28s %12.0f %11.1f ms %11.1f ms   (%zu/%zu in %.1f s, window %zu)\n", "gossipsub (noise+yamux)",
              static_cast<double>(gossip_got) / gossip_secs, pct(gossip_latency, 0.5), pct(gossip_latency, 0.99),
              gossip_got, messages, gossip_secs, window);
  std::printf("%-28s %12.0f %11.1f ms %11.1f ms   (%zu/%zu in %.1f s, window %zu)\n", "raw onion stream",
              static_cast<double>(raw_got) / raw_secs, pct(raw_latency, 0.5), pct(raw_latency, 0.99), raw_got,
              messages, raw_secs, window);

  client->close();
  if (server) server->close();
  raw.close();
  tor.close();
  io.restart();
  io.poll();
  (void)tor.shutdown(10s);
  fs::remove_all(dir);
  return 0;
}
