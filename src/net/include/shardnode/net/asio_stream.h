// A ByteStream over a connected Asio stream socket (TCP, or a unix socket to or from
// tor). The transport names the two ends; the stream only moves bytes.
#pragma once

#include <boost/asio/write.hpp>

#include "shardnode/net/transport.h"

namespace shardnode::net {

template <class Socket>
class AsioStream final : public ByteStream {
 public:
  AsioStream(Socket s, Multiaddr remote, Multiaddr local)
      : sock_(std::move(s)), remote_(std::move(remote)), local_(std::move(local)) {}
  ~AsioStream() override { close(); }

  void async_read_some(std::span<std::uint8_t> buf, ReadHandler h) override {
    sock_.async_read_some(boost::asio::buffer(buf.data(), buf.size()),
                          [h = std::move(h)](const boost::system::error_code& ec, std::size_t n) { h(ec, n); });
  }
  void async_write(std::span<const std::uint8_t> data, WriteHandler h) override {
    boost::asio::async_write(sock_, boost::asio::buffer(data.data(), data.size()),
                             [h = std::move(h)](const boost::system::error_code& ec, std::size_t) { h(ec); });
  }
  void close() override {
    boost::system::error_code ec;
    if (sock_.is_open()) {
      sock_.shutdown(Socket::shutdown_both, ec);
      sock_.close(ec);
    }
  }
  const Multiaddr& remote_address() const override { return remote_; }
  const Multiaddr& local_address() const override { return local_; }

 private:
  Socket sock_;
  Multiaddr remote_, local_;
};

}  // namespace shardnode::net
