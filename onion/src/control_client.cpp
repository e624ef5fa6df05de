#include "shardnode/onion/control_client.h"

#include <sodium.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <utility>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {
namespace asio = boost::asio;
using GenericStream = asio::generic::stream_protocol;

namespace {

constexpr std::string_view kServerToController = "Tor safe cookie authentication server-to-controller hash";
constexpr std::string_view kControllerToServer = "Tor safe cookie authentication controller-to-server hash";
constexpr std::size_t kCookieLen = 32;
constexpr std::size_t kNonceLen = 32;

Error io_error(std::string msg) { return Error{OnionErrc::control_io, "tor control: " + std::move(msg)}; }
Error protocol_error(std::string msg) { return Error{OnionErrc::control_protocol, "tor control: " + std::move(msg)}; }

// The command word, for messages and logs (arguments may be secret).
std::string label_of(std::string_view line) {
  auto word = line.substr(0, std::min(line.find(' '), std::size_t{32}));
  return std::string(word);
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

// Key material that wipes itself, shared between the steps of authenticate().
struct Secret32 {
  std::array<std::uint8_t, 32> bytes{};
  Secret32() = default;
  Secret32(const Secret32&) = delete;
  Secret32& operator=(const Secret32&) = delete;
  ~Secret32() { sodium_memzero(bytes.data(), bytes.size()); }
};

Status read_cookie(const std::string& path, Secret32& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return io_error("cannot open cookie file " + path);
  std::array<std::uint8_t, kCookieLen + 1> buf{};
  const std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
  const bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  Status s;
  if (read_error) s = io_error("cannot read cookie file " + path);
  else if (n != kCookieLen)
    s = io_error("cookie file " + path + " holds " + (n > kCookieLen ? "more than 32" : std::to_string(n)) +
                 " bytes (want 32)");
  else std::copy_n(buf.begin(), kCookieLen, out.bytes.begin());
  sodium_memzero(buf.data(), buf.size());
  return s;
}

void hmac(std::string_view key, std::span<const std::uint8_t> a, std::span<const std::uint8_t> b,
          std::span<const std::uint8_t> c, std::array<std::uint8_t, 32>& out) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, a.data(), a.size());
  crypto_auth_hmacsha256_update(&st, b.data(), b.size());
  crypto_auth_hmacsha256_update(&st, c.data(), c.size());
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof st);
}

Status status_of(const Result<Reply>& r) { return r ? Status{} : Status{r.error()}; }

}  // namespace

SafeCookieHashes safecookie_hashes(std::span<const std::uint8_t> cookie, std::span<const std::uint8_t> client_nonce,
                                   std::span<const std::uint8_t> server_nonce) {
  SafeCookieHashes h{};
  hmac(kServerToController, cookie, client_nonce, server_nonce, h.server_hash);
  hmac(kControllerToServer, cookie, client_nonce, server_nonce, h.client_hash);
  return h;
}

ControlClient::ControlClient(Private, asio::io_context& io, GenericStream::socket socket)
    : io_(io), socket_(std::move(socket)), timer_(std::make_unique<ClockTimer>(io, steady_)) {
  closed_ = !socket_.is_open();
}

void ControlClient::set_clock(const Clock& clock) {
  clock_ = &clock;
  timer_ = std::make_unique<ClockTimer>(io_, clock);
  armed_.reset();
  arm_timer();
}

ControlClient::~ControlClient() { shutdown_socket(); }

std::shared_ptr<ControlClient> ControlClient::adopt(asio::io_context& io, int fd) {
  GenericStream::socket sock(io);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd >= 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    boost::system::error_code ec;
    sock.assign(GenericStream(ss.ss_family, SOCK_STREAM), fd, ec);
    if (ec) {
      logging::get("onion")->warn("tor control: cannot adopt fd {}: {}", fd, ec.message());
      ::close(fd);
    }
  } else if (fd >= 0) {
    logging::get("onion")->warn("tor control: fd {} is not a socket", fd);
    ::close(fd);
  }
  auto c = std::make_shared<ControlClient>(Private{}, io, std::move(sock));
  if (!c->closed_) c->start_read();
  return c;
}

void ControlClient::connect_unix(asio::io_context& io, std::string path,
                                 std::function<void(Result<std::shared_ptr<ControlClient>>)> handler) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    asio::post(io, [h = std::move(handler), n = path.size()] {
      h(io_error("control socket path of " + std::to_string(n) + " bytes (want 1..107)"));
    });
    return;
  }
  connect_endpoint(io, GenericStream::endpoint{asio::local::stream_protocol::endpoint(path)}, path,
                   std::move(handler));
}

void ControlClient::connect_endpoint(asio::io_context& io, GenericStream::endpoint ep, std::string where,
                                     std::function<void(Result<std::shared_ptr<ControlClient>>)> handler) {
  auto sock = std::make_shared<GenericStream::socket>(io);
  sock->async_connect(ep, [&io, sock, where = std::move(where), h = std::move(handler)](const boost::system::error_code& ec) {
    if (ec) {
      h(io_error("connect to " + where + ": " + ec.message()));
      return;
    }
    auto c = std::make_shared<ControlClient>(Private{}, io, std::move(*sock));
    c->start_read();
    h(c);
  });
}

void ControlClient::connect_tcp(asio::io_context& io, asio::ip::tcp::endpoint endpoint,
                                std::function<void(Result<std::shared_ptr<ControlClient>>)> handler) {
  std::string where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  if (!endpoint.address().is_loopback()) {
    asio::post(io, [h = std::move(handler), where] {
      h(Error{std::make_error_code(std::errc::permission_denied),
              "tor control: refusing non-loopback control port " + where});
    });
    return;
  }
  connect_endpoint(io, GenericStream::endpoint{endpoint}, where, std::move(handler));
}

void ControlClient::post_error(ReplyHandler handler, Error e) {
  if (!handler) return;
  asio::post(io_, [h = std::move(handler), e = std::move(e)]() mutable { h(std::move(e)); });
}

void ControlClient::command(std::string line, ReplyHandler handler) {
  if (closed_) {
    post_error(std::move(handler), io_error(label_of(line) + ": connection is closed"));
    return;
  }
  if (line.find_first_of("\r\n") != std::string::npos) {
    post_error(std::move(handler), protocol_error("command contains a line break"));
    return;
  }
  if (pending_.size() >= kMaxPending) {
    post_error(std::move(handler), Error{std::make_error_code(std::errc::no_buffer_space),
                                         "tor control: " + std::to_string(kMaxPending) + " commands already pending"});
    return;
  }
  logging::get("onion")->debug("control > {}", redact_command(line));
  pending_.push_back(Pending{label_of(line), clock_->now() + timeout_, std::move(handler)});
  wbuf_ += line;
  wbuf_ += "\r\n";
  sodium_memzero(line.data(), line.size());
  flush();
  arm_timer();
}

void ControlClient::command_ok(std::string line, ReplyHandler handler) {
  std::string label = label_of(line);
  command(std::move(line), [label = std::move(label), h = std::move(handler)](Result<Reply> r) {
    if (r && !r->is_success()) {
      h(Error{OnionErrc::command_failed,
              "tor refused " + label + ": " + std::to_string(r->code) + " " + r->final_text()});
      return;
    }
    h(std::move(r));
  });
}

void ControlClient::getinfo(std::string key, std::function<void(Result<std::string>)> handler) {
  if (key.empty() || key.find(' ') != std::string::npos) {
    asio::post(io_, [h = std::move(handler)] { h(protocol_error("GETINFO takes one non-empty key")); });
    return;
  }
  std::string line = "GETINFO " + key;
  command_ok(std::move(line), [key = std::move(key), h = std::move(handler)](Result<Reply> r) {
    if (!r) {
      h(r.error());
      return;
    }
    const std::string prefix = key + "=";
    for (const auto& l : r->lines) {
      if (l.text.compare(0, prefix.size(), prefix) == 0) {
        h(l.sep == '+' ? l.data : l.text.substr(prefix.size()));
        return;
      }
    }
    h(protocol_error("GETINFO reply lacks " + key));
  });
}

void ControlClient::set_events(std::vector<std::string> names, std::function<void(Status)> handler) {
  std::string line = "SETEVENTS";
  for (const auto& n : names) {
    const bool ok = !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
    if (!ok) {
      asio::post(io_, [h = std::move(handler), n] { h(protocol_error("bad event name '" + n + "'")); });
      return;
    }
    line += ' ';
    line += n;
  }
  command_ok(std::move(line), [h = std::move(handler)](Result<Reply> r) { h(status_of(r)); });
}

void ControlClient::on_event(std::function<void(const Reply&)> handler) { on_event_ = std::move(handler); }

void ControlClient::on_closed(std::function<void(const Error&)> handler) { on_closed_ = std::move(handler); }

void ControlClient::authenticate(std::optional<std::string> password, std::function<void(Status)> handler) {
  auto self = shared_from_this();
  command("PROTOCOLINFO 1", [self, pw = std::move(password), h = std::move(handler)](Result<Reply> r) mutable {
    if (!r) {
      h(r.error());
      return;
    }
    auto info = parse_protocolinfo(*r);
    if (!info) {
      h(info.error());
      return;
    }
    auto finish = [h](Result<Reply> res) { h(status_of(res)); };
    std::string methods;
    for (const auto& m : info->methods) methods += (methods.empty() ? "" : ",") + m;

    std::string cookie_problem;
    if (info->offers("SAFECOOKIE") || info->offers("COOKIE")) {
      auto cookie = std::make_shared<Secret32>();
      Status read = info->cookie_file.empty() ? Status{io_error("tor offers cookie authentication but names no COOKIEFILE")}
                                              : read_cookie(info->cookie_file, *cookie);
      if (read && info->offers("SAFECOOKIE")) {
        auto nonce = std::make_shared<Secret32>();
        randombytes_buf(nonce->bytes.data(), nonce->bytes.size());
        self->command(
            "AUTHCHALLENGE SAFECOOKIE " + to_hex(nonce->bytes),
            [self, cookie, nonce, h, finish](Result<Reply> rr) {
              if (!rr) {
                h(rr.error());
                return;
              }
              auto challenge = parse_authchallenge(*rr);
              if (!challenge) {
                h(challenge.error());
                return;
              }
              const auto& [server_hash, server_nonce] = *challenge;
              static_assert(kNonceLen == 32);
              SafeCookieHashes expect = safecookie_hashes(cookie->bytes, nonce->bytes, server_nonce);
              const bool match = sodium_memcmp(expect.server_hash.data(), server_hash.data(), 32) == 0;
              std::string auth = "AUTHENTICATE " + to_hex(expect.client_hash);
              sodium_memzero(&expect, sizeof expect);
              if (!match) {
                h(protocol_error("SAFECOOKIE server hash does not match the cookie file: not the tor that wrote it"));
                return;
              }
              self->command_ok(std::move(auth), finish);
            });
        return;
      }
      if (read) {  // COOKIE only
        self->command_ok("AUTHENTICATE " + to_hex(cookie->bytes), finish);
        return;
      }
      cookie_problem = read.error().what();
    }
    if (info->offers("HASHEDPASSWORD")) {
      if (pw) {
        std::string line = "AUTHENTICATE " + quote(*pw);
        sodium_memzero(pw->data(), pw->size());
        self->command_ok(std::move(line), finish);
        return;
      }
      h(Error{OnionErrc::command_failed,
              "tor control: tor wants a password (HASHEDPASSWORD) and none is configured" +
                  (cookie_problem.empty() ? std::string() : "; cookie: " + cookie_problem)});
      return;
    }
    if (info->offers("NULL")) {
      self->command_ok("AUTHENTICATE", finish);
      return;
    }
    h(Error{OnionErrc::command_failed, "tor control: no usable authentication method (tor offers " + methods + ")" +
                                           (cookie_problem.empty() ? std::string() : "; " + cookie_problem)});
  });
}

void ControlClient::start_read() {
  auto self = shared_from_this();
  socket_.async_read_some(asio::buffer(rbuf_), [self](const boost::system::error_code& ec, std::size_t n) {
    if (self->closed_) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      self->fail(ec == asio::error::eof ? io_error("tor closed the connection") : io_error("read: " + ec.message()));
      return;
    }
    self->on_read(n);
  });
}

void ControlClient::on_read(std::size_t n) {
  Status fed = parser_.feed(std::string_view(rbuf_.data(), n));
  auto log = logging::get("onion");
  // Replies completed before a parse error are still delivered.
  while (!closed_) {
    auto r = parser_.next();
    if (!r) break;
    if (log->should_log(spdlog::level::debug))
      for (const auto& l : r->lines) log->debug("control < {}{}{}", l.code, l.sep, redact_reply_text(l.text));
    if (r->is_async()) {
      if (auto h = on_event_) h(*r);
      continue;
    }
    if (pending_.empty()) {
      fail(protocol_error("reply " + std::to_string(r->code) + " with no command pending"));
      return;
    }
    ReplyHandler h = std::move(pending_.front().handler);
    pending_.pop_front();
    arm_timer();
    if (h) h(std::move(*r));
  }
  if (closed_) return;
  if (!fed) {
    fail(fed.error());
    return;
  }
  start_read();
}

void ControlClient::flush() {
  if (write_busy_ || wbuf_.empty() || closed_) return;
  writing_.swap(wbuf_);
  write_busy_ = true;
  auto self = shared_from_this();
  asio::async_write(socket_, asio::buffer(writing_), [self](const boost::system::error_code& ec, std::size_t) {
    self->write_busy_ = false;
    sodium_memzero(self->writing_.data(), self->writing_.size());
    self->writing_.clear();
    if (self->closed_) return;
    if (ec) {
      self->fail(io_error("write: " + ec.message()));
      return;
    }
    self->flush();
  });
}

void ControlClient::arm_timer() {
  if (closed_) return;
  if (pending_.empty()) {
    if (armed_) {
      timer_->cancel();
      armed_.reset();
    }
    return;
  }
  auto first = std::min_element(pending_.begin(), pending_.end(),
                                [](const Pending& a, const Pending& b) { return a.deadline < b.deadline; });
  if (armed_ && *armed_ == first->deadline) return;
  armed_ = first->deadline;
  timer_->expires_at(first->deadline, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->on_timer();
  });
}

void ControlClient::on_timer() {
  if (closed_) return;
  armed_.reset();
  auto first = std::min_element(pending_.begin(), pending_.end(),
                                [](const Pending& a, const Pending& b) { return a.deadline < b.deadline; });
  if (first == pending_.end() || first->deadline > clock_->now()) {
    arm_timer();
    return;
  }
  Pending p = std::move(*first);
  pending_.erase(first);
  Error e{OnionErrc::timeout, "tor control: no reply to " + p.label + " in time; closing the connection"};
  post_error(std::move(p.handler), e);
  fail(std::move(e));
}

void ControlClient::shutdown_socket() {
  boost::system::error_code ec;
  if (socket_.is_open()) {
    socket_.shutdown(GenericStream::socket::shutdown_both, ec);
    socket_.close(ec);
  }
}

// Closes the socket and fails every pending command with `why`; the caller decides
// whether on_closed runs.
void ControlClient::teardown(const std::string& why) {
  closed_ = true;
  shutdown_socket();
  timer_->cancel();
  armed_.reset();
  sodium_memzero(wbuf_.data(), wbuf_.size());
  wbuf_.clear();
  auto pending = std::exchange(pending_, {});
  for (auto& p : pending) post_error(std::move(p.handler), io_error(p.label + ": connection closed " + why));
  on_event_ = nullptr;
}

void ControlClient::fail(Error cause) {
  if (closed_) return;
  logging::get("onion")->debug("tor control: connection closed: {}", cause.what());
  teardown("(" + cause.what() + ")");
  if (auto h = std::exchange(on_closed_, nullptr))
    asio::post(io_, [h = std::move(h), cause = std::move(cause)] { h(cause); });
}

void ControlClient::close() {
  if (closed_) return;
  teardown("by us");
  on_closed_ = nullptr;
}

}  // namespace shardnode::onion
