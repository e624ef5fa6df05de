#include "shardnode/net/tcp_transport.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "shardnode/core/log.h"
#include "shardnode/net/asio_stream.h"
#include "shardnode/net/errors.h"

namespace shardnode::net {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

Multiaddr to_multiaddr(const tcp::endpoint& ep) {
  return Multiaddr::tcp(ep.address().to_string(), ep.port());
}

// A connected TCP socket with Nagle off, named by its two endpoints.
std::unique_ptr<ByteStream> make_tcp_stream(tcp::socket s) {
  boost::system::error_code ec;
  Multiaddr remote, local;
  if (auto r = s.remote_endpoint(ec); !ec) remote = to_multiaddr(r);
  if (auto l = s.local_endpoint(ec); !ec) local = to_multiaddr(l);
  s.set_option(tcp::no_delay(true), ec);
  return std::make_unique<AsioStream<tcp::socket>>(std::move(s), std::move(remote), std::move(local));
}

Result<tcp::endpoint> endpoint_of(const Multiaddr& addr) {
  auto ep = addr.tcp_endpoint();
  if (!ep) return Error{HostErrc::unsupported_address, "tcp: not an ip/tcp address: " + addr.to_string()};
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(ep->ip, ec);  // a literal: never resolves
  if (ec) return Error{HostErrc::unsupported_address, "tcp: bad ip " + ep->ip};
  return tcp::endpoint(ip, ep->port);
}

}  // namespace

struct TcpTransport::Listener {
  explicit Listener(asio::io_context& io) : acceptor(io) {}
  tcp::acceptor acceptor;
  AcceptHandler on_accept;
};

std::unique_ptr<ByteStream> TcpTransport::wrap(tcp::socket socket) {
  return make_tcp_stream(std::move(socket));
}

void TcpTransport::dial(const Multiaddr& addr, DialHandler handler) {
  auto ep = endpoint_of(addr);
  if (!ep) {
    asio::post(io_, [h = std::move(handler), e = ep.error()] { h(e); });
    return;
  }
  auto sock = std::make_shared<tcp::socket>(io_);
  dialing_.remove_if([](const auto& w) { return w.expired(); });
  dialing_.push_back(sock);
  sock->async_connect(*ep, [sock, h = std::move(handler), addr](const boost::system::error_code& ec) {
    if (ec) {
      h(Error{ec, "tcp: connect to " + addr.to_string() + ": " + ec.message()});
      return;
    }
    h(make_tcp_stream(std::move(*sock)));
  });
}

Result<Multiaddr> TcpTransport::listen(const Multiaddr& addr, AcceptHandler on_accept) {
  auto ep = endpoint_of(addr);
  if (!ep) return ep.error();
  auto l = std::make_shared<Listener>(io_);
  boost::system::error_code ec;
  l->acceptor.open(ep->protocol(), ec);
  if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) l->acceptor.bind(*ep, ec);
  if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{ec, "tcp: listen on " + addr.to_string() + ": " + ec.message()};
  l->on_accept = std::move(on_accept);
  auto bound = to_multiaddr(l->acceptor.local_endpoint());
  listeners_.push_back(l);
  accept_next(l);
  return bound;
}

void TcpTransport::accept_next(const std::shared_ptr<Listener>& l) {
  l->acceptor.async_accept([this, l](const boost::system::error_code& ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) return;
    if (!ec) l->on_accept(make_tcp_stream(std::move(s)));
    else logging::get("net")->debug("tcp accept: {}", ec.message());
    accept_next(l);
  });
}

void TcpTransport::close() {
  for (auto& l : listeners_) {
    boost::system::error_code ec;
    l->acceptor.close(ec);
  }
  listeners_.clear();
  for (auto& w : dialing_)
    if (auto s = w.lock()) {
      boost::system::error_code ec;
      s->close(ec);
    }
  dialing_.clear();
}

}  // namespace shardnode::net
