// Tor linked into our process (tor_api.h). tor_run_main() runs on its own thread;
// we drive it over the owning control socket, so tor exits if we go away.
//
// Tor allows one instance per process and cannot be restarted in-process
// (tor_api.h LIMITATION, bug 23847): start() succeeds at most once per process
// and every later call fails with OnionErrc::already_started.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/core/result.h"
#include "shardnode/onion/control_connection.h"
#include "shardnode/onion/errors.h"

struct tor_main_configuration_t;

namespace shardnode::onion {

struct EmbeddedTorOptions {
  std::filesystem::path data_dir;       // tor's DataDirectory; created with mode 0700
  // Network off until the node is configured; tests never turn it on without
  // a private test network's DirAuthority lines.
  bool disable_network = true;
  std::string socks_port = "0";         // e.g. "unix:/path/socks.sock OnionTrafficOnly"
  std::string log_level = "notice";     // tor's own log, written to <data_dir>/tor.log
  std::vector<std::pair<std::string, std::string>> extra_options;  // more torrc lines
  std::chrono::milliseconds start_timeout{30000};
};

class EmbeddedTor {
 public:
  // Starts tor and waits until it answers on the control socket.
  static Result<std::unique_ptr<EmbeddedTor>> start(EmbeddedTorOptions opts);

  // "tor 0.4.9.11": the version of the linked tor (tor_api_get_provider_version).
  static std::string provider_version();

  ~EmbeddedTor();  // stop(10 s) if still running
  EmbeddedTor(const EmbeddedTor&) = delete;
  EmbeddedTor& operator=(const EmbeddedTor&) = delete;

  ControlConnection& control() { return *control_; }
  // Hands the owning control socket to an asynchronous client (ControlClient::adopt)
  // for the rest of tor's life; control() is closed from then on. Tor exits as soon
  // as that socket closes, so the new owner closes it (or sends SIGNAL SHUTDOWN)
  // before calling stop(), which then only waits for tor's thread.
  Result<int> take_control_fd();
  const std::filesystem::path& data_dir() const { return opts_.data_dir; }

  // SIGNAL SHUTDOWN, then waits for tor_run_main to return; if it has not by half
  // the deadline, closes the owning control socket (tor then exits at once).
  // Fails with OnionErrc::shutdown_failed if tor is still running at the deadline
  // (the thread is then detached, never killed).
  Status stop(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  bool running() const;
  int exit_code() const;  // tor_run_main's result once stopped

 private:
  explicit EmbeddedTor(EmbeddedTorOptions opts);
  bool wait_exit(TimePoint deadline);  // on clock_
  void release_config();

  static constexpr std::chrono::milliseconds kMinUptimeBeforeStop{1000};

  EmbeddedTorOptions opts_;
  SteadyClock clock_;  // a real thread: waits need the real monotonic clock
  std::optional<TimePoint> up_since_;
  std::vector<std::string> args_;       // tor keeps pointers into these until free
  std::vector<char*> argv_;
  tor_main_configuration_t* cfg_ = nullptr;
  std::unique_ptr<ControlConnection> control_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable exited_cv_;
  bool thread_started_ = false;
  bool exited_ = false;
  bool stopped_ = false;
  bool control_taken_ = false;
  int exit_code_ = -1;
};

}  // namespace shardnode::onion
