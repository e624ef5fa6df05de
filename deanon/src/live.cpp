#include "shardnode/deanon/live.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "json_fields.h"
#include "shardnode/core/bytes.h"
#include "shardnode/core/errors.h"
#include "shardnode/deanon/report.h"
#include "units.h"

namespace shardnode::deanon {
namespace {
using nlohmann::json;
namespace fs = std::filesystem;

Error bad(const std::string& what) { return Error{make_error_code(ConfigErrc::invalid_value), "deanon live: " + what}; }

Result<json> read_json_file(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return bad("cannot read " + p.string());
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return bad(p.string() + ": not JSON");
  return j;
}

// Each line of a JSON-lines file; a line that is not a JSON object is an error
// (naming the line) except a torn last line, which a stopped process can leave.
Result<std::vector<json>> read_json_lines(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return bad("cannot read " + p.string());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(std::move(line));
  std::vector<json> out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    json j = json::parse(lines[i], nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      if (i + 1 == lines.size()) break;
      return bad(p.string() + ":" + std::to_string(i + 1) + ": not a JSON object");
    }
    out.push_back(std::move(j));
  }
  return out;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  return nearest_rank(v, q);
}

struct Receipt {
  double t = 0;
  std::string kind;  // own | gossip | stem | deliver
  std::string from;  // gossip and stem
  pubsub::MessageId id;
};

}  // namespace

Result<LiveRun> load_live_run(const fs::path& dir) {
  auto manifest = read_json_file(dir / "run.json");
  if (!manifest) return manifest.error();
  const json& m = *manifest;
  LiveRun run;
  run.name = dir.filename().string();
  std::string topic;
  double t0 = 0, t1 = 0;
  try {
    run.mode = m.at("mode").get<std::string>();
    topic = m.at("topic").get<std::string>();
    t0 = m.at("window").at(0).get<double>();
    t1 = m.at("window").at(1).get<double>();
    if (!(t1 > t0)) return bad("run.json: the window must end after it starts");
    if (run.mode != "plain" && run.mode != "private") return bad("run.json: mode must be plain or private");
  } catch (const json::exception& e) {
    return bad("run.json: " + std::string(e.what()));
  }
  // The node list: names, peer ids, spies.
  std::map<std::string, NodeIndex> index;  // peer id -> node
  std::vector<fs::path> receipts_files, events_files;
  std::vector<bool> is_spy;
  try {
    for (const json& n : m.at("nodes")) {
      const auto peer = n.at("peer_id").get<std::string>();
      if (!index.emplace(peer, static_cast<NodeIndex>(run.node_names.size())).second)
        return bad("run.json: peer " + peer + " listed twice");
      run.node_names.push_back(n.at("name").get<std::string>());
      is_spy.push_back(n.at("spy").get<bool>());
      receipts_files.push_back(dir / n.at("receipts").get<std::string>());
      events_files.push_back(dir / n.at("events").get<std::string>());
    }
  } catch (const json::exception& e) {
    return bad("run.json: nodes: " + std::string(e.what()));
  }
  const auto nodes = static_cast<NodeIndex>(run.node_names.size());
  if (nodes < 3) return bad("run.json: need at least 3 nodes");
  for (NodeIndex n = 0; n < nodes; ++n) (is_spy[n] ? run.spies : run.validators).push_back(n);
  if (run.spies.empty()) return bad("run.json: no spy");

  // The graph: connections up at any moment of [t0, t1], as either end logged them.
  std::map<std::pair<NodeIndex, NodeIndex>, NodeIndex> dialler;  // {low, high} -> who dialled
  for (NodeIndex n = 0; n < nodes; ++n) {
    auto events = read_json_lines(events_files[n]);
    if (!events) return events.error();
    std::map<NodeIndex, std::pair<double, bool>> open;  // peer -> (since, we dialled)
    auto close = [&](NodeIndex peer, double until) {
      const auto it = open.find(peer);
      if (it == open.end()) return;
      if (it->second.first <= t1 && until >= t0) {
        const NodeIndex a = it->second.second ? n : peer, b = it->second.second ? peer : n;
        dialler.try_emplace({std::min(a, b), std::max(a, b)}, a);
      }
      open.erase(it);
    };
    for (const json& e : *events) {
      const std::string ev = e.value("event", "");
      if (ev != "connected" && ev != "disconnected") continue;
      const auto p = index.find(e.value("peer", ""));
      if (p == index.end() || p->second == n) continue;
      const double t = e.value("t", 0.0);
      close(p->second, t);
      if (ev == "connected") open[p->second] = {t, e.value("direction", "") == "outbound"};
    }
    for (const auto& [peer, since] : std::map(open)) close(peer, t1);
  }
  run.logs.graph.assign(nodes, {});
  for (const auto& [pair, a] : dialler) {
    const NodeIndex b = a == pair.first ? pair.second : pair.first;
    run.edges.emplace_back(a, b);
    run.logs.graph[a].push_back(b);
    run.logs.graph[b].push_back(a);
  }
  for (auto& nb : run.logs.graph) std::sort(nb.begin(), nb.end());

  // Receipts on the topic.
  std::vector<std::vector<Receipt>> receipts(nodes);
  for (NodeIndex n = 0; n < nodes; ++n) {
    auto lines = read_json_lines(receipts_files[n]);
    if (!lines) return lines.error();
    for (const json& l : *lines) {
      if (l.value("topic", "") != topic) continue;
      Receipt r;
      r.t = l.value("t", 0.0);
      r.kind = l.value("kind", "");
      r.from = l.value("from", "");
      auto id = hex_decode(l.value("id", ""));
      if (!id || id->empty() || (r.kind != "own" && r.kind != "gossip" && r.kind != "stem" && r.kind != "deliver"))
        return bad(receipts_files[n].string() + ": a receipt without an id or with an unknown kind");
      r.id = std::move(*id);
      receipts[n].push_back(std::move(r));
      ++run.receipts;
    }
    std::stable_sort(receipts[n].begin(), receipts[n].end(), [](const Receipt& a, const Receipt& b) { return a.t < b.t; });
  }
  auto at = [&](double t) { return duration_ms((t - t0) * 1000.0); };

  // The truth (honest nodes' own messages in the window) and the probes (spies').
  std::map<pubsub::MessageId, double> published;
  for (NodeIndex n = 0; n < nodes; ++n)
    for (const Receipt& r : receipts[n]) {
      if (r.kind != "own") continue;
      if (r.t < t0 || r.t > t1) {
        ++run.messages_outside_window;
        continue;
      }
      published[r.id] = r.t;
      if (is_spy[n]) run.probes[r.id] = ProbeSent{n, at(r.t)};
      else run.logs.truth[r.id] = n;
    }
  if (run.logs.truth.empty()) return bad(run.name + ": no honest message published inside the window");

  // The spies' logs: first receipt per (spy, sender) of each message, stem or gossip.
  std::set<std::tuple<pubsub::MessageId, NodeIndex, NodeIndex>> seen;
  const bool private_mode = run.mode == "private";
  std::map<std::pair<pubsub::MessageId, NodeIndex>, double> first_from_source;  // (message, receiver) -> delay
  std::vector<std::tuple<double, NodeIndex, NodeIndex, pubsub::MessageId>> probe_receipts;  // (t, spy, from, id)
  for (NodeIndex n = 0; n < nodes; ++n)
    for (const Receipt& r : receipts[n]) {
      if (r.kind != "gossip" && r.kind != "stem") continue;
      const auto sender = index.find(r.from);
      if (sender == index.end()) {
        ++run.unknown_senders;
        continue;
      }
      const NodeIndex from = sender->second;
      const auto truth = run.logs.truth.find(r.id);
      if (truth != run.logs.truth.end() && from == truth->second && (r.kind == "stem") == private_mode)
        first_from_source.try_emplace({r.id, n}, (r.t - published[r.id]) * 1000.0);
      if (!is_spy[n]) continue;
      if (truth != run.logs.truth.end() && seen.insert({r.id, n, from}).second)
        run.logs.observations[r.id].push_back(SpyObservation{n, from, at(r.t), r.kind == "stem"});
      if (run.probes.count(r.id) && r.kind == "gossip") probe_receipts.emplace_back(r.t, n, from, r.id);
    }
  std::sort(probe_receipts.begin(), probe_receipts.end());
  for (auto& [t, spy, from, id] : probe_receipts) run.probe_receipts.push_back(ProbeReceipt{id, spy, from, at(t)});
  if (private_mode) {
    // On the stem only the source's first send is one hop: a later stem copy from the
    // source is its message come back round a loop and passed on again.
    std::map<pubsub::MessageId, double> first_hop;
    for (const auto& [key, d] : first_from_source) {
      const auto [it, fresh] = first_hop.try_emplace(key.first, d);
      if (!fresh) it->second = std::min(it->second, d);
    }
    for (const auto& [id, d] : first_hop) run.one_hop_ms.push_back(d);
  } else {
    for (const auto& [key, d] : first_from_source) run.one_hop_ms.push_back(d);
  }

  // Deliveries at the other honest nodes.
  for (NodeIndex n = 0; n < nodes; ++n) {
    if (is_spy[n]) continue;
    std::set<pubsub::MessageId> got;
    for (const Receipt& r : receipts[n]) {
      if (r.kind != "deliver" || !got.insert(r.id).second) continue;
      const auto truth = run.logs.truth.find(r.id);
      if (truth == run.logs.truth.end() || truth->second == n) continue;
      run.logs.latencies_ms.push_back((r.t - published[r.id]) * 1000.0);
    }
  }
  run.logs.is_spy = is_spy;
  run.logs.honest = run.validators.size();
  std::set<NodeIndex> publishers;
  for (const auto& [id, source] : run.logs.truth) publishers.insert(source);
  run.logs.validators = publishers.size();
  run.logs.spy_fraction = static_cast<double>(run.spies.size()) / static_cast<double>(nodes);
  run.stem.spy_fraction = run.logs.spy_fraction;

  // The simulator's twin.
  ExperimentConfig& c = run.sim;
  c.nodes = nodes;
  c.topology = TopologyKind::given;
  c.edges = run.edges;
  c.fixed_spies = run.spies;
  c.fixed_validators.assign(publishers.begin(), publishers.end());
  c.validators = static_cast<std::uint32_t>(publishers.size());
  c.spy_fraction = run.logs.spy_fraction;
  c.messages_per_validator = static_cast<std::uint32_t>(
      std::max<std::size_t>(1, run.logs.truth.size() / std::max<std::size_t>(1, publishers.size())));
  // Link latency as measured: L = the 5th percentile of the one-hop delays, J = the
  // 95th minus the 5th (the simulator draws L + U[0, J] per message).
  if (!run.one_hop_ms.empty()) {
    const double lo = quantile(run.one_hop_ms, 0.05), hi = quantile(run.one_hop_ms, 0.95);
    c.latency = duration_ms(std::max(lo, 0.1));
    c.jitter = duration_ms(std::max(hi - lo, 0.0));
  }
  try {
    c.flood_publish = m.value("flood_publish", !private_mode);
    c.message_interval = duration_ms(m.value("message_interval_ms", 50.0));
    if (private_mode) {
      const json& s = m.at("stem");
      c.stem = true;
      c.fluff_probability = s.at("fluff").get<double>();
      c.embargo = duration_ms(s.at("embargo_ms").get<double>());
      c.embargo_jitter_mean = duration_ms(s.at("embargo_jitter_ms").get<double>());
      c.own_embargo = duration_ms(s.at("own_embargo_ms").get<double>());
      run.stem.fluff_probability = c.fluff_probability;
    }
  } catch (const json::exception& e) {
    return bad("run.json: stem: " + std::string(e.what()));
  }
  c.warmup = std::chrono::seconds(10);
  c.drain = std::max<Duration>(std::chrono::seconds(30), c.own_embargo + 10 * c.embargo_jitter_mean);
  if (Status st = c.validate(); !st) return bad(run.name + ": its twin: " + st.error().what());
  return run;
}

RunResult score_live_run(const LiveRun& run) {
  const std::vector<bool> transit(run.logs.graph.size(), true);
  LatencyModel model =
      calibrate_from_probes(run.probes, run.probe_receipts, run.logs.graph, run.logs.graph, run.logs.is_spy, transit);
  std::optional<PosteriorAdversary> timing;
  if (model.valid()) {
    std::optional<StemKnowledge> stem;
    if (run.mode == "private") stem = run.stem;
    timing.emplace(run.logs.graph, run.logs.is_spy, model, stem, transit);
  }
  RunResult r = score_run(run.logs, timing ? &*timing : nullptr);
  r.spies = static_cast<std::uint32_t>(run.spies.size());
  r.calibration_samples = model.samples;
  return r;
}

Result<LiveComparison> compare_live(const std::vector<fs::path>& dirs, std::uint32_t sim_runs, std::uint64_t seed) {
  if (dirs.empty()) return bad("no run directory");
  LiveComparison c;
  std::vector<double> one_hop;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    auto run = load_live_run(dirs[i]);
    if (!run) return run.error();
    if (!c.mode.empty() && c.mode != run->mode) return bad("runs of different modes: " + c.mode + " and " + run->mode);
    c.mode = run->mode;
    c.live.push_back(score_live_run(*run));
    one_hop.insert(one_hop.end(), run->one_hop_ms.begin(), run->one_hop_ms.end());
    ExperimentConfig twin = run->sim;
    twin.runs = sim_runs;
    twin.seed = seed + i;
    for (std::uint32_t k = 0; k < sim_runs; ++k) c.simulated.push_back(run_once(twin, k));
    run->logs = RunLogs{};  // the logs are scored; keep the graph and the twin
    run->probe_receipts.clear();
    c.runs.push_back(std::move(*run));
  }
  c.live_summary = summarize_runs(c.runs.front().sim, c.live);
  ExperimentConfig sim_cfg = c.runs.front().sim;
  sim_cfg.runs = sim_runs;
  c.simulated_summary = summarize_runs(sim_cfg, c.simulated);
  c.one_hop_p05_ms = quantile(one_hop, 0.05);
  c.one_hop_p50_ms = quantile(one_hop, 0.50);
  c.one_hop_p95_ms = quantile(one_hop, 0.95);
  return c;
}

namespace {

struct Metric {
  const char* name;
  Summary ExperimentResult::*summary;
};
constexpr Metric kMetrics[] = {
    {"first-spy precision", &ExperimentResult::precision},
    {"first-spy recall", &ExperimentResult::recall},
    {"first-spy recall on the stem", &ExperimentResult::recall_on_stem},
    {"timing precision", &ExperimentResult::posterior_precision},
    {"timing recall", &ExperimentResult::posterior_recall},
    {"timing entropy (bits)", &ExperimentResult::entropy_bits},
    {"delivery p50 (ms)", &ExperimentResult::latency_p50_ms},
    {"delivery p95 (ms)", &ExperimentResult::latency_p95_ms},
    {"delivery p99 (ms)", &ExperimentResult::latency_p99_ms},
    {"delivered", &ExperimentResult::delivered},
};

std::string cell(const Summary& s) {
  if (!std::isfinite(s.mean)) return "-";
  char buf[96];
  if (s.has_ci() && std::isfinite(s.ci_low))
    std::snprintf(buf, sizeof buf, "%.3g [%.3g, %.3g]", s.mean, s.ci_low, s.ci_high);
  else
    std::snprintf(buf, sizeof buf, "%.3g", s.mean);
  return buf;
}

}  // namespace

std::string to_json(const LiveComparison& c) {
  json runs = json::array();
  for (std::size_t i = 0; i < c.runs.size(); ++i) {
    const LiveRun& r = c.runs[i];
    const RunResult& l = c.live[i];
    runs.push_back(json{{"run", r.name},
                        {"nodes", r.node_names.size()},
                        {"spies", r.spies.size()},
                        {"edges", r.edges.size()},
                        {"messages", l.messages},
                        {"receipts", r.receipts},
                        {"unknown_senders", r.unknown_senders},
                        {"calibration_samples", l.calibration_samples},
                        {"twin_latency_ms", ms(r.sim.latency)},
                        {"twin_jitter_ms", ms(r.sim.jitter)},
                        {"recall", number(l.recall)},
                        {"posterior_recall", number(l.posterior_recall)},
                        {"latency_p99_ms", number(l.latency_p99_ms)}});
  }
  json live, sim;
  for (const Metric& m : kMetrics) {
    live[m.name] = summary_json(c.live_summary.*m.summary);
    sim[m.name] = summary_json(c.simulated_summary.*m.summary);
  }
  return json{{"mode", c.mode},
              {"runs", runs},
              {"one_hop_ms", {{"p05", number(c.one_hop_p05_ms)}, {"p50", number(c.one_hop_p50_ms)},
                              {"p95", number(c.one_hop_p95_ms)}}},
              {"live", live},
              {"simulated", sim},
              {"simulated_runs", c.simulated.size()}}
      .dump(2);
}

std::string to_table(const LiveComparison& c) {
  std::ostringstream o;
  o << "mode " << c.mode << ": " << c.live.size() << " live runs, " << c.simulated.size()
    << " simulated runs on their twins; one-hop delay p05/p50/p95 " << cell(Summary{c.one_hop_p05_ms}) << " / "
    << cell(Summary{c.one_hop_p50_ms}) << " / " << cell(Summary{c.one_hop_p95_ms}) << " ms\n";
  char head[160];
  std::snprintf(head, sizeof head, "%-30s %-28s %-28s\n", "metric (mean [95% CI])", "live", "simulated");
  o << head;
  for (const Metric& m : kMetrics) {
    char line[200];
    std::snprintf(line, sizeof line, "%-30s %-28s %-28s\n", m.name, cell(c.live_summary.*m.summary).c_str(),
                  cell(c.simulated_summary.*m.summary).c_str());
    o << line;
  }
  for (std::size_t i = 0; i < c.runs.size(); ++i) {
    const LiveRun& r = c.runs[i];
    const RunResult& l = c.live[i];
    o << "  " << r.name << ": " << r.node_names.size() << " nodes, " << r.spies.size() << " spies, " << r.edges.size()
      << " edges, " << l.messages << " messages, " << l.calibration_samples << " calibration samples, twin "
      << ms(r.sim.latency) << " ms + U[0, " << ms(r.sim.jitter) << "]\n";
  }
  return o.str();
}

}  // namespace shardnode::deanon
