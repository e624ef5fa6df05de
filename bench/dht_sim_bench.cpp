// The discovery scenario on the simulator (net/sim/dht_sim.h: the shipped DHT core on
// simulated links): one bootnode that leaves, then shard jumps through GET_PROVIDERS.
//
//   dht_sim_bench [--nodes N] [--seed S] [--shards K] [--jumps J] [--k K] [--alpha A]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "dht_sim.h"

using namespace shardnode::net::kad::sim;

namespace {

template <class V>
double pct(const V& v, double p) {
  if (v.empty()) return 0;
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return static_cast<double>(v[i]);
}

}  // namespace

int main(int argc, char** argv) {
  DhtSimConfig cfg;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const auto v = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--nodes") cfg.nodes = static_cast<std::uint32_t>(v);
    else if (a == "--seed") cfg.seed = v;
    else if (a == "--shards") cfg.shards = static_cast<std::uint32_t>(v);
    else if (a == "--jumps") cfg.jumps = v;
    else if (a == "--k") cfg.dht.k = v;
    else if (a == "--alpha") cfg.dht.alpha = v;
    else {
      std::fprintf(stderr, "usage: dht_sim_bench [--nodes N] [--seed S] [--shards K] [--jumps J] [--k K] [--alpha A]\n");
      return 2;
    }
  }
  const auto r = run_dht_sim(cfg);
  std::printf("nodes %u  shards %u  k %zu  alpha %zu  seed %llu  latency %lld-%lld ms one way, dial %lld ms\n", r.nodes,
              cfg.shards, cfg.dht.k, cfg.dht.alpha, static_cast<unsigned long long>(cfg.seed),
              static_cast<long long>(cfg.latency_min.count() / 1000000), static_cast<long long>(cfg.latency_max.count() / 1000000),
              static_cast<long long>(cfg.dial_cost.count() / 1000000));
  std::printf("after the bootnode left: smallest routing table %zu live peers; %zu nodes below target %zu; %zu tables still list the bootnode\n",
              r.min_table, r.below_target, cfg.target_peers, r.tables_with_bootnode);
  std::printf("jumps: %zu/%zu found a member; requests p50 %.0f p99 %.0f max %.0f; time p50 %.2f s p99 %.2f s max %.2f s\n",
              r.jumps_found, r.jumps, pct(r.jump_requests, 0.5), pct(r.jump_requests, 0.99), pct(r.jump_requests, 1.0),
              pct(r.jump_seconds, 0.5), pct(r.jump_seconds, 0.99), pct(r.jump_seconds, 1.0));
  std::printf("messages %llu, bytes %llu\n", static_cast<unsigned long long>(r.messages), static_cast<unsigned long long>(r.bytes));
  return 0;
}
