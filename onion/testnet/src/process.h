// Processes of the testnet launcher: PATH lookup, short-lived helper tools with a
// deadline, detached (fork + setsid + exec) daemons, and signals that go only to a
// recorded PID while /proc/<pid>/cmdline still names the file it was started with
// (guards against PID reuse). Internal to shardnode_testnet.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/onion/errors.h"

namespace shardnode::testnet::detail {

// name as an absolute path: looked up in PATH unless it contains '/'.
std::optional<std::string> find_executable(const std::string& name);

struct ToolResult {
  int exit_code = -1;  // -1: killed or did not exit normally
  std::string output;  // stdout and stderr
};

// Runs a short-lived helper (tor-gencert, tor --list-fingerprint) with stdin_data on
// its stdin; killed after timeout (TestnetErrc::tool_failed).
Result<ToolResult> run_tool(const std::string& path, std::vector<std::string> args, const std::string& stdin_data,
                            std::chrono::milliseconds timeout);

// fork + setsid + exec with stdin /dev/null and stdout/stderr appended to out_file;
// returns once the child has exec'd (or fails with TestnetErrc::spawn_failed).
Result<pid_t> spawn_detached(const std::string& path, std::vector<std::string> args,
                             const std::filesystem::path& out_file);

// True while pid is a live (non-zombie) process whose command line has `arg` as an
// argument.
bool runs_with_arg(int pid, const std::filesystem::path& arg);

// Reaps pid if it is our exited child; true if it was reaped now.
bool reap(int pid, int* status = nullptr);

std::string describe_wait_status(int st);

// A process we started, known by its PID and an argument of its command line.
struct OwnedProcess {
  std::string name;
  int pid = 0;                   // <= 0: never started
  std::filesystem::path marker;  // e.g. its torrc path
};

// first_signal (SIGTERM; SIGKILL to simulate a crash), wait up to timeout, SIGKILL,
// wait up to 5 s: only processes that still run with their marker. Returns
// "name (pid N)" for each one still running after.
std::vector<std::string> stop_processes(const std::vector<OwnedProcess>& procs, std::chrono::milliseconds timeout,
                                        int first_signal = SIGTERM);

}  // namespace shardnode::testnet::detail
