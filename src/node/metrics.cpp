// The metrics registry (text exposition format 0.0.4) and the collector that reads
// a live node at scrape time. The HTTP server is in metrics_server.cpp.
#include "shardnode/node/metrics.h"

#include "shardnode/net/kad_service.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "shardnode/net/host.h"
#include "shardnode/node/shard_service.h"
#include "shardnode/pubsub/service.h"
#include "shardnode/shard/manager.h"
#include "shardnode/shard/topics.h"

namespace shardnode::node {

// ---------------------------------------------------------------- formatting

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.find(':') != std::string_view::npos) return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return false;  // reserved for Prometheus
  return valid_metric_name(name);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0.0) return "0";  // also -0
  char buf[64];
  // Integral values below 2^53 print without a fraction or exponent.
  if (std::fabs(v) < 9007199254740992.0 && v == std::trunc(v)) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    return ec == std::errc() ? std::string(buf, end) : "NaN";
  }
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

namespace {

// `name{a="b",c="d"} value`; `extra` is appended after the labels (le, quantile).
std::string sample(std::string_view name, const MetricLabels& labels, const MetricLabels& extra, double value) {
  std::string line(name);
  if (!labels.empty() || !extra.empty()) {
    line += '{';
    bool first = true;
    for (const auto* set : {&labels, &extra})
      for (const auto& [k, v] : *set) {
        if (!first) line += ',';
        first = false;
        line += k;
        line += "=\"";
        line += escape_label_value(v);
        line += '"';
      }
    line += '}';
  }
  line += ' ';
  line += format_metric_value(value);
  line += '\n';
  return line;
}

bool valid_labels(const MetricLabels& labels, std::string_view reserved) {
  std::set<std::string_view> seen;
  for (const auto& [k, v] : labels)
    if (!valid_label_name(k) || k == reserved || !seen.insert(k).second) return false;
  return true;
}

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
    case MetricType::summary: return "summary";
  }
  return "untyped";
}

}  // namespace

// ---------------------------------------------------------------- histogram, summary

Histogram::Histogram(std::vector<double> upper_bounds) {
  std::sort(upper_bounds.begin(), upper_bounds.end());
  for (double b : upper_bounds)
    if (std::isfinite(b) && (bounds_.empty() || b > bounds_.back())) bounds_.push_back(b);
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);  // first bound >= v
  ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += v;
  ++count_;
}

std::vector<std::uint64_t> Histogram::cumulative_counts() const {
  std::vector<std::uint64_t> out;
  out.reserve(bounds_.size());
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) out.push_back(acc += counts_[i]);
  return out;
}

SummaryData summarize(std::vector<double> values, const std::vector<double>& quantiles) {
  SummaryData s;
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }), values.end());
  std::sort(values.begin(), values.end());
  s.count = values.size();
  for (double v : values) s.sum += v;
  if (values.empty()) return s;
  for (double q : quantiles) {
    if (!(q >= 0.0 && q <= 1.0)) continue;
    // Nearest rank: the smallest value with at least q of the values at or below it.
    const double rank = std::ceil(q * static_cast<double>(values.size()));
    std::size_t i = rank < 1.0 ? 0 : static_cast<std::size_t>(rank) - 1;
    i = std::min(i, values.size() - 1);
    s.quantiles.emplace_back(q, values[i]);
  }
  return s;
}

// ---------------------------------------------------------------- registry

MetricsRegistry::Family* MetricsRegistry::family(std::string_view name, std::string_view help, MetricType type) {
  if (!valid_metric_name(name)) return nullptr;
  for (auto& f : families_)
    if (f.name == name) return f.type == type ? &f : nullptr;
  families_.push_back(Family{std::string(name), std::string(help), type, {}});
  return &families_.back();
}

void MetricsRegistry::counter(std::string_view name, std::string_view help, double value, MetricLabels labels) {
  if (!valid_labels(labels, "")) return;
  if (auto* f = family(name, help, MetricType::counter)) f->lines.push_back(sample(name, labels, {}, value));
}

void MetricsRegistry::gauge(std::string_view name, std::string_view help, double value, MetricLabels labels) {
  if (!valid_labels(labels, "")) return;
  if (auto* f = family(name, help, MetricType::gauge)) f->lines.push_back(sample(name, labels, {}, value));
}

void MetricsRegistry::histogram(std::string_view name, std::string_view help, const Histogram& h,
                                MetricLabels labels) {
  if (!valid_labels(labels, "le")) return;
  auto* f = family(name, help, MetricType::histogram);
  if (!f) return;
  const std::string base(name);
  const auto cum = h.cumulative_counts();
  for (std::size_t i = 0; i < cum.size(); ++i)
    f->lines.push_back(
        sample(base + "_bucket", labels, {{"le", format_metric_value(h.bounds()[i])}}, static_cast<double>(cum[i])));
  f->lines.push_back(sample(base + "_bucket", labels, {{"le", "+Inf"}}, static_cast<double>(h.count())));
  f->lines.push_back(sample(base + "_sum", labels, {}, h.sum()));
  f->lines.push_back(sample(base + "_count", labels, {}, static_cast<double>(h.count())));
}

void MetricsRegistry::summary(std::string_view name, std::string_view help, const SummaryData& s,
                              MetricLabels labels) {
  if (!valid_labels(labels, "quantile")) return;
  auto* f = family(name, help, MetricType::summary);
  if (!f) return;
  const std::string base(name);
  for (const auto& [q, v] : s.quantiles) f->lines.push_back(sample(base, labels, {{"quantile", format_metric_value(q)}}, v));
  f->lines.push_back(sample(base + "_sum", labels, {}, s.sum));
  f->lines.push_back(sample(base + "_count", labels, {}, static_cast<double>(s.count)));
}

std::string MetricsRegistry::render() const {
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + " " + type_name(f.type) + "\n";
    for (const auto& l : f.lines) out += l;
  }
  return out;
}

// ---------------------------------------------------------------- collector

MetricsCollector::MetricsCollector(MetricsSource src, std::vector<double> jump_buckets)
    : src_(std::move(src)), jumps_(std::move(jump_buckets)) {}

void MetricsCollector::observe_jump(const shard::JumpRecord& j) {
  if (j.completed) jumps_.observe(static_cast<double>(j.took_ms()) / 1000.0);
}

void MetricsCollector::collect(MetricsRegistry& r) const {
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  const auto peers = src_.host.peers();
  auto& router = src_.pubsub.router();
  const auto now = src_.pubsub.now();
  auto& manager = src_.shards.manager();

  // Connections.
  r.gauge("shardnode_peers", "Connected peers.", d(peers.size()));
  const auto& hc = src_.host.counters();
  constexpr std::string_view kDials = "Outbound dials by result (rejected: refused before dialling, e.g. by the "
                                      "connection limit or onion-only mode).";
  r.counter("shardnode_dials_total", kDials, d(hc.dials_succeeded), {{"result", "succeeded"}});
  r.counter("shardnode_dials_total", kDials, d(hc.dials_failed), {{"result", "failed"}});
  r.counter("shardnode_dials_total", kDials, d(hc.dials_rejected), {{"result", "rejected"}});
  constexpr std::string_view kInbound = "Inbound connections by result (rejected: over a connection limit).";
  r.counter("shardnode_inbound_connections_total", kInbound, d(hc.inbound_accepted), {{"result", "accepted"}});
  r.counter("shardnode_inbound_connections_total", kInbound, d(hc.inbound_rejected), {{"result", "rejected"}});

  // Pubsub.
  r.gauge("shardnode_pubsub_peers", "Connected peers speaking pubsub (floodsub or gossipsub).",
          d(router.peer_count()));
  std::set<std::string> topics(src_.topics.begin(), src_.topics.end());
  topics.insert(std::string(shard::kPreferenceTopic));
  for (std::uint32_t s : manager.shards()) topics.insert(shard::collation_topic(s));
  for (const auto& t : topics) {
    if (!router.subscribed(t)) continue;
    r.gauge("shardnode_mesh_peers", "Gossipsub mesh peers per subscribed topic.", d(router.mesh(t).size()),
            {{"topic", t}});
  }
  for (const auto& t : topics) {
    if (!router.subscribed(t)) continue;
    r.gauge("shardnode_topic_peers", "Peers subscribed to each of our subscribed topics.",
            d(router.topic_peers(t).size()), {{"topic", t}});
  }
  const auto& rc = router.counters();
  constexpr std::string_view kMsgs =
      "Pubsub messages by kind, node-wide (received: from peers, before duplicate detection; duplicate, "
      "invalid, ignored: by validation; unsubscribed: on a topic we are not on, dropped and penalised, also "
      "counted as ignored; delivered: to the application; published: ours; forwarded: sends of others' "
      "messages; graylisted: left unread, the rest of an RPC whose sender fell below the graylist in it).";
  const std::pair<const char*, std::uint64_t> kinds[] = {
      {"received", rc.messages_received},   {"delivered", rc.messages_delivered}, {"duplicate", rc.messages_duplicate},
      {"invalid", rc.messages_invalid},     {"ignored", rc.messages_ignored},     {"published", rc.messages_published},
      {"forwarded", rc.messages_forwarded}, {"unsubscribed", rc.messages_unsubscribed},
      {"graylisted", rc.messages_graylisted}};
  for (const auto& [kind, v] : kinds) r.counter("shardnode_pubsub_messages_total", kMsgs, d(v), {{"kind", kind}});
  constexpr std::string_view kChoke =
      "Choke extension, node-wide: CHOKE and UNCHOKE sent (choke_sent, unchoke_sent: we choke mesh peers only "
      "with pubsub choking on) and received (choke_received, unchoke_received); announced: messages we sent "
      "as IHAVE instead of pushing, because the peer had choked us.";
  const std::pair<const char*, std::uint64_t> choke_kinds[] = {
      {"choke_sent", rc.chokes_sent},         {"unchoke_sent", rc.unchokes_sent}, {"choke_received", rc.chokes_received},
      {"unchoke_received", rc.unchokes_received}, {"announced", rc.sends_lazy}};
  for (const auto& [kind, v] : choke_kinds) r.counter("shardnode_pubsub_choke_total", kChoke, d(v), {{"kind", kind}});
  r.counter("shardnode_pubsub_latency_swaps_total",
            "Latency-aware mesh (pubsub.latency_aware): slow mesh peers pruned for a clearly faster peer.",
            d(rc.latency_swaps));
  const auto& sc = src_.pubsub.counters();
  constexpr std::string_view kRpcs =
      "Pubsub RPCs by kind (in, out, malformed: undecodable input, dropped: not sent because the peer's "
      "send buffer was full).";
  r.counter("shardnode_pubsub_rpcs_total", kRpcs, d(sc.rpcs_in), {{"kind", "in"}});
  r.counter("shardnode_pubsub_rpcs_total", kRpcs, d(sc.rpcs_out), {{"kind", "out"}});
  r.counter("shardnode_pubsub_rpcs_total", kRpcs, d(sc.rpcs_malformed), {{"kind", "malformed"}});
  r.counter("shardnode_pubsub_rpcs_total", kRpcs, d(sc.rpcs_dropped_queue_full), {{"kind", "dropped"}});
  const auto& ic = src_.pubsub.inbound().counters();
  constexpr std::string_view kBudgets =
      "Inbound budgets (pubsub.inbound_budgets): admitted and refused inbound identities (admission rate), "
      "throttled reads (a peer paused until its budget refills), demoted peers (back to the new-peer budget "
      "after a negative score).";
  r.counter("shardnode_pubsub_inbound_total", kBudgets, d(ic.admitted), {{"kind", "admitted"}});
  r.counter("shardnode_pubsub_inbound_total", kBudgets, d(ic.refused), {{"kind", "refused"}});
  r.counter("shardnode_pubsub_inbound_total", kBudgets, d(ic.throttled), {{"kind", "throttled"}});
  r.counter("shardnode_pubsub_inbound_total", kBudgets, d(ic.demoted), {{"kind", "demoted"}});
  r.counter("shardnode_pubsub_slow_peers_dropped_total",
            "Peers disconnected because their outbound queue did not move for the stall time.",
            d(sc.slow_peers_dropped));
  r.counter("shardnode_pubsub_validation_dropped_total",
            "Messages dropped unvalidated because the validation queue was full.", d(rc.validation_queue_dropped));

  // The stem phase (pubsub.stem): counts only - never a peer, a message, or whether
  // we are a diffuser this epoch.
  if (const pubsub::StemState* stem = router.stem()) {
    const auto& st = stem->counters();
    constexpr std::string_view kStem =
        "Stem-phase (Dandelion++) events: originated (our messages sent on the stem), relayed (others' passed "
        "on), fluffed (stem ended here: into gossip), embargo_fired (a held message gossiped when its embargo "
        "lapsed), loop (a stem message we already held), loop_passed_on (such a message passed on once more on the relay route), no_route, rate_limited, malformed, "
        "not_our_topic (refused or not gossiped: a topic we are not on), not_held (embargo table full).";
    const std::pair<const char*, std::uint64_t> events[] = {
        {"originated", st.originated},       {"relayed", st.relayed},           {"fluffed", st.fluffed},
        {"embargo_fired", st.embargo_fired}, {"loop", st.loops},                {"loop_passed_on", st.loops_passed_on},
        {"no_route", st.no_route},
        {"rate_limited", st.rate_limited},   {"malformed", st.malformed},       {"not_our_topic", st.not_our_topic},
        {"not_held", st.not_held}};
    for (const auto& [event, v] : events) r.counter("shardnode_stem_messages_total", kStem, d(v), {{"event", event}});
    r.counter("shardnode_stem_unsupported_peers_total", "Peers that refused the stem protocol (routed around).",
              d(st.unsupported_peers));
    r.gauge("shardnode_stem_held", "Messages held under a stem embargo.", d(stem->held_count()));
  }

  // Scores: aggregates over the connected peers only, never per peer (see metrics.h).
  std::vector<double> scores;
  scores.reserve(peers.size());
  std::size_t negative = 0;
  for (const auto& p : peers) {
    const double s = router.score(p, now);
    scores.push_back(s);
    if (s < 0) ++negative;
  }
  r.summary("shardnode_peer_score",
            "Gossipsub scores of the connected peers at scrape time (a snapshot over peers, not over time; "
            "no per-peer series).",
            summarize(std::move(scores), kScoreQuantiles));
  r.gauge("shardnode_peers_negative_score", "Connected peers whose gossipsub score is below zero.", d(negative));
  r.gauge("shardnode_flagged_peers", "Peers currently flagged as spam sources (score below the graylist threshold).",
          d(router.flagged_peers().size()));
  r.counter("shardnode_peers_flagged_total", "Times a peer was flagged as a spam source.", d(rc.peers_flagged));

  // Shards.
  r.histogram("shardnode_shard_jump_seconds", "Time from a shard jump's start to its mesh being grafted (completed "
                                              "jumps only).",
              jumps_);
  const auto& mc = manager.counters();
  constexpr std::string_view kJumps = "Finished shard jumps by result.";
  r.counter("shardnode_shard_jumps_total", kJumps, d(mc.jumps_completed), {{"result", "completed"}});
  r.counter("shardnode_shard_jumps_total", kJumps, d(mc.jumps_failed), {{"result", "timed_out"}});
  std::size_t in_progress = 0;
  for (std::uint32_t s : manager.shards())
    if (manager.jump_in_progress(s)) ++in_progress;
  r.gauge("shardnode_shard_jumps_in_progress", "Shard jumps started and not finished.", d(in_progress));
  r.gauge("shardnode_shards_joined", "Shards we are on.", d(manager.shards().size()));
  r.gauge("shardnode_shard_cover_shards", "Cover shards we are on (shard.cover_shards); not which.",
          d(manager.cover_shards().size()));
  r.counter("shardnode_shard_cover_rotations_total", "Cover-shard redraws (shard.cover_epoch_s).",
            d(mc.cover_rotations));
  r.gauge("shardnode_shard_table_entries", "Peers in the shard preference table.", d(manager.table().size()));
  constexpr std::string_view kRecords = "Shard preference records received, by verdict.";
  r.counter("shardnode_shard_records_total", kRecords, d(mc.records_accepted), {{"result", "accepted"}});
  r.counter("shardnode_shard_records_total", kRecords, d(mc.records_rejected), {{"result", "rejected"}});
  r.counter("shardnode_shard_records_total", kRecords, d(mc.records_ignored), {{"result", "ignored"}});
  constexpr std::string_view kCollations = "Collations on our shards' topics, by verdict (each counted once; throttled: ignored unchecked, the "
      "validation workers' queue was full).";
  r.counter("shardnode_collations_total", kCollations, d(src_.shards.collations_accepted()), {{"result", "accepted"}});
  r.counter("shardnode_collations_total", kCollations, d(src_.shards.collations_rejected()), {{"result", "rejected"}});
  r.counter("shardnode_collations_total", kCollations, d(src_.shards.validations_refused()), {{"result", "throttled"}});

  // Discovery.
  if (src_.peer_store) {
    const auto [stored, reachable] = src_.peer_store();
    r.gauge("shardnode_peer_store_peers", "Peers in the peer store (<datadir>/peers.db).", d(stored));
    r.gauge("shardnode_peer_store_reachable_peers",
            "Peers in the peer store that answered once and have not failed 5 dials in a row since.", d(reachable));
  }
  if (src_.dht) {
    const auto& dc = src_.dht->counters();
    r.gauge("shardnode_dht_routing_table_peers", "Peers in the DHT's routing table.", d(src_.dht->table().size()));
    constexpr std::string_view kReq = "DHT requests: served (in), refused as malformed, sent (out), failed (no "
                                      "answer, dial or stream error).";
    r.counter("shardnode_dht_requests_total", kReq, d(dc.requests_in), {{"kind", "in"}});
    r.counter("shardnode_dht_requests_total", kReq, d(dc.requests_refused), {{"kind", "refused"}});
    r.counter("shardnode_dht_requests_total", kReq, d(dc.requests_out), {{"kind", "out"}});
    r.counter("shardnode_dht_requests_total", kReq, d(dc.requests_failed), {{"kind", "failed"}});
    r.counter("shardnode_dht_lookups_total", "DHT lookups started (find, providers, provide, records).", d(dc.lookups));
    constexpr std::string_view kProv = "ADD_PROVIDER announcements we were sent, by result.";
    r.counter("shardnode_dht_providers_total", kProv, d(dc.providers_stored), {{"result", "stored"}});
    r.counter("shardnode_dht_providers_total", kProv, d(dc.providers_refused), {{"result", "refused"}});
    constexpr std::string_view kRec = "Signed peer records we were sent (PUT_VALUE), by result.";
    r.counter("shardnode_dht_records_total", kRec, d(dc.records_stored), {{"result", "stored"}});
    r.counter("shardnode_dht_records_total", kRec, d(dc.records_refused), {{"result", "refused"}});
  }

  // Tor.
  if (src_.tor_bootstrap_percent)
    r.gauge("shardnode_tor_bootstrap_percent", "Tor bootstrap progress, 0-100.",
            static_cast<double>(src_.tor_bootstrap_percent()));
  if (src_.onion_published)
    r.gauge("shardnode_onion_published", "1 once our onion service descriptor has been published, else 0.",
            src_.onion_published() ? 1.0 : 0.0);
}

std::string MetricsCollector::scrape() const {
  MetricsRegistry r;
  collect(r);
  return r.render();
}

}  // namespace shardnode::node
