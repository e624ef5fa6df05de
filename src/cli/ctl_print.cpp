#include "ctl_print.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <iomanip>
#include <sstream>
#include <vector>

#include "shardnode/core/bytes.h"

namespace shardnode::cli {
namespace {
namespace pb = shardnode::control::v1;

std::string hex(const std::string& b) { return hex_encode(as_bytes(b)); }

template <class R>
std::string join_uints(const R& r) {
  std::string s;
  for (auto v : r) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s.empty() ? "-" : s;
}

std::string printable_or_hex(const std::string& b) {
  for (char c : b) {
    const auto ch = static_cast<unsigned char>(c);
    if (ch < 0x20 || ch > 0x7e) return "hex:" + hex(b);
  }
  return b;
}

std::string fixed(double v, int prec = 2) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(prec) << v;
  return o.str();
}

// Left-aligned columns, widths from the content.
void print_table(std::ostream& out, const std::vector<std::string>& head,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) w[i] = head[i].size();
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (std::size_t i = 0; i < r.size(); ++i) {
      s += r[i];
      if (i + 1 < r.size()) s += std::string(w[i] - r[i].size() + 2, ' ');
    }
    out << s << "\n";
  };
  line(head);
  for (const auto& r : rows) line(r);
}

std::string fmt_unix(std::uint64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// ---------------------------------------------------------------------------------
// One printer per Response.result.

void print_error(std::ostream& out, const pb::Response& r, bool) {
  out << "error " << pb::Error::Code_Name(r.error().code()) << ": " << r.error().message() << "\n";
}

void print_identity(std::ostream& out, const pb::Response& r, bool) {
  const auto& i = r.identity();
  out << "peer id:          " << i.peer_id() << "\n";
  for (int k = 0; k < i.listen_addrs_size(); ++k)
    out << (k == 0 ? "listen addresses: " : "                  ") << i.listen_addrs(k) << "\n";
  if (i.listen_addrs_size() == 0) out << "listen addresses: -\n";
  out << "validator key:    " << (i.validator_key().empty() ? "- (not a validator)" : hex(i.validator_key())) << "\n"
      << "shards:           " << join_uints(i.shards()) << " (of " << i.shard_count() << ")\n"
      << "version:          " << i.version() << "\n"
      << "tor bootstrap:    " << i.tor_bootstrap() << "%\n"
      << "onion service:    " << (i.onion_published() ? "published" : "not published") << "\n"
      << "onion only:       " << (i.onion_only() ? "yes" : "no") << "\n";
}

void print_peers(std::ostream& out, const pb::Response& r, bool) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : r.peers().peers()) {
    std::string mesh;
    for (const auto& t : p.mesh_topics()) mesh += (mesh.empty() ? "" : " ") + t;
    rows.push_back({p.peer_id(), p.outbound() ? "out" : "in", fixed(p.score()), p.flagged() ? "FLAGGED" : "-",
                    join_uints(p.shards()), mesh.empty() ? "-" : mesh, p.agent().empty() ? "-" : p.agent(),
                    p.addr().empty() ? "-" : p.addr()});
  }
  out << r.peers().peers_size() << " peer(s)\n";
  if (!rows.empty()) print_table(out, {"PEER", "DIR", "SCORE", "FLAG", "SHARDS", "MESH", "AGENT", "ADDR"}, rows);
}

void print_table_records(std::ostream& out, const pb::Response& r, bool) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : r.table().entries())
    rows.push_back({e.peer_id(), join_uints(e.shards()), std::to_string(e.seq()), fmt_unix(e.expires_at()) + " UTC",
                    e.connected() ? "yes" : "no"});
  out << r.table().entries_size() << " record(s), shard count " << r.table().shard_count()
      << (r.table().truncated() ? " (truncated: more records than fit in one response)" : "") << "\n";
  if (!rows.empty()) print_table(out, {"PEER", "SHARDS", "SEQ", "EXPIRES", "CONNECTED"}, rows);
}

void print_shards(std::ostream& out, const pb::Response& r, bool) {
  out << "shards: " << join_uints(r.shards().shards()) << "\n";
}

void print_jump(std::ostream& out, const pb::Response& r, bool) {
  const auto& j = r.jump();
  if (j.completed())
    out << "jump to shard " << j.shard() << " completed in " << j.took_ms() << " ms (" << j.dialled() << " dialled)\n";
  else if (j.took_ms() > 0)
    out << "jump to shard " << j.shard() << " timed out after " << j.took_ms() << " ms (" << j.dialled()
        << " dialled)\n";
  else
    out << "jump to shard " << j.shard() << " started\n";
  out << "shards: " << join_uints(j.shards()) << "\n";
}

void print_published(std::ostream& out, const pb::Response& r, bool) {
  out << "published collation " << hex(r.published().hash()) << " (period " << r.published().period() << ")\n";
}

void print_subscribed(std::ostream&, const pb::Response&, bool) {}  // a stream's start: nothing to show

void print_event(std::ostream& out, const pb::Response& r, bool with_body) {
  const auto& e = r.event();
  out << "shard " << e.shard() << " period " << e.period() << " hash " << hex(e.hash()) << " proposer "
      << hex(e.proposer()).substr(0, 16) << " size " << e.body_size();
  if (with_body) {
    if (e.body_omitted()) out << " body (omitted: over the frame cap)";
    else out << " body " << printable_or_hex(e.body());
  }
  out << "\n";
}

void print_fetched(std::ostream& out, const pb::Response& r, bool) {
  out << "fetched " << r.fetched().new_collations() << " new collation(s) from " << r.fetched().peer_id() << "\n";
}

void print_scores(std::ostream& out, const pb::Response& r, bool) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : r.scores().peers())
    rows.push_back({p.peer_id(), fixed(p.score()), p.flagged() ? "FLAGGED" : "-", fixed(p.p4_invalid()),
                    fixed(p.p7_behaviour())});
  out << r.scores().peers_size() << " connected peer(s)\n";
  if (!rows.empty()) print_table(out, {"PEER", "SCORE", "FLAG", "P4 INVALID", "P7 BEHAVIOUR"}, rows);
  rows.clear();
  for (const auto& f : r.scores().flagged())
    rows.push_back({f.peer_id(), fixed(f.score()), fixed(static_cast<double>(f.since_ms()) / 1000.0, 1) + " s ago",
                    f.reason().empty() ? "-" : f.reason()});
  out << r.scores().flagged_size() << " flagged peer(s)\n";
  if (!rows.empty()) print_table(out, {"PEER", "SCORE", "FLAGGED", "REASON"}, rows);
}

void print_providers(std::ostream& out, const pb::Response& r, bool) {
  const auto& p = r.providers();
  out << p.providers_size() << " provider(s) of shard " << p.shard() << " (" << p.requests() << " DHT requests)\n";
  for (const auto& e : p.providers()) {
    out << e.peer_id() << "\n";
    for (const auto& a : e.addrs()) out << "  " << a << "\n";
  }
}

void print_rotated(std::ostream& out, const pb::Response& r, bool) {
  const auto& x = r.rotated();
  out << "retired     " << x.retired_peer_id() << " (told " << x.pushed() << " connected peer(s); "
      << x.dht_accepted() << " DHT peer(s) stored the retirement)\n";
  out << "new peer id " << x.peer_id() << "\n";
  out << "address     " << x.addr() << "\n";
  out << "old key     " << x.retired_key_file() << "\n";
}

void print_cancelled(std::ostream& out, const pb::Response& r, bool) {
  out << "cancelled stream " << r.cancelled().stream_id() << "\n";
}

using Rs = pb::Response;
struct PrinterRow {
  Rs::ResultCase result;
  ResponsePrinter print;
};

// One row per result of control.proto's `Response.result`.
constexpr std::array kPrinters = {
    PrinterRow{Rs::kError, print_error},
    PrinterRow{Rs::kIdentity, print_identity},
    PrinterRow{Rs::kPeers, print_peers},
    PrinterRow{Rs::kTable, print_table_records},
    PrinterRow{Rs::kShards, print_shards},
    PrinterRow{Rs::kJump, print_jump},
    PrinterRow{Rs::kPublished, print_published},
    PrinterRow{Rs::kSubscribed, print_subscribed},
    PrinterRow{Rs::kEvent, print_event},
    PrinterRow{Rs::kFetched, print_fetched},
    PrinterRow{Rs::kScores, print_scores},
    PrinterRow{Rs::kCancelled, print_cancelled},
    PrinterRow{Rs::kProviders, print_providers},
    PrinterRow{Rs::kRotated, print_rotated},
};

}  // namespace

bool response_json(const pb::Response& r, std::string& out, std::string& error) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = false;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  opts.always_print_enums_as_ints = false;
  out.clear();
  const auto st = google::protobuf::util::MessageToJsonString(r, &out, opts);
  if (st.ok()) return true;
  error = std::string(st.message());
  return false;
}

ResponsePrinter find_printer(pb::Response::ResultCase result) {
  for (const auto& p : kPrinters)
    if (p.result == result) return p.print;
  return nullptr;
}

void print_human(std::ostream& out, const pb::Response& r, bool with_body) {
  if (auto p = find_printer(r.result_case())) return p(out, r, with_body);
  out << "(a response this client does not know)\n";
}

}  // namespace shardnode::cli
