// A node without tor for live tests: a host on TCP loopback, a pubsub service (100 ms
// heartbeat) and a shard service (8 shards) whose peers are dialled at their TCP
// addresses from a shared LiveNet. `tweak` adjusts the configs before anything is
// built. The shard service is not started: call shards->start() once connected.
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "io_wait.h"
#include "shardnode/net/tcp_transport.h"
#include "shardnode/node/shard_service.h"

namespace shardnode::test {

struct LiveNet {
  std::map<PeerId, Multiaddr> addrs;  // how a record's peer is reached here (TCP, not onion)
};

struct LiveShardNode {
  using Tweak = std::function<void(node::ShardServiceConfig&, pubsub::ServiceConfig&)>;

  NodeKey key = NodeKey::generate();
  std::unique_ptr<net::Host> host;
  std::unique_ptr<pubsub::PubsubService> ps;
  std::unique_ptr<node::ShardService> shards;
  Multiaddr addr;

  LiveShardNode(boost::asio::io_context& io, LiveNet& net, std::set<std::uint32_t> on, const Tweak& tweak = {}) {
    using namespace std::chrono_literals;
    host = std::make_unique<net::Host>(io, key);
    host->add_transport(std::make_unique<net::TcpTransport>(io));
    addr = host->listen(*Multiaddr::parse("/ip4/127.0.0.1/tcp/0"))->with_peer_id(host->peer_id());
    net.addrs[host->peer_id()] = addr;
    pubsub::ServiceConfig pc;
    pc.gossip.heartbeat_interval = 100ms;
    node::ShardServiceConfig sc;
    sc.manager.shard_count = 8;
    sc.manager.first_reannounce_ms = 500;
    sc.shards = std::move(on);
    sc.address_of = [&net](const PeerId& p, const Ed25519PublicKey&) -> std::optional<Multiaddr> {
      auto it = net.addrs.find(p);
      return it == net.addrs.end() ? std::nullopt : std::optional(it->second);
    };
    if (tweak) tweak(sc, pc);
    ps = std::make_unique<pubsub::PubsubService>(io, *host, pc);
    shards = std::make_unique<node::ShardService>(io, *host, *ps, key, sc);
    ps->start();
  }
  ~LiveShardNode() {
    shards->stop();
    ps->stop();
    host->close();
  }
  LiveShardNode(const LiveShardNode&) = delete;
  LiveShardNode& operator=(const LiveShardNode&) = delete;

  shard::ShardManager& m() { return shards->manager(); }
};

// a dials b and the connection is up (or the test fails).
inline void connect(boost::asio::io_context& io, LiveShardNode& a, LiveShardNode& b) {
  std::optional<Result<PeerId>> r;
  a.host->connect(b.addr, [&](Result<PeerId> x) { r = std::move(x); });
  REQUIRE(run_until(io, [&] { return r.has_value(); }));
  REQUIRE(*r);
}

}  // namespace shardnode::test
