// Transports move bytes; everything above them (security, muxing, protocols) is the
// same for TCP, in-memory pipes and - later - Tor onion services.
//
// Threading: a node runs one io_context on one thread; transports, connections and
// the host are used from that thread only (no strands needed).
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <span>
#include <system_error>

#include "shardnode/core/multiaddr.h"
#include "shardnode/core/result.h"

namespace shardnode::net {

// A connected, reliable, ordered byte stream (a TCP socket, a unix socket to tor, a pipe).
class ByteStream {
 public:
  using ReadHandler = std::function<void(std::error_code, std::size_t)>;
  using WriteHandler = std::function<void(std::error_code)>;
  virtual ~ByteStream() = default;
  // Completes with at least one byte, or an error (EOF included).
  virtual void async_read_some(std::span<std::uint8_t> buffer, ReadHandler handler) = 0;
  // Writes all of `data`, which must stay valid until the handler runs.
  virtual void async_write(std::span<const std::uint8_t> data, WriteHandler handler) = 0;
  // Cancels pending operations (their handlers run with an error) and closes.
  virtual void close() = 0;
  virtual const Multiaddr& remote_address() const = 0;
  virtual const Multiaddr& local_address() const = 0;
};

class Transport {
 public:
  using DialHandler = std::function<void(Result<std::unique_ptr<ByteStream>>)>;
  using AcceptHandler = std::function<void(std::unique_ptr<ByteStream>)>;
  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  virtual bool can_dial(const Multiaddr& addr) const = 0;
  virtual bool can_listen(const Multiaddr& addr) const = 0;
  // The handler runs exactly once, on the io_context. Cancelled by close().
  virtual void dial(const Multiaddr& addr, DialHandler handler) = 0;
  // Returns the address actually bound (e.g. with the kernel's port for tcp/0).
  virtual Result<Multiaddr> listen(const Multiaddr& addr, AcceptHandler on_accept) = 0;
  // Stops listening and cancels pending dials.
  virtual void close() = 0;
};

}  // namespace shardnode::net
