#include "shardnode/onion/testnet.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "shardnode/core/errors.h"

namespace shardnode::onion {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

constexpr const char* kStateFile = "testnet.json";
constexpr const char* kClientTorrc = "client.torrc";
constexpr const char* kEmptyTorrc = "empty.torrc";
constexpr const char* kNoticeLog = "notice.log";
constexpr const char* kConsoleLog = "tor.out";

Error err(TestnetErrc c, std::string msg) { return Error{make_error_code(c), std::move(msg)}; }

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string errno_text(int e) { return std::strerror(e); }

std::optional<std::string> read_text(const fs::path& p, std::size_t max_bytes = 16u << 20) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s;
  char buf[65536];
  while (in && s.size() < max_bytes) {
    in.read(buf, sizeof buf);
    s.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  return s;
}

// Writes via a temporary file and rename, so readers never see half a file.
Status write_text(const fs::path& p, const std::string& text, mode_t mode) {
  const fs::path tmp = p.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return err(TestnetErrc::io, "cannot write " + tmp.string() + ": " + errno_text(errno));
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return err(TestnetErrc::io, "cannot write " + tmp.string() + ": " + errno_text(e));
    }
    off += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, mode);
  ::close(fd);
  if (::rename(tmp.c_str(), p.c_str()) != 0)
    return err(TestnetErrc::io, "cannot rename " + tmp.string() + ": " + errno_text(errno));
  return {};
}

std::string last_lines(const std::string& text, int n) {
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  int count = 0;
  while (pos > 0) {
    const std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    if (++count == n) return text.substr(nl + 1);
    pos = nl;
  }
  return text;
}

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const std::size_t b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > b) out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

bool is_hex40(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

// ---------------------------------------------------------------------------
// Processes

std::optional<std::string> find_executable(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos)
    return ::access(name.c_str(), X_OK) == 0 ? std::optional<std::string>(fs::absolute(name).string()) : std::nullopt;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t b = 0;
  while (b <= dirs.size()) {
    std::size_t e = dirs.find(':', b);
    if (e == std::string::npos) e = dirs.size();
    const std::string d = e > b ? dirs.substr(b, e - b) : ".";
    const std::string cand = d + "/" + name;
    struct stat st {};
    if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0) return cand;
    b = e + 1;
  }
  return std::nullopt;
}

// argv prepared before fork: the child calls only async-signal-safe functions.
struct Argv {
  explicit Argv(std::vector<std::string> a) : args(std::move(a)) {
    for (auto& s : args) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  std::vector<std::string> args;
  std::vector<char*> ptrs;
};

// In the forked child: only async-signal-safe calls. On exec failure, errno goes to
// status_fd (if >= 0; the parent sees EOF there once exec succeeded, O_CLOEXEC).
[[noreturn]] void exec_child(const char* path, char* const* argv, int in_fd, int out_fd, bool new_session,
                             int status_fd) {
  if (new_session) ::setsid();
  ::dup2(in_fd, 0);
  ::dup2(out_fd, 1);
  ::dup2(out_fd, 2);
  if (status_fd >= 0 && status_fd != 3) {
    ::dup2(status_fd, 3);
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    status_fd = 3;
  }
  ::close_range(status_fd >= 0 ? 4 : 3, ~0U, 0);
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &sa, nullptr);  // ignored signals survive exec
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execv(path, argv);
  const int e = errno;
  if (status_fd >= 0) {
    [[maybe_unused]] const ssize_t ws = ::write(status_fd, &e, sizeof e);
  }
  static const char msg[] = "shardnode testnet: exec failed\n";
  [[maybe_unused]] const ssize_t w = ::write(2, msg, sizeof msg - 1);
  ::_exit(127);
}

struct ToolResult {
  int exit_code = -1;  // -1: killed or did not exit normally
  std::string output;  // stdout and stderr
};

// Runs a short-lived helper (tor-gencert, tor --list-fingerprint) with a deadline.
Result<ToolResult> run_tool(const std::string& path, std::vector<std::string> args, const std::string& stdin_data,
                            std::chrono::milliseconds timeout) {
  args.insert(args.begin(), path);
  Argv argv(std::move(args));
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return err(TestnetErrc::tool_failed, "pipe: " + errno_text(errno));
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return err(TestnetErrc::tool_failed, "pipe: " + errno_text(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) ::close(fd);
    return err(TestnetErrc::tool_failed, "fork: " + errno_text(errno));
  }
  if (pid == 0) exec_child(argv.ptrs[0], argv.ptrs.data(), in_pipe[0], out_pipe[1], false, -1);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  // The input is a passphrase line at most: it fits the pipe buffer. SIGPIPE (the
  // child exited early) is blocked and consumed here, not ignored process-wide.
  if (!stdin_data.empty()) {
    sigset_t pipe_set;
    sigset_t old_set;
    ::sigemptyset(&pipe_set);
    ::sigaddset(&pipe_set, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    const ssize_t w = ::write(in_pipe[1], stdin_data.data(), stdin_data.size());
    if (w < 0 && errno == EPIPE) {
      const timespec zero{0, 0};
      ::sigtimedwait(&pipe_set, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  }
  ::close(in_pipe[1]);

  ToolResult r;
  const auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out_pipe[0], POLLIN, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (r.output.size() < (1u << 20)) r.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out_pipe[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return err(TestnetErrc::tool_failed, path + " did not finish within " + std::to_string(timeout.count()) + " ms");
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// fork + setsid + exec with stdin /dev/null and stdout/stderr appended to out_file.
Result<pid_t> spawn_detached(const std::string& path, std::vector<std::string> args, const fs::path& out_file) {
  args.insert(args.begin(), path);
  Argv argv(std::move(args));
  const int out_fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out_fd < 0) return err(TestnetErrc::spawn_failed, "cannot open " + out_file.string() + ": " + errno_text(errno));
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(out_fd);
    return err(TestnetErrc::spawn_failed, "cannot open /dev/null: " + errno_text(errno));
  }
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    ::close(out_fd);
    ::close(null_fd);
    return err(TestnetErrc::spawn_failed, "pipe: " + errno_text(errno));
  }
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(argv.ptrs[0], argv.ptrs.data(), null_fd, out_fd, true, status_pipe[1]);
  const int e = errno;
  ::close(out_fd);
  ::close(null_fd);
  ::close(status_pipe[1]);
  if (pid < 0) {
    ::close(status_pipe[0]);
    return err(TestnetErrc::spawn_failed, "fork: " + errno_text(e));
  }
  // Wait for exec: from then on /proc/<pid>/cmdline names the torrc.
  int child_errno = 0;
  ssize_t n = 0;
  do {
    n = ::read(status_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(status_pipe[0]);
  if (n > 0) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    return err(TestnetErrc::spawn_failed, "cannot exec " + path + ": " + errno_text(child_errno));
  }
  return pid;
}

// True while pid is a live (non-zombie) process whose command line has torrc as an
// argument: guards every signal against PID reuse.
bool runs_torrc(int pid, const fs::path& torrc) {
  if (pid <= 0 || torrc.empty()) return false;
  const fs::path proc = fs::path("/proc") / std::to_string(pid);
  auto stat = read_text(proc / "stat", 4096);
  if (!stat) return false;
  const std::size_t rp = stat->rfind(')');
  if (rp == std::string::npos || rp + 2 >= stat->size()) return false;
  const char state = (*stat)[rp + 2];
  if (state == 'Z' || state == 'X' || state == 'x') return false;
  auto cmdline = read_text(proc / "cmdline", 65536);
  if (!cmdline) return false;
  const std::string want = torrc.string();
  std::size_t b = 0;
  while (b < cmdline->size()) {
    std::size_t e = cmdline->find('\0', b);
    if (e == std::string::npos) e = cmdline->size();
    if (cmdline->compare(b, e - b, want) == 0) return true;
    b = e + 1;
  }
  return false;
}

// Reaps pid if it is our exited child; true if it was reaped now.
bool reap(int pid, int* status = nullptr) {
  int st = 0;
  const pid_t r = ::waitpid(pid, &st, WNOHANG);
  if (r == pid && status) *status = st;
  return r == pid;
}

std::string describe_wait_status(int st) {
  if (WIFEXITED(st)) return "exit status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return "signal " + std::to_string(WTERMSIG(st));
  return "status " + std::to_string(st);
}

// SIGTERM, wait, SIGKILL: only processes that still run their node's torrc.
// Returns the names of nodes still running afterwards.
std::vector<std::string> stop_nodes(const std::vector<TestnetNode>& nodes, std::chrono::milliseconds timeout) {
  auto live = [&] {
    std::vector<const TestnetNode*> v;
    for (const auto& n : nodes) {
      if (n.pid <= 0) continue;
      reap(n.pid);
      if (runs_torrc(n.pid, n.torrc)) v.push_back(&n);
    }
    return v;
  };
  auto wait_gone = [&](Clock::time_point until) {
    for (;;) {
      auto v = live();
      if (v.empty() || Clock::now() >= until) return v;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  for (const auto* n : live()) ::kill(n->pid, SIGTERM);
  auto left = wait_gone(Clock::now() + timeout);
  for (const auto* n : left)
    if (runs_torrc(n->pid, n->torrc)) ::kill(n->pid, SIGKILL);
  if (!left.empty()) left = wait_gone(Clock::now() + std::chrono::seconds(5));
  std::vector<std::string> names;
  for (const auto* n : left) names.push_back(n->name + " (pid " + std::to_string(n->pid) + ")");
  return names;
}

// ---------------------------------------------------------------------------
// Loopback networking

// A free port now: bind on 127.0.0.1 without SO_REUSEADDR (so TIME_WAIT counts as used).
bool port_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// A random block of `count` consecutive free ports, below the ephemeral range when
// possible (tor's outgoing connections then cannot take them), so two testnets on
// one machine do not collide.
Result<int> pick_port_block(int count) {
  int lo = 10000;
  int hi = 32768;
  if (auto r = read_text("/proc/sys/net/ipv4/ip_local_port_range", 256)) {
    std::istringstream in(*r);
    int a = 0;
    int b = 0;
    if (in >> a >> b && a > lo + count * 8) hi = a;
  }
  if (hi - lo < count * 8) {
    lo = 10000;
    hi = 65535;
  }
  std::random_device rd;
  std::mt19937 rng(rd());
  std::uniform_int_distribution<int> dist(lo, hi - count);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int base = dist(rng);
    bool ok = true;
    for (int i = 0; i < count && ok; ++i) ok = port_free(base + i);
    if (ok) return base;
  }
  return err(TestnetErrc::no_free_ports,
             "no block of " + std::to_string(count) + " free ports on 127.0.0.1 in " + std::to_string(lo) + "-" +
                 std::to_string(hi));
}

// A tiny HTTP/1.0 GET to 127.0.0.1:port; the body on status 200.
std::optional<std::string> http_get_loopback(int port, const std::string& path, std::chrono::milliseconds timeout,
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
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  const auto deadline = Clock::now() + timeout;
  auto wait_for = [&](short events) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
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
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
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

// ---------------------------------------------------------------------------
// Logs and consensus

int bootstrap_of(const fs::path& log) {
  std::ifstream in(log);
  int last = 0;
  std::string line;
  while (std::getline(in, line))
    if (line.find("Bootstrapped ") != std::string::npos) last = last_bootstrap_percent(line);
  return last;
}

struct ConsensusView {
  ConsensusSummary summary;
  int relays_with_hsdir = 0;
};

int count_relays_with_hsdir(const ConsensusSummary& s, const std::vector<TestnetNode>& nodes) {
  const std::set<std::string> names(s.hsdir_nicknames.begin(), s.hsdir_nicknames.end());
  int n = 0;
  for (const auto& node : nodes)
    if (!node.authority && names.count(node.name)) ++n;
  return n;
}

// The best consensus any live authority serves (by HTTP on its DirPort, else its
// cached-consensus file).
ConsensusView fetch_consensus(const std::vector<TestnetNode>& nodes, std::chrono::milliseconds timeout,
                              bool require_live = true) {
  ConsensusView best;
  for (const auto& n : nodes) {
    if (!n.authority || n.dir_port <= 0) continue;
    if (require_live && !runs_torrc(n.pid, n.torrc)) continue;
    auto body = http_get_loopback(n.dir_port, "/tor/status-vote/current/consensus", timeout);
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

// ---------------------------------------------------------------------------
// torrc files

std::string dir_authority_line(const TestnetNode& a) {
  return "DirAuthority " + a.name + " orport=" + std::to_string(a.or_port) + " no-v2 v3ident=" + a.v3ident +
         " 127.0.0.1:" + std::to_string(a.dir_port) + " " + a.fingerprint;
}

std::string node_torrc(const TestnetNode& n, const std::vector<TestnetNode>& nodes, int voting_interval) {
  const int delay = std::max(2, voting_interval / 5);
  std::ostringstream o;
  o << "# Generated by `shardnode testnet up`: " << (n.authority ? "authority " : "relay ") << n.name
    << " of a private Tor network on 127.0.0.1.\n"
    << "TestingTorNetwork 1\n"
    << "PathsNeededToBuildCircuits 0.67\n"
    << "DataDirectory " << n.datadir.string() << "\n"
    << "Nickname " << n.name << "\n"
    << "Log notice file " << (n.datadir / kNoticeLog).string() << "\n"
    << "SafeLogging 0\n"
    << "ShutdownWaitLength 2\n"
    << "RunAsDaemon 0\n"
    << "SocksPort 0\n"
    << "ControlPort 0\n"
    << "Address 127.0.0.1\n"
    << "ORPort 127.0.0.1:" << n.or_port << "\n"
    << "ExitRelay 0\n"
    << "ExitPolicy reject *:*\n"
    << "AssumeReachable 1\n"
    << "ContactInfo " << n.name << "@test.invalid\n";
  if (n.authority) {
    o << "DirPort 127.0.0.1:" << n.dir_port << "\n"
      << "AuthoritativeDirectory 1\n"
      << "V3AuthoritativeDirectory 1\n"
      << "TestingDirAuthVoteExit *\n"
      << "TestingDirAuthVoteGuard *\n"
      << "TestingDirAuthVoteHSDir *\n"
      << "TestingMinExitFlagThreshold 0\n"
      << "V3AuthNIntervalsValid 2\n"
      << "TestingV3AuthInitialVotingInterval " << voting_interval << "\n"
      << "TestingV3AuthInitialVoteDelay " << delay << "\n"
      << "TestingV3AuthInitialDistDelay " << delay << "\n"
      << "V3AuthVotingInterval " << voting_interval << "\n"
      << "V3AuthVoteDelay " << delay << "\n"
      << "V3AuthDistDelay " << delay << "\n";
  }
  for (const auto& a : nodes)
    if (a.authority) o << dir_authority_line(a) << "\n";
  return o.str();
}

std::string client_torrc_text(const TestnetState& st) {
  std::ostringstream o;
  o << "# The torrc lines a tor adds to join the private Tor network in " << st.dir.string() << "\n"
    << "# (written by `shardnode testnet up`). The node sets DataDirectory, SocksPort, Log\n"
    << "# and Nickname itself. Read with onion::load_testnet_client_options().\n"
    << "TestingTorNetwork 1\n"
    << "PathsNeededToBuildCircuits 0.67\n";
  for (const auto& a : st.nodes)
    if (a.authority) o << dir_authority_line(a) << "\n";
  return o.str();
}

// ---------------------------------------------------------------------------
// State file

json state_to_json(const TestnetState& s) {
  json nodes = json::array();
  for (const auto& n : s.nodes)
    nodes.push_back({{"name", n.name},
                     {"role", n.authority ? "authority" : "relay"},
                     {"datadir", n.datadir.string()},
                     {"torrc", n.torrc.string()},
                     {"or_port", n.or_port},
                     {"dir_port", n.dir_port},
                     {"pid", n.pid},
                     {"fingerprint", n.fingerprint},
                     {"v3ident", n.v3ident}});
  return {{"version", 1},
          {"dir", s.dir.string()},
          {"state", s.state},
          {"created", s.created},
          {"stopped", s.stopped},
          {"ready_seconds", s.ready_seconds},
          {"voting_interval", s.voting_interval},
          {"client_torrc", s.client_torrc.string()},
          {"nodes", nodes}};
}

Status save_state(const TestnetState& s) {
  return write_text(s.dir / kStateFile, state_to_json(s).dump(2) + "\n", 0644);
}

fs::path normalize_dir(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  return p;
}

Status check_options(const TestnetOptions& o, const fs::path& dir) {
  if (o.dir.empty()) return err(TestnetErrc::bad_options, "testnet: no directory given");
  if (o.authorities < 1 || o.authorities > 9)
    return err(TestnetErrc::bad_options, "testnet: authorities must be 1..9, not " + std::to_string(o.authorities));
  if (o.relays < 3 || o.relays > 64)
    return err(TestnetErrc::bad_options, "testnet: relays must be 3..64, not " + std::to_string(o.relays));
  if (o.voting_interval < 10 || o.voting_interval > 3600 || 86400 % o.voting_interval != 0)
    return err(TestnetErrc::bad_options, "testnet: voting_interval must be 10..3600 s and divide 24 h, not " +
                                             std::to_string(o.voting_interval));
  if (o.ready_timeout.count() < 1) return err(TestnetErrc::bad_options, "testnet: ready_timeout must be positive");
  // Paths go into torrc lines (Log "notice file <path>") unquoted.
  const std::string s = dir.string();
  if (s.find_first_of(" \t\r\n#\"'\\") != std::string::npos)
    return err(TestnetErrc::bad_options, "testnet: directory path must not contain spaces, quotes, '#' or '\\': " + s);
  if (s.size() > 200) return err(TestnetErrc::bad_options, "testnet: directory path too long: " + s);
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------
// Public parsing helpers

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

// ---------------------------------------------------------------------------
// State

Result<TestnetState> load_testnet_state(const fs::path& dir_in) {
  const fs::path dir = normalize_dir(dir_in);
  const fs::path file = dir / kStateFile;
  auto text = read_text(file);
  if (!text) return err(TestnetErrc::no_state, "no testnet in " + dir.string() + " (" + file.string() + " missing)");
  try {
    const json j = json::parse(*text);
    TestnetState s;
    s.dir = j.at("dir").get<std::string>();
    s.state = j.at("state").get<std::string>();
    s.created = j.at("created").get<std::int64_t>();
    s.stopped = j.value("stopped", std::int64_t{0});
    s.ready_seconds = j.value("ready_seconds", 0.0);
    s.voting_interval = j.value("voting_interval", 0);
    s.client_torrc = j.value("client_torrc", std::string());
    for (const auto& jn : j.at("nodes")) {
      TestnetNode n;
      n.name = jn.at("name").get<std::string>();
      n.authority = jn.at("role").get<std::string>() == "authority";
      n.datadir = jn.at("datadir").get<std::string>();
      n.torrc = jn.at("torrc").get<std::string>();
      n.or_port = jn.at("or_port").get<int>();
      n.dir_port = jn.value("dir_port", 0);
      n.pid = jn.at("pid").get<int>();
      n.fingerprint = jn.value("fingerprint", std::string());
      n.v3ident = jn.value("v3ident", std::string());
      if (n.torrc.is_relative() || n.datadir.is_relative())
        return err(TestnetErrc::bad_state, file.string() + ": node " + n.name + " has a relative path");
      s.nodes.push_back(std::move(n));
    }
    return s;
  } catch (const json::exception& e) {
    return err(TestnetErrc::bad_state, file.string() + ": malformed testnet state: " + e.what());
  }
}

// ---------------------------------------------------------------------------
// up

Result<TestnetState> testnet_up(const TestnetOptions& opts, std::function<void(const TestnetProgress&)> on_progress) {
  const auto t0 = Clock::now();
  const fs::path dir = normalize_dir(opts.dir.empty() ? fs::path(".") : opts.dir);
  if (Status st = check_options(opts, dir); !st) return st.error();

  const auto tor = find_executable(opts.tor_binary);
  if (!tor)
    return err(TestnetErrc::bad_options, "testnet: '" + opts.tor_binary +
                                             "' not found (install Debian's tor package: scripts/install-deps.sh)");
  const auto gencert = find_executable(opts.gencert_binary);
  if (!gencert)
    return err(TestnetErrc::bad_options, "testnet: '" + opts.gencert_binary +
                                             "' not found (install Debian's tor package: scripts/install-deps.sh)");

  // The directory: new, or holding a previous testnet with no live node.
  std::error_code ec;
  const bool existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return err(TestnetErrc::io, "cannot create " + dir.string() + ": " + ec.message());
  if (!existed) fs::permissions(dir, fs::perms::owner_all, ec);

  std::vector<TestnetNode> nodes;
  const int total = opts.authorities + opts.relays;
  for (int i = 0; i < total; ++i) {
    TestnetNode n;
    n.authority = i < opts.authorities;
    n.name = std::string(n.authority ? "a" : "r") + std::to_string(i);
    n.datadir = dir / n.name;
    n.torrc = n.datadir / "torrc";
    nodes.push_back(std::move(n));
  }
  if (fs::exists(dir / kStateFile)) {
    auto old = load_testnet_state(dir);
    if (!old) return old.error();
    for (const auto& n : old->nodes)
      if (runs_torrc(n.pid, n.torrc))
        return err(TestnetErrc::already_running, "a testnet is running in " + dir.string() + " (node " + n.name +
                                                     ", pid " + std::to_string(n.pid) +
                                                     "); stop it first: shardnode testnet down --dir " + dir.string());
    // Clear what the previous testnet created (only its own node directories).
    for (const auto& n : old->nodes)
      if (n.datadir.parent_path() == dir) fs::remove_all(n.datadir, ec);
    fs::remove(dir / kClientTorrc, ec);
    fs::remove(dir / kStateFile, ec);
  }
  for (const auto& n : nodes)
    if (fs::exists(n.datadir))
      return err(TestnetErrc::bad_options, n.datadir.string() + " exists but " + dir.string() +
                                               " holds no testnet.json: use an empty or new directory");

  TestnetProgress prog;
  prog.nodes_total = total;
  prog.relays = opts.relays;
  for (const auto& n : nodes) prog.nodes.push_back({n.name, false, false, 0});
  auto report = [&](const std::string& phase) {
    prog.phase = phase;
    prog.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    if (on_progress) on_progress(prog);
  };
  report("keys");

  // Ports: ORPorts base..base+total-1, then authority DirPorts.
  auto base = pick_port_block(total + opts.authorities);
  if (!base) return base.error();
  for (int i = 0; i < total; ++i) {
    nodes[static_cast<std::size_t>(i)].or_port = *base + i;
    if (i < opts.authorities) nodes[static_cast<std::size_t>(i)].dir_port = *base + total + i;
  }

  const fs::path empty = dir / kEmptyTorrc;
  if (Status st = write_text(empty, "", 0644); !st) return st.error();
  for (auto& n : nodes) {
    if (::mkdir(n.datadir.c_str(), 0700) != 0)
      return err(TestnetErrc::io, "cannot create " + n.datadir.string() + ": " + errno_text(errno));
    ::chmod(n.datadir.c_str(), 0700);
  }

  // Authority keys: tor-gencert (v3 identity + signing key), then the relay identity
  // fingerprint from `tor --list-fingerprint` (network disabled).
  std::random_device rd;
  for (auto& n : nodes) {
    if (opts.cancel && opts.cancel->load()) return err(TestnetErrc::cancelled, "testnet up cancelled");
    if (!n.authority) continue;
    const fs::path keys = n.datadir / "keys";
    if (::mkdir(keys.c_str(), 0700) != 0)
      return err(TestnetErrc::io, "cannot create " + keys.string() + ": " + errno_text(errno));
    char pass[33];
    for (int i = 0; i < 32; ++i) pass[i] = "0123456789abcdef"[rd() & 15u];
    pass[32] = '\0';
    auto g = run_tool(*gencert,
                      {"--create-identity-key", "--passphrase-fd", "0", "-m", "12", "-a",
                       "127.0.0.1:" + std::to_string(n.dir_port), "-i", (keys / "authority_identity_key").string(),
                       "-s", (keys / "authority_signing_key").string(), "-c",
                       (keys / "authority_certificate").string()},
                      std::string(pass) + "\n", std::chrono::seconds(60));
    if (!g) return g.error();
    if (g->exit_code != 0)
      return err(TestnetErrc::tool_failed, *gencert + " failed for " + n.name + " (exit " +
                                               std::to_string(g->exit_code) + "): " + last_lines(g->output, 5));
    auto cert = read_text(keys / "authority_certificate");
    if (cert) {
      std::istringstream in(*cert);
      std::string line;
      while (std::getline(in, line))
        if (line.rfind("fingerprint ", 0) == 0) n.v3ident = line.substr(12);
    }
    if (!is_hex40(n.v3ident))
      return err(TestnetErrc::tool_failed, "no v3 identity fingerprint in " + (keys / "authority_certificate").string());

    auto f = run_tool(*tor,
                      {"--ignore-missing-torrc", "-f", empty.string(), "--defaults-torrc", empty.string(),
                       "--DataDirectory", n.datadir.string(), "--Nickname", n.name, "--ORPort",
                       "127.0.0.1:" + std::to_string(n.or_port), "--DisableNetwork", "1", "--SocksPort", "0",
                       "--quiet", "--list-fingerprint"},
                      "", std::chrono::seconds(60));
    if (!f) return f.error();
    std::string fpr;
    {
      std::istringstream in(f->output);
      std::string line;
      while (std::getline(in, line)) {
        const auto t = split_ws(line);
        if (t.size() == 11 && t[0] == n.name) {
          std::string joined;
          for (std::size_t i = 1; i < t.size(); ++i) joined += t[i];
          if (is_hex40(joined)) fpr = joined;
        }
      }
    }
    if (f->exit_code != 0 || fpr.empty())
      return err(TestnetErrc::tool_failed, *tor + " --list-fingerprint failed for " + n.name + " (exit " +
                                               std::to_string(f->exit_code) + "): " + last_lines(f->output, 5));
    n.fingerprint = fpr;
  }

  TestnetState state;
  state.dir = dir;
  state.state = "starting";
  state.created = unix_now();
  state.voting_interval = opts.voting_interval;
  state.client_torrc = dir / kClientTorrc;
  for (const auto& n : nodes)
    if (Status st = write_text(n.torrc, node_torrc(n, nodes, opts.voting_interval), 0600); !st) return st.error();
  state.nodes = nodes;
  if (Status st = write_text(state.client_torrc, client_torrc_text(state), 0644); !st) return st.error();
  if (Status st = save_state(state); !st) return st.error();

  // From here on every failure stops what was started.
  auto fail = [&](Error e) -> Error {
    const auto left = stop_nodes(state.nodes, std::chrono::seconds(5));
    state.state = "failed";
    state.stopped = unix_now();
    (void)save_state(state);
    if (!left.empty()) {
      e.message += "\n(could not stop:";
      for (const auto& s : left) e.message += " " + s;
      e.message += ")";
    }
    return e;
  };
  auto node_logs = [&](const TestnetNode& n) {
    std::string out;
    for (const char* f : {kNoticeLog, kConsoleLog}) {
      auto t = read_text(n.datadir / f);
      if (t && !t->empty()) out += "\n--- last lines of " + (n.datadir / f).string() + ":\n" + last_lines(*t, 12);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  };

  report("starting");
  for (std::size_t i = 0; i < state.nodes.size(); ++i) {
    auto& n = state.nodes[i];
    auto pid = spawn_detached(*tor, {"-f", n.torrc.string(), "--defaults-torrc", empty.string()},
                              n.datadir / kConsoleLog);
    if (!pid) return fail(pid.error());
    n.pid = *pid;
    prog.nodes[i].started = true;
    ++prog.nodes_started;
  }
  if (Status st = save_state(state); !st) return fail(st.error());

  const auto deadline = t0 + opts.ready_timeout;
  for (;;) {
    // A tor that exits now is a failure (bad config, port taken, ...).
    for (std::size_t i = 0; i < state.nodes.size(); ++i) {
      const auto& n = state.nodes[i];
      int st = 0;
      if (reap(n.pid, &st) || !runs_torrc(n.pid, n.torrc)) {
        prog.nodes[i].exited = true;
        report("failed");
        return fail(err(TestnetErrc::node_exited, "testnet node " + n.name + " (pid " + std::to_string(n.pid) +
                                                      ") exited (" + describe_wait_status(st) +
                                                      ") while the network was starting" + node_logs(n)));
      }
    }
    prog.nodes_bootstrapped = 0;
    for (std::size_t i = 0; i < state.nodes.size(); ++i) {
      prog.nodes[i].bootstrap = bootstrap_of(state.nodes[i].datadir / kNoticeLog);
      if (prog.nodes[i].bootstrap == 100) ++prog.nodes_bootstrapped;
    }
    const ConsensusView cv = fetch_consensus(state.nodes, std::chrono::milliseconds(1500));
    prog.consensus = cv.summary.present;
    prog.hsdirs = cv.summary.hsdirs;
    prog.relays_with_hsdir = cv.relays_with_hsdir;
    const bool ready = prog.nodes_bootstrapped == total && cv.relays_with_hsdir == opts.relays;
    if (ready) break;
    report("bootstrapping");

    if (opts.cancel && opts.cancel->load()) return fail(err(TestnetErrc::cancelled, "testnet up cancelled"));
    if (Clock::now() >= deadline) {
      std::ostringstream m;
      m << "testnet not ready after " << opts.ready_timeout.count() << " s: consensus "
        << (prog.consensus ? "present" : "missing") << ", relays with HSDir " << prog.relays_with_hsdir << "/"
        << opts.relays << ", bootstrapped " << prog.nodes_bootstrapped << "/" << total << " [";
      const TestnetNode* worst = &state.nodes[0];
      int worst_pct = 101;
      for (std::size_t i = 0; i < state.nodes.size(); ++i) {
        m << (i ? " " : "") << prog.nodes[i].name << " " << prog.nodes[i].bootstrap << "%";
        if (prog.nodes[i].bootstrap < worst_pct) {
          worst_pct = prog.nodes[i].bootstrap;
          worst = &state.nodes[i];
        }
      }
      m << "]";
      // All at 100 % yet no HSDirs: the authorities are the ones to look at.
      if (worst_pct == 100) worst = &state.nodes[0];
      m << "; node " << worst->name << ":" << node_logs(*worst);
      return fail(err(TestnetErrc::timeout, m.str()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }

  for (auto& n : state.nodes)
    if (n.fingerprint.empty())
      if (auto f = read_text(n.datadir / "fingerprint", 4096)) {
        const auto t = split_ws(last_lines(*f, 1));
        if (t.size() == 2 && is_hex40(t[1])) n.fingerprint = t[1];
      }
  state.state = "running";
  state.ready_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (Status st = save_state(state); !st) return fail(st.error());
  report("ready");
  return state;
}

// ---------------------------------------------------------------------------
// status / down

Result<TestnetStatus> testnet_status(const fs::path& dir) {
  auto st = load_testnet_state(dir);
  if (!st) return st.error();
  TestnetStatus s;
  s.dir = st->dir;
  s.state = st->state;
  s.created = st->created;
  s.ready_seconds = st->ready_seconds;
  s.all_alive = !st->nodes.empty();
  bool all_bootstrapped = true;
  for (const auto& n : st->nodes) {
    reap(n.pid);
    TestnetNodeStatus ns;
    ns.name = n.name;
    ns.authority = n.authority;
    ns.pid = n.pid;
    ns.alive = runs_torrc(n.pid, n.torrc);
    ns.bootstrap = bootstrap_of(n.datadir / kNoticeLog);
    ns.or_port = n.or_port;
    ns.dir_port = n.dir_port;
    ns.datadir = n.datadir;
    s.all_alive = s.all_alive && ns.alive;
    all_bootstrapped = all_bootstrapped && ns.bootstrap == 100;
    if (!n.authority) ++s.relays;
    s.nodes.push_back(std::move(ns));
  }
  const ConsensusView cv = fetch_consensus(st->nodes, std::chrono::seconds(3));
  s.consensus = cv.summary.present;
  s.consensus_valid_after = cv.summary.valid_after;
  s.hsdirs = cv.summary.hsdirs;
  s.relays_with_hsdir = cv.relays_with_hsdir;
  s.ready = s.all_alive && all_bootstrapped && s.relays > 0 && s.relays_with_hsdir == s.relays;
  auto client = load_testnet_client_options(st->client_torrc.empty() ? st->dir / kClientTorrc : st->client_torrc);
  s.client_torrc_ok = client.ok();
  if (!client) s.client_torrc_error = client.error().what();
  return s;
}

Status testnet_down(const fs::path& dir, std::chrono::seconds timeout) {
  auto st = load_testnet_state(dir);
  if (!st) return st.error();
  const auto left = stop_nodes(st->nodes, timeout);
  if (!left.empty()) {
    std::string names;
    for (const auto& s : left) names += " " + s;
    return err(TestnetErrc::stop_failed, "testnet nodes still running after SIGKILL:" + names);
  }
  if (st->state != "stopped") {
    if (st->stopped == 0) st->stopped = unix_now();
    st->state = "stopped";
    if (Status s = save_state(*st); !s) return s;
  }
  return {};
}

// ---------------------------------------------------------------------------
// client.torrc

Result<std::vector<std::pair<std::string, std::string>>> load_testnet_client_options(const fs::path& file) {
  auto text = read_text(file, 1u << 20);
  if (!text) return err(TestnetErrc::bad_client_config, "cannot read testnet client torrc " + file.string());
  std::vector<std::pair<std::string, std::string>> out;
  bool testing = false;
  int authorities = 0;
  int lineno = 0;
  std::istringstream in(*text);
  std::string raw;
  auto bad = [&](const std::string& why) {
    return err(TestnetErrc::bad_client_config, file.string() + ":" + std::to_string(lineno) + ": " + why);
  };
  while (std::getline(in, raw)) {
    ++lineno;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::string_view line = raw;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (std::any_of(line.begin(), line.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 && c != '\t'; }))
      return bad("control character");
    const std::size_t ks = line.find_first_of(" \t");
    const std::string key(line.substr(0, ks));
    std::string value;
    if (ks != std::string_view::npos) {
      std::string_view v = line.substr(ks);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      value = std::string(v);
    }
    if (value.empty()) return bad("'" + key + "' has no value");
    if (value.find_first_of("#\"\\") != std::string::npos)
      return bad("'" + key + "': quotes, backslashes and inline comments are not allowed");

    if (key == "TestingTorNetwork") {
      if (value != "1") return bad("TestingTorNetwork must be 1, not '" + value + "'");
      testing = true;
    } else if (key == "PathsNeededToBuildCircuits") {
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(v > 0.0 && v <= 1.0))
        return bad("PathsNeededToBuildCircuits must be a number in (0, 1], not '" + value + "'");
    } else if (key == "DirAuthority") {
      // DirAuthority <nickname> [orport=N] [no-v2] v3ident=HEX40 <ipv4>:<port> <fingerprint>
      const auto t = split_ws(value);
      std::size_t addr = t.size();
      for (std::size_t i = 1; i < t.size(); ++i)
        if (t[i].find('=') == std::string::npos && t[i].find(':') != std::string::npos) {
          addr = i;
          break;
        }
      if (t.size() < 3 || addr == t.size()) return bad("DirAuthority without an address:port");
      bool v3 = false;
      for (std::size_t i = 1; i < addr; ++i) {
        const std::string& f = t[i];
        if (f == "no-v2") continue;
        if (f.rfind("orport=", 0) == 0) {
          const std::string p = f.substr(7);
          if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return bad("DirAuthority: bad orport '" + p + "'");
          continue;
        }
        if (f.rfind("v3ident=", 0) == 0) {
          if (!is_hex40(f.substr(8))) return bad("DirAuthority: v3ident must be 40 hex digits");
          v3 = true;
          continue;
        }
        return bad("DirAuthority: unsupported flag '" + f + "' (allowed: orport=, no-v2, v3ident=)");
      }
      if (!v3) return bad("DirAuthority without v3ident=");
      const std::string& a = t[addr];
      const std::size_t colon = a.rfind(':');
      const std::string host = a.substr(0, colon);
      const std::string port = a.substr(colon + 1);
      in_addr ia{};
      if (::inet_pton(AF_INET, host.c_str(), &ia) != 1)
        return bad("DirAuthority address '" + a + "' is not an IPv4 address:port");
      if ((ntohl(ia.s_addr) >> 24) != 127u)
        return bad("DirAuthority address '" + a + "' is not on loopback (127.0.0.0/8): refusing a non-local network");
      const long pn = port.empty() || port.size() > 5 ? -1 : std::strtol(port.c_str(), nullptr, 10);
      if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) || pn < 1 ||
          pn > 65535)
        return bad("DirAuthority: bad port in '" + a + "'");
      std::string fpr;
      for (std::size_t i = addr + 1; i < t.size(); ++i) fpr += t[i];
      if (!is_hex40(fpr)) return bad("DirAuthority: fingerprint must be 40 hex digits");
      ++authorities;
    } else {
      return bad("option '" + key +
                 "' is not allowed in a testnet client torrc (allowed: TestingTorNetwork, DirAuthority, "
                 "PathsNeededToBuildCircuits)");
    }
    out.emplace_back(key, value);
  }
  if (!testing)
    return err(TestnetErrc::bad_client_config, file.string() + ": missing 'TestingTorNetwork 1'");
  if (authorities == 0)
    return err(TestnetErrc::bad_client_config, file.string() + ": no DirAuthority line");
  return out;
}

}  // namespace shardnode::onion
