// The Kademlia DHT on a live host: drives the sans-IO core (kad_dht.h: what to answer,
// whom to ask, when a lookup is done) over real streams (request_response.h: one
// message each way) and real dials.
//
// - Serves `protocol` with Dht::handle.
// - The routing table holds only peers that exchanged DHT messages with us: a peer
//   that asked us something is learnt with its own addresses from identify (its
//   signed peer record's if it sent one, else its listen addresses); a peer we asked
//   joins when it answers. Our gossip connections are not added just for being
//   connected, so FIND_NODE answers do not list our mesh (docs/PRIVACY.md).
// - Requests go to a connected peer, or dial its address with /p2p/<id> appended, so
//   Noise proves the identity an answer claimed. The request deadline covers the dial.
// - A 1 s tick expires requests the core is still waiting for.
// Callbacks run exactly once, never inside the call; stop() drops them.
// Single-threaded on the host's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/net/host.h"
#include "shardnode/net/kad_dht.h"
#include "shardnode/net/request_response.h"

namespace shardnode::net::kad {

struct DhtConfig {
  std::string protocol = kProtocol;
  DhtCoreConfig core;
  const Clock* clock = nullptr;  // null: the real monotonic clock
};

class DhtService {
 public:
  DhtService(boost::asio::io_context& io, Host& host, DhtConfig cfg = {});
  ~DhtService();
  DhtService(const DhtService&) = delete;
  DhtService& operator=(const DhtService&) = delete;

  void start();
  void stop();

  // A peer known to speak the DHT (a bootnode, the peer store), at these addresses.
  void add_peer(const PeerId& peer, const std::vector<Multiaddr>& addrs);
  void find_node(const PeerId& target, std::function<void(LookupResult)> done);
  // FIND_NODE toward any key (a random one: bucket refresh).
  void find_key(ByteView key, std::function<void(LookupResult)> done);
  // Walks toward `key` asking GET_PROVIDERS; stops once `want` providers are known.
  void get_providers(ByteView key, std::size_t want, std::function<void(LookupResult)> done);
  // Finds the k closest peers to `key` and sends each ADD_PROVIDER with our advertised
  // addresses; the result's `accepted` says how many answered.
  void provide(ByteView key, std::function<void(LookupResult)> done);
  // PUT_VALUE of our signed peer record (the host's) to the k closest peers of its key.
  void put_record(std::function<void(LookupResult)> done);
  // GET_VALUE of `peer`'s signed record: the result's `record`, if one opened.
  void get_record(const PeerId& peer, std::function<void(LookupResult)> done);

  const Dht& core() const { return dht_; }
  const RoutingTable& table() const { return dht_.table(); }
  const DhtCounters& counters() const { return dht_.counters(); }

 private:
  void track(Dht::LookupId id, std::function<void(LookupResult)> done);
  void pump();
  void send(const Dht::Request& r);
  void schedule_tick();
  void learn_requester(const PeerId& from);

  boost::asio::io_context& io_;
  Host& host_;
  DhtConfig cfg_;
  SteadyClock steady_;
  const Clock* clock_;
  RequestResponse rr_;
  Dht dht_;
  std::map<Dht::LookupId, std::function<void(LookupResult)>> waiting_;
  std::set<PeerId> learn_on_identify_;
  boost::asio::steady_timer timer_;
  bool running_ = false, ticking_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::net::kad
