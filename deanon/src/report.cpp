#include "shardnode/deanon/report.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "json_fields.h"

namespace shardnode::deanon {
namespace {
using nlohmann::json;

const char* protocol_name(pubsub::PeerProtocol p) {
  switch (p) {
    case pubsub::PeerProtocol::floodsub:
      return "floodsub";
    case pubsub::PeerProtocol::meshsub_1_0:
      return "meshsub/1.0";
    case pubsub::PeerProtocol::meshsub_1_1:
      return "meshsub/1.1";
    case pubsub::PeerProtocol::meshsub_1_2:
      return "meshsub/1.2";
  }
  return "?";
}

struct Row {
  const char* adversary;  // or "cost"
  const char* name;
  const Summary* s;
};
std::vector<Row> rows(const ExperimentResult& r) {
  return {{"first-spy", "precision", &r.precision},
          {"first-spy", "recall", &r.recall},
          {"first-spy", "recall_on_stem", &r.recall_on_stem},
          {"first-spy", "accuracy", &r.accuracy},
          {"first-spy", "inverse_rank", &r.inverse_rank},
          {"timing", "posterior_precision", &r.posterior_precision},
          {"timing", "posterior_recall", &r.posterior_recall},
          {"timing", "entropy_bits", &r.entropy_bits},
          {"timing", "posterior_inverse_rank", &r.posterior_inverse_rank},
          {"timing", "truth_probability", &r.truth_probability},
          {"timing", "posterior_intersection_recall", &r.posterior_intersection_recall},
          {"intersection", "intersection_recall", &r.intersection_recall},
          {"intersection", "intersection_precision", &r.intersection_precision},
          {"cost", "latency_mean_ms", &r.latency_mean_ms},
          {"cost", "latency_p50_ms", &r.latency_p50_ms},
          {"cost", "latency_p95_ms", &r.latency_p95_ms},
          {"cost", "latency_p99_ms", &r.latency_p99_ms},
          {"cost", "delivered", &r.delivered}};
}

std::string fmt(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

nlohmann::json to_json(const ExperimentResult& r) {
  const ExperimentConfig& c = r.config;
  json config{{"nodes", c.nodes},
              {"topology", to_string(c.topology)},
              {"degree", c.topology == TopologyKind::random_regular ? json(c.degree) : json(nullptr)},
              {"latency_model", to_string(c.latency_model)},
              {"latency_ms", c.latency_model == LatencyModelKind::tor ? json(nullptr) : json(ms(c.latency))},
              {"tor_one_way_ms", c.latency_model == LatencyModelKind::tor
                                     ? json::array({kTorOneWayMinMs, kTorOneWayMaxMs}) : json(nullptr)},
              {"jitter_ms", ms(c.jitter)},
              {"spy_fraction", c.spy_fraction},
              {"supernode_connections", c.supernode_connections},
              {"placement", to_string(c.placement)},
              {"validators", c.validators},
              {"messages_per_validator", c.messages_per_validator},
              {"runs", c.runs},
              {"seed", c.seed},
              {"protocol", protocol_name(c.protocol)},
              {"flood_publish", c.flood_publish},
              {"stem", c.stem},
              {"fluff_probability", c.stem ? json(c.fluff_probability) : json(nullptr)},
              {"embargo_ms", c.stem ? json(ms(c.embargo)) : json(nullptr)},
              {"embargo_jitter_mean_ms", c.stem ? json(ms(c.embargo_jitter_mean)) : json(nullptr)},
              {"own_embargo_ms", c.stem ? json(ms(c.own_embargo)) : json(nullptr)},
              {"warmup_ms", ms(c.warmup)},
              {"message_interval_ms", ms(c.message_interval)},
              {"drain_ms", ms(c.drain)},
              {"posterior_probes", c.posterior_probes},
              {"graph_knowledge", c.graph_knowledge}};
  json metrics = json::object();
  for (const Row& row : rows(r)) metrics[row.name] = summary_json(*row.s);
  json runs = json::array();
  for (const RunResult& x : r.runs)
    runs.push_back(json{{"seed", x.seed},
                        {"spies", x.spies},
                        {"messages", x.messages},
                        {"guesses", x.guesses},
                        {"correct", x.correct},
                        {"precision", number(x.precision)},
                        {"accuracy", number(x.accuracy)},
                        {"recall", number(x.recall)},
                        {"recall_on_stem", number(x.recall_on_stem)},
                        {"inverse_rank", number(x.inverse_rank)},
                        {"posterior_precision", number(x.posterior_precision)},
                        {"posterior_recall", number(x.posterior_recall)},
                        {"entropy_bits", number(x.entropy_bits)},
                        {"posterior_inverse_rank", number(x.posterior_inverse_rank)},
                        {"truth_probability", number(x.truth_probability)},
                        {"posterior_intersection_recall", number(x.posterior_intersection_recall)},
                        {"calibration_samples", x.calibration_samples},
                        {"mean_publisher_degree", number(x.mean_publisher_degree)},
                        {"latency_mean_ms", number(x.latency_mean_ms)},
                        {"latency_p50_ms", number(x.latency_p50_ms)},
                        {"latency_p95_ms", number(x.latency_p95_ms)},
                        {"latency_p99_ms", number(x.latency_p99_ms)},
                        {"delivered", number(x.delivered)},
                        {"intersection_recall", number(x.intersection_recall)},
                        {"intersection_precision", number(x.intersection_precision)}});
  return json{{"adversaries", {"first-spy", "timing", "intersection"}},
              {"confidence_interval", "95% Student t over runs"},
              {"config", config},
              {"metrics", metrics},
              {"closed_form",
               {{"flooding_recall", number(r.flooding_recall_closed_form)},
                {"stem_line_precision", number(stem_line_precision(c.spy_fraction))},
                {"stem_line_recall", c.spy_fraction}}},
              {"runs", runs}};
}

std::string to_csv(const ExperimentResult& r) {
  const ExperimentConfig& c = r.config;
  std::ostringstream o;
  o << "adversary,metric,mean,ci95_low,ci95_high,runs,nodes,topology,degree,latency_ms,jitter_ms,spy_fraction,"
       "placement,validators,messages_per_validator,seed,protocol,flood_publish,stem,fluff_probability\n";
  std::ostringstream cfg;
  cfg << c.nodes << ',' << to_string(c.topology) << ','
      << (c.topology == TopologyKind::random_regular ? std::to_string(c.degree) : "") << ',' << fmt(ms(c.latency))
      << ',' << fmt(ms(c.jitter)) << ',' << fmt(c.spy_fraction) << ',' << to_string(c.placement) << ',' << c.validators
      << ',' << c.messages_per_validator << ',' << c.seed << ',' << protocol_name(c.protocol) << ','
      << (c.flood_publish ? "true" : "false") << ',' << (c.stem ? "true" : "false") << ','
      << (c.stem ? fmt(c.fluff_probability) : "");
  for (const Row& row : rows(r)) {
    const Summary& s = *row.s;
    o << row.adversary << ',' << row.name << ',' << fmt(s.mean) << ',' << (s.has_ci() ? fmt(s.ci_low) : "") << ','
      << (s.has_ci() ? fmt(s.ci_high) : "") << ',' << s.samples << ',' << cfg.str() << '\n';
  }
  return o.str();
}

std::string to_table(const ExperimentResult& r) {
  const ExperimentConfig& c = r.config;
  std::ostringstream o;
  char line[160];
  o << "first-spy, timing and intersection adversaries: " << c.nodes << " nodes, " << to_string(c.topology);
  if (c.topology == TopologyKind::random_regular) o << " d=" << c.degree;
  if (c.latency_model == LatencyModelKind::tor)
    std::snprintf(line, sizeof line, ", tor latency: each link U[%.0f, %.0f] ms + U[0, %.1f] ms, spies %.1f %% (%s), ",
                  kTorOneWayMinMs, kTorOneWayMaxMs, ms(c.jitter), c.spy_fraction * 100.0, to_string(c.placement));
  else
    std::snprintf(line, sizeof line, ", latency %.1f ms + U[0, %.1f] ms, spies %.1f %% (%s), ", ms(c.latency),
                  ms(c.jitter), c.spy_fraction * 100.0, to_string(c.placement));
  o << line << c.validators << " validators x " << c.messages_per_validator << " messages, " << c.runs << " runs, seed "
    << c.seed << "\n";
  if (c.supernode_connections > 0)
    o << "supernode observer: " << c.supernode_connections
      << (c.supernode_connections == 1 ? " identity" : " identities") << ", connected to every node\n";
  if (c.stem) {
    std::snprintf(line, sizeof line,
                  "privacy mode: stem (Dandelion++), q = %.3g, embargo %.0f ms (source %.0f ms) + Exp(%.0f ms)\n",
                  c.fluff_probability, ms(c.embargo), ms(c.own_embargo), ms(c.embargo_jitter_mean));
    o << line;
  } else {
    o << "privacy mode: none (" << (c.flood_publish ? "flood publishing" : "mesh-only publishing") << ")\n";
  }
  std::snprintf(line, sizeof line, "%-12s %-22s %10s %22s %6s\n", "adversary", "metric", "mean",
                "95% CI (t over runs)", "runs");
  o << line;
  for (const Row& row : rows(r)) {
    const Summary& s = *row.s;
    std::string ci = s.has_ci() ? "[" + fmt(s.ci_low) + ", " + fmt(s.ci_high) + "]" : "-";
    std::snprintf(line, sizeof line, "%-12s %-22s %10.4f %22s %6zu\n", row.adversary, row.name, s.mean, ci.c_str(),
                  s.samples);
    o << line;
  }
  std::snprintf(line, sizeof line, "closed form 1-(1-p)^d (first-spy recall on flooding when jitter < latency): %.4f\n",
                r.flooding_recall_closed_form);
  o << line;
  std::snprintf(line, sizeof line,
                "closed form on a stem line (q -> 0): precision p^2 ln(1/p)/(1-p) = %.4f, recall p = %.4f\n",
                stem_line_precision(c.spy_fraction), c.spy_fraction);
  o << line;
  return o.str();
}

}  // namespace shardnode::deanon
