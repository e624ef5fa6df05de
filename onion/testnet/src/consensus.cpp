#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <optional>
#include <set>

#include "consensus_poll.h"
#include "process.h"
#include "util.h"

namespace shardnode::testnet {
namespace fs = std::filesystem;
using detail::split_ws;

ConsensusSummary summarize_consensus(std::string_view text) {
  ConsensusSummary s;
  std::string nick;
  std::size_t b = 0;
  while (b < text.size()) {
    std::size_t e = text.find('\n', b);
    if (e == std::string_view::npos) e = text.size();
    std::string_view line = text.substr(b, e - b);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    b = e + 1;
    if (line.rfind("network-status-version 3", 0) == 0) {
      s.present = true;
    } else if (line.rfind("valid-after ", 0) == 0) {
      s.valid_after = std::string(line.substr(12));
    } else if (line.rfind("r ", 0) == 0) {
      const auto t = split_ws(line);
      nick = t.size() > 1 ? t[1] : "";
      ++s.routers;
    } else if (line.rfind("s ", 0) == 0) {
      const auto t = split_ws(line);
      if (std::find(t.begin() + 1, t.end(), "HSDir") != t.end()) {
        ++s.hsdirs;
        s.hsdir_nicknames.push_back(nick);
      }
    }
  }
  return s;
}

int last_bootstrap_percent(std::string_view text) {
  int last = 0;
  static constexpr std::string_view kTag = "Bootstrapped ";
  std::size_t p = 0;
  while ((p = text.find(kTag, p)) != std::string_view::npos) {
    p += kTag.size();
    int v = 0;
    std::size_t i = p;
    while (i < text.size() && i - p < 3 && text[i] >= '0' && text[i] <= '9') v = v * 10 + (text[i++] - '0');
    if (i > p && i < text.size() && text[i] == '%' && v <= 100) last = v;
  }
  return last;
}

namespace detail {
namespace {

// A tiny HTTP/1.0 GET to addr:port (a loopback address); the body on status 200.
std::optional<std::string> http_get_loopback(const std::string& addr, int port, const std::string& path, std::chrono::milliseconds timeout,
                                             std::size_t max_bytes = 16u << 20) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::nullopt;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) return std::nullopt;
  const auto deadline = steady_now() + timeout;
  auto wait_for = [&](short events) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_now()).count();
      if (left <= 0) return false;
      pollfd p{fd, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left));
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
    }
  };
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    if (errno != EINPROGRESS || !wait_for(POLLOUT)) return std::nullopt;
    int so = 0;
    socklen_t len = sizeof so;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) != 0 || so != 0) return std::nullopt;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + addr + "\r\n\r\n";
  std::size_t off = 0;
  while (off < req.size()) {
    const ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(POLLOUT)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  std::string resp;
  for (;;) {
    char buf[16384];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      resp.append(buf, static_cast<std::size_t>(n));
      if (resp.size() > max_bytes) return std::nullopt;
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(POLLIN)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (resp.rfind("HTTP/1.", 0) != 0) return std::nullopt;
  const std::size_t sp = resp.find(' ');
  if (sp == std::string::npos || resp.compare(sp + 1, 3, "200") != 0) return std::nullopt;
  const std::size_t body = resp.find("\r\n\r\n");
  if (body == std::string::npos) return std::nullopt;
  return resp.substr(body + 4);
}

int count_relays_with_hsdir(const ConsensusSummary& s, const std::vector<TestnetNode>& nodes) {
  const std::set<std::string> names(s.hsdir_nicknames.begin(), s.hsdir_nicknames.end());
  int n = 0;
  for (const auto& node : nodes)
    if (!node.authority && !node.bridge && names.count(node.name)) ++n;
  return n;
}

}  // namespace

int bootstrap_of(const fs::path& log, std::uintmax_t from) {
  std::ifstream in(log);
  if (from > 0) in.seekg(static_cast<std::streamoff>(from));
  int last = 0;
  std::string line;
  while (std::getline(in, line))
    if (line.find("Bootstrapped ") != std::string::npos) last = last_bootstrap_percent(line);
  return last;
}

ConsensusView fetch_consensus(const std::vector<TestnetNode>& nodes, std::chrono::milliseconds timeout,
                              bool require_live) {
  ConsensusView best;
  for (const auto& n : nodes) {
    if (!n.authority || n.dir_port <= 0) continue;
    if (require_live && !runs_with_arg(n.pid, n.torrc)) continue;
    auto body = http_get_loopback(n.address, n.dir_port, "/tor/status-vote/current/consensus", timeout);
    if (!body) body = read_text(n.datadir / "cached-consensus");
    if (!body) continue;
    ConsensusView v{summarize_consensus(*body), 0};
    if (!v.summary.present) continue;
    v.relays_with_hsdir = count_relays_with_hsdir(v.summary, nodes);
    if (!best.summary.present || v.relays_with_hsdir > best.relays_with_hsdir ||
        (v.relays_with_hsdir == best.relays_with_hsdir && v.summary.valid_after > best.summary.valid_after))
      best = std::move(v);
  }
  return best;
}

}  // namespace detail
}  // namespace shardnode::testnet
