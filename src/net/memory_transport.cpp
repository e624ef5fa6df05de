#include "shardnode/net/memory_transport.h"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cstring>
#include <deque>

#include "shardnode/net/errors.h"

namespace shardnode::net {
namespace asio = boost::asio;

namespace {

// One direction of a pipe.
struct Channel {
  std::deque<std::uint8_t> data;
  bool closed = false;
  std::span<std::uint8_t> pending_buf;
  ByteStream::ReadHandler pending;
};

class MemoryStream final : public ByteStream {
 public:
  MemoryStream(asio::io_context& io, std::shared_ptr<Channel> in, std::shared_ptr<Channel> out, Multiaddr local,
               Multiaddr remote)
      : io_(io), in_(std::move(in)), out_(std::move(out)), local_(std::move(local)), remote_(std::move(remote)) {}
  ~MemoryStream() override { close(); }

  void async_read_some(std::span<std::uint8_t> buf, ReadHandler h) override {
    if (!in_->data.empty() || in_->closed) {
      complete(*in_, buf, std::move(h));
      return;
    }
    in_->pending_buf = buf;
    in_->pending = std::move(h);
  }

  void async_write(std::span<const std::uint8_t> data, WriteHandler h) override {
    if (out_->closed || closed_) {
      asio::post(io_, [h = std::move(h)] { h(std::make_error_code(std::errc::broken_pipe)); });
      return;
    }
    if (out_->data.size() + data.size() > MemoryNetwork::kMaxBufferedPerDirection) {
      asio::post(io_, [h = std::move(h)] { h(std::make_error_code(std::errc::no_buffer_space)); });
      return;
    }
    out_->data.insert(out_->data.end(), data.begin(), data.end());
    wake(*out_);
    asio::post(io_, [h = std::move(h)] { h({}); });
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    out_->closed = true;
    wake(*out_);
    in_->closed = true;
    if (in_->pending) {
      auto h = std::move(in_->pending);
      in_->pending = nullptr;
      asio::post(io_, [h = std::move(h)] { h(std::make_error_code(std::errc::operation_canceled), 0); });
    }
  }
  const Multiaddr& remote_address() const override { return remote_; }
  const Multiaddr& local_address() const override { return local_; }

 private:
  void complete(Channel& ch, std::span<std::uint8_t> buf, ReadHandler h) {
    if (ch.data.empty()) {
      asio::post(io_, [h = std::move(h)] { h(make_error_code(HostErrc::closed), 0); });
      return;
    }
    const std::size_t n = std::min(buf.size(), ch.data.size());
    std::copy_n(ch.data.begin(), n, buf.begin());
    ch.data.erase(ch.data.begin(), ch.data.begin() + static_cast<std::ptrdiff_t>(n));
    asio::post(io_, [h = std::move(h), n] { h({}, n); });
  }
  void wake(Channel& ch) {
    if (!ch.pending) return;
    auto h = std::move(ch.pending);
    ch.pending = nullptr;
    complete(ch, ch.pending_buf, std::move(h));
  }

  asio::io_context& io_;
  std::shared_ptr<Channel> in_, out_;
  Multiaddr local_, remote_;
  bool closed_ = false;
};

// A ByteStream owned through a shared_ptr.
class SharedStream final : public ByteStream {
 public:
  explicit SharedStream(std::shared_ptr<ByteStream> p) : s_(std::move(p)) {}
  void async_read_some(std::span<std::uint8_t> b, ReadHandler h) override { s_->async_read_some(b, std::move(h)); }
  void async_write(std::span<const std::uint8_t> d, WriteHandler h) override { s_->async_write(d, std::move(h)); }
  void close() override { s_->close(); }
  const Multiaddr& remote_address() const override { return s_->remote_address(); }
  const Multiaddr& local_address() const override { return s_->local_address(); }

 private:
  std::shared_ptr<ByteStream> s_;
};

}  // namespace

std::pair<std::unique_ptr<ByteStream>, std::unique_ptr<ByteStream>> MemoryTransport::pipe(
    asio::io_context& io, const Multiaddr& a, const Multiaddr& b) {
  auto ab = std::make_shared<Channel>();
  auto ba = std::make_shared<Channel>();
  return {std::make_unique<MemoryStream>(io, ba, ab, a, b), std::make_unique<MemoryStream>(io, ab, ba, b, a)};
}

void MemoryTransport::dial(const Multiaddr& addr, DialHandler handler) {
  auto ep = addr.tcp_endpoint();
  auto it = ep ? net_->listeners_.find(ep->port) : net_->listeners_.end();
  if (it == net_->listeners_.end()) {
    asio::post(io_, [h = std::move(handler), addr] {
      h(Error{std::make_error_code(std::errc::connection_refused), "memory: nothing listens on " + addr.to_string()});
    });
    return;
  }
  auto [mine, theirs] = pipe(io_, Multiaddr::tcp("127.0.0.1", ephemeral_++), addr.without_peer_id());
  // Handlers passed through asio::post must be copyable, so the streams travel in
  // shared_ptrs and are re-wrapped on arrival.
  auto accept = it->second;
  auto t = std::shared_ptr<ByteStream>(std::move(theirs));
  auto m = std::shared_ptr<ByteStream>(std::move(mine));
  asio::post(io_, [accept, t] { accept(std::make_unique<SharedStream>(t)); });
  asio::post(io_, [h = std::move(handler), m] { h(std::unique_ptr<ByteStream>(std::make_unique<SharedStream>(m))); });
}

Result<Multiaddr> MemoryTransport::listen(const Multiaddr& addr, AcceptHandler on_accept) {
  auto ep = addr.tcp_endpoint();
  if (!ep) return Error{HostErrc::unsupported_address, "memory: not an ip/tcp address: " + addr.to_string()};
  std::uint16_t port = ep->port;
  if (port == 0) {
    while (net_->listeners_.count(net_->next_port_)) ++net_->next_port_;
    port = net_->next_port_++;
  }
  if (net_->listeners_.count(port))
    return Error{std::make_error_code(std::errc::address_in_use), "memory: port " + std::to_string(port) + " in use"};
  net_->listeners_[port] = std::move(on_accept);
  ports_.push_back(port);
  return Multiaddr::tcp(ep->ip, port);
}

void MemoryTransport::close() {
  for (auto p : ports_) net_->listeners_.erase(p);
  ports_.clear();
}

}  // namespace shardnode::net
