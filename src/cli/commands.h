// The CLI's subcommands, each a function returning the process exit code.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/node/settings.h"

namespace shardnode::cli {

struct GlobalOptions {
  std::string config_file;
  std::vector<std::string> overrides;
  std::string log_level;
};

struct Context {
  node::Settings settings;
  std::filesystem::path datadir;  // node.datadir, ~ expanded
};

struct IdOptions {
  std::string datadir;  // overrides node.datadir
  bool json = false;
};

struct ConfigOptions {
  bool print_defaults = false;
  bool validator = false;  // --print-defaults --validator
  bool reference = false;
  std::string check_file;
};

// Loads the config file (or defaults), applies --set and --log-level, sets up logging.
Result<Context> load_context(const GlobalOptions& g);

int cmd_version(bool json);
int cmd_config(const ConfigOptions& o);
int cmd_keygen(const Context& ctx, const IdOptions& o);
int cmd_id(const Context& ctx, const IdOptions& o);
int cmd_selfcheck(const Context& ctx, const IdOptions& o);
struct RunOptions {
  // Test-only (hidden from --help): the live deanonymization experiment's receipt log
  // (NodeOptions::test_receipt_log). Needs SHARDNODE_TEST_ONLY=1 in the environment too.
  std::string test_receipt_log;
  // Test-only (hidden): the live experiment's spy - relays others' stems, publishes
  // its own messages plainly (StemConfig::own_messages = false, flood publishing on).
  bool test_spy = false;
};

struct InitOptions {
  std::string network;  // testnet | public
  std::string dir;
};
// A data directory with keys and a commented config, and the next command (init.cpp).
int cmd_init(const InitOptions& o);

// The node: tor, onion service, bootnodes, pubsub; until SIGINT/SIGTERM.
int cmd_run(const Context& ctx, const RunOptions& o = {});

}  // namespace shardnode::cli
