#include "shardnode/net/tcp_transport.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "shardnode/core/log.h"
#include "shardnode/net/errors.h"

namespace shardnode::net {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

Multiaddr to_multiaddr(const tcp::endpoint& ep) {
  return Multiaddr::tcp(ep.address().to_string(), ep.port());
}

class TcpStream final : public ByteStream {
 public:
  explicit TcpStream(tcp::socket s) : sock_(std::move(s)) {
    std::error_code ec;
    boost::system::error_code bec;
    auto r = sock_.remote_endpoint(bec);
    if (!bec) remote_ = to_multiaddr(r);
    auto l = sock_.local_endpoint(bec);
    if (!bec) local_ = to_multiaddr(l);
    sock_.set_option(tcp::no_delay(true), bec);
  }
  ~TcpStream() override { close(); }

  void async_read_some(std::span<std::uint8_t> buf, ReadHandler h) override {
    sock_.async_read_some(asio::buffer(buf.data(), buf.size()),
                          [h = std::move(h)](const boost::system::error_code& ec, std::size_t n) { h(ec, n); });
  }
  void async_write(std::span<const std::uint8_t> data, WriteHandler h) override {
    asio::async_write(sock_, asio::buffer(data.data(), data.size()),
                      [h = std::move(h)](const boost::system::error_code& ec, std::size_t) { h(ec); });
  }
  void close() override {
    boost::system::error_code ec;
    if (sock_.is_open()) {
      sock_.shutdown(tcp::socket::shutdown_both, ec);
      sock_.close(ec);
    }
  }
  const Multiaddr& remote_address() const override { return remote_; }
  const Multiaddr& local_address() const override { return local_; }

 private:
  tcp::socket sock_;
  Multiaddr remote_, local_;
};

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
  return std::make_unique<TcpStream>(std::move(socket));
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
    h(std::unique_ptr<ByteStream>(std::make_unique<TcpStream>(std::move(*sock))));
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
    if (!ec) l->on_accept(std::make_unique<TcpStream>(std::move(s)));
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
