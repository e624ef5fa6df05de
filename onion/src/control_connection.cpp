#include "shardnode/onion/control_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {
namespace {

int poll_timeout_ms(ControlConnection::Deadline d) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d - SteadyClock::to_std(SteadyClock().now())).count();
  if (left <= 0) return 0;
  return left > 60000 ? 60000 : static_cast<int>(left);
}

Error io_err(const char* what, int err) {
  return {OnionErrc::control_io, std::string("tor control: ") + what + ": " + std::strerror(err)};
}

}  // namespace

ControlConnection::~ControlConnection() { close(); }

void ControlConnection::close() {
  std::lock_guard lock(fd_mu_);
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

int ControlConnection::release() {
  std::lock_guard lock(fd_mu_);
  return std::exchange(fd_, -1);
}

void ControlConnection::interrupt() {
  std::lock_guard lock(fd_mu_);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

Status ControlConnection::send_all(std::string_view bytes, Deadline deadline) {
  while (!bytes.empty()) {
    if (fd_ < 0) return Error{OnionErrc::control_io, "tor control: connection closed"};
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return io_err("send", errno);
    pollfd p{fd_, POLLOUT, 0};
    int t = poll_timeout_ms(deadline);
    if (t == 0 || ::poll(&p, 1, t) == 0)
      return Error{OnionErrc::timeout, "tor control: timed out sending a command"};
  }
  return {};
}

Status ControlConnection::read_some(Deadline deadline) {
  if (fd_ < 0) return Error{OnionErrc::control_io, "tor control: connection closed"};
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int t = poll_timeout_ms(deadline);
    int pr = ::poll(&p, 1, t);
    if (pr < 0) {
      if (errno == EINTR) continue;
      return io_err("poll", errno);
    }
    if (pr == 0) return Error{OnionErrc::timeout, "tor control: timed out waiting for tor"};
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return io_err("recv", errno);
    }
    if (n == 0) return Error{OnionErrc::control_io, "tor control: tor closed the connection"};
    return parser_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  }
}

Result<Reply> ControlConnection::next_reply(bool want_async, Deadline deadline) {
  for (;;) {
    if (want_async && !events_.empty()) {
      Reply r = std::move(events_.front());
      events_.pop_front();
      return r;
    }
    while (auto r = parser_.next()) {
      if (r->is_async()) {
        if (want_async) return std::move(*r);
        if (events_.size() >= kMaxQueuedEvents) {
          events_.pop_front();
          ++dropped_events_;
        }
        events_.push_back(std::move(*r));
        continue;
      }
      if (want_async)
        return Error{OnionErrc::control_protocol, "tor control: unexpected synchronous reply " + std::to_string(r->code)};
      return std::move(*r);
    }
    if (Status s = read_some(deadline); !s) return s.error();
  }
}

Result<Reply> ControlConnection::command(std::string_view line, Deadline deadline) {
  std::lock_guard lock(mu_);
  if (line.find_first_of("\r\n") != std::string_view::npos)
    return Error{OnionErrc::control_protocol, "tor control: command contains a line break"};
  auto log = logging::get("onion");
  log->debug("control > {}", redact_command(line));
  std::string wire(line);
  wire += "\r\n";
  Status s = send_all(wire, deadline);
  std::fill(wire.begin(), wire.end(), '\0');
  if (!s) return s.error();
  auto r = next_reply(false, deadline);
  if (r && log->should_log(spdlog::level::debug))
    for (const auto& l : r->lines) log->debug("control < {}{}{}", l.code, l.sep, redact_reply_text(l.text));
  return r;
}

Result<Reply> ControlConnection::command_ok(std::string_view line, std::chrono::milliseconds timeout) {
  auto r = command(line, timeout);
  if (!r) return r;
  if (!r->is_success()) {
    auto first = line.substr(0, line.find(' '));
    return Error{OnionErrc::command_failed,
                 "tor refused " + std::string(first) + ": " + std::to_string(r->code) + " " + r->final_text()};
  }
  return r;
}

Result<std::string> ControlConnection::getinfo(std::string_view key, std::chrono::milliseconds timeout) {
  auto r = command_ok("GETINFO " + std::string(key), timeout);
  if (!r) return r.error();
  const std::string prefix = std::string(key) + "=";
  for (const auto& l : r->lines) {
    if (l.text.compare(0, prefix.size(), prefix) == 0)
      return l.sep == '+' ? l.data : l.text.substr(prefix.size());
  }
  return Error{OnionErrc::control_protocol, "tor control: GETINFO reply lacks " + std::string(key)};
}

Result<Reply> ControlConnection::next_event(Deadline deadline) {
  std::lock_guard lock(mu_);
  return next_reply(true, deadline);
}

bool ControlConnection::wait_closed(Deadline deadline) {
  std::lock_guard lock(mu_);
  for (;;) {
    if (fd_ < 0) return true;
    Status s = read_some(deadline);
    if (s) continue;
    if (s.error().code == make_error_code(OnionErrc::timeout)) return false;
    return true;  // EOF or socket error: tor's end is gone
  }
}

}  // namespace shardnode::onion
