// Prometheus metrics: the text exposition (exact output), the loopback-only HTTP
// server over real sockets (scrape, 404, 405, caps, refusals), the metrics.listen
// setting, and the collector on two live nodes over TCP loopback (peers, a jump in
// the histogram, and no peer id anywhere in the text). Real clock; waits have deadlines.
#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "../support/io_wait.h"
#include "../support/live_shard_node.h"
#include "shardnode/core/bytes.h"
#include "shardnode/net/kad_service.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/node/metrics.h"
#include "shardnode/node/settings.h"
#include "shardnode/node/shard_service.h"
#include "shardnode/shard/topics.h"

using namespace shardnode;
using namespace std::chrono_literals;
using shardnode::test::run_until;
namespace asio = boost::asio;
using asio::ip::tcp;
using node::MetricsRegistry;

// ---------------------------------------------------------------- exposition

TEST_CASE("metrics exposition: a counter", "[metrics]") {
  MetricsRegistry r;
  r.counter("demo_requests_total", "Requests handled.", 3);
  CHECK(r.render() ==
        "# HELP demo_requests_total Requests handled.\n"
        "# TYPE demo_requests_total counter\n"
        "demo_requests_total 3\n");
}

TEST_CASE("metrics exposition: a labelled gauge, escaping of label values and help", "[metrics]") {
  MetricsRegistry r;
  r.gauge("demo_temp", "A \\ help\nline", 1.5, {{"path", "a\\b\"c\nd"}});
  r.gauge("demo_temp", "second help is ignored", -2, {{"path", "x"}, {"zone", "y"}});
  r.counter("demo_temp", "wrong type: dropped", 7);
  r.gauge("9bad", "bad name: dropped", 1);
  r.gauge("demo_bad_label", "bad label: dropped", 1, {{"bad-label", "x"}});
  r.gauge("demo_dup_label", "duplicate label: dropped", 1, {{"a", "x"}, {"a", "y"}});
  CHECK(r.render() ==
        "# HELP demo_temp A \\\\ help\\nline\n"
        "# TYPE demo_temp gauge\n"
        "demo_temp{path=\"a\\\\b\\\"c\\nd\"} 1.5\n"
        "demo_temp{path=\"x\",zone=\"y\"} -2\n");
}

TEST_CASE("metrics exposition: a histogram with labels", "[metrics]") {
  node::Histogram h({1, 0.25, 2.5, 1});  // sorted and deduplicated
  for (double v : {0.125, 0.25, 0.75, 3.0}) h.observe(v);
  MetricsRegistry r;
  r.histogram("demo_latency_seconds", "Latency.", h, {{"topic", "t\"1"}});
  CHECK(r.render() ==
        "# HELP demo_latency_seconds Latency.\n"
        "# TYPE demo_latency_seconds histogram\n"
        "demo_latency_seconds_bucket{topic=\"t\\\"1\",le=\"0.25\"} 2\n"
        "demo_latency_seconds_bucket{topic=\"t\\\"1\",le=\"1\"} 3\n"
        "demo_latency_seconds_bucket{topic=\"t\\\"1\",le=\"2.5\"} 3\n"
        "demo_latency_seconds_bucket{topic=\"t\\\"1\",le=\"+Inf\"} 4\n"
        "demo_latency_seconds_sum{topic=\"t\\\"1\"} 4.125\n"
        "demo_latency_seconds_count{topic=\"t\\\"1\"} 4\n");
  // Without labels; an empty histogram.
  MetricsRegistry e;
  e.histogram("demo_empty", "Nothing yet.", node::Histogram({0.5}));
  CHECK(e.render() ==
        "# HELP demo_empty Nothing yet.\n"
        "# TYPE demo_empty histogram\n"
        "demo_empty_bucket{le=\"0.5\"} 0\n"
        "demo_empty_bucket{le=\"+Inf\"} 0\n"
        "demo_empty_sum 0\n"
        "demo_empty_count 0\n");
  // A histogram may not carry its own le label.
  MetricsRegistry bad;
  bad.histogram("demo_bad", "x", h, {{"le", "1"}});
  CHECK(bad.render().empty());
}

TEST_CASE("metrics exposition: a summary over a snapshot, and value formatting", "[metrics]") {
  const auto s = node::summarize({3, -1, 2, 10, std::nan("")}, {0, 0.5, 1});
  MetricsRegistry r;
  r.summary("demo_score", "Scores.", s);
  r.summary("demo_none", "No values.", node::summarize({}, {0, 1}));
  CHECK(r.render() ==
        "# HELP demo_score Scores.\n"
        "# TYPE demo_score summary\n"
        "demo_score{quantile=\"0\"} -1\n"
        "demo_score{quantile=\"0.5\"} 2\n"
        "demo_score{quantile=\"1\"} 10\n"
        "demo_score_sum 14\n"
        "demo_score_count 4\n"
        "# HELP demo_none No values.\n"
        "# TYPE demo_none summary\n"
        "demo_none_sum 0\n"
        "demo_none_count 0\n");
  CHECK(node::format_metric_value(0.1) == "0.1");
  CHECK(node::format_metric_value(-0.0) == "0");
  CHECK(node::format_metric_value(1e21) == "1e+21");
  CHECK(node::format_metric_value(123456789012.0) == "123456789012");
  CHECK(node::format_metric_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(node::format_metric_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(node::format_metric_value(std::nan("")) == "NaN");
}

// ---------------------------------------------------------------- addresses and the setting

TEST_CASE("metrics: only loopback endpoints parse", "[metrics]") {
  auto ok = node::parse_loopback_endpoint("127.0.0.1:9464");
  REQUIRE(ok);
  CHECK(ok->port() == 9464);
  CHECK(node::parse_loopback_endpoint("127.1.2.3:1"));
  auto v6 = node::parse_loopback_endpoint("[::1]:9464");
  REQUIRE(v6);
  CHECK(v6->address().is_v6());
  for (const char* bad : {"0.0.0.0:9464", "[::]:9464", "192.0.2.1:9464", "10.0.0.1:80", "localhost:9464",
                          "127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "::1:9464", "[127.0.0.1]:9464",
                          "[::ffff:127.0.0.1]:9464", ""}) {
    INFO(bad);
    CHECK_FALSE(node::parse_loopback_endpoint(bad));
  }
  CHECK(node::parse_loopback_endpoint("0.0.0.0:1").error().what().find("loopback") != std::string::npos);
}

TEST_CASE("metrics.listen: off by default, loopback only, errors name the key", "[metrics]") {
  CHECK(node::Settings::defaults().get_string("metrics.listen").empty());
  for (const char* good : {"127.0.0.1:9464", "127.0.0.2:1", "[::1]:9464"}) {
    INFO(good);
    auto s = node::Settings::parse(std::string("[metrics]\nlisten = \"") + good + "\"\n", "t.toml");
    REQUIRE(s);
    CHECK(s->get_string("metrics.listen") == good);
  }
  for (const char* bad : {"0.0.0.0:9464", "192.168.1.10:9464", "[::]:9464", "localhost:9464", "127.0.0.1",
                          "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.01:9464", "127.0.0:9464"}) {
    INFO(bad);
    auto s = node::Settings::parse(std::string("[metrics]\nlisten = \"") + bad + "\"\n", "t.toml");
    REQUIRE_FALSE(s);
    CHECK(s.error().what().find("metrics.listen") != std::string::npos);
  }
  auto s = node::Settings::parse("[metrics]\nlisten = \"0.0.0.0:9464\"\n", "t.toml");
  REQUIRE_FALSE(s);
  CHECK(s.error().what().find("loopback") != std::string::npos);
}

// ---------------------------------------------------------------- the server over sockets

namespace {

struct Reply {
  boost::system::error_code ec;  // set when no complete response arrived
  unsigned status = 0;
  std::string content_type, allow, body;
  bool keep_alive = false;
};

// An HTTP client on the test's io_context: raw bytes out, one parsed response in.
struct Client {
  explicit Client(asio::io_context& io_) : io(io_), sock(io_) {}

  bool connect(const tcp::endpoint& ep) {
    std::optional<boost::system::error_code> done;
    sock.async_connect(ep, [&](boost::system::error_code ec) { done = ec; });
    return run_until(io, [&] { return done.has_value(); }) && !*done;
  }

  Reply request(const std::string& raw) {
    std::optional<boost::system::error_code> wrote;
    asio::async_write(sock, asio::buffer(raw), [&](boost::system::error_code ec, std::size_t) { wrote = ec; });
    REQUIRE(run_until(io, [&] { return wrote.has_value(); }));
    return read_reply();
  }

  // One response, parsed by hand (status line, headers, Content-Length body): the
  // test does not trust the server's HTTP library to check it.
  Reply read_reply() {
    Reply r;
    std::optional<boost::system::error_code> read;
    asio::async_read_until(sock, asio::dynamic_buffer(pending), "\r\n\r\n",
                           [&](boost::system::error_code ec, std::size_t) { read = ec; });
    REQUIRE(run_until(io, [&] { return read.has_value(); }));
    const auto head_end = pending.find("\r\n\r\n");
    if (*read || head_end == std::string::npos) {
      r.ec = *read ? *read : asio::error::eof;
      return r;
    }
    const std::string head = pending.substr(0, head_end + 2);
    REQUIRE(head.rfind("HTTP/1.1 ", 0) == 0);
    r.status = static_cast<unsigned>(std::stoul(head.substr(9, 3)));
    r.keep_alive = true;
    std::size_t length = 0;
    for (std::size_t at = head.find("\r\n") + 2; at < head.size();) {
      const auto eol = head.find("\r\n", at);
      const std::string line = head.substr(at, eol - at);
      at = eol + 2;
      const auto colon = line.find(':');
      REQUIRE(colon != std::string::npos);
      std::string name = line.substr(0, colon), value = line.substr(colon + 1);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      value.erase(0, value.find_first_not_of(' '));
      if (name == "content-type") r.content_type = value;
      if (name == "allow") r.allow = value;
      if (name == "content-length") length = std::stoul(value);
      if (name == "connection" && value == "close") r.keep_alive = false;
    }
    const std::size_t total = head_end + 4 + length;
    if (pending.size() < total) {
      read.reset();
      asio::async_read(sock, asio::dynamic_buffer(pending), asio::transfer_exactly(total - pending.size()),
                       [&](boost::system::error_code ec, std::size_t) { read = ec; });
      REQUIRE(run_until(io, [&] { return read.has_value(); }));
      if (*read) {
        r.ec = *read;
        return r;
      }
    }
    r.body = pending.substr(head_end + 4, length);
    pending.erase(0, total);
    return r;
  }

  // Whether the server closes the connection (a read ends in an error) in time.
  bool closed_by_server(std::chrono::milliseconds deadline = 20s) {
    std::optional<boost::system::error_code> read;
    sock.async_read_some(asio::buffer(scratch), [&](boost::system::error_code ec, std::size_t) { read = ec; });
    return run_until(io, [&] { return read.has_value(); }, deadline) && *read;
  }

  asio::io_context& io;
  tcp::socket sock;
  std::string pending;  // bytes read and not yet parsed
  std::array<char, 256> scratch{};
};

const std::string kGet = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// The value of one series (name with its labels, exactly as rendered); -1 if absent.
double value_of(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  const auto start = at + series.size() + 2;
  return std::stod(text.substr(start, text.find('\n', start) - start));
}

}  // namespace

TEST_CASE("metrics server: GET /metrics over a socket, 404, 405, keep-alive", "[metrics]") {
  asio::io_context io;
  int renders = 0;
  node::MetricsServer server(io, [&] {
    ++renders;
    return std::string("# HELP x X.\n# TYPE x counter\nx ") + std::to_string(renders) + "\n";
  });
  REQUIRE(server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  const auto ep = server.local_endpoint();
  REQUIRE(ep.port() != 0);
  CHECK_FALSE(server.listen(ep));  // only once

  Client c(io);
  REQUIRE(c.connect(ep));
  auto r = c.request(kGet);
  REQUIRE_FALSE(r.ec);
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(r.body == "# HELP x X.\n# TYPE x counter\nx 1\n");
  CHECK(r.keep_alive);
  // Same connection: rendered again, at scrape time. A query string is fine.
  r = c.request("GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  REQUIRE_FALSE(r.ec);
  CHECK(r.body == "# HELP x X.\n# TYPE x counter\nx 2\n");
  r = c.request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  REQUIRE_FALSE(r.ec);
  CHECK(r.status == 404);
  r = c.request("GET /metricsx HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  CHECK(r.status == 404);
  r = c.request("POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi");
  REQUIRE_FALSE(r.ec);
  CHECK(r.status == 405);
  CHECK(r.allow == "GET");
  r = c.request("DELETE /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  CHECK(r.status == 405);
  CHECK(renders == 2);
  // Connection: close is honoured.
  r = c.request("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  REQUIRE_FALSE(r.ec);
  CHECK(r.status == 200);
  CHECK_FALSE(r.keep_alive);
  CHECK(c.closed_by_server());
  // Garbage is a 400 and a closed connection.
  Client g(io);
  REQUIRE(g.connect(ep));
  r = g.request("HELLO\x01\x02 nonsense\r\n\r\n");
  CHECK((r.ec || r.status == 400));
  CHECK(server.counters().scrapes == 3);
  CHECK(server.counters().not_found == 2);
  CHECK(server.counters().bad_method == 2);
  server.stop();
  server.stop();  // idempotent
}

TEST_CASE("metrics server: an oversized header is refused and the server carries on", "[metrics]") {
  asio::io_context io;
  node::MetricsServerLimits lim;
  lim.max_header_bytes = 1024;
  node::MetricsServer server(io, [] { return std::string("ok 1\n"); }, lim);
  REQUIRE(server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  {
    Client c(io);
    REQUIRE(c.connect(server.local_endpoint()));
    const std::string big = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(64 * 1024, 'a') +
                            "\r\n\r\n";
    std::optional<boost::system::error_code> wrote;
    asio::async_write(c.sock, asio::buffer(big), [&](boost::system::error_code ec, std::size_t) { wrote = ec; });
    // The server may close before taking all of it: a write error is fine too.
    auto r = c.read_reply();
    CHECK((r.ec || r.status == 431));
    REQUIRE(run_until(io, [&] { return wrote.has_value(); }));
  }
  CHECK(server.counters().bad_requests == 1);
  Client c(io);
  REQUIRE(c.connect(server.local_endpoint()));
  auto r = c.request(kGet);
  REQUIRE_FALSE(r.ec);
  CHECK(r.status == 200);
  CHECK(r.body == "ok 1\n");
}

TEST_CASE("metrics server: connection cap and read timeout", "[metrics]") {
  asio::io_context io;
  node::MetricsServerLimits lim;
  lim.max_connections = 2;
  lim.read_timeout = 300ms;
  node::MetricsServer server(io, [] { return std::string("ok 1\n"); }, lim);
  REQUIRE(server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  const auto ep = server.local_endpoint();
  Client a(io), b(io), extra(io);
  REQUIRE(a.connect(ep));
  REQUIRE(b.connect(ep));
  REQUIRE(run_until(io, [&] { return server.counters().connections_accepted == 2; }));
  REQUIRE(extra.connect(ep));
  // The third is accepted and closed at once.
  CHECK(extra.closed_by_server(5s));
  CHECK(server.counters().connections_refused == 1);
  // Idle connections are closed at the read timeout (a slow-loris holds nothing).
  CHECK(a.closed_by_server(10s));
  CHECK(b.closed_by_server(10s));
  CHECK(server.counters().timeouts == 2);
  REQUIRE(run_until(io, [&] { return server.open_connections() == 0; }));
  // Room again.
  Client c(io);
  REQUIRE(c.connect(ep));
  auto r = c.request(kGet);
  REQUIRE_FALSE(r.ec);
  CHECK(r.status == 200);
}

// A client pipelining requests and never reading its answers is not read once they
// back up (one answer in flight per connection), so it costs the server at most what
// the socket buffers hold, and a scrape on another connection is answered meanwhile.
TEST_CASE("metrics server: a client flooding requests without reading does not stop another's scrape",
          "[metrics]") {
  asio::io_context io;
  const std::string body(64 * 1024, '#');
  node::MetricsServer server(io, [&] { return body; });
  REQUIRE(server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  const auto ep = server.local_endpoint();
  Client flood(io), honest(io);
  REQUIRE(flood.connect(ep));
  REQUIRE(honest.connect(ep));
  constexpr std::size_t kFlood = 20000;
  std::string burst;
  for (std::size_t i = 0; i < kFlood; ++i) burst += kGet;
  // (All of it may fit in the loopback socket buffers: what counts is what the server reads.)
  asio::async_write(flood.sock, asio::buffer(burst), [](boost::system::error_code, std::size_t) {});
  // The flood's answers back up: the server reads no more of it.
  REQUIRE(run_until(io, [&] { return server.counters().requests >= 10; }));
  bool stalled = false;
  for (int i = 0; i < 100 && !stalled; ++i) {  // until the count stops moving for 200 ms
    const auto before = server.counters().requests;
    stalled = !run_until(io, [&] { return server.counters().requests > before; }, 200ms);
  }
  CHECK(stalled);
  CHECK(server.counters().requests < 1000);
  for (int i = 0; i < 3; ++i) {
    auto r = honest.request(kGet);
    REQUIRE_FALSE(r.ec);
    CHECK(r.status == 200);
    CHECK(r.body.size() == body.size());
  }
  CHECK(server.counters().requests < 1000 + 3);
}

// A request trickling in a byte at a time does not extend its deadline: the read
// timeout counts from when the server starts waiting for the request.
TEST_CASE("metrics server: a byte at a time does not hold a connection past the read timeout", "[metrics]") {
  asio::io_context io;
  node::MetricsServerLimits lim;
  lim.read_timeout = 400ms;
  node::MetricsServer server(io, [] { return std::string("ok 1\n"); }, lim);
  REQUIRE(server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  Client slow(io);
  REQUIRE(slow.connect(server.local_endpoint()));
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (std::size_t i = 0; i < 40 && !closed; ++i) {  // 40 x 50 ms = 2 s of trickle, 5x the timeout
    boost::system::error_code ec;
    asio::write(slow.sock, asio::buffer(kGet.data() + (i % 8), 1), ec);
    closed = static_cast<bool>(ec);
    run_until(io, [&] { return server.counters().timeouts > 0; }, 50ms);
    closed = closed || server.counters().timeouts > 0;
  }
  CHECK(closed);
  CHECK(server.counters().timeouts == 1);
  CHECK(std::chrono::steady_clock::now() - start < 1500ms);
}

TEST_CASE("metrics server: refuses every non-loopback address", "[metrics]") {
  asio::io_context io;
  node::MetricsServer server(io, [] { return std::string(); });
  for (const char* a : {"0.0.0.0", "::", "192.0.2.1", "10.1.2.3", "::ffff:127.0.0.1", "2001:db8::1"}) {
    INFO(a);
    auto st = server.listen(tcp::endpoint(asio::ip::make_address(a), 9464));
    REQUIRE_FALSE(st);
    CHECK(st.error().what().find("not a loopback address") != std::string::npos);
  }
  CHECK(server.local_endpoint().port() == 0);  // nothing bound
  // ::1 works where the machine has IPv6 loopback.
  node::MetricsServer v6(io, [] { return std::string("v6 1\n"); });
  if (auto st = v6.listen(tcp::endpoint(asio::ip::make_address("::1"), 0)); st) {
    Client c(io);
    REQUIRE(c.connect(v6.local_endpoint()));
    auto r = c.request("GET /metrics HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    CHECK(r.status == 200);
  } else {
    WARN("no IPv6 loopback here: " << st.error().what());
  }
}

// ---------------------------------------------------------------- the collector on live nodes

namespace {

using Net = test::LiveNet;
using LiveNode = test::LiveShardNode;  // tests/support/live_shard_node.h

}  // namespace

TEST_CASE("metrics collector: a live node pair, a jump, scraped over HTTP, no peer ids", "[metrics][live]") {
  asio::io_context io;
  Net net;
  LiveNode a(io, net, {0}), b(io, net, {5});
  test::connect(io, a, b);
  REQUIRE(a.shards->start());
  REQUIRE(b.shards->start());
  a.ps->subscribe("/demo/topic\"quoted");
  b.ps->subscribe("/demo/topic\"quoted");

  node::MetricsCollector metrics(node::MetricsSource{*a.host, *a.ps, *a.shards, [] { return 42; },
                                                     [] { return true; }, {"/demo/topic\"quoted"}});
  a.shards->manager().on_jump_done([&](const shard::JumpRecord& j) { metrics.observe_jump(j); });
  node::MetricsServer server(io, [&] { return metrics.scrape(); });
  REQUIRE(server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));

  REQUIRE(run_until(io, [&] { return a.shards->manager().table().size() == 2; }));
  REQUIRE(run_until(io, [&] { return a.ps->router().mesh("/demo/topic\"quoted").size() == 1; }));
  auto text = metrics.scrape();
  CHECK(text.find("\nshardnode_peers 1\n") != std::string::npos);
  CHECK(text.find("\nshardnode_shard_jump_seconds_count 0\n") != std::string::npos);
  CHECK(text.find("\nshardnode_mesh_peers{topic=\"/demo/topic\\\"quoted\"} 1\n") != std::string::npos);
  CHECK(text.find("\nshardnode_shards_joined 1\n") != std::string::npos);
  CHECK(text.find("\nshardnode_shard_table_entries 2\n") != std::string::npos);
  CHECK(text.find("\nshardnode_tor_bootstrap_percent 42\n") != std::string::npos);
  CHECK(text.find("\nshardnode_onion_published 1\n") != std::string::npos);
  CHECK(text.find("\nshardnode_peer_score_count 1\n") != std::string::npos);

  // Messages flow both ways; their ids must not show up.
  auto id1 = a.ps->publish("/demo/topic\"quoted", Bytes{'h', 'i'});
  REQUIRE(id1);
  REQUIRE(run_until(io, [&] { return b.ps->router().counters().messages_delivered >= 1; }));
  auto id2 = b.ps->publish("/demo/topic\"quoted", Bytes{'y', 'o'});
  REQUIRE(id2);
  REQUIRE(run_until(io, [&] { return a.ps->router().counters().messages_delivered >= 2; }));

  // a jumps from shard 0 to shard 5, where b is.
  REQUIRE(a.shards->manager().jump(0, 5, a.shards->now_ms()));
  REQUIRE(run_until(io, [&] { return !a.shards->manager().jumps().empty(); }, 30s));
  REQUIRE(a.shards->manager().jumps().back().completed);

  // Scraped over a real socket, as Prometheus would.
  Client c(io);
  REQUIRE(c.connect(server.local_endpoint()));
  auto r = c.request(kGet);
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.status == 200);
  text = r.body;
  INFO(text);
  CHECK(text.find("\nshardnode_peers 1\n") != std::string::npos);
  CHECK(text.find("\nshardnode_shard_jump_seconds_count 1\n") != std::string::npos);
  CHECK(text.find("shardnode_shard_jump_seconds_bucket{le=\"+Inf\"} 1\n") != std::string::npos);
  CHECK(text.find("\nshardnode_shard_jumps_total{result=\"completed\"} 1\n") != std::string::npos);
  CHECK(text.find("\nshardnode_shard_jumps_total{result=\"timed_out\"} 0\n") != std::string::npos);
  CHECK(text.find("\nshardnode_mesh_peers{topic=\"" + shard::collation_topic(5) + "\"} 1\n") != std::string::npos);
  // Our message plus preference announcements; b's message delivered to us.
  CHECK(value_of(text, "shardnode_pubsub_messages_total{kind=\"published\"}") >= 1);
  CHECK(value_of(text, "shardnode_pubsub_messages_total{kind=\"delivered\"}") >= 2);
  CHECK(value_of(text, "shardnode_pubsub_rpcs_total{kind=\"in\"}") >= 1);
  // Choking is off by default and nobody choked us.
  CHECK(text.find("\nshardnode_pubsub_choke_total{kind=\"choke_sent\"} 0\n") != std::string::npos);
  CHECK(text.find("\nshardnode_pubsub_choke_total{kind=\"announced\"} 0\n") != std::string::npos);
  CHECK(text.find("\nshardnode_pubsub_latency_swaps_total 0\n") != std::string::npos);
  CHECK(text.find("# TYPE shardnode_peer_score summary\n") != std::string::npos);
  CHECK(text.find("\nshardnode_flagged_peers 0\n") != std::string::npos);
  CHECK(text.find("\nshardnode_peers_flagged_total 0\n") != std::string::npos);
  CHECK(text.find("\nshardnode_collations_total{result=\"accepted\"} 0\n") != std::string::npos);

  // Privacy: no peer id (either node's, in any form we print), no message id, no address.
  for (const PeerId* p : {&b.host->peer_id(), &a.host->peer_id()}) CHECK(text.find(p->to_string()) == std::string::npos);
  for (const auto* id : {&*id1, &*id2}) CHECK(text.find(hex_encode(*id)) == std::string::npos);
  CHECK(text.find("peer=") == std::string::npos);
  // Neither privacy mode is on: no stem series, no cover shard.
  CHECK(text.find("shardnode_stem_") == std::string::npos);
  CHECK(text.find("\nshardnode_shard_cover_shards 0\n") != std::string::npos);
  server.stop();
}

TEST_CASE("metrics collector: stem counters and cover shards, counts only", "[metrics][live][stem]") {
  // Both privacy modes on a: the stem, and one cover shard. b, a's only (outbound)
  // peer and so its stem destination, is a diffuser (q = 1): it gossips what a stems.
  asio::io_context io;
  Net net;
  auto privacy = [](double q, std::uint32_t cover) {
    return [q, cover](node::ShardServiceConfig& sc, pubsub::ServiceConfig& pc) {
      pc.gossip.stem.enabled = true;
      pc.gossip.stem.fluff_probability = q;
      pc.gossip.flood_publish = false;
      sc.manager.cover_shards = cover;
    };
  };
  LiveNode a(io, net, {0}, privacy(0.0, 1)), b(io, net, {0}, privacy(1.0, 0));
  test::connect(io, a, b);
  REQUIRE(a.shards->start());
  REQUIRE(b.shards->start());
  a.ps->subscribe("/demo/stem");
  b.ps->subscribe("/demo/stem");
  node::MetricsCollector metrics(node::MetricsSource{*a.host, *a.ps, *a.shards, {}, {}, {"/demo/stem"}});
  REQUIRE(run_until(io, [&] { return a.ps->router().mesh("/demo/stem").size() == 1; }));
  auto id = a.ps->publish("/demo/stem", Bytes{'s', 't'});
  REQUIRE(id);
  REQUIRE(run_until(io, [&] { return b.ps->router().stem()->counters().fluffed >= 1; }));
  const std::string text = metrics.scrape();
  INFO(text);
  CHECK(value_of(text, "shardnode_stem_messages_total{event=\"originated\"}") >= 1);
  CHECK(value_of(text, "shardnode_stem_messages_total{event=\"fluffed\"}") == 0);  // b fluffed, not a
  CHECK(value_of(text, "shardnode_stem_messages_total{event=\"malformed\"}") == 0);
  CHECK(text.find("# TYPE shardnode_stem_messages_total counter\n") != std::string::npos);
  CHECK(text.find("\nshardnode_stem_unsupported_peers_total 0\n") != std::string::npos);
  CHECK(text.find("\nshardnode_stem_held ") != std::string::npos);
  CHECK(text.find("\nshardnode_shard_cover_shards 1\n") != std::string::npos);
  CHECK(text.find("\nshardnode_shard_cover_rotations_total ") != std::string::npos);
  // Nothing that names a peer, a message, or the diffuser role. (Which shards we
  // cover is no secret: the preference table announces them like our own.)
  CHECK(text.find(b.host->peer_id().to_string()) == std::string::npos);
  CHECK(text.find(hex_encode(*id)) == std::string::npos);
  CHECK(text.find("diffuser") == std::string::npos);
}

TEST_CASE("metrics collector: DHT and peer store series", "[metrics][live]") {
  asio::io_context io;
  Net net;
  LiveNode a(io, net, {0}), b(io, net, {1});
  net::kad::DhtService da(io, *a.host), db(io, *b.host);
  da.start();
  db.start();
  db.add_peer(a.host->peer_id(), a.host->listen_addrs());
  node::MetricsSource src{*a.host, *a.ps, *a.shards, {}, {}, {}};
  src.dht = &da;
  src.peer_store = [] { return std::pair<std::size_t, std::size_t>(7, 3); };
  node::MetricsCollector metrics(std::move(src));
  std::optional<net::kad::LookupResult> r;
  db.find_node(b.host->peer_id(), [&](net::kad::LookupResult x) { r = std::move(x); });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  auto text = metrics.scrape();
  CHECK(text.find("\nshardnode_dht_requests_total{kind=\"in\"} 1\n") != std::string::npos);
  CHECK(text.find("\nshardnode_dht_requests_total{kind=\"refused\"} 0\n") != std::string::npos);
  CHECK(text.find("\nshardnode_dht_routing_table_peers 1\n") != std::string::npos);  // b, learnt as it asked
  CHECK(text.find("\nshardnode_peer_store_peers 7\n") != std::string::npos);
  CHECK(text.find("\nshardnode_peer_store_reachable_peers 3\n") != std::string::npos);
  // Without a DHT or store the series are absent.
  node::MetricsCollector bare(node::MetricsSource{*a.host, *a.ps, *a.shards, {}, {}, {}});
  CHECK(bare.scrape().find("shardnode_dht_") == std::string::npos);
  CHECK(bare.scrape().find("shardnode_peer_store_") == std::string::npos);
}

TEST_CASE("the Grafana dashboard queries only series the node exports", "[metrics][live]") {
  // Every series any panel (or the node picker) queries must be one a node exports:
  // the collector with everything that can be on - tor, the stem and a cover shard,
  // the DHT and the peer store - scraped once a peer is connected.
  std::ifstream f(std::string(SHARDNODE_SOURCE_DIR) + "/packaging/grafana-dashboard.json");
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string dashboard = ss.str();
  std::set<std::string> queried;
  const std::regex series("shardnode_[a-z0-9_]+");
  for (auto it = std::sregex_iterator(dashboard.begin(), dashboard.end(), series); it != std::sregex_iterator(); ++it)
    queried.insert(it->str());
  REQUIRE(queried.size() >= 30);

  asio::io_context io;
  Net net;
  auto privacy = [](node::ShardServiceConfig& sc, pubsub::ServiceConfig& pc) {
    pc.gossip.stem.enabled = true;
    sc.manager.cover_shards = 1;
  };
  LiveNode a(io, net, {0}, privacy), b(io, net, {0});
  test::connect(io, a, b);
  REQUIRE(a.shards->start());
  REQUIRE(b.shards->start());
  net::kad::DhtService da(io, *a.host);
  da.start();
  node::MetricsSource src{*a.host, *a.ps, *a.shards, [] { return 100; }, [] { return true; }, {}};
  src.dht = &da;
  src.peer_store = [] { return std::pair<std::size_t, std::size_t>(1, 1); };
  node::MetricsCollector metrics(std::move(src));
  REQUIRE(run_until(io, [&] { return a.ps->router().mesh(shard::collation_topic(0)).size() == 1; }));
  const std::string text = metrics.scrape();
  std::set<std::string> exported;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    exported.insert(line.substr(0, line.find_first_of("{ ")));
  }
  for (const auto& q : queried) {
    INFO(q);
    CHECK(exported.count(q) == 1);
  }
}
