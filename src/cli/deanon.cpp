#include "deanon.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "shardnode/deanon/experiment.h"
#include "shardnode/deanon/live.h"
#include "shardnode/deanon/plot.h"
#include "shardnode/deanon/report.h"

namespace shardnode::cli {
namespace {

Duration from_ms(double v) {
  return Duration{static_cast<Duration::rep>(std::llround(v * 1e6))};
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    std::fprintf(stderr, "shardnode: deanon: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace

CLI::App* add_deanon_command(CLI::App& app, DeanonCliOptions& o) {
  auto* c =
      app.add_subcommand("deanon",
                         "Measure how well spies link validators to their messages: real gossipsub routers on the "
                         "simulator, a fraction of spies, the first-spy, timing (posterior) and intersection "
                         "adversaries, plain or stem mode; precision, recall, posterior entropy, inverse rank and "
                         "latency with 95% confidence intervals over repeated runs");
  c->add_option("--nodes", o.nodes, "Nodes in the network")->check(CLI::Range(3U, 100000U))->capture_default_str();
  c->add_option("--degree", o.degree, "Degree of the random regular graph")
      ->check(CLI::Range(1U, 1000U))
      ->capture_default_str();
  c->add_option("--topology", o.topology, "random (random regular, --degree), line, or ring (each node dials the next)")
      ->check(CLI::IsMember({"random", "line", "ring"}))
      ->capture_default_str();
  c->add_option("--spies", o.spies,
                "Fraction of nodes that are spies, in [0, 1); a comma-separated list runs one experiment per value")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  c->add_option("--placement", o.placement, "Spy placement: uniform or connected (most-connected nodes)")
      ->check(CLI::IsMember({"uniform", "connected"}))
      ->capture_default_str();
  c->add_option("--validators", o.validators, "Honest publishers per run (distinct, random)")
      ->check(CLI::Range(1U, 100000U))
      ->capture_default_str();
  c->add_option("--messages", o.messages, "Messages per validator")
      ->check(CLI::Range(1U, 100000U))
      ->capture_default_str();
  c->add_option("--runs", o.runs, "Repetitions (each a new graph, spy placement and validators)")
      ->check(CLI::Range(1U, 100000U))
      ->capture_default_str();
  c->add_option("--seed", o.seed, "Seed: the whole experiment is a function of it")->capture_default_str();
  c->add_option("--latency-ms", o.latency_ms, "Link latency (ms)")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  c->add_option("--jitter-ms", o.jitter_ms, "Extra link delay, uniform in [0, J] ms")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  c->add_option("--latency-model", o.latency_model,
                "uniform (--latency-ms + U[0, --jitter-ms] on every link) or tor (each link's one-way latency drawn "
                "once in [130, 360] ms, half the live network's median onion round trips, + U[0, --jitter-ms])")
      ->check(CLI::IsMember({"uniform", "tor"}))
      ->capture_default_str();
  c->add_option("--protocol", o.protocol, "Peer protocol of every node: gossipsub (meshsub/1.2) or floodsub")
      ->check(CLI::IsMember({"gossipsub", "floodsub"}))
      ->capture_default_str();
  c->add_option("--supernode", o.supernode,
                "Add a supernode observer with this many identities, each connected to every node (0: none)")
      ->check(CLI::Range(0U, 64U))
      ->capture_default_str();
  c->add_option("--mode", o.mode,
                "Privacy mode of every node: plain (gossipsub as is) or stem (Dandelion++ stem phase first)")
      ->check(CLI::IsMember({"plain", "stem"}))
      ->capture_default_str();
  c->add_option("--fluff", o.fluff, "Stem mode: probability q that a node is a diffuser")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  c->add_option("--embargo-ms", o.embargo_ms, "Stem mode: embargo before a held message is fluffed (ms)")
      ->check(CLI::Range(1.0, 3600000.0))
      ->capture_default_str();
  c->add_option("--embargo-jitter-ms", o.embargo_jitter_ms, "Stem mode: mean of the embargo's exponential part (ms)")
      ->check(CLI::Range(0.0, 3600000.0))
      ->capture_default_str();
  c->add_option("--own-embargo-ms", o.own_embargo_ms,
                "Stem mode: the source's embargo for its own messages (ms, at least --embargo-ms)")
      ->check(CLI::Range(1.0, 3600000.0))
      ->capture_default_str();
  c->add_option("--warmup-ms", o.warmup_ms,
                "Simulated time for meshes to form before the first publish (default 3000, 10000 with --latency-model tor)")
      ->check(CLI::Range(0.0, 3600000.0));
  c->add_option("--drain-ms", o.drain_ms,
                "Simulated time after the last publish (default 3000; with --latency-model tor, 30000 or the "
                "source's embargo + 10 jitter means if longer)")
      ->check(CLI::Range(0.0, 3600000.0));
  c->add_option("--probes", o.probes,
                "Probes the spies publish to calibrate the timing adversary's latency model (0: no timing adversary)")
      ->check(CLI::Range(0U, 1000U))
      ->capture_default_str();
  c->add_option("--graph-knowledge", o.graph_knowledge,
                "The timing adversary knows its spies' edges and this share of the others (1: the whole graph, as "
                "peer exchange or a supernode tells it)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  c->add_option("--json", o.json_file, "Write the results as JSON to FILE ('-' for stdout instead of the table)");
  c->add_option("--csv", o.csv_file, "Write the results as CSV to FILE");
  c->add_option("--svg", o.svg_file,
                "Plot precision, recall, inverse rank and timing recall vs p (with --spies P1,P2,...) as SVG");
  return c;
}

int cmd_deanon(const DeanonCliOptions& o) {
  deanon::ExperimentConfig cfg;
  cfg.nodes = o.nodes;
  cfg.degree = o.degree;
  cfg.topology = o.topology == "line"   ? deanon::TopologyKind::line
                 : o.topology == "ring" ? deanon::TopologyKind::ring
                                        : deanon::TopologyKind::random_regular;
  cfg.placement = o.placement == "connected" ? deanon::SpyPlacement::most_connected : deanon::SpyPlacement::uniform;
  cfg.validators = o.validators;
  cfg.messages_per_validator = o.messages;
  cfg.runs = o.runs;
  cfg.seed = o.seed;
  cfg.latency = from_ms(o.latency_ms);
  cfg.jitter = from_ms(o.jitter_ms);
  cfg.protocol = o.protocol == "floodsub" ? pubsub::PeerProtocol::floodsub : pubsub::PeerProtocol::meshsub_1_2;
  cfg.supernode_connections = o.supernode;
  cfg.stem = o.mode == "stem";
  cfg.fluff_probability = o.fluff;
  cfg.embargo = from_ms(o.embargo_ms);
  cfg.embargo_jitter_mean = from_ms(o.embargo_jitter_ms);
  cfg.own_embargo = from_ms(o.own_embargo_ms);
  cfg.latency_model = o.latency_model == "tor" ? deanon::LatencyModelKind::tor : deanon::LatencyModelKind::uniform;
  const bool tor = cfg.latency_model == deanon::LatencyModelKind::tor;
  cfg.warmup = from_ms(o.warmup_ms >= 0 ? o.warmup_ms : tor ? 10000.0 : 3000.0);
  cfg.drain = from_ms(o.drain_ms >= 0 ? o.drain_ms
                      : tor            ? std::max(30000.0, o.own_embargo_ms + 10.0 * o.embargo_jitter_ms)
                                       : 3000.0);
  cfg.posterior_probes = o.probes;
  cfg.graph_knowledge = o.graph_knowledge;
  std::vector<deanon::ExperimentConfig> configs;
  for (double p : o.spies) {
    cfg.spy_fraction = p;
    if (Status st = cfg.validate(); !st) {
      std::fprintf(stderr, "shardnode: %s\n", st.error().what().c_str());
      return 2;
    }
    configs.push_back(cfg);
  }
  if (configs.empty()) {
    std::fprintf(stderr, "shardnode: deanon: --spies needs at least one value\n");
    return 2;
  }
  const bool json_stdout = o.json_file == "-";
  std::vector<deanon::ExperimentResult> results;
  for (const deanon::ExperimentConfig& c : configs) {
    try {
      results.push_back(deanon::run_experiment(c));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "shardnode: deanon: %s\n", e.what());
      return 1;
    }
    if (!json_stdout) std::cout << (results.size() > 1 ? "\n" : "") << deanon::to_table(results.back()) << std::flush;
  }
  if (!o.json_file.empty()) {
    nlohmann::json j;
    if (results.size() == 1) {
      j = deanon::to_json(results.front());
    } else {
      j = nlohmann::json{{"sweep", "spy_fraction"}, {"experiments", nlohmann::json::array()}};
      for (const auto& r : results) j["experiments"].push_back(deanon::to_json(r));
    }
    const std::string text = j.dump(2) + "\n";
    if (json_stdout)
      std::cout << text;
    else if (!write_file(o.json_file, text))
      return 1;
  }
  if (!o.csv_file.empty()) {
    std::string csv;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const std::string part = deanon::to_csv(results[i]);
      csv += i == 0 ? part : part.substr(part.find('\n') + 1);  // one header
    }
    if (!write_file(o.csv_file, csv)) return 1;
  }
  if (!o.svg_file.empty()) {
    std::vector<deanon::ExperimentResult> sorted = results;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.config.spy_fraction < b.config.spy_fraction; });
    if (!write_file(o.svg_file, deanon::to_svg(sorted))) return 1;
  }
  return 0;
}

CLI::App* add_deanon_live_command(CLI::App& app, DeanonLiveCliOptions& o) {
  auto* c = app.add_subcommand(
      "deanon-live",
      "The deanon adversaries (first spy, timing) on receipt logs recorded by live `shardnode run` processes "
      "(scripts/deanon_live.py): precision, recall, posterior entropy and delivery latency with 95% intervals over "
      "runs, beside the simulator's prediction on each run's graph, spies, validators and measured link latency");
  c->add_option("dirs", o.dirs, "Run directories (each with run.json), all of one mode")->required();
  c->add_option("--sim-runs", o.sim_runs, "Simulator runs per live run")
      ->check(CLI::Range(1U, 10000U))
      ->capture_default_str();
  c->add_option("--seed", o.seed, "Seed of the simulator runs")->capture_default_str();
  c->add_option("--json", o.json_file, "Write JSON to FILE ('-': stdout, instead of the table)");
  return c;
}

int cmd_deanon_live(const DeanonLiveCliOptions& o) {
  std::vector<std::filesystem::path> dirs(o.dirs.begin(), o.dirs.end());
  auto c = deanon::compare_live(dirs, o.sim_runs, o.seed);
  if (!c) {
    std::fprintf(stderr, "shardnode: %s\n", c.error().what().c_str());
    return 1;
  }
  if (o.json_file != "-") std::fputs(deanon::to_table(*c).c_str(), stdout);
  if (o.json_file == "-") std::cout << deanon::to_json(*c) << "\n";
  else if (!o.json_file.empty() && !write_file(o.json_file, deanon::to_json(*c) + "\n")) return 1;
  return 0;
}

}  // namespace shardnode::cli
