// The control API's socket layer: listen (0600), accept (uid check, client cap),
// framing, output queue, streams. No operation is known here (control/ops*.cpp).
#include "shardnode/node/detail/control_socket.h"

#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "shardnode/core/log.h"
#include "shardnode/core/varint.h"

namespace shardnode::node::control {
namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace {

auto log() { return logging::get("node"); }

Error sys_error(const std::string& what, int err) {
  return Error{std::error_code(err, std::system_category()), what + ": " + std::strerror(err)};
}

}  // namespace

pb::Response error_response(std::uint64_t id, pb::Error::Code code, std::string message) {
  pb::Response r;
  r.set_id(id);
  r.mutable_error()->set_code(code);
  r.mutable_error()->set_message(std::move(message));
  return r;
}

// ---------------------------------------------------------------------------------
// One connection.

Connection::Connection(Socket& socket, stream_protocol::socket s, std::uint64_t number)
    : socket_(socket), sock_(std::move(s)), number_(number) {}

void Connection::start() { read(); }

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  streams_.clear();
  boost::system::error_code ec;
  sock_.shutdown(stream_protocol::socket::shutdown_both, ec);
  sock_.close(ec);
}

void Connection::send(const pb::Response& r) {
  if (closed_ || closing_) return;
  std::string body;
  if (!r.SerializeToString(&body) || body.size() > kControlMaxFrame) {
    auto e = error_response(r.id(), pb::Error::UNKNOWN, "response too large for one frame");
    body.clear();
    (void)e.SerializeToString(&body);
  }
  enqueue(body);
}

void Connection::send_error(std::uint64_t id, pb::Error::Code code, std::string message) {
  if (code == pb::Error::BAD_REQUEST) ++socket_.counters_.bad_requests;
  send(error_response(id, code, std::move(message)));
}

bool Connection::begin_later(std::uint64_t id) {
  const std::size_t cap = socket_.limits_.max_in_flight;
  if (in_flight_ >= cap) {
    send_error(id, pb::Error::RESOURCE_EXHAUSTED, "too many requests in flight (" + std::to_string(cap) + ")");
    return false;
  }
  ++in_flight_;
  return true;
}

void Connection::finish(const pb::Response& r) {
  if (in_flight_ > 0) --in_flight_;
  send(r);
  resume();
}

void Connection::drop_later() {
  if (in_flight_ > 0) --in_flight_;
}

bool Connection::open_stream(std::uint64_t id, std::unique_ptr<Stream> s) {
  if (streams_.count(id)) {
    send_error(id, pb::Error::BAD_REQUEST, "stream id " + std::to_string(id) + " is already in use");
    return false;
  }
  const std::size_t cap = socket_.limits_.max_streams;
  if (streams_.size() >= cap) {
    send_error(id, pb::Error::RESOURCE_EXHAUSTED, "too many streams on this connection (" + std::to_string(cap) + ")");
    return false;
  }
  streams_.emplace(id, std::move(s));
  return true;
}

bool Connection::cancel_stream(std::uint64_t id) { return streams_.erase(id) != 0; }

void Connection::push(std::uint64_t id, pb::Response event) {
  auto it = streams_.find(id);
  if (closed() || it == streams_.end()) return;
  event.set_id(id);
  const std::size_t size = event.ByteSizeLong() + kMaxVarintBytes;
  if (queued_ + size > socket_.limits_.max_queued_bytes) {
    streams_.erase(it);
    ++socket_.counters_.streams_dropped;
    log()->info("control client {}: stream {} dropped, {} bytes queued", number_, id, queued_);
    send_error(id, pb::Error::RESOURCE_EXHAUSTED,
               "stream " + std::to_string(id) + " dropped: the client is not reading fast enough (" +
                   std::to_string(queued_) + " bytes queued)");
    return;
  }
  ++socket_.counters_.events_sent;
  send(event);
}

void Connection::fail(std::uint64_t id, std::string message) {
  if (closed_ || closing_) return;
  send_error(id, pb::Error::BAD_REQUEST, std::move(message));
  closing_ = true;
  streams_.clear();
  if (!writing_) socket_.forget(this);
}

void Connection::read() {
  if (closed_ || closing_ || reading_) return;
  reading_ = true;
  sock_.async_read_some(asio::buffer(rbuf_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                         std::size_t n) {
    self->reading_ = false;
    if (self->closed_) return;
    if (ec) {
      if (ec != asio::error::eof || self->closing_) return self->socket_.forget(self.get());
      // The client closed its side: its streams end; requests already read are
      // still answered, then we close. End of input in the middle of a frame gets
      // a last word.
      self->eof_ = true;
      self->streams_.clear();
      if (!self->in_.empty() && !self->frame_ready_)
        return self->fail(0, "connection closed in the middle of a frame (" + std::to_string(self->in_.size()) +
                                 " bytes of an incomplete frame)");
      return self->resume();
    }
    self->in_.insert(self->in_.end(), self->rbuf_.begin(), self->rbuf_.begin() + static_cast<std::ptrdiff_t>(n));
    self->process();
    self->read_if_room();
  });
}

bool Connection::held_back() const { return queued_ > socket_.limits_.max_queued_bytes; }

void Connection::read_if_room() {
  // Hold input back while our output is piling up or a whole frame waits unprocessed.
  if (held_back() || frame_ready_ || eof_) return;
  read();
}

void Connection::resume() {
  if (closed_ || closing_) return;
  process();
  if (closed_ || closing_) return;
  read_if_room();
  // After the client's end of input: close once every answer is out.
  if (eof_ && in_flight_ == 0 && !frame_ready_) {
    closing_ = true;
    if (!writing_) socket_.forget(this);
  }
}

// Splits complete frames out of the input and handles them, while output has room.
// Not re-entrant: a handler may finish another request synchronously (a jump that
// completes at once), which calls resume() again.
void Connection::process() {
  if (processing_) return;
  processing_ = true;
  struct Done {
    bool& b;
    ~Done() { b = false; }
  } done{processing_};
  frame_ready_ = false;
  std::size_t off = 0;
  while (!closed_ && !closing_) {
    if (held_back()) {
      frame_ready_ = off < in_.size();
      break;
    }
    auto len = decode_uvarint(ByteView(in_).subspan(off));
    if (len.status == VarintStatus::incomplete) break;
    if (len.status != VarintStatus::ok)
      return fail(0, std::string("bad frame length: ") + to_string(len.status) + " varint");
    if (len.value > kControlMaxFrame)
      return fail(0, "frame of " + std::to_string(len.value) + " bytes exceeds the cap of " +
                         std::to_string(kControlMaxFrame) + " bytes");
    const auto n = static_cast<std::size_t>(len.value);
    if (in_.size() - off - len.length < n) break;
    const ByteView frame = ByteView(in_).subspan(off + len.length, n);
    off += len.length + n;
    handle(frame);
  }
  if (closed_) return;
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(std::min(off, in_.size())));
}

void Connection::handle(ByteView frame) {
  ++socket_.counters_.requests;
  pb::Request req;
  if (!req.ParseFromArray(frame.data(), static_cast<int>(frame.size())))
    return fail(0, "frame of " + std::to_string(frame.size()) + " bytes is not a valid Request protobuf");
  socket_.dispatch(*this, req);
}

void Connection::enqueue(const std::string& body) {
  std::string frame;
  Bytes prefix;
  append_uvarint(prefix, body.size());
  frame.reserve(prefix.size() + body.size());
  frame.append(reinterpret_cast<const char*>(prefix.data()), prefix.size());
  frame.append(body);
  queued_ += frame.size();
  out_.push_back(std::move(frame));
  write();
}

void Connection::write() {
  if (writing_ || closed_ || out_.empty()) return;
  writing_ = true;
  asio::async_write(sock_, asio::buffer(out_.front()),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      self->writing_ = false;
                      if (self->closed_) return;
                      if (ec) return self->socket_.forget(self.get());
                      self->queued_ -= self->out_.front().size();
                      self->out_.pop_front();
                      if (!self->out_.empty()) return self->write();
                      if (self->closing_) return self->socket_.forget(self.get());
                      self->resume();
                    });
}

// ---------------------------------------------------------------------------------
// The listening socket.

Socket::Socket(asio::io_context& io, ControlLimits limits, RequestHandler on_request)
    : limits_(limits), on_request_(std::move(on_request)), acceptor_(io), accept_retry_(io) {}

Socket::~Socket() {
  stop();
  *alive_ = false;
}

Status Socket::listen(const std::filesystem::path& path) {
  if (listening_ || stopped_) return Error{std::make_error_code(std::errc::operation_not_permitted),
                                           "control server already listening or stopped"};
  const std::string p = path.string();
  if (p.empty() || p.size() >= sizeof(sockaddr_un{}.sun_path))
    return Error{std::make_error_code(std::errc::filename_too_long),
                 "control socket path '" + p + "' is empty or longer than " +
                     std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes"};

  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Error{std::make_error_code(std::errc::file_exists),
                   "control socket path '" + p + "' exists and is not a socket: refusing to replace it"};
    // A socket file: live if someone accepts on it, stale if nobody does.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return sys_error("socket", errno);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, p.c_str(), p.size());
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
    const int err = errno;
    ::close(fd);
    if (rc == 0 || err == EAGAIN || err == EINPROGRESS)
      return Error{std::make_error_code(std::errc::address_in_use),
                   "control socket '" + p + "' is in use by a running process (another node on this datadir?)"};
    if (err != ECONNREFUSED && err != ENOENT) return sys_error("probing the control socket '" + p + "'", err);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
      return sys_error("removing the stale control socket '" + p + "'", errno);
    log()->info("removed a stale control socket at {}", p);
  } else if (errno != ENOENT) {
    return sys_error("control socket path '" + p + "'", errno);
  }

  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (ec) return Error{ec, "control socket: " + ec.message()};
  // The file takes the socket inode's mode masked by the umask: 0600 from the start.
  // chmod again before listen(): until then nobody can connect anyway.
  if (::fchmod(acceptor_.native_handle(), S_IRUSR | S_IWUSR) != 0) {
    const int err = errno;
    acceptor_.close(ec);
    return sys_error("fchmod on the control socket", err);
  }
  acceptor_.bind(stream_protocol::endpoint(p), ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return Error{ec, "binding the control socket '" + p + "': " + ec.message()};
  }
  auto undo = [&](Error e) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    ::unlink(p.c_str());
    return e;
  };
  if (::chmod(p.c_str(), S_IRUSR | S_IWUSR) != 0) return undo(sys_error("chmod 0600 '" + p + "'", errno));
  if (::lstat(p.c_str(), &st) != 0) return undo(sys_error("stat '" + p + "'", errno));
  if ((st.st_mode & 0777) != 0600)
    return undo(Error{std::make_error_code(std::errc::permission_denied), "control socket '" + p + "' is not 0600"});
  socket_inode_ = std::pair<std::uint64_t, std::uint64_t>(st.st_dev, st.st_ino);
  acceptor_.listen(static_cast<int>(limits_.max_clients), ec);
  if (ec) return undo(Error{ec, "listen on the control socket '" + p + "': " + ec.message()});
  path_ = path;
  listening_ = true;
  log()->info("control API on {}", p);
  accept();
  return {};
}

void Socket::accept() {
  acceptor_.async_accept([this, alive = alive_](const boost::system::error_code& ec, stream_protocol::socket s) {
    if (!*alive || stopped_) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      log()->warn("control socket accept: {}", ec.message());
      // Out of descriptors and the like: try again shortly, not in a tight loop.
      accept_retry_.expires_after(std::chrono::milliseconds(200));
      accept_retry_.async_wait([this, alive](const boost::system::error_code& e) {
        if (!e && *alive && !stopped_) accept();
      });
      return;
    }
    // Only our own user (or root), whatever the file's mode turns out to be.
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid != ::geteuid() &&
        cred.uid != 0) {
      ++counters_.clients_refused;
      boost::system::error_code ignored;
      s.close(ignored);
      return accept();
    }
    if (clients_.size() >= limits_.max_clients) {
      ++counters_.clients_refused;
      // One error frame, then the connection closes. A fresh socket's send buffer
      // takes these few dozen bytes without blocking.
      auto e = error_response(0, pb::Error::RESOURCE_EXHAUSTED,
                              "too many control clients (" + std::to_string(limits_.max_clients) + ")");
      std::string body;
      (void)e.SerializeToString(&body);
      Bytes frame;
      append_uvarint(frame, body.size());
      frame.insert(frame.end(), body.begin(), body.end());
      boost::system::error_code ignored;
      s.non_blocking(true, ignored);
      s.write_some(asio::buffer(frame), ignored);
      s.shutdown(stream_protocol::socket::shutdown_both, ignored);
      s.close(ignored);
      return accept();
    }
    auto c = std::make_shared<Connection>(*this, std::move(s), next_client_++);
    ++counters_.clients_accepted;
    clients_.emplace(c.get(), c);
    c->start();
    accept();
  });
}

void Socket::forget(Connection* c) {
  auto it = clients_.find(c);
  if (it == clients_.end()) return c->close();
  auto keep = it->second;  // the client outlives this call
  clients_.erase(it);
  keep->close();
}

void Socket::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ec;
  accept_retry_.cancel();
  if (listening_) acceptor_.close(ec);
  auto clients = std::move(clients_);
  clients_.clear();
  for (auto& [p, c] : clients) c->close();
  // Unlink only the file we bound (not one another process put there since).
  struct stat st {};
  if (socket_inode_ && ::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
      std::pair<std::uint64_t, std::uint64_t>(st.st_dev, st.st_ino) == *socket_inode_)
    ::unlink(path_.c_str());
  socket_inode_.reset();
  listening_ = false;
}

}  // namespace shardnode::node::control
