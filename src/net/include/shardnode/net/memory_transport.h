// In-memory transport for tests: hosts on one io_context connect through pipes in a
// shared MemoryNetwork. Addresses look like /ip4/127.0.0.1/tcp/<port> but no socket
// exists; port 0 picks a free one.
#pragma once

#include <map>
#include <memory>

#include "shardnode/net/transport.h"

namespace shardnode::net {

class MemoryNetwork {
 public:
  static constexpr std::size_t kMaxBufferedPerDirection = 16 * 1024 * 1024;

 private:
  friend class MemoryTransport;
  std::map<std::uint16_t, Transport::AcceptHandler> listeners_;
  std::uint16_t next_port_ = 20000;
};

class MemoryTransport final : public Transport {
 public:
  MemoryTransport(boost::asio::io_context& io, std::shared_ptr<MemoryNetwork> net) : io_(io), net_(std::move(net)) {}
  ~MemoryTransport() override { close(); }

  const char* name() const override { return "memory"; }
  bool can_dial(const Multiaddr& addr) const override { return addr.tcp_endpoint().has_value(); }
  bool can_listen(const Multiaddr& addr) const override { return addr.tcp_endpoint().has_value(); }
  void dial(const Multiaddr& addr, DialHandler handler) override;
  Result<Multiaddr> listen(const Multiaddr& addr, AcceptHandler on_accept) override;
  void close() override;

  // A connected pair of in-memory streams (for codec-level tests).
  static std::pair<std::unique_ptr<ByteStream>, std::unique_ptr<ByteStream>> pipe(
      boost::asio::io_context& io, const Multiaddr& a, const Multiaddr& b);

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<MemoryNetwork> net_;
  std::vector<std::uint16_t> ports_;
  std::uint16_t ephemeral_ = 40000;
};

}  // namespace shardnode::net
