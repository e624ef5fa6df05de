#include "shardnode/onion/tor_session.h"

#include <boost/asio/ip/tcp.hpp>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/onion/control_client.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {
namespace asio = boost::asio;

TorSession::TorSession(asio::io_context& io, TorSessionOptions opts)
    : io_(io), opts_(std::move(opts)), timer_(io) {}

TorSession::~TorSession() {
  *alive_ = false;
  close();
}

Result<std::unique_ptr<TorSession>> TorSession::start(asio::io_context& io, TorSessionOptions opts) {
  std::unique_ptr<TorSession> s(new TorSession(io, std::move(opts)));
  auto& o = s->opts_;
  s->timer_.expires_after(o.bootstrap_timeout);
  s->timer_.async_wait([self = s.get(), alive = s->alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || self->bootstrapped_ || self->closed_) return;
    self->fatal(Error{OnionErrc::timeout, "tor did not bootstrap within " +
                                              std::to_string(self->opts_.bootstrap_timeout.count()) +
                                              " s: " + self->bootstrap_.describe()});
  });

  if (o.embedded) {
    // The network stays off until we listen to bootstrap events (adopt()).
    o.tor.disable_network = true;
    s->socks_ = "unix:" + (std::filesystem::absolute(o.tor.data_dir) / "socks.sock").string();
    o.tor.socks_port = s->socks_ + " OnionTrafficOnly ExtendedErrors";
    auto tor = EmbeddedTor::start(o.tor);
    if (!tor) return tor.error();
    s->tor_ = std::move(*tor);
    auto fd = s->tor_->take_control_fd();
    if (!fd) return fd.error();
    s->adopt(ControlClient::adopt(io, *fd));
    return s;
  }

  s->socks_ = o.socks;
  auto connected = [self = s.get(), alive = s->alive_](Result<std::shared_ptr<ControlClient>> c) {
    if (!*alive || self->closed_) return;
    if (!c) return self->fatal(Error{c.error().code, "external tor's control port: " + c.error().message});
    auto client = *c;
    client->authenticate(self->opts_.password, [self, client, alive](Status st) {
      if (!*alive || self->closed_) return;
      if (!st) return self->fatal(Error{st.error().code, "external tor: " + st.error().message});
      self->adopt(client);
    });
  };
  if (o.control.rfind("unix:", 0) == 0) {
    ControlClient::connect_unix(io, o.control.substr(5), connected);
    return s;
  }
  const auto colon = o.control.rfind(':');
  boost::system::error_code ec;
  std::string host = colon == std::string::npos ? "" : o.control.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto ip = asio::ip::make_address(host, ec);
  unsigned long port = 0;
  if (!ec) port = std::strtoul(o.control.c_str() + colon + 1, nullptr, 10);
  if (ec || port == 0 || port > 65535)
    return Error{ConfigErrc::invalid_value, "tor.control: not unix:<path> or <ip>:<port>: " + o.control};
  ControlClient::connect_tcp(io, asio::ip::tcp::endpoint(ip, static_cast<std::uint16_t>(port)), connected);
  return s;
}

void TorSession::adopt(std::shared_ptr<ControlClient> c) {
  control_ = std::move(c);
  control_->on_closed([this, alive = alive_](const Error& e) {
    if (*alive && !closed_) fatal(Error{e.code, "tor control connection closed: " + e.message});
  });
  control_->on_event([this, alive = alive_](const Reply& r) {
    if (*alive) on_event(r);
  });
  control_->set_events({"STATUS_CLIENT", "HS_DESC"}, [this, alive = alive_](Status s) {
    if (!*alive || closed_) return;
    if (!s) return fatal(Error{s.error().code, "SETEVENTS: " + s.error().message});
    auto check_phase = [this, alive] {
      control_->getinfo("status/bootstrap-phase", [this, alive](Result<std::string> v) {
        if (!*alive || !v) return;
        if (auto b = parse_bootstrap_phase(*v)) {
          bootstrap_.update(*b);
          check_done();
        }
      });
    };
    if (!opts_.embedded) return check_phase();
    control_->command_ok("SETCONF DisableNetwork=0", [this, alive, check_phase](Result<Reply> r) {
      if (!*alive || closed_) return;
      if (!r) return fatal(Error{r.error().code, "enabling tor's network: " + r.error().message});
      check_phase();
    });
  });
}

void TorSession::on_event(const Reply& r) {
  const std::string name = event_name(r);
  if (name == "STATUS_CLIENT") {
    auto b = parse_bootstrap_event(r);
    if (!b) return;  // another client status event
    bootstrap_.update(*b);
    if (b->problem) logging::get("onion")->warn("tor bootstrap problem: {} ({})", b->warning, b->reason);
    check_done();
  } else if (name == "HS_DESC") {
    auto ev = parse_hs_desc_event(r);
    if (!ev) {
      logging::get("onion")->debug("unparsed HS_DESC event: {}", ev.error().what());
      return;
    }
    for (const auto& f : std::vector(on_hs_desc_)) f(*ev);
  }
}

void TorSession::check_done() {
  if (bootstrap_.progress() != last_progress_) {
    last_progress_ = bootstrap_.progress();
    logging::get("onion")->info("tor bootstrap {}", bootstrap_.describe());
    if (on_progress_) on_progress_(bootstrap_);
  }
  if (!bootstrap_.done() || bootstrapped_) return;
  bootstrapped_ = true;
  timer_.cancel();
  if (on_bootstrapped_) on_bootstrapped_();
}

void TorSession::fatal(const Error& e) {
  if (on_fatal_) on_fatal_(e);
  else logging::get("onion")->error("{}", e.what());
}

void TorSession::close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  // For the embedded tor this is its owning controller: tor exits at once.
  if (control_) control_->close();
}

Status TorSession::shutdown(std::chrono::milliseconds deadline) {
  close();
  if (!tor_) return {};
  Status s = tor_->stop(deadline);
  tor_.reset();
  return s;
}

}  // namespace shardnode::onion
