// The live experiment (issue 16): the adversaries of this folder on receipt logs
// recorded by real `shardnode run` processes over the private Tor network
// (`run --test-receipt-log`, scripts/deanon_live.py), and the simulator's
// prediction for the same connection graph, spies, validators and measured link
// latency beside them.
//
// A run directory holds `run.json` (the manifest the runner writes):
//   {"mode": "plain"|"private", "topic": T, "window": [t0, t1] (unix s),
//    "stem": {"fluff": q, "embargo_ms": E, "embargo_jitter_ms": J, "own_embargo_ms": O},
//    "flood_publish": bool, "message_interval_ms": M,
//    "nodes": [{"name", "peer_id", "spy": bool, "receipts": path, "events": path}]}
// (paths relative to the directory), each node's receipt log (JSON lines: t (unix
// s), kind own|gossip|stem|deliver, topic, id (hex), from (peer id, gossip and stem))
// and its events file (`connected` / `disconnected` with the peer and direction).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/deanon/experiment.h"

namespace shardnode::deanon {

// What the run directory says, turned into the harness's terms.
struct LiveRun {
  std::string name;  // the directory's name
  std::string mode;  // plain | private
  std::vector<std::string> node_names;
  RunLogs logs;  // honest publishers' messages on the topic published inside the window
  // Connections up at any moment of the window, (dialler, listener), each pair once.
  std::vector<std::pair<NodeIndex, NodeIndex>> edges;
  std::vector<NodeIndex> spies, validators;
  std::map<pubsub::MessageId, ProbeSent> probes;  // the spies' own messages on the topic
  std::vector<ProbeReceipt> probe_receipts;       // spies' gossip receipts of them, in time order
  // One-hop delay minus the publish: in plain mode each neighbour's first gossip
  // receipt straight from the source; in private mode the source's first stem send
  // (the earliest stem receipt from it; later ones are loops passed on again).
  std::vector<double> one_hop_ms;
  StemKnowledge stem;  // q from the manifest; p = spies / nodes
  ExperimentConfig sim;  // the simulator's twin: graph, spies, validators, latency, stem
  std::uint64_t receipts = 0, unknown_senders = 0, messages_outside_window = 0;
};

// Reads and checks a run directory. Errors name the file and line.
Result<LiveRun> load_live_run(const std::filesystem::path& dir);

// The adversaries on one live run: first spy, and the timing adversary calibrated
// by the spies' own messages (the whole graph known, as with --graph-knowledge 1).
RunResult score_live_run(const LiveRun& run);

struct LiveComparison {
  std::string mode;
  std::vector<LiveRun> runs;          // the graphs, without the logs
  std::vector<RunResult> live;        // one per run
  ExperimentResult live_summary;      // `live` summarised over runs (config: the first run's twin)
  std::vector<RunResult> simulated;   // `sim_runs` per live run, on its twin
  ExperimentResult simulated_summary; // summarised over every simulated run
  double one_hop_p05_ms = 0, one_hop_p50_ms = 0, one_hop_p95_ms = 0;
};

// Every run of one mode, and `sim_runs` simulator runs on each run's twin.
Result<LiveComparison> compare_live(const std::vector<std::filesystem::path>& dirs, std::uint32_t sim_runs,
                                    std::uint64_t seed);

std::string to_json(const LiveComparison& c);
std::string to_table(const LiveComparison& c);

}  // namespace shardnode::deanon
