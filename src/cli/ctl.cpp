#include "ctl.h"

#include <CLI/CLI.hpp>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <thread>
#include <variant>

#include "commands.h"
#include "control.pb.h"
#include "ctl_print.h"
#include "shardnode/core/clock.h"
#include "shardnode/core/bytes.h"
#include "shardnode/core/varint.h"

namespace shardnode::cli {
namespace {
namespace fs = std::filesystem;
namespace pb = shardnode::control::v1;
// Deadlines of this blocking client: the real monotonic clock, through SteadyClock.
TimePoint mono_now() { return SteadyClock().now(); }

constexpr std::size_t kMaxFrame = 1024 * 1024;

struct Failure {
  int code;
  std::string message;
};

int report(const Failure& f) {
  std::fprintf(stderr, "shardnode: %s\n", f.message.c_str());
  return f.code;
}

const char* code_name(pb::Error::Code c) {
  switch (c) {
    case pb::Error::BAD_REQUEST: return "BAD_REQUEST";
    case pb::Error::NOT_FOUND: return "NOT_FOUND";
    case pb::Error::UNAVAILABLE: return "UNAVAILABLE";
    case pb::Error::FAILED: return "FAILED";
    case pb::Error::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    default: return "UNKNOWN";
  }
}

// A blocking connection to the control socket, every read and write bounded by a deadline.
class Conn {
 public:
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }

  std::optional<Failure> open(const fs::path& path) {
    const std::string p = path.string();
    sockaddr_un sa{};
    if (p.empty() || p.size() >= sizeof(sa.sun_path))
      return Failure{2, "control socket path '" + p + "' is empty or too long"};
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Failure{1, std::string("socket: ") + std::strerror(errno)};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, p.c_str(), p.size());
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
      const int err = errno;
      std::string hint = (err == ENOENT || err == ECONNREFUSED) ? " (is the node running? see --socket, -d)"
                         : err == EACCES                         ? " (the socket belongs to another user)"
                                                                 : "";
      return Failure{1, "cannot connect to the control socket " + p + ": " + std::strerror(err) + hint};
    }
    return std::nullopt;
  }

  // deadline: nullopt waits forever.
  std::optional<Failure> send(const pb::Request& r, std::optional<TimePoint> deadline) {
    std::string body;
    if (!r.SerializeToString(&body)) return Failure{1, "cannot encode the request"};
    if (body.size() > kMaxFrame)
      return Failure{2, "request of " + std::to_string(body.size()) + " bytes is over the 1 MiB frame cap"};
    Bytes frame;
    append_uvarint(frame, body.size());
    frame.insert(frame.end(), body.begin(), body.end());
    std::size_t off = 0;
    while (off < frame.size()) {
      if (auto f = set_timeout(SO_SNDTIMEO, deadline)) return f;
      const auto n = ::send(fd_, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Failure{1, "timed out sending to the node"};
        return Failure{1, std::string("sending to the node: ") + std::strerror(errno)};
      }
      off += static_cast<std::size_t>(n);
    }
    return std::nullopt;
  }

  // The next response (any id).
  std::variant<pb::Response, Failure> receive(std::optional<TimePoint> deadline) {
    for (;;) {
      auto len = decode_uvarint(in_);
      if (len.status == VarintStatus::ok) {
        if (len.value > kMaxFrame) return Failure{1, "the node sent a frame over 1 MiB"};
        if (in_.size() - len.length >= len.value) {
          pb::Response r;
          const bool ok = r.ParseFromArray(in_.data() + len.length, static_cast<int>(len.value));
          in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(len.length + len.value));
          if (!ok) return Failure{1, "the node sent a response that does not parse"};
          return r;
        }
      } else if (len.status != VarintStatus::incomplete) {
        return Failure{1, "the node sent a malformed frame length"};
      }
      if (auto f = set_timeout(SO_RCVTIMEO, deadline)) return *f;
      std::uint8_t buf[65536];
      const auto n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return Failure{1, "the node closed the connection"};
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Failure{1, "timed out waiting for the node"};
        return Failure{1, std::string("reading from the node: ") + std::strerror(errno)};
      }
      in_.insert(in_.end(), buf, buf + n);
    }
  }

 private:
  std::optional<Failure> set_timeout(int opt, std::optional<TimePoint> deadline) {
    timeval tv{};
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(*deadline - mono_now());
      if (left.count() <= 0) return Failure{1, "timed out waiting for the node"};
      tv.tv_sec = static_cast<time_t>(left.count() / 1000000);
      tv.tv_usec = static_cast<suseconds_t>(left.count() % 1000000);
    }
    ::setsockopt(fd_, SOL_SOCKET, opt, &tv, sizeof(tv));
    return std::nullopt;
  }

  int fd_ = -1;
  Bytes in_;
};

// One response on stdout: canonical protobuf JSON (--json, one line each) or the
// human-readable printer (ctl_print.h).
std::optional<Failure> print(const pb::Response& r, const CtlOptions& o) {
  if (o.json) {
    std::string line, error;
    if (!response_json(r, line, error)) return Failure{1, "cannot print the response as JSON: " + error};
    std::cout << line << "\n";
  } else {
    print_human(std::cout, r, o.body);
  }
  std::cout.flush();
  return std::nullopt;
}

// Builds the request from the options; usage problems are exit code 2.
std::variant<pb::Request, Failure> build(const CtlOptions& o) {
  pb::Request q;
  q.set_id(1);
  if (o.op == "identity") q.mutable_identity();
  else if (o.op == "peers") q.mutable_peers();
  else if (o.op == "table") q.mutable_table();
  else if (o.op == "scores") q.mutable_scores();
  else if (o.op == "providers") q.mutable_providers()->set_shard(o.shard);
  else if (o.op == "rotate-identity") q.mutable_rotate_identity();
  else if (o.op == "subscribe") q.mutable_subscribe()->set_shard(o.shard);
  else if (o.op == "unsubscribe") q.mutable_unsubscribe()->set_shard(o.shard);
  else if (o.op == "jump") {
    q.mutable_jump()->set_from(o.from);
    q.mutable_jump()->set_to(o.to);
    q.mutable_jump()->set_wait(!o.no_wait);
  } else if (o.op == "publish") {
    std::string body;
    if (o.data_set) {
      body = o.data;
    } else if (o.file_set) {
      std::ifstream f(o.file, std::ios::binary);
      if (!f) return Failure{1, "cannot read " + o.file};
      body.assign(std::istreambuf_iterator<char>(f), {});
    } else {
      body.assign(std::istreambuf_iterator<char>(std::cin), {});
    }
    if (body.size() > kMaxFrame - 64)
      return Failure{2, "collation body of " + std::to_string(body.size()) + " bytes is over the control API's limit of " +
                            std::to_string(kMaxFrame - 64)};
    q.mutable_publish_collation()->set_shard(o.shard);
    q.mutable_publish_collation()->set_body(body);
  } else if (o.op == "stream") {
    for (auto s : o.shards) q.mutable_stream_collations()->add_shards(s);
    q.mutable_stream_collations()->set_include_body(o.body);
  } else if (o.op == "request") {
    auto* rc = q.mutable_request_collations();
    rc->set_shard(o.shard);
    if (!o.peer.empty()) rc->set_peer_id(o.peer);
    if (!o.hash.empty()) {
      if (!o.range.empty()) return Failure{2, "ctl request: give FROM TO or --hash, not both"};
      auto h = hex_decode(o.hash);
      if (!h || h->size() != 32) return Failure{2, "ctl request: --hash must be 64 hex characters (32 bytes)"};
      rc->set_hash(std::string(h->begin(), h->end()));
    } else {
      if (o.range.size() != 2) return Failure{2, "ctl request: give FROM TO (periods) or --hash HEX"};
      if (o.range[0] > o.range[1]) return Failure{2, "ctl request: FROM is after TO"};
      rc->set_from_period(o.range[0]);
      rc->set_to_period(o.range[1]);
    }
  } else {
    return Failure{2, "ctl: unknown op '" + o.op + "'"};
  }
  return q;
}

// After rotate-identity: asks for the identity once a second until the new onion
// service is published (or the deadline passes).
int wait_published(Conn& c, TimePoint deadline, const CtlOptions& o) {
  for (std::uint64_t id = 2;; ++id) {
    pb::Request q;
    q.set_id(id);
    q.mutable_identity();
    if (auto f = c.send(q, deadline)) return report(*f);
    for (;;) {
      auto got = c.receive(deadline);
      if (auto* f = std::get_if<Failure>(&got)) return report({1, "waiting for the new onion service: " + f->message});
      const auto& r = std::get<pb::Response>(got);
      if (r.id() != id) continue;
      if (r.has_error()) return report({1, "identity: " + r.error().message()});
      if (!r.identity().onion_published()) break;
      if (o.json) {
        if (auto f = print(r, o)) return report(*f);
      } else {
        std::cout << "published   " << (r.identity().listen_addrs().empty() ? "" : r.identity().listen_addrs(0)) << "\n";
      }
      return 0;
    }
    if (mono_now() + std::chrono::seconds(1) >= deadline)
      return report({1, "the new onion service was not published before the timeout"});
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

constexpr const char* kRotateHelp =
    "A new node key and onion service for the running node (docs/PRIVACY.md): the old identity is announced "
    "as retired and its onion service removed; the validator key stays";

CLI::App* add_rotate_identity_command(CLI::App& app, CtlOptions& o) {
  auto* r = app.add_subcommand("rotate-identity", kRotateHelp);
  r->add_option("--socket", o.socket, "Control socket (default: <node.datadir>/control.sock)");
  r->add_option("-d,--datadir", o.datadir, "Data directory of the running node (default: node.datadir)");
  r->add_flag("--json", o.json, "Print the answer as protobuf's canonical JSON");
  r->add_flag("--wait-published", o.wait_published, "Then wait until the new onion service is published");
  r->add_option("--timeout", o.timeout, "Seconds to wait in all (default 120; with --wait-published 420)")
      ->check(CLI::NonNegativeNumber);
  r->callback([&o] { o.op = "rotate-identity"; });
  return r;
}

CLI::App* add_ctl_command(CLI::App& app, CtlOptions& o) {
  auto* ctl = app.add_subcommand("ctl", "Talk to a running node over its control socket (docs/CONTROL.md)");
  ctl->require_subcommand(1);
  ctl->fallthrough();
  ctl->add_option("--socket", o.socket, "Control socket (default: <node.datadir>/control.sock)");
  ctl->add_option("-d,--datadir", o.datadir, "Data directory whose control.sock to use (default: node.datadir)");
  ctl->add_flag("--json", o.json,
                "Print each response as protobuf's canonical JSON, one object per line (docs/CONTROL.md)");
  ctl->add_option("--timeout", o.timeout,
                  "Seconds to wait for the answer (default 10; jump 180, request 60; stream: run this long)")
      ->check(CLI::NonNegativeNumber);
  auto op = [&](const char* name, const char* help) {
    auto* s = ctl->add_subcommand(name, help);
    s->fallthrough();
    s->callback([&o, name] { o.op = name; });
    return s;
  };
  op("identity", "Peer id, addresses, validator key, shards, tor state");
  op("peers", "Connected peers: direction, score, shards, mesh topics, agent");
  op("table", "The shard-preference table");
  op("scores", "Peer scores and flagged spam sources");
  op("providers", "A shard's members, found through the DHT (GET_PROVIDERS)")->add_option("SHARD", o.shard, "Shard")->required();
  op("rotate-identity", kRotateHelp)
      ->add_flag("--wait-published", o.wait_published, "Then wait until the new onion service is published");
  op("subscribe", "Join a shard")->add_option("SHARD", o.shard, "Shard")->required();
  op("unsubscribe", "Leave a shard")->add_option("SHARD", o.shard, "Shard")->required();
  auto* jump = op("jump", "Leave shard FROM for shard TO; waits until the jump completes unless --no-wait");
  jump->add_option("FROM", o.from, "Shard to leave")->required();
  jump->add_option("TO", o.to, "Shard to join")->required();
  jump->add_flag("--no-wait", o.no_wait, "Answer as soon as the jump has started");
  auto* publish = op("publish", "Sign and publish a collation (validators); body from --data, --file or stdin");
  publish->add_option("SHARD", o.shard, "Shard")->required();
  auto* d = publish->add_option_function<std::string>(
      "--data", [&o](const std::string& s) { o.data = s, o.data_set = true; }, "Body text");
  auto* f = publish->add_option_function<std::string>(
      "--file", [&o](const std::string& s) { o.file = s, o.file_set = true; }, "Body from a file");
  f->check(CLI::ExistingFile);
  d->excludes(f);
  auto* stream = op("stream", "Print collations as they are accepted, until Ctrl-C or --count");
  stream->add_option("SHARD", o.shards, "Shards (default: every shard the node is on)");
  stream->add_option("--count", o.count, "Stop after N collations");
  stream->add_flag("--body", o.body, "Include the bodies");
  auto* request = op("request", "Fetch collations from a peer: SHARD FROM TO (periods) or SHARD --hash HEX");
  request->add_option("SHARD", o.shard, "Shard")->required();
  request->add_option("RANGE", o.range, "FROM TO periods")->expected(0, 2);
  request->add_option("--hash", o.hash, "One collation by its 32-byte id (hex)");
  request->add_option("--peer", o.peer, "Ask this peer (default: a connected peer on the shard)");
  return ctl;
}

int cmd_ctl(const Context& ctx, const CtlOptions& o) {
  if (!o.socket.empty() && !o.datadir.empty()) return report({2, "ctl: give --socket or -d, not both"});
  const fs::path path = !o.socket.empty()   ? fs::path(node::expand_home(o.socket))
                        : !o.datadir.empty() ? node::expand_home(o.datadir) / "control.sock"
                                             : ctx.datadir / "control.sock";
  auto req = build(o);
  if (auto* f = std::get_if<Failure>(&req)) return report(*f);
  const pb::Request& q = std::get<pb::Request>(req);

  const bool streaming = o.op == "stream";
  double secs = o.timeout;
  if (secs <= 0)
    secs = o.op == "jump" && !o.no_wait                 ? 180
           : o.op == "request" || o.op == "providers" ? 60
           : o.op == "rotate-identity"                 ? (o.wait_published ? 420 : 120)
                                                       : 10;
  const auto start = mono_now();
  auto deadline = std::optional(start + std::chrono::microseconds(static_cast<std::int64_t>(secs * 1e6)));

  Conn c;
  if (auto f = c.open(path)) return report(*f);
  if (auto f = c.send(q, deadline)) return report(*f);
  std::uint64_t events = 0;
  for (;;) {
    auto got = c.receive(deadline);
    if (auto* f = std::get_if<Failure>(&got)) {
      // A stream given --timeout runs that long: its end is not an error.
      if (streaming && o.timeout > 0 && mono_now() >= *deadline && f->message.find("timed out") == 0) return 0;
      return report(*f);
    }
    const auto& r = std::get<pb::Response>(got);
    if (r.has_error()) {
      if (o.json) {
        if (auto f = print(r, o)) return report(*f);
      }
      return report({1, "ctl " + o.op + ": " + code_name(r.error().code()) + ": " + r.error().message()});
    }
    if (r.id() != q.id()) continue;  // not ours (e.g. a connection-level notice with id 0 is an error, above)
    if (!streaming) {
      if (auto f = print(r, o)) return report(*f);
      if (o.op == "rotate-identity" && o.wait_published) return wait_published(c, *deadline, o);
      return 0;
    }
    if (r.has_subscribed()) {
      // From here on only --timeout (if given) or --count ends the stream.
      if (o.timeout <= 0) deadline.reset();
      continue;
    }
    if (!r.has_event()) continue;
    if (auto f = print(r, o)) return report(*f);
    if (o.count > 0 && ++events >= o.count) {
      pb::Request cancel;
      cancel.set_id(2);
      cancel.mutable_cancel()->set_stream_id(q.id());
      (void)c.send(cancel, mono_now() + std::chrono::seconds(2));
      return 0;
    }
  }
}

}  // namespace shardnode::cli
