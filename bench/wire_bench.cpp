// Throughput through the libp2p stack (TCP + Noise + yamux, one stream) between two
// hosts on loopback, next to raw TCP in the same run, and next to raw TCP carrying
// ChaCha20-Poly1305 frames of 64 KiB (Noise's cipher and largest frame, without
// Noise's framing code, yamux or asio): what the crypto alone allows. Each side runs
// its own io_context (or thread), as two nodes would.
//
//   wire_bench [--mib N] [--window KIB] [--max-window KIB] [--min-tune-us US]
//     --mib          bytes per case (default 256 MiB)
//     --window       yamux initial receive window of both hosts (default 256 KiB)
//     --max-window   yamux max_window, auto-tuning's ceiling (default 16 MiB; 256: off)
//     --min-tune-us  yamux min_tune_rtt, the shortest round trip tuning uses (default 5000)
#include <sodium.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
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
Figures bench_libp2p(std::size_t msg, std::size_t total, const YamuxConfig& yamux) {
  asio::io_context io_a, io_b;
  NodeKey ka = NodeKey::generate(), kb = NodeKey::generate();
  HostConfig hc;
  hc.connection.yamux = yamux;
  Host a(io_a, ka, hc), b(io_b, kb, hc);
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
  while (fut.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready)
    io_a.run_for(std::chrono::milliseconds(5));
  const auto end = fut.get();
  a.close();
  io_a.run_for(std::chrono::milliseconds(50));
  asio::post(io_b, [&] {
    b.close();
    io_b.stop();
  });
  tb.join();
  return figures(total, msg, end - start);
}

// A connected loopback TCP pair, each end on its own io_context, Nagle off.
struct TcpPair {
  asio::io_context io_a, io_b;
  asio::ip::tcp::socket server{io_b}, client{io_a};
  TcpPair() {
    asio::ip::tcp::acceptor acc(io_b, {asio::ip::make_address("127.0.0.1"), 0});
    std::thread accept_thread([&] { acc.accept(server); });
    client.connect(acc.local_endpoint());
    accept_thread.join();
    client.set_option(asio::ip::tcp::no_delay(true));
  }
};

// Raw TCP: the same pattern over a plain socket pair.
Figures bench_tcp(std::size_t msg, std::size_t total) {
  TcpPair pair;
  auto& server = pair.server;
  auto& client = pair.client;

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

// Raw TCP carrying ChaCha20-Poly1305 (IETF) frames as Noise sends them: a 2-byte
// length, then at most 65535 bytes of ciphertext (65519 of plaintext and the tag).
// The sender encrypts `msg`-byte writes cut into such frames; the receiver decrypts.
Figures bench_tcp_chacha(std::size_t msg, std::size_t total) {
  constexpr std::size_t kMaxPlain = 65535 - crypto_aead_chacha20poly1305_ietf_ABYTES;
  TcpPair pair;
  auto& server = pair.server;
  auto& client = pair.client;
  std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_KEYBYTES> key{};
  randombytes_buf(key.data(), key.size());
  auto nonce_of = [](std::uint64_t n) {
    std::array<std::uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> nonce{};
    for (int i = 0; i < 8; ++i) nonce[4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
    return nonce;
  };

  std::promise<BenchTimer::time_point> done;
  std::thread tb([&] {
    Bytes ct(65535), pt(kMaxPlain);
    std::uint8_t len[2];
    std::size_t got = 0;
    std::uint64_t n = 0;
    boost::system::error_code ec;
    while (got < total) {
      asio::read(server, asio::buffer(len), ec);
      if (ec) break;
      const std::size_t clen = (std::size_t{len[0]} << 8) | len[1];
      asio::read(server, asio::buffer(ct.data(), clen), ec);
      if (ec) break;
      unsigned long long plen = 0;
      const auto nonce = nonce_of(n++);
      if (crypto_aead_chacha20poly1305_ietf_decrypt(pt.data(), &plen, nullptr, ct.data(), clen, nullptr, 0,
                                                    nonce.data(), key.data()) != 0)
        break;
      got += plen;
    }
    done.set_value(BenchTimer::now());
  });
  Bytes payload(msg, 0x5a);
  Bytes frame(2 + 65535);
  std::uint64_t n = 0;
  const auto start = BenchTimer::now();
  for (std::size_t sent = 0; sent < total; sent += msg) {
    for (std::size_t off = 0; off < msg; off += kMaxPlain) {
      const std::size_t k = std::min(kMaxPlain, msg - off);
      unsigned long long clen = 0;
      const auto nonce = nonce_of(n++);
      crypto_aead_chacha20poly1305_ietf_encrypt(frame.data() + 2, &clen, payload.data() + off, k, nullptr, 0, nullptr,
                                                nonce.data(), key.data());
      frame[0] = static_cast<std::uint8_t>(clen >> 8);
      frame[1] = static_cast<std::uint8_t>(clen);
      asio::write(client, asio::buffer(frame.data(), 2 + clen));
    }
  }
  const auto end = done.get_future().get();
  tb.join();
  return figures(total, msg, end - start);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mib = 256;
  YamuxConfig yamux;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::size_t v = std::stoul(argv[i + 1]);
    if (std::strcmp(argv[i], "--mib") == 0) {
      mib = v;
    } else if (std::strcmp(argv[i], "--window") == 0) {
      yamux.initial_window = static_cast<std::uint32_t>(v * 1024);
    } else if (std::strcmp(argv[i], "--max-window") == 0) {
      yamux.max_window = static_cast<std::uint32_t>(v * 1024);
    } else if (std::strcmp(argv[i], "--min-tune-us") == 0) {
      yamux.min_tune_rtt = std::chrono::microseconds(v);
    } else {
      std::fprintf(stderr, "usage: wire_bench [--mib N] [--window KIB] [--max-window KIB] [--min-tune-us US]\n");
      return 2;
    }
  }
  if (sodium_init() < 0) return 1;
  (void)logging::configure({"warn", "", {}});
  const std::size_t total = mib * 1024 * 1024;
  std::printf(
      "wire_bench: %zu MiB per case, one stream, TCP loopback, two io_context threads; yamux window %u KiB, "
      "max %u KiB, min tuning RTT %lld us\n",
      mib, yamux.initial_window / 1024, yamux.max_window / 1024,
      static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(yamux.min_tune_rtt).count()));
  std::printf("%-44s %10s %12s %14s\n", "case", "seconds", "MB/s", "msgs/s");
  auto row = [](const std::string& name, const Figures& f) {
    std::printf("%-44s %10.2f %12.1f %14.0f\n", name.c_str(), f.seconds, f.mb_per_s, f.msgs_per_s);
  };
  for (std::size_t msg : {std::size_t{1024}, std::size_t{64 * 1024}}) {
    const std::string label = std::to_string(msg / 1024) + " KiB writes";
    row("raw TCP, " + label, bench_tcp(msg, total));
    if (msg == 64 * 1024) row("raw TCP + ChaCha20-Poly1305, " + label, bench_tcp_chacha(msg, total));
    row("noise+yamux, " + label, bench_libp2p(msg, total, yamux));
  }
  return 0;
}
