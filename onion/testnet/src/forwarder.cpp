#include "forwarder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>

#include "delay.h"
#include "util.h"

namespace shardnode::testnet::detail {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxQueued = 1 << 20;  // per direction: stop reading beyond (backpressure)
constexpr std::size_t kMaxPull = 256 * 1024;

sockaddr_in v4(const std::string& addr, int port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  return sa;
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  SplitMix64 g(a ^ (b * 0x9e3779b97f4a7c15ULL));
  return g.next();
}

}  // namespace

struct Forwarder::Pair {
  Pair(DelayParams p, std::uint64_t seed) : ab(p, mix(seed, 1)), ba(p, mix(seed, 2)) {}
  int a = -1;  // the caller
  int b = -1;  // the node's real listener
  bool b_connected = false;
  DelayLine ab;  // caller -> node
  DelayLine ba;  // node -> caller
  std::string out_ab;  // pulled, not yet written to b
  std::string out_ba;
  bool a_eof = false;  // read EOF from a
  bool b_eof = false;
  bool ab_shut = false;  // EOF passed on to b (shutdown SHUT_WR), or b cannot take more
  bool ba_shut = false;
  bool a_hup = false;  // a hung up both ways after its EOF: poll it no more
  bool b_hup = false;
  bool dead = false;
  ~Pair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

Forwarder::Forwarder(ForwardConfig cfg, const Clock& clock) : cfg_(std::move(cfg)), clock_(clock) {}

Forwarder::~Forwarder() {
  for (int fd : listeners_) ::close(fd);
}

Result<std::unique_ptr<Forwarder>> Forwarder::open(ForwardConfig cfg, const Clock& clock) {
  std::unique_ptr<Forwarder> f(new Forwarder(std::move(cfg), clock));
  for (const auto& r : f->cfg_.routes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return err(TestnetErrc::io, "forwarder: socket: " + errno_text(errno));
    f->listeners_.push_back(fd);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa = v4(r.listen_addr, r.listen_port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      return err(TestnetErrc::io, "forwarder: cannot listen on " + r.listen_addr + ":" +
                                      std::to_string(r.listen_port) + " (" + r.name + "): " + errno_text(errno));
    if (::listen(fd, 128) != 0) return err(TestnetErrc::io, "forwarder: listen: " + errno_text(errno));
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    f->ports_.push_back(ntohs(sa.sin_port));
  }
  return f;
}

int Forwarder::listen_port(std::size_t route) const { return route < ports_.size() ? ports_[route] : 0; }

int Forwarder::region_of(std::uint32_t addr) const {
  for (const auto& s : cfg_.sources) {
    in_addr ia{};
    if (::inet_pton(AF_INET, s.addr.c_str(), &ia) == 1 && ntohl(ia.s_addr) == addr) return s.region;
  }
  return cfg_.default_region;
}

void Forwarder::accept_on(std::size_t route) {
  const auto& r = cfg_.routes[route];
  for (;;) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    const int a = ::accept4(listeners_[route], reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a < 0) return;  // EAGAIN, or a transient error (the listener stays)
    ++accepted_;
    set_nodelay(a);
    const int from = region_of(ntohl(peer.sin_addr.s_addr));
    const auto& p = cfg_.profile;
    DelayParams dp;
    dp.delay = std::chrono::milliseconds(p.one_way_ms[static_cast<std::size_t>(from)][static_cast<std::size_t>(r.region)]);
    dp.jitter = std::chrono::milliseconds(p.jitter_ms);
    dp.rate = p.rate;
    dp.burst = p.burst;
    auto pair = std::make_unique<Pair>(dp, mix(cfg_.seed, accepted_));
    pair->a = a;
    const int b = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (b < 0) continue;  // pair closes a
    pair->b = b;
    set_nodelay(b);
    // Keep the caller's address: the node then sees the relay (or client) that
    // called, as without the forwarder. Any 127/8 address is local on Linux.
    int one = 1;
    ::setsockopt(b, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src = peer;
    src.sin_port = 0;
    (void)::bind(b, reinterpret_cast<sockaddr*>(&src), sizeof src);
    sockaddr_in dst = v4(r.target_addr, r.target_port);
    const int c = ::connect(b, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    if (c == 0)
      pair->b_connected = true;
    else if (errno != EINPROGRESS)
      continue;  // refused at once: drop the caller
    pairs_.push_back(std::move(pair));
  }
}

namespace {

// Writes out to fd; false on a fatal error. Leaves what did not fit in out.
bool write_some(int fd, std::string& out) {
  while (!out.empty()) {
    const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
  return true;
}

}  // namespace

void Forwarder::flush(Pair& p, TimePoint now) {
  auto one_way = [&](DelayLine& line, std::string& out, int to, bool connected, bool& shut) {
    if (!connected || shut) return;
    for (;;) {
      if (out.empty() && line.pull(now, out, kMaxPull) == 0) break;
      if (!write_some(to, out)) {
        // The receiver is gone: this direction is over; the other may still deliver.
        out.clear();
        shut = true;
        return;
      }
      if (!out.empty()) return;  // wait for POLLOUT
    }
    if (out.empty() && line.eof_due(now)) {
      ::shutdown(to, SHUT_WR);
      shut = true;
    }
  };
  one_way(p.ab, p.out_ab, p.b, p.b_connected, p.ab_shut);
  if (!p.dead) one_way(p.ba, p.out_ba, p.a, true, p.ba_shut);
}

Status Forwarder::run(int stop_fd) {
  std::vector<pollfd> fds;
  for (;;) {
    TimePoint now = clock_.now();
    for (auto& p : pairs_)
      if (!p->dead) flush(*p, now);
    pairs_.erase(std::remove_if(pairs_.begin(), pairs_.end(),
                                [](const auto& p) { return p->dead || (p->ab_shut && p->ba_shut); }),
                 pairs_.end());

    // Wake at the earliest delay-line event whose output is not waiting on POLLOUT.
    std::optional<TimePoint> wake;
    auto consider = [&](const DelayLine& line, const std::string& out, bool shut) {
      if (shut || !out.empty()) return;
      if (auto t = line.next_event(now)) wake = wake ? std::min(*wake, *t) : *t;
    };
    fds.clear();
    fds.push_back({stop_fd, POLLIN, 0});
    for (int l : listeners_) fds.push_back({l, POLLIN, 0});
    for (auto& p : pairs_) {
      consider(p->ab, p->out_ab, p->ab_shut);
      consider(p->ba, p->out_ba, p->ba_shut);
      short ea = 0;
      if (!p->a_eof && p->ab.queued_bytes() < kMaxQueued) ea |= POLLIN;
      if (!p->out_ba.empty()) ea |= POLLOUT;
      short eb = 0;
      if (!p->b_connected) {
        eb = POLLOUT;
      } else {
        if (!p->b_eof && p->ba.queued_bytes() < kMaxQueued) eb |= POLLIN;
        if (!p->out_ab.empty()) eb |= POLLOUT;
      }
      fds.push_back({p->a_hup ? -1 : p->a, ea, 0});
      fds.push_back({p->b_hup ? -1 : p->b, eb, 0});
    }
    timespec ts{};
    timespec* tsp = nullptr;
    if (wake) {
      const auto left = std::max<Duration::rep>(0, (*wake - now).count());
      ts.tv_sec = static_cast<time_t>(left / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(left % 1'000'000'000);
      tsp = &ts;
    }
    const int n = ::ppoll(fds.data(), fds.size(), tsp, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      return err(TestnetErrc::io, "forwarder: poll: " + errno_text(errno));
    }
    if (fds[0].revents != 0) return {};
    now = clock_.now();
    for (std::size_t i = 0; i < listeners_.size(); ++i)
      if (fds[1 + i].revents & POLLIN) accept_on(i);
    // Pairs accepted just now have no pollfd yet; the first pairs line up with fds.
    const std::size_t base = 1 + listeners_.size();
    const std::size_t polled = (fds.size() - base) / 2;
    auto read_into = [&](Pair& p, int fd, DelayLine& line, bool& eof) {
      char buf[kReadChunk];
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r > 0) {
        line.push(now, std::string_view(buf, static_cast<std::size_t>(r)));
      } else if (r == 0) {
        eof = true;
        line.push_eof(now);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        p.dead = true;
      }
    };
    for (std::size_t i = 0; i < polled; ++i) {
      Pair& p = *pairs_[i];
      const short ra = fds[base + 2 * i].revents;
      const short rb = fds[base + 2 * i + 1].revents;
      if (!p.b_connected && rb != 0) {
        int e = 0;
        socklen_t len = sizeof e;
        ::getsockopt(p.b, SOL_SOCKET, SO_ERROR, &e, &len);
        if (e != 0) {
          p.dead = true;
          continue;
        }
        p.b_connected = true;
      } else if (rb & (POLLIN | POLLHUP | POLLERR)) {
        if (rb & POLLERR) p.dead = true;
        else if (!p.b_eof) read_into(p, p.b, p.ba, p.b_eof);
        else p.b_hup = true;  // both ways down; a write to it will end that direction
      }
      if (p.dead) continue;
      if (ra & (POLLIN | POLLHUP | POLLERR)) {
        if (ra & POLLERR) p.dead = true;
        else if (!p.a_eof) read_into(p, p.a, p.ab, p.a_eof);
        else p.a_hup = true;
      }
    }
  }
}

}  // namespace shardnode::testnet::detail
