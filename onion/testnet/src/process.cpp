#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "util.h"
#include "shardnode/onion/errors.h"

namespace shardnode::testnet::detail {
namespace fs = std::filesystem;

namespace {

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

}  // namespace

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
  const auto deadline = steady_now() + timeout;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_now()).count();
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

bool runs_with_arg(int pid, const fs::path& arg) {
  if (pid <= 0 || arg.empty()) return false;
  const fs::path proc = fs::path("/proc") / std::to_string(pid);
  auto stat = read_text(proc / "stat", 4096);
  if (!stat) return false;
  const std::size_t rp = stat->rfind(')');
  if (rp == std::string::npos || rp + 2 >= stat->size()) return false;
  const char state = (*stat)[rp + 2];
  if (state == 'Z' || state == 'X' || state == 'x') return false;
  auto cmdline = read_text(proc / "cmdline", 65536);
  if (!cmdline) return false;
  const std::string want = arg.string();
  std::size_t b = 0;
  while (b < cmdline->size()) {
    std::size_t e = cmdline->find('\0', b);
    if (e == std::string::npos) e = cmdline->size();
    if (cmdline->compare(b, e - b, want) == 0) return true;
    b = e + 1;
  }
  return false;
}

bool reap(int pid, int* status) {
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

std::vector<std::string> stop_processes(const std::vector<OwnedProcess>& procs, std::chrono::milliseconds timeout,
                                        int first_signal) {
  auto live = [&] {
    std::vector<const OwnedProcess*> v;
    for (const auto& n : procs) {
      if (n.pid <= 0) continue;
      reap(n.pid);
      if (runs_with_arg(n.pid, n.marker)) v.push_back(&n);
    }
    return v;
  };
  auto wait_gone = [&](TimePoint until) {
    for (;;) {
      auto v = live();
      if (v.empty() || steady_now() >= until) return v;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  for (const auto* n : live()) ::kill(n->pid, first_signal);
  auto left = wait_gone(steady_now() + timeout);
  for (const auto* n : left)
    if (runs_with_arg(n->pid, n->marker)) ::kill(n->pid, SIGKILL);
  if (!left.empty()) left = wait_gone(steady_now() + std::chrono::seconds(5));
  std::vector<std::string> names;
  for (const auto* n : left) names.push_back(n->name + " (pid " + std::to_string(n->pid) + ")");
  return names;
}

}  // namespace shardnode::testnet::detail
