// Graph generators for simulations. Each returns a Topology (an undirected edge
// list, every edge once with a < b, in generation order); apply_topology() connects
// a Network along it. Random generators draw only from the SeededRandom passed in,
// so the same seed gives the same graph.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "shardnode/sim/network.h"
#include "shardnode/sim/rng.h"

namespace shardnode::sim {

struct Edge {
  NodeIndex a = 0;
  NodeIndex b = 0;  // a < b
  friend bool operator==(const Edge&, const Edge&) = default;
};

struct Topology {
  std::uint32_t nodes = 0;
  std::vector<Edge> edges;

  std::vector<std::uint32_t> degrees() const;
  std::vector<std::vector<NodeIndex>> adjacency() const;  // each list sorted
  bool connected() const;                                 // true for 0 or 1 node
  std::uint32_t components() const;
};

// 0-1-2-...-(n-1).
Topology line(std::uint32_t n);
// A line closed into a cycle (n >= 3; n = 2 gives one edge).
Topology ring(std::uint32_t n);
// Every pair; n(n-1)/2 edges, so keep n small.
Topology full_mesh(std::uint32_t n);
// Erdős–Rényi G(n, p): each pair independently with probability p (geometric
// skipping, O(n + edges)). May be disconnected: check connected().
Topology erdos_renyi(std::uint32_t n, double p, SeededRandom& rng);

// A random d-regular graph (Steger–Wormald pairing, then edge switches to place
// any stubs left over): no self loops, no duplicate edges. Bounds: every node has
// degree exactly d when d < n and n*d is even; when n*d is odd node n-1 has d-1;
// when d >= n-1 it is the full mesh (degree n-1). Retries with fresh draws (up to
// `attempts` times) until the graph is connected, which is practically certain
// for d >= 3; for d <= 2 (or after `attempts`) the result may be disconnected:
// check connected().
Topology random_regular(std::uint32_t n, std::uint32_t d, SeededRandom& rng, int attempts = 32);

// Connects net along t, link by link: params_for(a, b) -> LinkParams (used in both
// directions). Throws std::out_of_range if net has fewer than t.nodes nodes.
template <class Payload, class ParamsFn>
  requires std::is_invocable_r_v<LinkParams, ParamsFn&, NodeIndex, NodeIndex>
void apply_topology(Network<Payload>& net, const Topology& t, ParamsFn&& params_for) {
  if (net.size() < t.nodes) throw std::out_of_range("apply_topology: network has too few nodes");
  for (const Edge& e : t.edges) net.connect(e.a, e.b, params_for(e.a, e.b));
}
template <class Payload>
void apply_topology(Network<Payload>& net, const Topology& t, const LinkParams& params) {
  apply_topology(net, t, [&params](NodeIndex, NodeIndex) { return params; });
}

}  // namespace shardnode::sim
