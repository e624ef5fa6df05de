// Throughput through the libp2p stack (TCP + Noise + yamux, one stream) between two
// hosts on loopback, next to raw TCP in the same run. Each side runs its own
// io_context on its own thread, as two nodes would.
//
//   wire_bench [--mib N]     (default 256 MiB per case)
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <thread>

#include "shardnode/core/log.h"
#include "shardnode/net/host.h"
#include "shardnode/net/tcp_transport.h"

using namespace shardnode;
using namespace shardnode::net;
namespace asio = boost::asio;
using BenchTimer = std::chrono::steady_clock;

namespace {

struct Figures {
  double seconds;
  double mb_per_s;
  double msgs_per_s;
};

Figures figures(std::size_t total, std::size_t msg, BenchTimer::duration d) {
  const double s = std::chrono::duration<double>(d).count();
  return {s, static_cast<double>(total) / s / 1e6, static_cast<double>(total / msg) / s};
}

// One libp2p stream: A writes `total` bytes in `msg`-byte writes; B counts them.
Figures bench_libp2p(std::size_t msg, std::size_t total) {
  asio::io_context io_a, io_b;
  NodeKey ka = NodeKey::generate(), kb = NodeKey::generate();
  Host a(io_a, ka), b(io_b, kb);
  a.add_transport(std::make_unique<TcpTransport>(io_a));
  b.add_transport(std::make_unique<TcpTransport>(io_b));
  auto addr = b.listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
  if (!addr) throw std::runtime_error(addr.error().what());

  std::promise<BenchTimer::time_point> done;
  std::size_t received = 0;
  b.set_handler("/bench/sink/1.0.0", [&](std::shared_ptr<Stream> s) {
    s->on_data([&](ByteView d) {
      received += d.size();
      if (received == total) done.set_value(BenchTimer::now());
    });
  });
  std::thread tb([&] {
    auto guard = asio::make_work_guard(io_b);
    io_b.run();
  });

  Bytes payload(msg, 0x5a);
  BenchTimer::time_point start;
  std::shared_ptr<Stream> stream;
  std::size_t sent = 0;
  std::function<void()> send_more = [&] {
    while (sent < total && stream->write_capacity() >= msg) {
      if (!stream->write(payload)) break;
      sent += msg;
    }
  };
  a.connect(addr->with_peer_id(b.peer_id()), [&](Result<PeerId> r) {
    if (!r) throw std::runtime_error(r.error().what());
    a.new_stream(b.peer_id(), {"/bench/sink/1.0.0"}, [&](Result<std::shared_ptr<Stream>> s) {
      if (!s) throw std::runtime_error(s.error().what());
      stream = *s;
      stream->on_writable(send_more);
      start = BenchTimer::now();
      send_more();
    });
  });
  auto fut = done.get_future();
  while (fut.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) io_a.run_for(std::chrono::milliseconds(5));
  const auto end = fut.get();
  a.close();
  io_a.run_for(std::chrono::milliseconds(50));
  asio::post(io_b, [&] { b.close(); io_b.stop(); });
  tb.join();
  return figures(total, msg, end - start);
}

// Raw TCP: the same pattern over a plain socket pair.
Figures bench_tcp(std::size_t msg, std::size_t total) {
  asio::io_context io_a, io_b;
  asio::ip::tcp::acceptor acc(io_b, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket server(io_b), client(io_a);
  std::thread accept_thread([&] { acc.accept(server); });
  client.connect(acc.local_endpoint());
  accept_thread.join();
  client.set_option(asio::ip::tcp::no_delay(true));

  std::promise<BenchTimer::time_point> done;
  std::thread tb([&] {
    std::vector<std::uint8_t> buf(64 * 1024);
    std::size_t got = 0;
    boost::system::error_code ec;
    while (got < total) {
      std::size_t n = server.read_some(asio::buffer(buf), ec);
      if (ec) break;
      got += n;
    }
    done.set_value(BenchTimer::now());
  });
  Bytes payload(msg, 0x5a);
  const auto start = BenchTimer::now();
  for (std::size_t sent = 0; sent < total; sent += msg) asio::write(client, asio::buffer(payload));
  const auto end = done.get_future().get();
  tb.join();
  return figures(total, msg, end - start);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mib = 256;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--mib") == 0) mib = std::stoul(argv[i + 1]);
  (void)logging::configure({"warn", "", {}});
  const std::size_t total = mib * 1024 * 1024;
  std::printf("wire_bench: %zu MiB per case, one stream, TCP loopback, two io_context threads\n", mib);
  std::printf("%-28s %10s %12s %14s\n", "case", "seconds", "MB/s", "msgs/s");
  for (std::size_t msg : {std::size_t{1024}, std::size_t{64 * 1024}}) {
    const auto tcp = bench_tcp(msg, total);
    const auto p2p = bench_libp2p(msg, total);
    const std::string label = std::to_string(msg / 1024) + " KiB writes";
    std::printf("%-28s %10.2f %12.1f %14.0f\n", ("raw TCP, " + label).c_str(), tcp.seconds, tcp.mb_per_s, tcp.msgs_per_s);
    std::printf("%-28s %10.2f %12.1f %14.0f\n", ("noise+yamux, " + label).c_str(), p2p.seconds, p2p.mb_per_s,
                p2p.msgs_per_s);
  }
  return 0;
}
