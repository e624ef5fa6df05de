// shardnode <subcommand>. Exit codes: 0 success, 1 runtime failure, 2 usage or
// configuration error.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <optional>

#include "commands.h"
#include "ctl.h"
#include "deanon.h"
#include "deanon_fingerprint.h"
#include "testnet.h"
#include "shardnode/core/log.h"

using namespace shardnode;

int main(int argc, char** argv) {
  CLI::App app{"shardnode: an anonymous sharding p2p node (libp2p gossip over Tor onion services)"};
  app.require_subcommand(1);
  cli::GlobalOptions g;
  app.add_option("-c,--config", g.config_file, "TOML config file (see `shardnode config --print-defaults`)")
      ->check(CLI::ExistingFile);
  app.add_option("--set", g.overrides, "Override a setting: key=value (repeatable)");
  app.add_option("--log-level", g.log_level, "Log level (overrides log.level)");

  auto* init = app.add_subcommand(
      "init", "Set up a data directory: the node and validator keys (mode 0600; existing ones are kept), a "
              "commented config for the chosen Tor network, and the next command to run");
  cli::InitOptions init_o;
  init->add_option("--network", init_o.network, "testnet (a private Tor network, `shardnode testnet up`) or public")
      ->required()
      ->check(CLI::IsMember({"testnet", "public"}));
  init->add_option("DIR", init_o.dir, "The data directory (created, mode 0700)")->required();

  auto* keygen = app.add_subcommand("keygen", "Create the node identity key (Ed25519, mode 0600; never overwrites)");
  cli::IdOptions keygen_o;
  keygen->add_option("-d,--datadir", keygen_o.datadir, "Data directory (default: node.datadir)");
  keygen->add_flag("--json", keygen_o.json, "Print JSON");

  auto* id = app.add_subcommand("id", "Print the node's peer id and onion address");
  cli::IdOptions id_o;
  id->add_option("-d,--datadir", id_o.datadir, "Data directory (default: node.datadir)");
  id->add_flag("--json", id_o.json, "Print JSON");

  auto* config = app.add_subcommand("config", "Print or check configuration");
  cli::ConfigOptions config_o;
  auto* pd = config->add_flag("--print-defaults", config_o.print_defaults, "Print a TOML file with every default");
  config->add_flag("--validator", config_o.validator,
                   "With --print-defaults: a validator's defaults (shard.validator = true: the privacy modes on)")
      ->needs(pd);
  auto* ref = config->add_flag("--reference", config_o.reference, "Print the Markdown settings reference");
  auto* chk = config->add_option("--check", config_o.check_file, "Validate a config file");
  pd->excludes(ref)->excludes(chk);
  ref->excludes(chk);
  config->callback([&] {
    if (!config_o.print_defaults && !config_o.reference && config_o.check_file.empty())
      throw CLI::ValidationError("config", "give one of --print-defaults, --reference, --check FILE");
  });

  auto* version = app.add_subcommand("version", "Print shardnode's version and the linked tor's");
  bool version_json = false;
  version->add_flag("--json", version_json, "Print JSON");

  auto* selfcheck = app.add_subcommand(
      "selfcheck", "Start the embedded tor with the network disabled, publish the node's onion service "
                   "and check tor derives the same address, then stop");
  cli::IdOptions selfcheck_o;
  selfcheck->add_option("-d,--datadir", selfcheck_o.datadir, "Data directory (default: node.datadir)");
  selfcheck->add_flag("--json", selfcheck_o.json, "Print JSON");

  cli::TestnetCliOptions testnet_o;
  auto* testnet = cli::add_testnet_command(app, testnet_o);  // up | status | down (testnet.cpp)

  cli::CtlOptions ctl_o;
  auto* ctl = cli::add_ctl_command(app, ctl_o);  // identity | peers | ... (ctl.cpp)

  cli::CtlOptions rotate_o;
  auto* rotate = cli::add_rotate_identity_command(app, rotate_o);  // (ctl.cpp)

  cli::DeanonCliOptions deanon_o;
  auto* deanon = cli::add_deanon_command(app, deanon_o);  // the deanonymization harness (deanon.cpp)

  cli::DeanonLiveCliOptions deanon_live_o;
  auto* deanon_live = cli::add_deanon_live_command(app, deanon_live_o);  // live runs' logs (deanon.cpp)

  cli::FingerprintCliOptions fingerprint_o;
  auto* fingerprint = cli::add_deanon_fingerprint_command(app, fingerprint_o);  // (deanon_fingerprint.cpp)

  auto* run = app.add_subcommand(
      "run", "Run the node: tor (embedded or external), our onion service, bootnodes and pubsub, until "
             "SIGINT or SIGTERM. Needs tor.testnet (a private network) or tor.public_network = true.");
  cli::RunOptions run_o;
  // Test-only: no help line (group ""), no setting, and SHARDNODE_TEST_ONLY=1 as well.
  run->add_option("--test-receipt-log", run_o.test_receipt_log,
                  "Test only: record every message receipt with its sending peer")
      ->group("");
  run->add_flag("--test-spy", run_o.test_spy, "Test only: relay stems, publish our own messages plainly")->group("");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (*version) return cli::cmd_version(version_json);
  if (*config) return cli::cmd_config(config_o);
  if (*init) return cli::cmd_init(init_o);

  if (*testnet) return cli::cmd_testnet(testnet_o);
  if (*deanon) return cli::cmd_deanon(deanon_o);
  if (*fingerprint) return cli::cmd_deanon_fingerprint(fingerprint_o);
  if (*deanon_live) return cli::cmd_deanon_live(deanon_live_o);

  auto ctx = cli::load_context(g);
  if (!ctx) {
    std::fprintf(stderr, "shardnode: %s\n", ctx.error().what().c_str());
    return 2;
  }
  if (*keygen) return cli::cmd_keygen(*ctx, keygen_o);
  if (*id) return cli::cmd_id(*ctx, id_o);
  if (*selfcheck) return cli::cmd_selfcheck(*ctx, selfcheck_o);
  if (*ctl) return cli::cmd_ctl(*ctx, ctl_o);
  if (*rotate) return cli::cmd_ctl(*ctx, rotate_o);
  if (*run) return cli::cmd_run(*ctx, run_o);
  return 2;
}
