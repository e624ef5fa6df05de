// Latency profiles of the private network (`testnet up --latency lan|wan`): the `wan`
// regions, their one-way latency matrix, jitter and per-connection rate cap (sources
// in docs/LATENCY.md), the deterministic placement of authorities and relays in
// regions, the loopback address of each node and client region, and the forwarder's
// configuration file D/forward.json (what `shardnode testnet forward` reads).
// Internal to shardnode_testnet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "shardnode/core/result.h"

namespace shardnode::testnet::detail {

struct LatencyProfile {
  std::vector<std::string> regions;
  std::vector<std::vector<int>> one_way_ms;  // [from][to], symmetric
  int jitter_ms = 0;                         // per chunk, uniform [0, jitter_ms]
  std::uint64_t rate = 0;                    // bytes/s per connection and direction; 0: none
  std::size_t burst = 0;                     // token bucket, bytes
};

// The `wan` profile: 5 regions, matrix from WonderNetwork's city-to-city pings
// (docs/LATENCY.md).
const LatencyProfile& wan_profile();
// Index of a region name in wan_profile(); -1 if unknown.
int wan_region_index(std::string_view name);
// The region of the default D/client.torrc.
int default_client_region();

// Region of each network node (authorities first, then relays), from the seed:
// authorities and relays are dealt, in a seeded order, from fixed region lists that
// put most of them in Europe and North America (docs/LATENCY.md).
std::vector<int> place_nodes(int authorities, int relays, std::uint64_t seed);

// Loopback addresses: network node i -> 127.0.1.(i+1); client region r -> 127.0.2.(r+1).
std::string node_address(int i);
std::string client_address(int region);

// A seed from the testnet directory's path (FNV-1a), when --seed is not given.
std::uint64_t seed_from_dir(const std::filesystem::path& dir);

struct ForwardRoute {
  std::string name;          // the node, e.g. "r3"
  std::string listen_addr;   // the advertised ORPort
  int listen_port = 0;       // 0: any (tests)
  std::string target_addr;   // the node's real (NoAdvertise) ORPort
  int target_port = 0;
  int region = 0;
};

struct ForwardSource {
  std::string addr;  // a caller's OutboundBindAddress
  int region = 0;
};

struct ForwardConfig {
  LatencyProfile profile;
  std::uint64_t seed = 0;
  std::vector<ForwardSource> sources;
  int default_region = 0;  // callers from any other address
  std::vector<ForwardRoute> routes;
};

std::string forward_config_json(const ForwardConfig& c);
// Checks ranges (regions, matrix shape, IPv4 loopback addresses, ports); errors name
// the field (TestnetErrc::bad_state).
Result<ForwardConfig> parse_forward_config(std::string_view text);

}  // namespace shardnode::testnet::detail
