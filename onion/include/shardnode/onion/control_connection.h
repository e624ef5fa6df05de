// A blocking tor control connection over a connected stream socket (the owning
// socketpair of an embedded tor, or a unix/TCP control port). Used at startup,
// shutdown and in tests; every call takes a deadline. Asynchronous events (6xx)
// that arrive while waiting for a reply are queued (bounded; drops are counted).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include "shardnode/core/clock.h"
#include "shardnode/core/result.h"
#include "shardnode/onion/control_reply.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {

class ControlConnection {
 public:
  static constexpr std::size_t kMaxQueuedEvents = 1024;
  // Blocking I/O waits on the real monotonic clock (SteadyClock), in the standard type.
  using Deadline = std::chrono::steady_clock::time_point;

  explicit ControlConnection(int fd) : fd_(fd) {}  // takes ownership
  ~ControlConnection();
  ControlConnection(const ControlConnection&) = delete;
  ControlConnection& operator=(const ControlConnection&) = delete;

  // Sends one command line (CRLF appended) and waits for its synchronous reply.
  // A 4xx/5xx reply is returned as a Reply, not an Error: callers decide.
  Result<Reply> command(std::string_view line, Deadline deadline);
  Result<Reply> command(std::string_view line, std::chrono::milliseconds timeout) {
    return command(line, SteadyClock::to_std(SteadyClock().now() + timeout));
  }
  // As command(), but a non-2xx reply becomes OnionErrc::command_failed.
  Result<Reply> command_ok(std::string_view line, std::chrono::milliseconds timeout);

  // GETINFO key -> value (single-line or data reply).
  Result<std::string> getinfo(std::string_view key, std::chrono::milliseconds timeout);

  // Waits for the next asynchronous event.
  Result<Reply> next_event(Deadline deadline);

  // Blocks until tor closes its end (EOF) or the deadline passes. True on EOF.
  bool wait_closed(Deadline deadline);

  void close();
  // Gives up the socket without closing it (for an asynchronous client to adopt).
  // Bytes already read but not yet returned are lost: hand off between commands.
  int release();
  // Wakes any blocked call with an error by shutting the socket down (thread-safe;
  // the fd stays allocated until close()). Used when tor's thread exits.
  void interrupt();
  bool is_open() const { return fd_ >= 0; }
  std::size_t dropped_events() const { return dropped_events_; }

 private:
  Status send_all(std::string_view bytes, Deadline deadline);
  // Reads once (waiting up to the deadline) and feeds the parser.
  Status read_some(Deadline deadline);
  Result<Reply> next_reply(bool want_async, Deadline deadline);

  int fd_;
  std::mutex mu_;     // one command at a time
  std::mutex fd_mu_;  // guards closing fd_ against interrupt()
  ReplyParser parser_;
  std::deque<Reply> events_;
  std::size_t dropped_events_ = 0;
};

}  // namespace shardnode::onion
