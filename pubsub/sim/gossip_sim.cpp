#include "gossip_sim.h"

#include <algorithm>

#include "shardnode/pubsub/codec.h"
#include "shardnode/sim/seeding.h"

namespace shardnode::pubsub {

namespace {
// An RPC's cost in the gate's units (as the service counts them).
std::size_t gate_entries(const SimRpc& r) { return inbound_entries(r.rpc) + r.stem.size(); }

// A ping on the wire: /ipfs/ping's 32 bytes plus a yamux header and a Noise tag.
constexpr std::size_t kPingWireSize = 32 + 12 + 18;

}  // namespace

GossipSim::GossipSim(GossipSimConfig cfg)
    : cfg_(std::move(cfg)), root_(std::make_unique<sim::SeededRandom>(sim::seeded_for_simulation(cfg_.seed))) {
  net_ = std::make_unique<sim::Network<SimRpc>>(sched_, root_->fork(0));
  for (Node n = 0; n < cfg_.nodes; ++n) make_node();
  sim::SeededRandom topo_rng = root_->fork(1);
  auto topo = sim::random_regular(cfg_.graph_nodes ? cfg_.graph_nodes : cfg_.nodes, cfg_.degree, topo_rng);
  for (const auto& e : topo.edges) link(e.a, e.b);
  // Heartbeats at a random phase per node, like real nodes started at different times.
  sim::SeededRandom phase = root_->fork(2);
  const auto period = cfg_.gossip.heartbeat_interval;
  for (Node n = 0; n < cfg_.nodes; ++n) {
    const Duration first{static_cast<Duration::rep>(phase.uniform(static_cast<std::uint64_t>(period.count())))};
    start_heartbeat(n, first);
  }
}

GossipSim::Node GossipSim::make_node() {
  const Node n = static_cast<Node>(nodes_.size());
  auto& ns = nodes_.emplace_back();
  // Deterministic identities: a node key from the seeded stream.
  sim::SeededRandom key_rng = root_->fork(1'000'000 + n);
  Bytes seed(32);
  for (auto& b : seed) b = static_cast<std::uint8_t>(key_rng.next());
  ns.key = std::make_unique<NodeKey>(NodeKey::from_seed(seed).value());
  ns.id = PeerId::from_public_key(ns.key->public_key());
  ns.rng = std::make_unique<sim::SeededRandom>(root_->fork(2'000'000 + n));
  ns.router = std::make_unique<Router>(ns.id, cfg_.gossip, *ns.rng, cfg_.score, cfg_.thresholds);
  if (cfg_.inbound) ns.gate = std::make_unique<InboundGate>(*cfg_.inbound);
  index_[ns.id] = n;
  net_->add_node([this, n](sim::NodeIndex from, const SimRpc& rpc) { on_rpc(n, from, rpc); });
  return n;
}

void GossipSim::start_heartbeat(Node n, Duration first) {
  heartbeats_.push_back(sched_.every(cfg_.gossip.heartbeat_interval, first, [this, n] {
    auto& ns = nodes_[n];
    ns.router->heartbeat(sched_.now());
    if (ns.gate) ns.gate->heartbeat(sched_.now(), [&](const PeerId& p) { return ns.router->score(p, sched_.now()); });
    drain(n);
  }));
}

GossipSim::Node GossipSim::add_node() {
  const Node n = make_node();
  ++cfg_.nodes;
  start_heartbeat(n, cfg_.gossip.heartbeat_interval);
  return n;
}

GossipSim::~GossipSim() = default;

std::optional<GossipSim::Node> GossipSim::node_of(const PeerId& p) const {
  auto it = index_.find(p);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

bool GossipSim::link(Node a, Node b) { return link(a, b, a < b); }

bool GossipSim::link(Node a, Node b, bool a_dials) {
  if (net_->connected(a, b)) return true;
  const auto now = sched_.now();
  auto& na = nodes_[a];
  auto& nb = nodes_[b];
  // Each side admits the other as the service would: the dialled side takes an
  // admission token; a router refuses a peer it has banned.
  if ((na.gate && !na.gate->admit(nb.id, a_dials, now)) || (nb.gate && !nb.gate->admit(na.id, !a_dials, now))) {
    if (na.gate) na.gate->remove(nb.id);
    if (nb.gate) nb.gate->remove(na.id);
    ++stats_.links_refused;
    return false;
  }
  // Outbound matters for D_out and for stem destinations.
  const bool ok_a = na.router->add_peer(nb.id, cfg_.protocol, a_dials, "", now);
  const bool ok_b = nb.router->add_peer(na.id, cfg_.protocol, !a_dials, "", now);
  if (!ok_a || !ok_b) {
    if (ok_a) na.router->remove_peer(nb.id, now);
    if (ok_b) nb.router->remove_peer(na.id, now);
    if (na.gate) na.gate->remove(nb.id);
    if (nb.gate) nb.gate->remove(na.id);
    ++stats_.links_refused;
    drain(a);
    drain(b);
    return false;
  }
  net_->connect(a, b, cfg_.link);
  drain(a);
  drain(b);
  if (cfg_.ping_interval > Duration::zero()) {
    // From the scheduler's next turn: a link's parameters may still be set (set_link).
    const std::uint64_t generation = ++link_generation_[std::minmax(a, b)];
    sched_.schedule_after(Duration::zero(), [this, a, b, generation] { ping_link(a, b, generation); });
  }
  return true;
}

void GossipSim::ping_link(Node a, Node b, std::uint64_t generation) {
  if (!net_->connected(a, b) || link_generation_[std::minmax(a, b)] != generation) return;
  for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
    SimRpc s;
    s.ping = sched_.now();
    ++stats_.pings;
    net_->send(x, y, std::move(s), kPingWireSize);
  }
  sched_.schedule_after(cfg_.ping_interval, [this, a, b, generation] { ping_link(a, b, generation); });
}

void GossipSim::unlink(Node a, Node b) {
  if (!net_->connected(a, b)) return;
  net_->disconnect(a, b);
  for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
    auto& nx = nodes_[x];
    nx.router->remove_peer(nodes_[y].id, sched_.now());
    if (nx.gate) nx.gate->remove(nodes_[y].id);
    nx.waiting.erase(y);
  }
  drain(a);
  drain(b);
}

void GossipSim::subscribe(Node n, const TopicId& topic) {
  nodes_[n].router->subscribe(topic, sched_.now());
  drain(n);
}

void GossipSim::subscribe_all(const TopicId& topic) {
  for (Node n = 0; n < cfg_.nodes; ++n) subscribe(n, topic);
}

Result<MessageId> GossipSim::publish(Node n, const TopicId& topic, Bytes data) {
  auto r = nodes_[n].router->publish(topic, std::move(data), sched_.now());
  if (r) {
    nodes_[n].hops[*r] = 0;
    nodes_[n].published.insert(*r);
    receptions_[*r];
  }
  drain(n);
  return r;
}

void GossipSim::send_raw(Node from, Node to, Rpc rpc) {
  SimRpc s;
  s.hops.assign(rpc.publish.size(), 0);
  const std::size_t size = encoded_size(rpc) + 4;
  s.rpc = std::move(rpc);
  net_->send(from, to, std::move(s), size);
}

void GossipSim::on_rpc(Node self, Node from, const SimRpc& in) {
  auto& ns = nodes_[self];
  if (in.ping) {  // answered at once, as the host's ping handler does
    SimRpc s;
    s.pong = in.ping;
    net_->send(self, from, std::move(s), kPingWireSize);
    return;
  }
  if (in.pong) {
    ns.router->observe_rtt(nodes_[from].id, sched_.now() - *in.pong);
    return;
  }
  if (!ns.gate || ns.interceptor) return handle(self, from, in);
  // Read through the gate, in order: wait behind earlier RPCs from this sender.
  auto& w = ns.waiting[from];
  const std::size_t size = encoded_size(in.rpc) + 4;
  if (w.rpcs.empty() && ns.gate->wait(nodes_[from].id, sched_.now()) == Duration::zero()) {
    ns.gate->charge(nodes_[from].id, size, gate_entries(in), sched_.now());
    return handle(self, from, in);
  }
  if (w.bytes + size > cfg_.inbound_window) {
    // The sender's transport would not have taken it.
    ++stats_.rpcs_blocked;
    return;
  }
  w.bytes += size;
  w.rpcs.emplace_back(in, size);
  read_waiting(self, from);
}

void GossipSim::read_waiting(Node self, Node from) {
  auto& ns = nodes_[self];
  const PeerId& peer = nodes_[from].id;
  while (true) {
    auto it = ns.waiting.find(from);  // handle() may have disconnected the sender
    if (it == ns.waiting.end() || it->second.rpcs.empty()) return;
    auto& w = it->second;
    const Duration d = ns.gate->wait(peer, sched_.now());
    if (d > Duration::zero()) {
      if (!w.scheduled) {
        w.scheduled = true;
        sched_.schedule_after(d, [this, self, from] {
          auto at = nodes_[self].waiting.find(from);
          if (at == nodes_[self].waiting.end()) return;
          at->second.scheduled = false;
          read_waiting(self, from);
        });
      }
      return;
    }
    auto [rpc, size] = std::move(w.rpcs.front());
    w.rpcs.pop_front();
    w.bytes -= size;
    ns.gate->charge(peer, size, gate_entries(rpc), sched_.now());
    handle(self, from, rpc);
  }
}

void GossipSim::handle(Node self, Node from, const SimRpc& in) {
  auto& ns = nodes_[self];
  ++stats_.rpcs;
  ns.receipts += in.rpc.publish.size();
  stats_.message_receipts += in.rpc.publish.size();
  if (ns.interceptor) {
    ns.interceptor(self, from, in.rpc);
    return;
  }
  // Remember the hop count each new message arrived with, for the deliveries below.
  for (std::size_t i = 0; i < in.rpc.publish.size(); ++i) {
    const MessageId id = cfg_.gossip.message_id(in.rpc.publish[i]);
    ns.hops.emplace(id, (i < in.hops.size() ? in.hops[i] : 0) + 1);
  }
  for (std::size_t i = 0; i < in.stem.size(); ++i) {
    const MessageId id = cfg_.gossip.message_id(in.stem[i]);
    ns.hops.emplace(id, (i < in.stem_hops.size() ? in.stem_hops[i] : 0) + 1);
  }
  if (!in.rpc.empty()) ns.router->handle_rpc(nodes_[from].id, in.rpc, sched_.now());
  for (const auto& m : in.stem) ns.router->handle_stem(nodes_[from].id, m, sched_.now());
  drain(self);
}

void GossipSim::drain(Node n) {
  auto& ns = nodes_[n];
  for (auto& d : ns.router->take_deliveries()) {
    // Our own publish; a stem message we fluffed also names us as its source but is
    // a reception.
    if (d.source == ns.id && ns.published.count(d.id)) continue;
    auto& rec = receptions_[d.id];
    if (rec.emplace(n, Reception{sched_.now(), ns.hops.count(d.id) ? ns.hops[d.id] : 0}).second)
      ++stats_.first_deliveries;
    if (on_delivery_) on_delivery_(n, d);
  }
  for (const auto& p : ns.router->take_disconnects()) {
    auto other = node_of(p);
    if (!other) continue;
    net_->disconnect(n, *other);
    ns.router->remove_peer(p, sched_.now());
    nodes_[*other].router->remove_peer(ns.id, sched_.now());
    for (auto [x, y] : {std::pair{n, *other}, std::pair{*other, n}}) {
      if (nodes_[x].gate) nodes_[x].gate->remove(nodes_[y].id);
      nodes_[x].waiting.erase(y);
    }
  }
  ns.router->take_px_candidates();
  for (auto& o : ns.router->take_sends()) {
    auto to = node_of(o.to);
    if (!to) continue;
    SimRpc s;
    for (const auto& m : o.rpc.publish) {
      auto it = ns.hops.find(cfg_.gossip.message_id(m));
      s.hops.push_back(it == ns.hops.end() ? 0 : it->second);
    }
    const std::size_t size = encoded_size(o.rpc) + 4;
    stats_.bytes += size;
    s.rpc = std::move(o.rpc);
    net_->send(n, *to, std::move(s), size);
  }
  for (auto& o : ns.router->take_stem_sends()) {
    auto to = node_of(o.to);
    if (!to) continue;
    SimRpc s;
    auto it = ns.hops.find(cfg_.gossip.message_id(o.message));
    s.stem_hops.push_back(it == ns.hops.end() ? 0 : it->second);
    Rpc as_rpc;  // the stem frame is one Message: about the size of an RPC carrying it
    as_rpc.publish.push_back(o.message);
    const std::size_t size = encoded_size(as_rpc) + 4;
    stats_.bytes += size;
    ++stats_.stem_messages;
    s.stem.push_back(std::move(o.message));
    net_->send(n, *to, std::move(s), size);
  }
}

const std::map<GossipSim::Node, GossipSim::Reception>& GossipSim::receptions(const MessageId& id) const {
  static const std::map<Node, Reception> kEmpty;
  auto it = receptions_.find(id);
  return it == receptions_.end() ? kEmpty : it->second;
}

}  // namespace shardnode::pubsub
