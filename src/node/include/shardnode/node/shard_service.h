// The shard manager on a live node: pubsub for the preference topic and the
// collation topics, the host for connections, dials and the table request protocol
// (/shardnode/shard-table/1: one uvarint-length-prefixed request, one response, on
// a fresh stream, with a deadline and a size cap), and a 1 s tick.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <optional>

#include "shardnode/net/host.h"
#include "shardnode/pubsub/service.h"
#include "shardnode/shard/manager.h"

namespace shardnode::node {

struct ShardServiceConfig {
  shard::ShardManagerConfig manager;
  std::set<std::uint32_t> shards;                 // joined at start
  std::chrono::milliseconds request_timeout{30000};
  // How to reach a peer known only from its record. Default: /onion3/<key>:onion_port.
  std::function<std::optional<Multiaddr>(const PeerId&, const Ed25519PublicKey&)> address_of;
  std::uint16_t onion_port = 4001;
};

class ShardService {
 public:
  ShardService(boost::asio::io_context& io, net::Host& host, pubsub::PubsubService& ps, const NodeKey& key,
               ShardServiceConfig cfg);
  ~ShardService();

  void start();
  void stop();
  shard::ShardManager& manager() { return *manager_; }
  // Unix milliseconds (records carry unix time).
  static std::uint64_t now_ms();

 private:
  class Io;
  void serve_table(const std::shared_ptr<net::Stream>& s);
  void request_table(const PeerId& peer, Bytes request);
  void schedule_tick();

  boost::asio::io_context& io_;
  net::Host& host_;
  pubsub::PubsubService& ps_;
  ShardServiceConfig cfg_;
  std::unique_ptr<Io> shard_io_;
  std::unique_ptr<shard::ShardManager> manager_;
  boost::asio::steady_timer tick_;
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::node
