#include "deanon_fingerprint.h"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "shardnode/core/log.h"
#include "shardnode/deanon/fingerprint.h"

namespace shardnode::cli {

CLI::App* add_deanon_fingerprint_command(CLI::App& app, FingerprintCliOptions& o) {
  auto* c = app.add_subcommand(
      "deanon-fingerprint",
      "Measure subscription fingerprinting (Heimbach et al. 2024): well-connected observers attribute validators to "
      "their hosts from messages sent on shards the host does not announce, over simulated days of duties, on real "
      "gossipsub routers and shard managers; plain mode (today) or the manager's cover shards; coverage per day, "
      "precision and latency with 95% confidence intervals");
  c->add_option("--nodes", o.nodes, "Honest nodes")->check(CLI::Range(2U, 100000U))->capture_default_str();
  c->add_option("--degree", o.degree, "Degree of the random regular graph (honest nodes and observers)")
      ->check(CLI::Range(1U, 1000U))
      ->capture_default_str();
  c->add_option("--shards", o.shards, "Shards, one gossip topic each")
      ->check(CLI::Range(1U, 4096U))
      ->capture_default_str();
  c->add_option("--observers", o.observers, "Observer nodes (the adversary; they subscribe to every shard)")
      ->check(CLI::Range(1U, 1000U))
      ->capture_default_str();
  c->add_option("--observer-fraction", o.observer_fraction,
                "Fraction of the honest nodes each observer is also linked to, in (0, 1]")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  c->add_option("--validators", o.validators, "Validators, each hosted by a random honest node")
      ->check(CLI::Range(1U, 1000000U))
      ->capture_default_str();
  c->add_option("--days", o.days, "Simulated days (coverage is reported after each)")
      ->check(CLI::Range(1U, 1000U))
      ->capture_default_str();
  c->add_option("--epochs-per-day", o.epochs_per_day, "Epochs per day (one duty per validator per epoch)")
      ->check(CLI::Range(1U, 10000U))
      ->capture_default_str();
  c->add_option("--epoch-s", o.epoch_s, "Virtual length of an epoch (s); gossip heartbeats run throughout")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  c->add_option("--cover-shards", o.cover_shards,
                "Cover mode: the shard manager's cover shards per node, redrawn every epoch")
      ->check(CLI::Range(1U, 4096U))
      ->capture_default_str();
  c->add_option("--peers-per-shard", o.peers_per_shard,
                "The shard managers' peers_per_shard: dial whom the table lists on our shards (0: the topology "
                "stays the random graph plus the observers' links; the simulator never closes a link)")
      ->check(CLI::Range(0U, 1000U))
      ->capture_default_str();
  c->add_option("--mode", o.mode, "plain (long-lived subscriptions, fanout publish) or cover")
      ->check(CLI::IsMember({"plain", "cover"}))
      ->capture_default_str();
  c->add_option("--runs", o.runs, "Repetitions (each a new graph, observers, hosts and duties)")
      ->check(CLI::Range(1U, 100000U))
      ->capture_default_str();
  c->add_option("--seed", o.seed, "Seed: the whole experiment is a function of it")->capture_default_str();
  c->add_option("--json", o.json_file, "Write the results as JSON to FILE ('-' for stdout instead of the table)");
  return c;
}

int cmd_deanon_fingerprint(const FingerprintCliOptions& o) {
  deanon::FingerprintConfig cfg;
  cfg.nodes = o.nodes;
  cfg.degree = o.degree;
  cfg.shards = o.shards;
  cfg.observers = o.observers;
  cfg.observer_fraction = o.observer_fraction;
  cfg.validators = o.validators;
  cfg.days = o.days;
  cfg.epochs_per_day = o.epochs_per_day;
  cfg.epoch_length = Duration{static_cast<Duration::rep>(std::llround(o.epoch_s * 1e9))};
  cfg.cover_shards = o.cover_shards;
  cfg.peers_per_shard = o.peers_per_shard;
  cfg.mode = o.mode == "cover" ? deanon::SubscriptionMode::cover : deanon::SubscriptionMode::plain;
  cfg.runs = o.runs;
  cfg.seed = o.seed;
  if (Status st = cfg.validate(); !st) {
    std::fprintf(stderr, "shardnode: %s\n", st.error().what().c_str());
    return 2;
  }
  // The simulated nodes' shard managers log every jump at info: not this command's
  // output.
  logging::Options log;
  log.level = "warn";
  (void)logging::configure(log);
  deanon::FingerprintResult result;
  try {
    result = deanon::run_fingerprint(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shardnode: deanon-fingerprint: %s\n", e.what());
    return 1;
  }
  const bool json_stdout = o.json_file == "-";
  if (!json_stdout) std::cout << deanon::to_table(result) << std::flush;
  if (o.json_file.empty()) return 0;
  const std::string text = deanon::to_json(result).dump(2) + "\n";
  if (json_stdout) {
    std::cout << text;
    return 0;
  }
  std::ofstream f(o.json_file, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    std::fprintf(stderr, "shardnode: deanon-fingerprint: cannot write %s\n", o.json_file.c_str());
    return 1;
  }
  return 0;
}

}  // namespace shardnode::cli
