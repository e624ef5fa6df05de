// TCP over Boost.Asio. Addresses are IP literals only (/ip4|ip6/<ip>/tcp/<port>):
// nothing is ever resolved.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <list>

#include "shardnode/net/transport.h"

namespace shardnode::net {

class TcpTransport final : public Transport {
 public:
  explicit TcpTransport(boost::asio::io_context& io) : io_(io) {}
  ~TcpTransport() override { close(); }

  const char* name() const override { return "tcp"; }
  bool can_dial(const Multiaddr& addr) const override { return addr.tcp_endpoint().has_value(); }
  bool can_listen(const Multiaddr& addr) const override { return addr.tcp_endpoint().has_value(); }
  void dial(const Multiaddr& addr, DialHandler handler) override;
  Result<Multiaddr> listen(const Multiaddr& addr, AcceptHandler on_accept) override;
  void close() override;

  // Wraps a connected socket (also used by benchmarks for raw TCP).
  static std::unique_ptr<ByteStream> wrap(boost::asio::ip::tcp::socket socket);

 private:
  struct Listener;
  void accept_next(const std::shared_ptr<Listener>& l);

  boost::asio::io_context& io_;
  std::list<std::shared_ptr<Listener>> listeners_;
  std::list<std::weak_ptr<boost::asio::ip::tcp::socket>> dialing_;
};

}  // namespace shardnode::net
