#include "shardnode/net/onion_transport.h"

#include <sys/stat.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "shardnode/core/clock_timer.h"
#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/net/asio_stream.h"
#include "shardnode/net/errors.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/onion/control_client.h"
#include "shardnode/onion/control_events.h"
#include "shardnode/onion/onion_service.h"
#include "shardnode/onion/socks5.h"
#include "shardnode/onion/errors.h"

namespace shardnode::net {
namespace asio = boost::asio;
using local_stream = asio::local::stream_protocol;
using namespace std::chrono_literals;

namespace {

using UnixStream = AsioStream<local_stream::socket>;

// The stream a finished SOCKS handshake leaves: the peer's onion address as the
// remote address, and any bytes that arrived right behind tor's reply served first.
class OnionStream final : public ByteStream {
 public:
  OnionStream(asio::io_context& io, std::unique_ptr<ByteStream> inner, std::vector<std::uint8_t> early, Multiaddr remote)
      : io_(io), inner_(std::move(inner)), early_(std::move(early)), remote_(std::move(remote)) {}
  void async_read_some(std::span<std::uint8_t> buf, ReadHandler h) override {
    if (off_ < early_.size()) {
      const std::size_t n = std::min(buf.size(), early_.size() - off_);
      std::memcpy(buf.data(), early_.data() + off_, n);
      off_ += n;
      asio::post(io_, [h = std::move(h), n] { h({}, n); });
      return;
    }
    inner_->async_read_some(buf, std::move(h));
  }
  void async_write(std::span<const std::uint8_t> data, WriteHandler h) override {
    inner_->async_write(data, std::move(h));
  }
  void close() override { inner_->close(); }
  const Multiaddr& remote_address() const override { return remote_; }
  const Multiaddr& local_address() const override { return local_; }

 private:
  asio::io_context& io_;
  std::unique_ptr<ByteStream> inner_;
  std::vector<std::uint8_t> early_;
  std::size_t off_ = 0;
  Multiaddr remote_, local_;
};

struct SocksEndpoint {
  std::optional<local_stream::endpoint> unix_ep;
  std::optional<asio::ip::tcp::endpoint> tcp_ep;
};

// "unix:/path" or a loopback "ip:port" ("[::1]:port"). Nothing is resolved.
Result<SocksEndpoint> parse_socks_endpoint(const std::string& s) {
  SocksEndpoint ep;
  if (s.rfind("unix:", 0) == 0) {
    const std::string path = s.substr(5);
    if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path))
      return Error{HostErrc::unsupported_address, "tor SOCKS socket path is empty or too long: " + path};
    ep.unix_ep = local_stream::endpoint(path);
    return ep;
  }
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return Error{HostErrc::unsupported_address, "tor SOCKS endpoint is not unix:<path> or <ip>:<port>: " + s};
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) return Error{HostErrc::unsupported_address, "tor SOCKS endpoint needs an IP literal (nothing is resolved): " + s};
  if (!ip.is_loopback()) return Error{HostErrc::unsupported_address, "tor SOCKS endpoint must be on loopback: " + s};
  unsigned long port = 0;
  try {
    port = std::stoul(s.substr(colon + 1));
  } catch (...) {
    port = 0;
  }
  if (port == 0 || port > 65535) return Error{HostErrc::unsupported_address, "tor SOCKS endpoint has a bad port: " + s};
  ep.tcp_ep = asio::ip::tcp::endpoint(ip, static_cast<std::uint16_t>(port));
  return ep;
}

// The error of a dial that ran out of time, whether the deadline timer or the retry
// logic (no time left for another attempt) noticed first.
Error dial_timeout_error(const Multiaddr& remote, int attempts, const std::string& last_failure) {
  return Error{HostErrc::dial_timeout, "onion3: " + remote.to_string() + " not reachable after " +
                                           std::to_string(attempts) + " attempt(s): " + last_failure};
}

std::string duration_text(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + " s" : std::to_string(d.count()) + " ms";
}

}  // namespace

struct OnionTransport::Listener {
  explicit Listener(asio::io_context& io) : acceptor(io) {}
  local_stream::acceptor acceptor;
  AcceptHandler on_accept;
  Multiaddr addr;
};

struct OnionTransport::Dial {
  Dial(asio::io_context& io, const Clock& clock) : retry_timer(io, clock), deadline_timer(io, clock) {}
  Multiaddr addr;          // as given (may carry /p2p/)
  Multiaddr remote;        // /onion3/<addr>:<port>
  std::string host;        // <addr>.onion
  std::uint16_t port = 0;
  std::string username;
  DialHandler handler;
  std::function<void(bool ok)> count;  // counts the outcome, whichever path ends the dial
  TimePoint deadline{};  // on the transport's clock
  std::chrono::milliseconds backoff{0};
  std::unique_ptr<ByteStream> socks;
  std::optional<onion::Socks5Connect> codec;
  std::vector<std::uint8_t> out;
  std::array<std::uint8_t, 1024> buf{};
  ClockTimer retry_timer, deadline_timer;  // on the transport's clock
  std::string last_failure = "no attempt finished";
  int attempts = 0;
  bool done = false;

  void finish(Result<std::unique_ptr<ByteStream>> r) {
    if (done) return;
    done = true;
    retry_timer.cancel();
    deadline_timer.cancel();
    if (socks && !r) socks->close();
    if (count) count(r.ok());
    auto h = std::move(handler);
    h(std::move(r));
  }
};

std::string OnionTransport::isolation_username(const std::string& own_address, const std::string& onion_address) {
  return "shardnode-" + own_address + "-peer-" + onion_address;
}

OnionTransport::OnionTransport(asio::io_context& io, const NodeKey& key, std::shared_ptr<onion::ControlClient> control,
                               OnionTransportConfig cfg)
    : io_(io),
      key_(key),
      control_(std::move(control)),
      cfg_(std::move(cfg)),
      clock_(cfg_.clock ? cfg_.clock : &steady_),
      own_address_(shardnode::onion_address(key.public_key())) {}

OnionTransport::~OnionTransport() {
  *alive_ = false;
  close();
}

bool OnionTransport::can_listen(const Multiaddr& addr) const {
  auto ep = addr.onion_endpoint();
  return ep && ep->address == own_address_;
}

// ------------------------------------------------------------------ listening

Result<Multiaddr> OnionTransport::listen(const Multiaddr& addr, AcceptHandler on_accept) {
  auto ep = addr.onion_endpoint();
  if (!ep || ep->address != own_address_)
    return Error{HostErrc::unsupported_address,
                 "onion3: can only listen on our own address /onion3/" + own_address_ + ":<port>, not " + addr.to_string()};
  if (listener_) return Error{HostErrc::unsupported_address, "onion3: already listening on " + listener_->addr.to_string()};
  if (!control_ || !control_->is_open()) return Error{HostErrc::closed, "onion3: no tor control connection"};
  const std::string path = cfg_.service_socket.string();
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path))
    return Error{HostErrc::unsupported_address, "onion3: service socket path is empty or too long: " + path};

  auto l = std::make_shared<Listener>(io_);
  std::error_code fec;
  std::filesystem::remove(cfg_.service_socket, fec);  // a stale socket from an earlier run
  boost::system::error_code ec;
  l->acceptor.open(local_stream(), ec);
  if (!ec) l->acceptor.bind(local_stream::endpoint(path), ec);
  if (!ec && ::chmod(path.c_str(), 0600) != 0) ec = boost::system::error_code(errno, boost::system::system_category());
  if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{ec, "onion3: cannot listen on unix socket " + path + ": " + ec.message()};
  l->on_accept = std::move(on_accept);
  l->addr = Multiaddr::onion3(key_.public_key(), ep->port);
  listener_ = l;
  accept_next();

  onion::OnionServiceOptions so;
  so.virtual_port = ep->port;
  so.target = "unix:" + path;
  so.pow_defense = cfg_.pow_defense;
  so.max_streams = cfg_.max_streams;
  const std::string cmd = onion::add_onion_command(key_, so);
  auto log = logging::get("onion");
  control_->command_ok(cmd, [this, alive = alive_, log, control = control_](Result<onion::Reply> r) {
    if (!*alive || closed_) {
      // Closed while tor was still registering the service: take it down again.
      if (r && control->is_open())
        for (const auto& line : r->lines)
          if (line.text.rfind("ServiceID=", 0) == 0)
            control->command("DEL_ONION " + line.text.substr(10), [](Result<onion::Reply>) {});
      return;
    }
    if (!r) {
      finish_publish(Error{r.error().code, "ADD_ONION failed: " + r.error().message});
      return;
    }
    auto id = onion::added_service_id(*r, key_);
    if (!id) return finish_publish(id.error());
    service_id_ = *id;
    log->info("onion service {}.onion registered with tor; waiting for its descriptor upload", service_id_);
  });
  publish_timer_ = std::make_unique<ClockTimer>(io_, *clock_);
  publish_timer_->expires_after(cfg_.publish_timeout, [this, alive = alive_] {
    if (!*alive || published_) return;
    finish_publish(Error{OnionErrc::timeout, "no descriptor of our onion service was uploaded within " +
                                                 duration_text(cfg_.publish_timeout) + " (" +
                                                 std::to_string(uploads_started_) + " upload(s) started, " +
                                                 std::to_string(uploads_failed_) + " failed)"});
  });
  return l->addr;
}

void OnionTransport::accept_next() {
  auto l = listener_;
  if (!l) return;
  l->acceptor.async_accept([this, l, alive = alive_](const boost::system::error_code& ec, local_stream::socket s) {
    if (!*alive || ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
    if (!ec) {
      ++counters_.inbound;
      // An onion service never learns who dialed it: the remote address stays empty.
      l->on_accept(std::make_unique<UnixStream>(std::move(s), Multiaddr{}, l->addr));
    } else {
      logging::get("onion")->debug("onion service accept: {}", ec.message());
    }
    accept_next();
  });
}

void OnionTransport::on_hs_desc(const onion::HsDescEvent& ev) {
  if (ev.address != own_address_ || closed_) return;
  using A = onion::HsDescEvent::Action;
  auto log = logging::get("onion");
  switch (ev.action) {
    case A::upload:
      ++uploads_started_;
      break;
    case A::uploaded:
      ++counters_.descriptors_uploaded;
      if (!published_) {
        published_ = true;
        log->info("onion service {}.onion is reachable: descriptor uploaded to {}", own_address_, ev.hsdir);
        finish_publish({});
      }
      break;
    case A::failed:
      ++uploads_failed_;
      ++counters_.descriptor_uploads_failed;
      log->debug("descriptor upload to {} failed: {}", ev.hsdir, ev.reason);
      break;
    default:
      break;
  }
}

void OnionTransport::finish_publish(Status s) {
  if (publish_reported_) return;
  publish_reported_ = true;
  if (publish_timer_) publish_timer_->cancel();
  if (!s) logging::get("onion")->error("onion service not published: {}", s.error().message);
  if (on_published_) on_published_(std::move(s));
}

// ------------------------------------------------------------------ dialing

void OnionTransport::dial(const Multiaddr& addr, DialHandler handler) {
  auto ep = addr.onion_endpoint();
  auto d = std::make_shared<Dial>(io_, *clock_);
  d->handler = std::move(handler);
  if (!ep || closed_) {
    asio::post(io_, [d, closed = closed_, addr] {
      d->finish(Error{closed ? HostErrc::closed : HostErrc::unsupported_address,
                      closed ? "onion3: transport closed" : "onion3: not an /onion3/ address: " + addr.to_string()});
    });
    return;
  }
  ++counters_.dials;
  d->count = [this, alive = alive_](bool ok) {
    if (*alive) ++(ok ? counters_.dials_succeeded : counters_.dials_failed);
  };
  d->addr = addr;
  d->host = ep->address + ".onion";
  d->port = ep->port;
  d->remote = addr.without_peer_id();
  d->username = isolation_username(own_address_, ep->address);
  d->deadline = clock_->now() + cfg_.dial_timeout;
  d->backoff = cfg_.retry_initial;
  dials_.remove_if([](const auto& w) { return w.expired(); });
  dials_.push_back(d);
  d->deadline_timer.expires_at(d->deadline, [d] {
    if (d->done) return;
    d->finish(dial_timeout_error(d->remote, d->attempts, d->last_failure));
  });
  attempt(d);
}

void OnionTransport::attempt(const std::shared_ptr<Dial>& d) {
  if (d->done) return;
  ++d->attempts;
  ++counters_.dial_attempts;
  // Handlers never run inside dial(): early failures are posted.
  auto fail_later = [this, d](Error e) { asio::post(io_, [d, e = std::move(e)] { d->finish(e); }); };
  auto codec = onion::Socks5Connect::create(d->host, d->port, d->username, cfg_.isolation_password);
  if (!codec) return fail_later(codec.error());
  d->codec.emplace(std::move(*codec));
  auto ep = parse_socks_endpoint(cfg_.socks_endpoint);
  if (!ep) return fail_later(ep.error());
  auto alive = alive_;
  auto connect_failed = [d](const boost::system::error_code& ec) {
    d->finish(Error{ec, "onion3: cannot reach tor's SOCKS port: " + ec.message()});
  };
  if (ep->unix_ep) {
    auto sock = std::make_shared<local_stream::socket>(io_);
    sock->async_connect(*ep->unix_ep, [this, d, sock, alive, connect_failed](const boost::system::error_code& ec) {
      if (!*alive || d->done) return;
      if (ec) return connect_failed(ec);
      d->socks = std::make_unique<UnixStream>(std::move(*sock), Multiaddr{}, Multiaddr{});
      socks_write(d);
    });
  } else {
    auto sock = std::make_shared<asio::ip::tcp::socket>(io_);
    sock->async_connect(*ep->tcp_ep, [this, d, sock, alive, connect_failed](const boost::system::error_code& ec) {
      if (!*alive || d->done) return;
      if (ec) return connect_failed(ec);
      d->socks = TcpTransport::wrap(std::move(*sock));
      socks_write(d);
    });
  }
}

// Writes whatever the SOCKS codec has queued (greeting, auth, CONNECT), then reads.
void OnionTransport::socks_write(const std::shared_ptr<Dial>& d) {
  d->out = d->codec->take_output();
  if (d->out.empty()) return socks_read(d);
  d->socks->async_write(d->out, [this, d, alive = alive_](std::error_code ec) {
    if (!*alive || d->done) return;
    if (ec) return d->finish(Error{HostErrc::closed, "onion3: write to tor's SOCKS port: " + ec.message()});
    socks_read(d);
  });
}

void OnionTransport::socks_read(const std::shared_ptr<Dial>& d) {
  d->socks->async_read_some(d->buf, [this, d, alive = alive_](std::error_code ec, std::size_t n) {
    if (!*alive || d->done) return;
    if (ec) {
      d->last_failure = "tor's SOCKS port closed the connection: " + ec.message();
      return d->finish(Error{SocksErrc::closed, "onion3: " + d->last_failure});
    }
    auto st = d->codec->feed(std::span<const std::uint8_t>(d->buf.data(), n));
    if (!st) return d->finish(Error{st.error().code, "onion3: SOCKS5 with tor: " + st.error().message});
    using S = onion::Socks5Connect::State;
    if (*st == S::need_more) return socks_write(d);
    if (*st == S::connected) {
      logging::get("onion")->debug("onion3: connected to {} after {} attempt(s)", d->remote.to_string(), d->attempts);
      std::unique_ptr<ByteStream> s =
          std::make_unique<OnionStream>(io_, std::move(d->socks), d->codec->take_leftover(), d->remote);
      return d->finish(std::move(s));
    }
    socks_refused(d);
  });
}

// Tor answered the CONNECT with an error: retry while it may be transient.
void OnionTransport::socks_refused(const std::shared_ptr<Dial>& d) {
  const auto reply = d->codec->reply();
  d->last_failure = std::string("tor: ") + onion::describe(reply);
  d->socks->close();
  const bool retryable = onion::is_retryable(reply);
  if (retryable && clock_->now() + d->backoff < d->deadline) {
    ++counters_.dial_retries;
    logging::get("onion")->debug("onion3: {}: {}; retrying in {} ms", d->remote.to_string(), d->last_failure,
                                 d->backoff.count());
    d->retry_timer.expires_after(d->backoff, [this, d, alive = alive_] {
      if (d->done || !*alive || closed_) return;
      attempt(d);
    });
    d->backoff = std::min(d->backoff * 2, cfg_.retry_max);
    return;
  }
  // No time left for another attempt: that is the dial timing out, as when the
  // deadline passes mid-attempt.
  if (retryable) return d->finish(dial_timeout_error(d->remote, d->attempts, d->last_failure));
  d->finish(Error{SocksErrc::connect_failed, "onion3: " + d->remote.to_string() + ": " + d->last_failure});
}

void OnionTransport::close() {
  if (closed_) return;
  closed_ = true;
  if (publish_timer_) publish_timer_->cancel();
  if (listener_) {
    boost::system::error_code ec;
    listener_->acceptor.close(ec);
    std::error_code fec;
    std::filesystem::remove(cfg_.service_socket, fec);
    listener_.reset();
  }
  if (!service_id_.empty() && control_ && control_->is_open())
    control_->command("DEL_ONION " + service_id_, [](Result<onion::Reply>) {});
  for (auto& w : dials_)
    if (auto d = w.lock()) d->finish(Error{HostErrc::closed, "onion3: transport closed"});
  dials_.clear();
}

}  // namespace shardnode::net
