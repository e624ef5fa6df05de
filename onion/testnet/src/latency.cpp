#include "latency.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "delay.h"  // SplitMix64
#include "util.h"

namespace shardnode::testnet::detail {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Region order: na-east, na-west, eu-west, eu-east, oceania (see docs/LATENCY.md for
// the cities and the round-trip figures these halves come from).
LatencyProfile make_wan() {
  LatencyProfile p;
  p.regions = {"na-east", "na-west", "eu-west", "eu-east", "oceania"};
  p.one_way_ms = {
      {11, 40, 49, 70, 128},   // na-east  (Baltimore)
      {40, 11, 88, 106, 94},   // na-west  (Fremont)
      {49, 88, 11, 28, 174},   // eu-west  (Paris)
      {70, 106, 28, 11, 194},  // eu-east  (Moscow)
      {128, 94, 174, 194, 11}, // oceania  (Sydney)
  };
  p.jitter_ms = 4;
  p.rate = 312'500;  // 2.5 Mbit/s
  p.burst = 32 * 1024;
  return p;
}

// Placement lists (indices into regions), dealt in order: authorities and relays
// sit mostly in Europe and North America, as on the live network; the seed only
// permutes which node gets which entry.
constexpr int kAuthorityRegions[] = {0, 2, 3, 2, 1, 0, 2, 3, 4};
constexpr int kRelayRegions[] = {2, 0, 3, 2, 1, 2, 4, 0};

std::vector<int> deal(const int* list, int list_size, int count, SplitMix64& rng) {
  std::vector<int> v;
  for (int i = 0; i < count; ++i) v.push_back(list[i % list_size]);
  for (int i = count - 1; i > 0; --i) {  // Fisher-Yates with the seeded generator
    const auto j = static_cast<int>(rng.uniform(static_cast<std::uint64_t>(i)));
    std::swap(v[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(j)]);
  }
  return v;
}

bool loopback_v4(const std::string& a) {
  in_addr ia{};
  return ::inet_pton(AF_INET, a.c_str(), &ia) == 1 && (ntohl(ia.s_addr) >> 24) == 127u;
}

}  // namespace

const LatencyProfile& wan_profile() {
  static const LatencyProfile p = make_wan();
  return p;
}

int wan_region_index(std::string_view name) {
  const auto& r = wan_profile().regions;
  for (std::size_t i = 0; i < r.size(); ++i)
    if (r[i] == name) return static_cast<int>(i);
  return -1;
}

int default_client_region() { return 2; }  // eu-west

std::vector<int> place_nodes(int authorities, int relays, std::uint64_t seed) {
  SplitMix64 rng(seed);
  auto a = deal(kAuthorityRegions, static_cast<int>(std::size(kAuthorityRegions)), authorities, rng);
  auto r = deal(kRelayRegions, static_cast<int>(std::size(kRelayRegions)), relays, rng);
  a.insert(a.end(), r.begin(), r.end());
  return a;
}

std::string node_address(int i) { return "127.0.1." + std::to_string(i + 1); }
std::string client_address(int region) { return "127.0.2." + std::to_string(region + 1); }

std::uint64_t seed_from_dir(const fs::path& dir) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : dir.string()) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string forward_config_json(const ForwardConfig& c) {
  json sources = json::array();
  for (const auto& s : c.sources) sources.push_back({{"addr", s.addr}, {"region", s.region}});
  json routes = json::array();
  for (const auto& r : c.routes)
    routes.push_back({{"name", r.name},
                      {"listen", r.listen_addr},
                      {"listen_port", r.listen_port},
                      {"target", r.target_addr},
                      {"target_port", r.target_port},
                      {"region", r.region}});
  const auto& p = c.profile;
  return json{{"version", 1},
              {"regions", p.regions},
              {"one_way_ms", p.one_way_ms},
              {"jitter_ms", p.jitter_ms},
              {"rate_bytes_per_s", p.rate},
              {"burst_bytes", p.burst},
              {"seed", c.seed},
              {"default_region", c.default_region},
              {"sources", sources},
              {"routes", routes}}
             .dump(2) +
         "\n";
}

Result<ForwardConfig> parse_forward_config(std::string_view text) {
  auto bad = [](const std::string& why) {
    return err(TestnetErrc::bad_state, "forwarder config: " + why);
  };
  ForwardConfig c;
  try {
    const json j = json::parse(text);
    auto& p = c.profile;
    p.regions = j.at("regions").get<std::vector<std::string>>();
    p.one_way_ms = j.at("one_way_ms").get<std::vector<std::vector<int>>>();
    p.jitter_ms = j.at("jitter_ms").get<int>();
    p.rate = j.at("rate_bytes_per_s").get<std::uint64_t>();
    p.burst = j.at("burst_bytes").get<std::size_t>();
    c.seed = j.at("seed").get<std::uint64_t>();
    c.default_region = j.at("default_region").get<int>();
    for (const auto& s : j.at("sources")) c.sources.push_back({s.at("addr").get<std::string>(), s.at("region").get<int>()});
    for (const auto& r : j.at("routes"))
      c.routes.push_back({r.at("name").get<std::string>(), r.at("listen").get<std::string>(),
                          r.at("listen_port").get<int>(), r.at("target").get<std::string>(),
                          r.at("target_port").get<int>(), r.at("region").get<int>()});
  } catch (const json::exception& e) {
    return bad(std::string("malformed: ") + e.what());
  }
  const auto& p = c.profile;
  const int n = static_cast<int>(p.regions.size());
  if (n < 1 || n > 64) return bad("regions must number 1..64");
  if (static_cast<int>(p.one_way_ms.size()) != n) return bad("one_way_ms must have one row per region");
  for (const auto& row : p.one_way_ms) {
    if (static_cast<int>(row.size()) != n) return bad("one_way_ms must be square");
    for (int v : row)
      if (v < 0 || v > 10'000) return bad("one-way latencies must be 0..10000 ms");
  }
  if (p.jitter_ms < 0 || p.jitter_ms > 10'000) return bad("jitter_ms must be 0..10000");
  if (p.burst < 1 || p.burst > (64u << 20)) return bad("burst_bytes must be 1..64 MiB");
  if (p.rate > (1ULL << 34)) return bad("rate_bytes_per_s too large");
  auto region_ok = [n](int r) { return r >= 0 && r < n; };
  if (!region_ok(c.default_region)) return bad("default_region out of range");
  for (const auto& s : c.sources) {
    if (!loopback_v4(s.addr)) return bad("source '" + s.addr + "' is not an IPv4 loopback address");
    if (!region_ok(s.region)) return bad("source " + s.addr + ": region out of range");
  }
  if (c.routes.empty()) return bad("no routes");
  for (const auto& r : c.routes) {
    if (!loopback_v4(r.listen_addr) || !loopback_v4(r.target_addr))
      return bad("route " + r.name + ": addresses must be IPv4 loopback");
    if (r.listen_port < 0 || r.listen_port > 65535 || r.target_port < 1 || r.target_port > 65535)
      return bad("route " + r.name + ": bad port");
    if (!region_ok(r.region)) return bad("route " + r.name + ": region out of range");
  }
  return c;
}

}  // namespace shardnode::testnet::detail
