// Graph generators: line, ring, mesh, G(n,p), random d-regular.
#include "shardnode/sim/topology.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace shardnode::sim {

namespace {

Edge make_edge(NodeIndex u, NodeIndex v) { return u < v ? Edge{u, v} : Edge{v, u}; }

std::uint32_t find_root(std::vector<std::uint32_t>& parent, std::uint32_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

// A simple graph under construction: unsorted adjacency lists (sparse graphs) and
// the edge list.
class Builder {
 public:
  explicit Builder(std::uint32_t n) : adj_(n) {}

  bool adjacent(NodeIndex u, NodeIndex v) const {
    const auto& l = adj_[u];
    return std::find(l.begin(), l.end(), v) != l.end();
  }
  void add(NodeIndex u, NodeIndex v) {
    adj_[u].push_back(v);
    adj_[v].push_back(u);
    edges_.push_back(make_edge(u, v));
  }
  void remove_edge(std::size_t i) {
    const Edge e = edges_[i];
    std::erase(adj_[e.a], e.b);
    std::erase(adj_[e.b], e.a);
    edges_[i] = edges_.back();
    edges_.pop_back();
  }
  // Gives u and v one more edge each (u == v: two more for u) by replacing an edge
  // x-y with u-x and v-y. Scans edges from a random start; false if none fits.
  bool switch_in(NodeIndex u, NodeIndex v, SeededRandom& rng) {
    const std::size_t count = edges_.size();
    if (count == 0) return false;
    const std::size_t start = static_cast<std::size_t>(rng.uniform(count));
    for (std::size_t t = 0; t < count; ++t) {
      const std::size_t i = (start + t) % count;
      const Edge e = edges_[i];
      if (e.a == u || e.a == v || e.b == u || e.b == v) continue;
      for (const auto& [x, y] : {std::pair{e.a, e.b}, std::pair{e.b, e.a}}) {
        if (adjacent(u, x) || adjacent(v, y)) continue;
        remove_edge(i);
        add(u, x);
        add(v, y);
        return true;
      }
    }
    return false;
  }
  std::vector<Edge> take_edges() { return std::move(edges_); }

 private:
  std::vector<std::vector<NodeIndex>> adj_;
  std::vector<Edge> edges_;
};

void swap_remove(std::vector<NodeIndex>& v, std::size_t i) {
  v[i] = v.back();
  v.pop_back();
}

Topology regular_attempt(std::uint32_t n, std::uint32_t d, SeededRandom& rng) {
  std::vector<NodeIndex> stubs;
  stubs.reserve(static_cast<std::size_t>(n) * d);
  for (NodeIndex v = 0; v < n; ++v) stubs.insert(stubs.end(), d, v);
  if (stubs.size() % 2 == 1) stubs.pop_back();  // n*d odd: node n-1 gets d-1

  // Steger–Wormald: pair random stubs while suitable pairs are easy to find.
  Builder g(n);
  int fails = 0;
  while (stubs.size() >= 2 && fails < 100) {
    const std::uint64_t k = stubs.size();
    const auto i = static_cast<std::size_t>(rng.uniform(k));
    auto j = static_cast<std::size_t>(rng.uniform(k - 1));
    if (j >= i) ++j;
    const NodeIndex u = stubs[i];
    const NodeIndex v = stubs[j];
    if (u == v || g.adjacent(u, v)) {
      ++fails;
      continue;
    }
    fails = 0;
    g.add(u, v);
    swap_remove(stubs, std::max(i, j));
    swap_remove(stubs, std::min(i, j));
  }
  // Leftovers (only pairs that would be loops or duplicates): pair directly when
  // possible, else switch them into an existing edge.
  while (stubs.size() >= 2) {
    const NodeIndex u = stubs.back();
    stubs.pop_back();
    const auto it = std::find_if(stubs.begin(), stubs.end(),
                                 [&](NodeIndex v) { return v != u && !g.adjacent(u, v); });
    if (it != stubs.end()) {
      g.add(u, *it);
      swap_remove(stubs, static_cast<std::size_t>(it - stubs.begin()));
      continue;
    }
    const NodeIndex v = stubs.back();
    stubs.pop_back();
    g.switch_in(u, v, rng);  // no fit (tiny dense graphs): u and v stay short
  }
  return Topology{n, g.take_edges()};
}

}  // namespace

std::vector<std::uint32_t> Topology::degrees() const {
  std::vector<std::uint32_t> deg(nodes, 0);
  for (const Edge& e : edges) {
    ++deg[e.a];
    ++deg[e.b];
  }
  return deg;
}

std::vector<std::vector<NodeIndex>> Topology::adjacency() const {
  std::vector<std::vector<NodeIndex>> adj(nodes);
  for (const Edge& e : edges) {
    adj[e.a].push_back(e.b);
    adj[e.b].push_back(e.a);
  }
  for (auto& l : adj) std::sort(l.begin(), l.end());
  return adj;
}

std::uint32_t Topology::components() const {
  std::vector<std::uint32_t> parent(nodes);
  std::iota(parent.begin(), parent.end(), 0U);
  std::uint32_t count = nodes;
  for (const Edge& e : edges) {
    const std::uint32_t ra = find_root(parent, e.a);
    const std::uint32_t rb = find_root(parent, e.b);
    if (ra != rb) {
      parent[ra] = rb;
      --count;
    }
  }
  return count;
}

bool Topology::connected() const { return components() <= 1; }

Topology line(std::uint32_t n) {
  Topology t{n, {}};
  for (NodeIndex v = 1; v < n; ++v) t.edges.push_back(Edge{v - 1, v});
  return t;
}

Topology ring(std::uint32_t n) {
  Topology t = line(n);
  if (n >= 3) t.edges.push_back(Edge{0, n - 1});
  return t;
}

Topology full_mesh(std::uint32_t n) {
  Topology t{n, {}};
  if (n >= 2) t.edges.reserve(static_cast<std::size_t>(n) * (n - 1) / 2);
  for (NodeIndex a = 0; a < n; ++a)
    for (NodeIndex b = a + 1; b < n; ++b) t.edges.push_back(Edge{a, b});
  return t;
}

Topology erdos_renyi(std::uint32_t n, double p, SeededRandom& rng) {
  if (p >= 1.0) return full_mesh(n);
  Topology t{n, {}};
  if (p <= 0.0 || n < 2) return t;
  // Batagelj & Brandes (2005): walk the pairs (w < v) row by row, skipping a
  // geometrically distributed number of pairs between edges.
  const double log_q = std::log(1.0 - p);
  const double cap = 4.0e18;
  std::int64_t v = 1;
  std::int64_t w = -1;
  const auto nn = static_cast<std::int64_t>(n);
  while (v < nn) {
    const double skip = std::floor(std::log(1.0 - rng.unit()) / log_q);
    w += 1 + static_cast<std::int64_t>(std::min(skip, cap));
    while (w >= v && v < nn) {
      w -= v;
      ++v;
    }
    if (v < nn) t.edges.push_back(Edge{static_cast<NodeIndex>(w), static_cast<NodeIndex>(v)});
  }
  return t;
}

Topology random_regular(std::uint32_t n, std::uint32_t d, SeededRandom& rng, int attempts) {
  if (n >= 1 && d >= n - 1) return full_mesh(n);
  if (d == 0) return Topology{n, {}};
  Topology t;
  for (int i = 0; i < std::max(attempts, 1); ++i) {
    t = regular_attempt(n, d, rng);
    if (t.connected()) break;
  }
  return t;
}

}  // namespace shardnode::sim
