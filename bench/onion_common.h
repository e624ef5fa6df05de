// Shared by the benchmarks over a private Tor network (onion_bench, onion_pair_bench):
// waiting on an io_context, percentiles, an onion host on a tor session, and the
// raw-stream measurements (records written straight to an onion stream, and echoed
// round trips).
#pragma once

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardnode/net/host.h"
#include "shardnode/net/onion_transport.h"
#include "shardnode/onion/tor_session.h"

namespace shardnode::bench {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Wall = std::chrono::steady_clock;  // benchmarks measure real time
using namespace std::chrono_literals;

template <class Pred>
bool run_until(asio::io_context& io, Pred done, std::chrono::seconds deadline) {
  const auto end = Wall::now() + deadline;
  while (!done() && Wall::now() < end) {
    io.restart();
    io.run_one_for(50ms);
  }
  return done();
}

inline double ms(Wall::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

inline double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

[[noreturn]] inline void die(const std::string& why) {
  std::fprintf(stderr, "onion bench: %s\n", why.c_str());
  std::exit(1);
}

// The node's yamux window per stream (net.stream_window_kib's default), which the
// benches use unless told otherwise: they measure what a validator ships.
inline constexpr std::uint32_t kNodeStreamWindow = 1024 * 1024;

// A host with an onion transport on a tor session; listening when asked. Its yamux
// window per stream is `stream_window` (the node's by default).
struct OnionNode {
  NodeKey key = NodeKey::generate();
  std::unique_ptr<net::Host> host;
  net::OnionTransport* transport = nullptr;
  std::optional<Status> published;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  OnionNode(asio::io_context& io, onion::TorSession& tor, const fs::path& sock, net::HostConfig hc = {},
            std::uint32_t stream_window = kNodeStreamWindow) {
    hc.onion_only = true;
    hc.dial_timeout = 150s;
    hc.connection.yamux.initial_window = stream_window;
    host = std::make_unique<net::Host>(io, key, hc);
    net::OnionTransportConfig tc;
    tc.socks_endpoint = tor.socks_endpoint();
    tc.service_socket = sock;
    tc.pow_defense = false;  // nothing to defend against here; keeps the figures about transport
    auto t = std::make_unique<net::OnionTransport>(io, key, tor.control(), tc);
    transport = t.get();
    transport->on_published([this](Status s) { published = std::move(s); });
    tor.on_hs_desc([t = transport, a = alive](const onion::HsDescEvent& ev) {
      if (*a) t->on_hs_desc(ev);
    });
    host->add_transport(std::move(t));
  }
  ~OnionNode() {
    *alive = false;
    host->close();
  }
  OnionNode(const OnionNode&) = delete;
  OnionNode& operator=(const OnionNode&) = delete;
  Multiaddr addr() const { return Multiaddr::onion3(key.public_key(), 4001); }
  void listen_and_publish(asio::io_context& io) {
    if (auto r = host->listen(addr()); !r) die(r.error().what());
    if (!run_until(io, [&] { return published.has_value(); }, 200s) || !*published)
      die("onion service not published: " + (published ? published->error().what() : std::string("timeout")));
  }
};

struct StreamFigures {
  std::vector<double> latency_ms;  // one record in flight
  std::size_t got = 0;             // records through with `window` in flight
  double secs = 0;
  double rate() const { return secs > 0 ? static_cast<double>(got) / secs : 0; }
};

// Writes `size`-byte records (an 8-byte sequence number first) on `client` and reads
// them on the server side, which `server` holds once the stream reached it (tor
// connects the service side only when the first byte arrives): latency one record in
// flight, then throughput with `window` in flight.
inline StreamFigures measure_raw_stream(asio::io_context& io, net::ByteStream& client,
                                        std::unique_ptr<net::ByteStream>& server, std::size_t size,
                                        std::size_t latency_messages, std::size_t messages, std::size_t window) {
  StreamFigures f;
  // What pending reads and writes touch lives as long as they do.
  struct State {
    std::vector<std::uint8_t> rbuf = std::vector<std::uint8_t>(64 * 1024);
    std::size_t bytes = 0;
    std::map<std::uint64_t, Wall::time_point> sent;
    std::vector<double> lat;
    std::vector<std::uint8_t> pending;  // partial record on the reading side
    std::vector<std::shared_ptr<std::vector<std::uint8_t>>> outbox;
    std::size_t writes_pending = 0;
    std::size_t size = 0;
  };
  auto st = std::make_shared<State>();
  st->size = size;
  std::size_t& raw_bytes = st->bytes;
  std::vector<double>& lat = st->lat;
  net::ByteStream* srv = nullptr;
  std::function<void(std::shared_ptr<State>)> read_more = [&srv, &read_more](std::shared_ptr<State> s) {
    srv->async_read_some(s->rbuf, [s, &read_more](std::error_code ec, std::size_t n) {
      if (ec || s->size == 0) return;
      s->bytes += n;
      s->pending.insert(s->pending.end(), s->rbuf.begin(), s->rbuf.begin() + static_cast<std::ptrdiff_t>(n));
      while (s->pending.size() >= s->size) {
        std::uint64_t q = 0;
        std::memcpy(&q, s->pending.data(), 8);
        if (auto it = s->sent.find(q); it != s->sent.end()) s->lat.push_back(ms(Wall::now() - it->second));
        s->pending.erase(s->pending.begin(), s->pending.begin() + static_cast<std::ptrdiff_t>(s->size));
      }
      read_more(s);
    });
  };
  std::uint64_t seq = 0;
  auto send = [&] {
    auto buf = std::make_shared<std::vector<std::uint8_t>>(size, 0x5a);
    ++seq;
    std::memcpy(buf->data(), &seq, 8);
    st->sent[seq] = Wall::now();
    ++st->writes_pending;
    st->outbox.push_back(buf);
    client.async_write(*buf, [s = st, buf](std::error_code) { --s->writes_pending; });
  };
  send();
  if (!run_until(io, [&] { return server != nullptr; }, 60s)) die("raw stream never reached the service");
  srv = server.get();
  read_more(st);
  run_until(io, [&] { return raw_bytes >= size; }, 30s);
  lat.clear();
  for (std::size_t i = 0; i < latency_messages; ++i) {
    const std::size_t want = raw_bytes + size;
    send();
    if (!run_until(io, [&] { return raw_bytes >= want; }, 30s))
      die("raw latency record " + std::to_string(i) + " lost (" + std::to_string(raw_bytes) + " bytes arrived, " +
          std::to_string(st->writes_pending) + " writes pending)");
  }
  f.latency_ms = lat;
  const std::size_t base = raw_bytes;
  const std::uint64_t sbase = seq;
  const auto t0 = Wall::now();
  run_until(io, [&] {
    while (seq - sbase < messages && (seq - sbase) - (raw_bytes - base) / size < window) send();
    if (st->writes_pending == 0) st->outbox.clear();
    return (raw_bytes - base) / size >= messages;
  }, 300s);
  f.secs = ms(Wall::now() - t0) / 1000;
  f.got = (raw_bytes - base) / size;
  // Stop reading: the caller closes the streams; a read still pending then ends
  // with an error (or after this function, with `size` 0, does nothing).
  st->size = 0;
  return f;
}

// Round trips over an onion stream: `client` writes a `size`-byte record, the
// service side (`server`, set once the stream reached it) echoes every byte it
// reads, and the client times the record's return. What onionperf's latency graph
// times (a small request to its response), without HTTP. Returns one figure per
// round trip (ms); a lost echo ends the bench.
inline std::vector<double> measure_round_trips(asio::io_context& io, net::ByteStream& client,
                                               std::unique_ptr<net::ByteStream>& server, std::size_t size,
                                               std::size_t count) {
  struct State {
    std::vector<std::uint8_t> sbuf = std::vector<std::uint8_t>(16 * 1024);
    std::vector<std::uint8_t> cbuf = std::vector<std::uint8_t>(16 * 1024);
    std::size_t back = 0;  // bytes echoed to the client
    bool stop = false;
  };
  auto st = std::make_shared<State>();
  net::ByteStream* srv = nullptr;
  std::function<void(std::shared_ptr<State>)> echo = [&srv, &echo](std::shared_ptr<State> s) {
    srv->async_read_some(s->sbuf, [s, &srv, &echo](std::error_code ec, std::size_t n) {
      if (ec || s->stop) return;
      auto out = std::make_shared<std::vector<std::uint8_t>>(s->sbuf.begin(), s->sbuf.begin() + static_cast<std::ptrdiff_t>(n));
      srv->async_write(*out, [out](std::error_code) {});
      echo(s);
    });
  };
  std::function<void(std::shared_ptr<State>)> read_back = [&client, &read_back](std::shared_ptr<State> s) {
    client.async_read_some(s->cbuf, [s, &read_back](std::error_code ec, std::size_t n) {
      if (ec || s->stop) return;
      s->back += n;
      read_back(s);
    });
  };
  auto send = [&] {
    auto buf = std::make_shared<std::vector<std::uint8_t>>(size, 0x33);
    client.async_write(*buf, [buf](std::error_code) {});
  };
  send();
  if (!run_until(io, [&] { return server != nullptr; }, 60s)) die("round-trip stream never reached the service");
  srv = server.get();
  echo(st);
  read_back(st);
  if (!run_until(io, [&] { return st->back >= size; }, 30s)) die("first echo lost");
  std::vector<double> rtt;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t want = st->back + size;
    const auto t0 = Wall::now();
    send();
    if (!run_until(io, [&] { return st->back >= want; }, 30s)) die("echo lost");
    rtt.push_back(ms(Wall::now() - t0));
  }
  // The caller closes the streams; pending reads then end with an error.
  st->stop = true;
  return rtt;
}

}  // namespace shardnode::bench
