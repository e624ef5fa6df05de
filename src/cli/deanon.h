// `shardnode deanon`: the deanonymization harness (deanon/) on the simulator - real
// gossipsub routers, spies, the first-spy adversary; a table on stdout, JSON and
// CSV on request. Needs no config file and starts no tor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace shardnode::cli {

struct DeanonCliOptions {
  std::uint32_t nodes = 500;
  std::uint32_t degree = 8;
  std::string topology = "random";    // random | line
  std::vector<double> spies{0.1};     // several: one experiment per value (a sweep over p)
  std::string placement = "uniform";  // uniform | connected
  std::uint32_t validators = 50;
  std::uint32_t messages = 2;  // per validator
  std::uint32_t runs = 10;
  std::uint64_t seed = 1;
  double latency_ms = 20.0;
  double jitter_ms = 10.0;
  std::string protocol = "gossipsub";  // gossipsub | floodsub
  std::uint32_t supernode = 0;         // identities of a supernode observer connected to every node
  std::string mode = "plain";          // plain | stem
  double fluff = 0.1;                  // stem: q
  double embargo_ms = 2000.0;          // stem: fixed part of the embargo
  double embargo_jitter_ms = 1000.0;   // stem: mean of its exponential part
  double own_embargo_ms = 4000.0;      // stem: the source's fixed part
  std::string latency_model = "uniform";
  double graph_knowledge = 1.0;  // the timing adversary's share of the edges between honest nodes
  double warmup_ms = -1.0;  // <0: 3 s (uniform) or 10 s (tor)
  double drain_ms = -1.0;   // <0: 3 s (uniform), or for tor 30 s or more (the source's embargo + 10 jitter means)
  std::uint32_t probes = 16;           // timing adversary's calibration probes (0: none)
  std::string json_file;
  std::string csv_file;
  std::string svg_file;  // metric vs p (most useful with several --spies values)
};

// `shardnode deanon-live`: the adversaries on live runs' receipt logs (deanon/live.h;
// scripts/deanon_live.py records them) and the simulator's twin of each run.
struct DeanonLiveCliOptions {
  std::vector<std::string> dirs;  // run directories of one mode
  std::uint32_t sim_runs = 10;    // simulator runs per live run
  std::uint64_t seed = 1;
  std::string json_file;
};
CLI::App* add_deanon_live_command(CLI::App& app, DeanonLiveCliOptions& o);
int cmd_deanon_live(const DeanonLiveCliOptions& o);

// Adds the `deanon` subcommand to app, filling o.
CLI::App* add_deanon_command(CLI::App& app, DeanonCliOptions& o);

// Exit codes: 0 ok, 1 failure (e.g. cannot write an output file), 2 usage.
int cmd_deanon(const DeanonCliOptions& o);

}  // namespace shardnode::cli
