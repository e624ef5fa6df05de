// Prometheus metrics (library `shardnode_node_metrics`): a small registry rendered
// to the text exposition format 0.0.4, an HTTP/1.1 server for it that listens on
// loopback only, and the collector that reads a live node's state at scrape time.
//
//   MetricsCollector metrics(MetricsSource{host, pubsub, shards, percent_fn, published_fn, topics});
//   MetricsServer server(io, [&] { return metrics.scrape(); });
//   server.listen(*parse_loopback_endpoint("127.0.0.1:9464"));   // refuses non-loopback
//   shards.manager().on_jump_done([&](const shard::JumpRecord& j) { metrics.observe_jump(j); });
//   ...
//   server.stop();
//
// Privacy. The metrics describe the node as a whole and never a peer: there is no
// peer id, address or message id in any label, and no per-peer series at all. Per-peer
// scores are deliberately NOT exported: a labelled score series would list every peer
// we are connected to (our place in the graph, which an anonymous node keeps to
// itself), and together with per-peer message counts it would tie traffic to peers.
// Peer scores appear only as a snapshot summary over the connected peers (min,
// quartiles, max, sum and count), message counts only as node-wide totals by kind.
// Topic names are labels (bounded by our subscriptions; the shards we are on are
// announced in our preference records anyway). The server refuses every address but
// 127.0.0.0/8 and ::1: a scrape endpoint is for a local Prometheus or an SSH tunnel.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardnode/core/result.h"

namespace shardnode::net {
class Host;
}
namespace shardnode::net::kad {
class DhtService;
}
namespace shardnode::pubsub {
class PubsubService;
}
namespace shardnode::shard {
struct JumpRecord;
}

namespace shardnode::node {

class ShardService;

// ---------------------------------------------------------------- registry

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { counter, gauge, histogram, summary };

// Cumulative-bucket histogram with fixed, strictly increasing finite upper bounds
// (the +Inf bucket is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i], cumulative, one per bound (the +Inf one is count()).
  std::vector<std::uint64_t> cumulative_counts() const;
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last one is (max bound, +Inf)
  double sum_ = 0.0;
  std::uint64_t count_ = 0;
};

// A snapshot of values (here: the connected peers' scores) summarised by quantiles.
struct SummaryData {
  std::vector<std::pair<double, double>> quantiles;  // (quantile in [0, 1], value)
  double sum = 0.0;
  std::uint64_t count = 0;
};
// Nearest-rank quantiles of `values` (empty values: no quantile lines, count 0).
SummaryData summarize(std::vector<double> values, const std::vector<double>& quantiles);

// Metric families in the order first added, each with its samples; rendered with
// `# HELP` and `# TYPE` once per family. Adding to an existing name with another
// type is a programming error and is ignored (the first type wins). Names must
// match [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]* (checked:
// a bad name is dropped, never rendered).
class MetricsRegistry {
 public:
  void counter(std::string_view name, std::string_view help, double value, MetricLabels labels = {});
  void gauge(std::string_view name, std::string_view help, double value, MetricLabels labels = {});
  void histogram(std::string_view name, std::string_view help, const Histogram& h, MetricLabels labels = {});
  void summary(std::string_view name, std::string_view help, const SummaryData& s, MetricLabels labels = {});

  // Text exposition format 0.0.4.
  std::string render() const;

 private:
  struct Family {
    std::string name, help;
    MetricType type;
    std::vector<std::string> lines;  // rendered samples
  };
  Family* family(std::string_view name, std::string_view help, MetricType type);
  std::vector<Family> families_;
};

bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);
// Label value escaping: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);
// HELP text escaping: backslash and newline.
std::string escape_help(std::string_view v);
// Sample values: integers without a fraction ("3"), others shortest round-trip
// ("0.25"), "+Inf", "-Inf", "NaN".
std::string format_metric_value(double v);

// ---------------------------------------------------------------- server

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// "127.0.0.1:9464" or "[::1]:9464" (an IP literal, never a name) whose address is
// loopback (127.0.0.0/8 or ::1); errors say what is wrong. Port 0 is allowed here
// (tests); the setting metrics.listen refuses it.
Result<boost::asio::ip::tcp::endpoint> parse_loopback_endpoint(std::string_view text);
bool is_loopback(const boost::asio::ip::address& a);

struct MetricsServerLimits {
  std::size_t max_header_bytes = 8 * 1024;   // request line + headers; beyond: 431 and close
  std::size_t max_body_bytes = 1024;         // a request body (none expected); beyond: close
  std::size_t max_connections = 8;           // more are accepted and closed at once
  std::chrono::milliseconds read_timeout{10000};   // per request (also the idle keep-alive limit)
  std::chrono::milliseconds write_timeout{10000};
  std::size_t max_requests_per_connection = 1000;
};

// HTTP/1.1 on the caller's io_context (one thread, asynchronous): GET /metrics
// answers with render()'s text; any other path 404, any other method 405.
// Keep-alive is honoured up to max_requests_per_connection. Everything, stop() and
// the destructor included, runs on the io_context's thread.
class MetricsServer {
 public:
  using Renderer = std::function<std::string()>;
  MetricsServer(boost::asio::io_context& io, Renderer render, MetricsServerLimits limits = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and starts accepting. Refuses any address that is not loopback (0.0.0.0
  // and :: included) with ConfigErrc::invalid_value; bind errors come back as
  // CoreErrc::io. Only one listen per server.
  Status listen(const boost::asio::ip::tcp::endpoint& ep);
  // The bound endpoint (the real port after listening on port 0).
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Closes the listener and every open connection. Idempotent.
  void stop();

  struct Counters {
    std::uint64_t connections_accepted = 0, connections_refused = 0;  // refused: over max_connections
    std::uint64_t requests = 0, scrapes = 0, not_found = 0, bad_method = 0, bad_requests = 0, timeouts = 0;
  };
  const Counters& counters() const;
  std::size_t open_connections() const;

 private:
  struct State;
  class Session;
  static void accept(const std::shared_ptr<State>& st);
  std::shared_ptr<State> state_;
};

// The server's HTTP exchange without sockets (MetricsServer drives it; so does the
// fuzz target): request bytes in, one answer per request out. Beast parses each
// request within the limits; a request over them (431) or one that does not parse
// (400) is answered and ends the connection. GET /metrics renders; any other path
// 404, any other method 405.
class MetricsHttp {
 public:
  struct Answer {
    unsigned status = 200;  // 200, 400, 404, 405, 431, 500
    std::string body;
    std::string_view content_type;
    bool keep_alive = false;  // false: close once it is sent
  };
  MetricsHttp(const MetricsServerLimits& limits, const MetricsServer::Renderer& render,
              MetricsServer::Counters& counters);
  ~MetricsHttp();
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  // Parses what it can of `bytes` and returns how many it used. Bytes of a request
  // header not yet complete are not used: present them again with more. Sets
  // `answer` when a request is complete or broken; bytes after it are not used.
  std::size_t feed(std::string_view bytes, std::optional<Answer>& answer);
  // Requests answered so far.
  std::size_t requests() const { return requests_; }
  // After an answer that does not keep the connection alive: nothing more is parsed.
  bool finished() const { return finished_; }

 private:
  struct Parser;
  const MetricsServerLimits& limits_;
  const MetricsServer::Renderer& render_;
  MetricsServer::Counters& counters_;
  std::unique_ptr<Parser> parser_;
  std::size_t requests_ = 0;
  bool finished_ = false;
};

// ---------------------------------------------------------------- collector

// What the collector reads at scrape time: live references, owned by the node,
// which must outlive the collector.
struct MetricsSource {
  net::Host& host;
  pubsub::PubsubService& pubsub;
  ShardService& shards;
  std::function<int()> tor_bootstrap_percent;  // 0-100; empty: metric not exported
  std::function<bool()> onion_published;       // empty: metric not exported
  std::vector<std::string> topics;             // node.topics (the shard topics are added)
  const net::kad::DhtService* dht = nullptr;   // node.dht; null: no DHT series
  // Peers in the peer store and how many of them are reachable; empty: not exported.
  std::function<std::pair<std::size_t, std::size_t>()> peer_store;
};

// Jump-time buckets, seconds.
inline const std::vector<double> kJumpBuckets = {0.25, 0.5, 1, 2, 5, 10, 20, 30, 60};
// Quantiles of the peer-score summary.
inline const std::vector<double> kScoreQuantiles = {0, 0.25, 0.5, 0.75, 1};

class MetricsCollector {
 public:
  explicit MetricsCollector(MetricsSource src, std::vector<double> jump_buckets = kJumpBuckets);

  // A finished jump (the node's ShardManager::on_jump_done handler calls this):
  // completed jumps go into shardnode_shard_jump_seconds. The jump totals come from
  // the manager's counters, so they are right even without this.
  void observe_jump(const shard::JumpRecord& j);

  // Fills `r` from the live state.
  void collect(MetricsRegistry& r) const;
  // collect() rendered: the body of GET /metrics.
  std::string scrape() const;

 private:
  MetricsSource src_;
  Histogram jumps_;
};

}  // namespace shardnode::node
