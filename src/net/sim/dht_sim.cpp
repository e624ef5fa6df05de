#include "dht_sim.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "shardnode/sim/network.h"
#include "shardnode/sim/scheduler.h"
#include "shardnode/sim/seeding.h"

namespace shardnode::net::kad::sim {

namespace s = shardnode::sim;

namespace {

struct Packet {
  std::uint64_t request = 0;  // the sender's request number
  bool response = false;
  Bytes body;                 // an encoded kad message
};

Multiaddr address_of(std::uint32_t i) {
  return Multiaddr::tcp("10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
                            std::to_string(i & 255),
                        4001);
}

std::optional<std::uint32_t> index_of(const Multiaddr& a) {
  auto ep = a.tcp_endpoint();
  if (!ep) return std::nullopt;
  unsigned b0 = 0, b1 = 0, b2 = 0, b3 = 0;
  if (std::sscanf(ep->ip.c_str(), "%u.%u.%u.%u", &b0, &b1, &b2, &b3) != 4 || b0 != 10) return std::nullopt;
  return (b1 << 16) | (b2 << 8) | b3;
}

std::string topic_of(std::uint32_t shard) { return "/shardnode/shard/" + std::to_string(shard) + "/collations/1"; }

struct Node {
  std::unique_ptr<Dht> dht;
  PeerId id;
  std::uint32_t shard = 0;
  bool alive = false;
  std::uint64_t next_request = 1;
  struct Pending {
    Dht::LookupId lookup;
    PeerId to;
  };
  std::map<std::uint64_t, Pending> pending;
  std::map<Dht::LookupId, std::function<void(const LookupResult&)>> waiting;
};

class Sim {
 public:
  explicit Sim(const DhtSimConfig& cfg)
      : cfg_(cfg), root_(s::seeded_for_simulation(cfg.seed)), net_(sched_, root_.fork(1)), rng_(root_.fork(2)) {
    nodes_.resize(cfg.nodes);
    for (std::uint32_t i = 0; i < cfg.nodes; ++i) {
      Bytes seed(32, 0);
      auto r = root_.fork(1000 + i);
      for (auto& b : seed) b = static_cast<std::uint8_t>(r.uniform(256));
      nodes_[i].id = PeerId::from_public_key(NodeKey::from_seed(seed).value().public_key());
      nodes_[i].dht = std::make_unique<Dht>(nodes_[i].id, cfg.dht);
      nodes_[i].shard = i % cfg.shards;
      by_id_.emplace(nodes_[i].id, i);
      net_.add_node([this, i](s::NodeIndex from, const Packet& p) { deliver(from, i, p); });
    }
  }

  DhtSimReport run() {
    nodes_[0].alive = true;
    for (std::uint32_t i = 1; i < cfg_.nodes; ++i) {
      const auto at = Duration(static_cast<std::int64_t>(rng_.uniform(static_cast<std::uint64_t>(cfg_.join_spread.count()) + 1)));
      sched_.schedule_after(at, [this, i] { join(i); });
    }
    sched_.schedule_at(TimePoint{cfg_.bootnode_leaves_at}, [this] { nodes_[0].alive = false; });
    sched_.every(std::chrono::seconds(1), std::chrono::seconds(1), [this] {
      for (std::uint32_t i = 0; i < cfg_.nodes; ++i)
        if (nodes_[i].alive) {
          nodes_[i].dht->tick(sched_.now());
          pump(i);
        }
    });
    sched_.run_until(TimePoint{cfg_.measure_at});
    DhtSimReport rep;
    rep.nodes = cfg_.nodes;
    rep.min_table = ~std::size_t{0};
    for (std::uint32_t i = 1; i < cfg_.nodes; ++i) {
      const auto& t = nodes_[i].dht->table();
      std::size_t live = 0;
      bool boot = false;
      for (unsigned b = 0; b < 256; ++b)
        for (const auto& e : t.bucket(b)) {
          if (nodes_[by_id_.at(e.id)].alive) ++live;
          if (e.id == nodes_[0].id) boot = true;
        }
      rep.min_table = std::min(rep.min_table, live);
      if (live < cfg_.target_peers) ++rep.below_target;
      if (boot) ++rep.tables_with_bootnode;
    }
    // Jumps, one a second, each from a random node to a random other shard.
    for (std::size_t j = 0; j < cfg_.jumps; ++j) {
      sched_.schedule_after(std::chrono::seconds(static_cast<long>(j)), [this, &rep] {
        const auto from = static_cast<std::uint32_t>(1 + rng_.uniform(cfg_.nodes - 1));
        auto shard = static_cast<std::uint32_t>(rng_.uniform(cfg_.shards - 1));
        if (shard >= nodes_[from].shard) ++shard;
        const std::string topic = topic_of(shard);
        const TimePoint t0 = sched_.now();
        ++rep.jumps;
        auto id = nodes_[from].dht->get_providers(Bytes(topic.begin(), topic.end()), 1, t0);
        nodes_[from].waiting[id] = [this, &rep, shard, t0](const LookupResult& r) {
          rep.jump_requests.push_back(r.requests);
          for (const auto& p : r.providers) {
            auto it = by_id_.find(p.peer);
            if (it != by_id_.end() && nodes_[it->second].alive && nodes_[it->second].shard == shard) {
              ++rep.jumps_found;
              rep.jump_seconds.push_back(std::chrono::duration<double>(sched_.now() - t0).count());
              break;
            }
          }
        };
        pump(from);
      });
    }
    sched_.run_until(TimePoint{cfg_.measure_at} + std::chrono::seconds(static_cast<long>(cfg_.jumps)) +
                     std::chrono::seconds(120));
    std::sort(rep.jump_requests.begin(), rep.jump_requests.end());
    std::sort(rep.jump_seconds.begin(), rep.jump_seconds.end());
    rep.messages = net_.stats().delivered;
    rep.bytes = net_.stats().bytes_delivered;
    return rep;
  }

 private:
  void join(std::uint32_t i) {
    Node& n = nodes_[i];
    n.alive = true;
    n.dht->learn(nodes_[0].id, {address_of(0)}, sched_.now());
    auto id = n.dht->find_node(n.id.bytes(), sched_.now());
    n.waiting[id] = [this, i](const LookupResult&) {
      const std::string topic = topic_of(nodes_[i].shard);
      (void)nodes_[i].dht->provide(Bytes(topic.begin(), topic.end()), {address_of(i)}, sched_.now());
      sched_.every(cfg_.refresh, cfg_.refresh, [this, i] {
        if (!nodes_[i].alive) return;
        Bytes key(32);
        for (auto& b : key) b = static_cast<std::uint8_t>(rng_.uniform(256));
        (void)nodes_[i].dht->find_node(key, sched_.now());
        pump(i);
      });
      pump(i);
    };
    pump(i);
  }

  void pump(std::uint32_t i) {
    Node& n = nodes_[i];
    for (auto& r : n.dht->take_requests(sched_.now())) {
      const std::uint64_t req = n.next_request++;
      n.pending[req] = {r.lookup, r.to};
      auto addrs = n.dht->addresses_of(r.to);
      std::optional<std::uint32_t> to = addrs && !addrs->empty() ? index_of(addrs->front()) : std::nullopt;
      if (!to || *to >= cfg_.nodes || !(nodes_[*to].id == r.to)) {
        // No address, or the address is someone else's: the dial fails (Noise).
        sched_.schedule_after(cfg_.dial_cost, [this, i, req] { fail(i, req); });
        continue;
      }
      send(i, *to, Packet{req, false, encode(r.message)});
    }
    for (auto& f : n.dht->take_finished()) {
      auto it = n.waiting.find(f.lookup);
      if (it == n.waiting.end()) continue;
      auto done = std::move(it->second);
      n.waiting.erase(it);
      done(f.result);
    }
  }

  void send(std::uint32_t from, std::uint32_t to, Packet p) {
    const std::size_t size = p.body.size() + 16;
    if (!net_.connected(from, to)) {
      s::LinkParams lp;
      const auto span = static_cast<std::uint64_t>((cfg_.latency_max - cfg_.latency_min).count());
      lp.latency = cfg_.latency_min + Duration(static_cast<std::int64_t>(rng_.uniform(span + 1)));
      net_.connect(from, to, lp);
      sched_.schedule_after(cfg_.dial_cost, [this, from, to, p = std::move(p), size]() mutable {
        net_.send(from, to, std::move(p), size);
      });
      return;
    }
    net_.send(from, to, std::move(p), size);
  }

  void fail(std::uint32_t i, std::uint64_t req) {
    Node& n = nodes_[i];
    auto it = n.pending.find(req);
    if (it == n.pending.end() || !n.alive) return;
    auto pend = it->second;
    n.pending.erase(it);
    n.dht->on_answer(pend.lookup, pend.to, Result<Message>(Error{std::make_error_code(std::errc::host_unreachable), "dial failed"}),
                     sched_.now());
    pump(i);
  }

  void deliver(s::NodeIndex from, std::uint32_t to, const Packet& p) {
    Node& n = nodes_[to];
    if (!n.alive) return;  // gone: the request times out at the asker
    if (!p.response) {
      // The asker connected to us and speaks the DHT: on a host, identify tells us
      // so, with its own addresses (DhtService learns it the same way).
      n.dht->learn(nodes_[from].id, {address_of(from)}, sched_.now());
      auto answer = n.dht->handle_bytes(nodes_[from].id, p.body, sched_.now());
      if (answer) send(to, from, Packet{p.request, true, std::move(*answer)});
      return;
    }
    auto it = n.pending.find(p.request);
    if (it == n.pending.end()) return;
    auto pend = it->second;
    n.pending.erase(it);
    n.dht->on_answer(pend.lookup, pend.to, decode_kad_message(p.body, cfg_.dht.limits), sched_.now());
    pump(to);
  }

  DhtSimConfig cfg_;
  s::Scheduler sched_;
  s::SeededRandom root_;
  s::Network<Packet> net_;
  s::SeededRandom rng_;
  std::vector<Node> nodes_;
  std::map<PeerId, std::uint32_t> by_id_;
};

}  // namespace

DhtSimReport run_dht_sim(const DhtSimConfig& cfg) { return Sim(cfg).run(); }

}  // namespace shardnode::net::kad::sim
