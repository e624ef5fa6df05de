// Gossip between two nodes over TCP loopback: node A publishes 1 KiB messages on one
// topic, node B receives them. Each node runs its own io_context on its own thread.
// A keeps at most --window messages in flight (published, not yet received), so
// the figure is sustained throughput, not queue growth. Prints msgs/s and the
// publish-to-delivery latency p50/p99 (both nodes share the process's clock).
//
//   gossip_tcp_bench [--messages N] [--size BYTES] [--window W]
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <future>
#include <thread>

#include "shardnode/core/log.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/pubsub/service.h"

using namespace shardnode;
namespace asio = boost::asio;
using Wall = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::size_t total = 100000, size = 1024, window = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--messages")) total = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--size")) size = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--window")) window = std::stoul(argv[i + 1]);
  }
  size = std::max<std::size_t>(size, 16);
  (void)logging::configure({"warn", "", {}});
  const pubsub::TopicId topic = "/shardnode/bench/1";

  asio::io_context io_a, io_b;
  NodeKey ka = NodeKey::generate(), kb = NodeKey::generate();
  net::Host ha(io_a, ka), hb(io_b, kb);
  ha.add_transport(std::make_unique<net::TcpTransport>(io_a));
  hb.add_transport(std::make_unique<net::TcpTransport>(io_b));
  auto addr_b = hb.listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
  pubsub::ServiceConfig cfg;
  cfg.gossip.heartbeat_interval = std::chrono::milliseconds(100);
  // Throughput of the router and transport: the inbound budgets (pubsub/inbound_gate.h;
  // a new peer starts at 62 messages a second) would be what this measures otherwise.
  cfg.inbound.enabled = false;
  pubsub::PubsubService pa(io_a, ha, cfg), pb(io_b, hb, cfg);

  std::atomic<std::size_t> received{0};
  std::function<void()> pump;
  std::vector<std::int64_t> latencies_ns;
  latencies_ns.reserve(total);
  std::promise<Wall::time_point> all_in;
  pb.on_message([&](const pubsub::Delivery& d) {
    std::int64_t sent = 0;
    std::memcpy(&sent, d.message.data.data() + 8, 8);
    latencies_ns.push_back(Wall::now().time_since_epoch().count() - sent);
    const std::size_t got = received.fetch_add(1) + 1;
    if (got == total) all_in.set_value(Wall::now());
    // Reopen the publisher's window as messages land (event-driven, no busy loop).
    else if (got % std::min<std::size_t>(64, window) == 0) asio::post(io_a, [&] { pump(); });
  });
  pb.start();
  pb.subscribe(topic);
  std::thread tb([&] {
    auto guard = asio::make_work_guard(io_b);
    io_b.run();
  });

  pa.start();
  pa.subscribe(topic);
  std::promise<void> connected;
  asio::post(io_a, [&] {
    ha.connect(addr_b->with_peer_id(hb.peer_id()), [&](Result<PeerId> r) {
      if (!r) std::fprintf(stderr, "connect: %s\n", r.error().what().c_str());
      connected.set_value();
    });
  });
  std::thread ta([&] {
    auto guard = asio::make_work_guard(io_a);
    io_a.run();
  });
  connected.get_future().wait();
  // Wait until B is in A's mesh (a heartbeat or two).
  for (int i = 0; i < 100; ++i) {
    std::promise<std::size_t> m;
    asio::post(io_a, [&] { m.set_value(pa.router().mesh(topic).size()); });
    if (m.get_future().get() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // bench setup only
  }

  std::size_t published = 0;
  Wall::time_point start;
  pump = [&] {
    while (published < total && published - received.load() < window) {
      Bytes data(size, 0x42);
      const std::uint64_t seq = published;
      const std::int64_t now = Wall::now().time_since_epoch().count();
      std::memcpy(data.data(), &seq, 8);
      std::memcpy(data.data() + 8, &now, 8);
      if (!pa.publish(topic, std::move(data))) break;
      ++published;
    }
  };
  asio::post(io_a, [&] {
    start = Wall::now();
    pump();
  });
  auto end_fut = all_in.get_future();
  const bool finished = end_fut.wait_for(std::chrono::seconds(120)) == std::future_status::ready;
  const auto end = finished ? end_fut.get() : Wall::now();
  io_a.stop();
  io_b.stop();
  ta.join();
  tb.join();

  const double secs = std::chrono::duration<double>(end - start).count();
  std::sort(latencies_ns.begin(), latencies_ns.end());
  auto pct = [&](double p) {
    if (latencies_ns.empty()) return 0.0;
    return static_cast<double>(latencies_ns[static_cast<std::size_t>(p * static_cast<double>(latencies_ns.size() - 1))]) / 1e6;
  };
  std::printf("gossip_tcp_bench: shardnode, 2 nodes, TCP loopback, %zu-byte messages, window %zu\n", size, window);
  std::printf("%-12s %10s %12s %10s %10s %10s\n", "impl", "messages", "msgs/s", "p50 ms", "p99 ms", "dropped");
  std::printf("%-12s %10zu %12.0f %10.2f %10.2f %10llu\n", "shardnode", received.load(),
              static_cast<double>(received.load()) / secs, pct(0.50), pct(0.99),
              static_cast<unsigned long long>(pa.counters().rpcs_dropped_queue_full));
  return finished ? 0 : 1;
}
