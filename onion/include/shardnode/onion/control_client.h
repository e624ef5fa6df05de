// An asynchronous tor control client on Boost.Asio, for the running node.
//
// Threading: like src/net, one io_context run by one thread. Every member function
// must be called on that thread (or before it runs); every handler runs on it.
// Handlers are never called from inside the member function that was given them.
//
// Commands are pipelined: each is written at once and replies are matched to
// commands in FIFO order (control-spec §2.1); 6xx replies go to on_event() in
// arrival order, between replies. Each command has a deadline (timeout(), default
// 30 s); when one passes, that command fails with OnionErrc::timeout and the
// connection is closed. When the connection fails or tor closes it, on_closed()
// runs once and every pending command fails with OnionErrc::control_io.
//
// Lifetime: open connections keep the client alive; close() releases it (and drops
// the on_event/on_closed handlers, so they may capture the client).
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/core/clock_timer.h"
#include "shardnode/core/result.h"
#include "shardnode/onion/control_reply.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {

class ControlClient : public std::enable_shared_from_this<ControlClient> {
 public:
  using ReplyHandler = std::function<void(Result<Reply>)>;
  static constexpr std::size_t kMaxPending = 256;
  static constexpr std::chrono::milliseconds kDefaultTimeout{30000};

  // Adopts a connected stream socket (e.g. the embedded tor's owning socketpair
  // end) and starts reading. The client owns the fd from here on. If the fd is
  // unusable the client is returned closed (commands fail with control_io).
  static std::shared_ptr<ControlClient> adopt(boost::asio::io_context& io, int fd);
  // Connects to a ControlSocket (unix path). Errors: OnionErrc::control_io.
  static void connect_unix(boost::asio::io_context& io, std::string path,
                           std::function<void(Result<std::shared_ptr<ControlClient>>)> handler);
  // Connects to a ControlPort. Only loopback addresses are accepted (anything else
  // fails with std::errc::permission_denied before connecting); errors otherwise
  // are OnionErrc::control_io.
  static void connect_tcp(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint endpoint,
                          std::function<void(Result<std::shared_ptr<ControlClient>>)> handler);

  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // Sends one command line (CRLF appended). A 4xx/5xx reply is delivered as a
  // Reply. Errors: control_protocol (line contains CR/LF), control_io (closed, or
  // closed before the reply), timeout, std::errc::no_buffer_space (kMaxPending
  // commands already waiting).
  void command(std::string line, ReplyHandler handler);
  // As command(), but a non-2xx reply becomes OnionErrc::command_failed with tor's text.
  void command_ok(std::string line, ReplyHandler handler);
  // GETINFO key -> value, from "250-key=value" or a "250+key=" data reply.
  void getinfo(std::string key, std::function<void(Result<std::string>)> handler);
  // SETEVENTS with these names (an empty list turns all events off).
  void set_events(std::vector<std::string> names, std::function<void(Status)> handler);
  // Every 6xx reply, in order. Replaces an earlier handler.
  void on_event(std::function<void(const Reply&)> handler);
  // Runs once when the connection fails or tor closes it (not after close()).
  void on_closed(std::function<void(const Error&)> handler);

  // For an external tor: PROTOCOLINFO 1, then the best method tor offers:
  // SAFECOOKIE (AUTHCHALLENGE, server hash checked), COOKIE, HASHEDPASSWORD (with
  // `password`), NULL. The cookie file tor names must hold exactly 32 bytes.
  // Errors: command_failed (no usable method, missing password, tor refused),
  // control_protocol (malformed PROTOCOLINFO/AUTHCHALLENGE reply, wrong server
  // hash), plus the errors of command().
  void authenticate(std::optional<std::string> password, std::function<void(Status)> handler);

  // Closes the socket; pending commands fail with control_io. on_closed() is not run.
  void close();
  bool is_open() const { return !closed_; }

  // Deadline for commands sent from now on.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // The clock command deadlines are measured on (default: the real monotonic clock;
  // it must outlive the client). Set it before the first command.
  // Its timer fires on that clock: a ManualClock's only when advanced.
  void set_clock(const Clock& clock);
  std::chrono::milliseconds timeout() const { return timeout_; }
  std::size_t pending() const { return pending_.size(); }

  // Public for the constructor's use by make_shared; use adopt()/connect_*().
  struct Private {};
  ControlClient(Private, boost::asio::io_context& io, boost::asio::generic::stream_protocol::socket socket);

 private:
  struct Pending {
    std::string label;  // the command word, for messages (never arguments)
    TimePoint deadline{};  // on clock_
    ReplyHandler handler;
  };
  static void connect_endpoint(boost::asio::io_context& io, boost::asio::generic::stream_protocol::endpoint ep,
                               std::string where, std::function<void(Result<std::shared_ptr<ControlClient>>)> handler);
  void start_read();
  void on_read(std::size_t n);
  void flush();
  void arm_timer();
  void on_timer();
  void fail(Error cause);
  void teardown(const std::string& why);
  void shutdown_socket();
  void post_error(ReplyHandler handler, Error e);

  boost::asio::io_context& io_;
  boost::asio::generic::stream_protocol::socket socket_;
  SteadyClock steady_;
  const Clock* clock_ = &steady_;
  std::unique_ptr<ClockTimer> timer_;  // on clock_
  std::optional<TimePoint> armed_;
  ReplyParser parser_;
  std::array<char, 16384> rbuf_{};
  std::string wbuf_;     // queued, not yet handed to the socket
  std::string writing_;  // in flight
  bool write_busy_ = false;
  bool closed_ = false;
  std::deque<Pending> pending_;
  std::chrono::milliseconds timeout_ = kDefaultTimeout;
  std::function<void(const Reply&)> on_event_;
  std::function<void(const Error&)> on_closed_;
};

// SAFECOOKIE (control-spec §3.24): HMAC-SHA256 keyed with the two fixed strings
// over CookieString | ClientNonce | ServerNonce.
struct SafeCookieHashes {
  std::array<std::uint8_t, 32> server_hash;  // tor proves it knows the cookie
  std::array<std::uint8_t, 32> client_hash;  // we prove it (AUTHENTICATE <hex>)
};
SafeCookieHashes safecookie_hashes(std::span<const std::uint8_t> cookie, std::span<const std::uint8_t> client_nonce,
                                   std::span<const std::uint8_t> server_nonce);

}  // namespace shardnode::onion
