// `shardnode deanon-fingerprint`: subscription fingerprinting (Heimbach et al.
// 2024) on the simulator - observers linked to many nodes attribute validators to
// their hosts from fanout publishes, in plain or cover-subscriptions mode; a table
// on stdout, JSON on request. Needs no config file and starts no tor.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace shardnode::cli {

struct FingerprintCliOptions {
  std::uint32_t nodes = 200;
  std::uint32_t degree = 8;
  std::uint32_t shards = 32;
  std::uint32_t observers = 4;
  double observer_fraction = 0.5;
  std::uint32_t validators = 400;
  std::uint32_t days = 3;
  std::uint32_t epochs_per_day = 24;
  double epoch_s = 12.0;
  std::uint32_t cover_shards = 2;
  std::uint32_t peers_per_shard = 0;
  std::string mode = "plain";  // plain | cover
  std::uint32_t runs = 5;
  std::uint64_t seed = 1;
  std::string json_file;
};

// Adds the `deanon-fingerprint` subcommand to app, filling o.
CLI::App* add_deanon_fingerprint_command(CLI::App& app, FingerprintCliOptions& o);

// Exit codes: 0 ok, 1 failure (e.g. cannot write the JSON file), 2 usage.
int cmd_deanon_fingerprint(const FingerprintCliOptions& o);

}  // namespace shardnode::cli
