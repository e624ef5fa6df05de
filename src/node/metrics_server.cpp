// The metrics HTTP/1.1 server (Boost.Beast, header-only) on loopback only.
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <optional>
#include <set>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/node/metrics.h"

namespace shardnode::node {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

}  // namespace

bool is_loopback(const asio::ip::address& a) {
  if (a.is_v4()) return (a.to_v4().to_uint() >> 24) == 127;  // 127.0.0.0/8
  return a.to_v6() == asio::ip::address_v6::loopback();      // ::1 only (no v4-mapped)
}

Result<tcp::endpoint> parse_loopback_endpoint(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Error{ConfigErrc::invalid_value, "\"" + std::string(text) + "\": " + why};
  };
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size())
    return bad("expected <loopback ip>:<port>, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\"");
  std::string_view host = text.substr(0, colon), port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos) return bad("brackets are for IPv6 addresses only");
  } else if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 address needs brackets, e.g. \"[::1]:9464\"");
  }
  if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string_view::npos)
    return bad("the port must be a number 0-65535");
  const unsigned long port = std::stoul(std::string(port_text));
  if (port > 65535) return bad("the port must be a number 0-65535");
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(std::string(host), ec);  // a literal only: never resolves
  if (ec) return bad("not an IP address (names are never resolved)");
  if (!is_loopback(addr)) return bad("not a loopback address (only 127.0.0.0/8 and ::1 are allowed)");
  return tcp::endpoint(addr, static_cast<std::uint16_t>(port));
}

struct MetricsServer::State {
  State(asio::io_context& io_, Renderer r, MetricsServerLimits l)
      : io(io_), acceptor(io_), retry(io_), render(std::move(r)), limits(l) {}
  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer retry;  // accept retry after a transient error (e.g. out of descriptors)
  Renderer render;
  MetricsServerLimits limits;
  Counters counters;
  std::set<Session*> sessions;
  bool listening = false, stopped = false;
};

struct MetricsHttp::Parser {
  http::request_parser<http::string_body> p;
};

MetricsHttp::MetricsHttp(const MetricsServerLimits& limits, const MetricsServer::Renderer& render,
                         MetricsServer::Counters& counters)
    : limits_(limits), render_(render), counters_(counters) {}

MetricsHttp::~MetricsHttp() = default;

std::size_t MetricsHttp::feed(std::string_view bytes, std::optional<Answer>& answer) {
  answer.reset();
  if (finished_) return 0;
  auto finish = [&](unsigned status, std::string body, bool keep,
                    std::string_view type = "text/plain; charset=utf-8") {
    answer = Answer{status, std::move(body), type, keep};
    parser_.reset();
    if (!keep) finished_ = true;
  };
  if (!parser_) {
    parser_ = std::make_unique<Parser>();
    parser_->p.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser_->p.body_limit(limits_.max_body_bytes);
  }
  beast::error_code ec;
  // Not eager: put() stops after the header, so a chunked body is refused before Beast
  // parses any chunk (its chunk-header parser asserts on some inputs, found by fuzzing:
  // fuzz/regressions/metrics_http). A scrape has no body; a short one with a length
  // is read and ignored.
  std::size_t used = 0;
  for (;;) {
    const std::size_t n = parser_->p.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec || parser_->p.is_done() || n == 0 || used == bytes.size()) break;
    if (parser_->p.is_header_done() && parser_->p.chunked()) break;
  }
  if (!ec && parser_->p.is_header_done() && parser_->p.chunked()) {
    ++counters_.bad_requests;
    finish(400, "bad request: no chunked bodies\n", false);
    return used;
  }
  if (ec == http::error::need_more) return used;
  if (ec == http::error::header_limit) {
    ++counters_.bad_requests;
    finish(431, "request header too large\n", false);
    return used;
  }
  if (ec) {  // any other parse error, a body over its limit included
    ++counters_.bad_requests;
    finish(400, "bad request\n", false);
    return used;
  }
  if (!parser_->p.is_done()) return used;

  ++counters_.requests;
  ++requests_;
  const auto& req = parser_->p.get();
  const bool keep = req.keep_alive() && requests_ < limits_.max_requests_per_connection;
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics") {
    ++counters_.not_found;
    finish(404, "not found: try /metrics\n", keep);
  } else if (req.method() != http::verb::get) {
    ++counters_.bad_method;
    finish(405, "method not allowed: use GET\n", keep);
  } else {
    try {
      std::string body = render_();
      ++counters_.scrapes;
      finish(200, std::move(body), keep, kMetricsContentType);
    } catch (const std::exception& e) {
      logging::get("node")->warn("metrics: rendering failed: {}", e.what());
      finish(500, "internal error\n", false);
    }
  }
  return used;
}

class MetricsServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<State> st, tcp::socket s)
      : st_(std::move(st)),
        stream_(std::move(s)),
        buffer_(st_->limits.max_header_bytes + st_->limits.max_body_bytes + 1024),
        http_(st_->limits, st_->render, st_->counters) {
    st_->sessions.insert(this);
  }
  ~Session() { st_->sessions.erase(this); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Answers what is buffered, or reads more. A request's deadline runs from the
  // moment we start waiting for it (bytes trickling in do not extend it).
  void read() {
    if (closed_) return;
    if (process()) return;
    if (!deadline_set_) {
      stream_.expires_after(st_->limits.read_timeout);
      deadline_set_ = true;
    }
    if (buffer_.size() >= buffer_.max_size()) return respond({431, "request header too large\n", {}, false});
    stream_.async_read_some(buffer_.prepare(std::min<std::size_t>(4096, buffer_.max_size() - buffer_.size())),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              self->on_read(ec);
                            });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();  // the socket and the timeout timer
  }

 private:
  // Feeds the buffered bytes; true when an answer is on its way.
  bool process() {
    const auto data = buffer_.data();
    std::optional<MetricsHttp::Answer> answer;
    const std::size_t used =
        http_.feed(std::string_view(static_cast<const char*>(data.data()), data.size()), answer);
    buffer_.consume(used);
    if (!answer) return false;
    respond(std::move(*answer));
    return true;
  }

  void on_read(beast::error_code ec) {
    if (closed_ || st_->stopped) return close();
    if (ec == beast::error::timeout) {
      ++st_->counters.timeouts;
      return close();
    }
    if (ec) return close();  // end of stream, reset, or another read error
    read();
  }

  void respond(MetricsHttp::Answer a) {
    if (a.status == 431 && !http_.finished()) ++st_->counters.bad_requests;  // our own buffer cap
    res_ = {};
    res_.version(11);
    res_.result(static_cast<http::status>(a.status));
    const std::string_view type = a.content_type.empty() ? std::string_view("text/plain; charset=utf-8") : a.content_type;
    res_.set(http::field::content_type, beast::string_view(type.data(), type.size()));
    if (a.status == 405) res_.set(http::field::allow, "GET");
    res_.keep_alive(a.keep_alive);
    res_.body() = std::move(a.body);
    res_.prepare_payload();
    deadline_set_ = false;
    stream_.expires_after(st_->limits.write_timeout);
    http::async_write(stream_, res_, [self = shared_from_this(), keep = a.keep_alive](beast::error_code ec, std::size_t) {
      if (ec || !keep || self->st_->stopped) return self->close();
      self->read();
    });
  }

  std::shared_ptr<State> st_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  MetricsHttp http_;
  http::response<http::string_body> res_;
  bool deadline_set_ = false;
  bool closed_ = false;
};

MetricsServer::MetricsServer(asio::io_context& io, Renderer render, MetricsServerLimits limits)
    : state_(std::make_shared<State>(io, std::move(render), limits)) {}

MetricsServer::~MetricsServer() { stop(); }

Status MetricsServer::listen(const tcp::endpoint& ep) {
  if (!is_loopback(ep.address()))
    return Error{ConfigErrc::invalid_value,
                 "metrics: refusing to listen on " + endpoint_text(ep) +
                     ": not a loopback address (only 127.0.0.0/8 and ::1; the metrics endpoint is never exposed "
                     "to a network)"};
  if (state_->listening || state_->stopped)
    return Error{ConfigErrc::invalid_value, "metrics: the server is already listening or stopped"};
  boost::system::error_code ec;
  auto& a = state_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    a.close(ignored);
    return Error{CoreErrc::io, "metrics: cannot listen on " + endpoint_text(ep) + ": " + ec.message()};
  }
  state_->listening = true;
  logging::get("node")->info("metrics: serving http://{}/metrics", endpoint_text(local_endpoint()));
  accept(state_);
  return {};
}

tcp::endpoint MetricsServer::local_endpoint() const {
  boost::system::error_code ec;
  auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? tcp::endpoint{} : ep;
}

void MetricsServer::accept(const std::shared_ptr<State>& st) {
  st->acceptor.async_accept([st](boost::system::error_code ec, tcp::socket s) {
    if (st->stopped || ec == asio::error::operation_aborted) return;
    if (ec) {
      logging::get("node")->warn("metrics: accept failed: {}", ec.message());
      st->retry.expires_after(std::chrono::milliseconds(200));
      st->retry.async_wait([st](boost::system::error_code e) {
        if (!e && !st->stopped) accept(st);
      });
      return;
    }
    if (st->sessions.size() >= st->limits.max_connections) {
      ++st->counters.connections_refused;
      boost::system::error_code ignored;
      s.close(ignored);
    } else {
      ++st->counters.connections_accepted;
      std::make_shared<Session>(st, std::move(s))->read();
    }
    accept(st);
  });
}

void MetricsServer::stop() {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  state_->retry.cancel();
  // Closing only cancels the sessions' pending operations; they go away when their
  // handlers have run, so the set is not changed while we walk it.
  for (Session* s : state_->sessions) s->close();
}

const MetricsServer::Counters& MetricsServer::counters() const { return state_->counters; }
std::size_t MetricsServer::open_connections() const { return state_->sessions.size(); }

}  // namespace shardnode::node
