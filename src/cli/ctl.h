// `shardnode ctl <op>`: a synchronous client of the node's control API (docs/CONTROL.md)
// over its unix socket (default <node.datadir>/control.sock).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace shardnode::cli {

struct Context;

struct CtlOptions {
  std::string op;       // set by the parsed sub-subcommand
  std::string socket;   // --socket; empty: <datadir>/control.sock
  std::string datadir;  // -d; empty: node.datadir
  bool json = false;
  double timeout = 0;   // seconds; 0: the op's default
  // op arguments
  std::uint32_t shard = 0;
  std::uint32_t from = 0, to = 0;
  bool no_wait = false;
  std::string data, file;
  bool data_set = false, file_set = false;
  std::vector<std::uint32_t> shards;
  std::uint64_t count = 0;
  bool body = false;
  std::vector<std::uint64_t> range;  // request: FROM TO periods
  std::string hash, peer;
  bool wait_published = false;  // rotate-identity: then wait until the new onion service is published
};

// Adds `ctl` and its ops to app, filling o.
CLI::App* add_ctl_command(CLI::App& app, CtlOptions& o);

// `shardnode rotate-identity` (the ctl op with its own command, since operators look
// for it there): fills o with op "rotate-identity".
CLI::App* add_rotate_identity_command(CLI::App& app, CtlOptions& o);

// Exit codes: 0 ok, 1 runtime or API error, 2 usage.
int cmd_ctl(const Context& ctx, const CtlOptions& o);

}  // namespace shardnode::cli
