// `shardnode testnet up|status|down --dir D`: a private Tor network of Debian tor
// processes on 127.0.0.1 (onion/testnet/: shardnode_testnet). Needs no config file.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace shardnode::cli {

struct TestnetCliOptions {
  std::string action;   // "up", "status", "down", "restart-node" or "forward" (set by the parsed sub-subcommand)
  std::string dir;
  std::string latency = "lan";  // up: lan | wan
  std::uint64_t seed = 0;       // up, wan: placement and jitter seed (0: from --dir)
  std::string config;           // forward (hidden): D/forward.json
  std::string node;             // restart-node: its name (a0, r3, ...)
  bool kill = false;            // restart-node: SIGKILL instead of SIGTERM
  int down_for_ms = 0;          // restart-node: pause between stop and start
  int relays = 4;
  int bridges = 0;
  int timeout = 180;    // up: seconds until ready; restart-node: seconds until bootstrapped
  int stop_timeout = 10;  // down: seconds between SIGTERM and SIGKILL
  bool json = false;
};

// Adds the `testnet` subcommand (with up, status, down, restart-node) to app, filling o.
CLI::App* add_testnet_command(CLI::App& app, TestnetCliOptions& o);

// Exit codes: 0 ok, 1 failure, 2 usage.
int cmd_testnet(const TestnetCliOptions& o);

}  // namespace shardnode::cli
