// The Kademlia DHT on a live host: serves the kad-dht protocol and runs lookups
// (kad_lookup.h) over real streams (request_response.h: one message each way).
//
// Serving: FIND_NODE answers the k closest peers of our routing table with their
// addresses; GET_PROVIDERS the providers we hold for the key, and closer peers;
// ADD_PROVIDER records the sender as a provider - only the sender, only at addresses
// we may dial, for `provider_ttl`, at most `max_providers_per_key` per key and
// `max_provider_keys` keys (new ones refused when full); PING answers PING.
// GET_VALUE/PUT_VALUE are answered with closer peers only (no value store yet).
//
// Learning peers: a peer whose identify lists our protocol joins the routing table
// with the addresses it advertised (those `dialable` allows); peers named in answers
// are candidates of the lookup only, and are dialled at `/addr/p2p/<id>`, so Noise
// proves the identity an answer claimed. A peer that fails a request leaves the table.
//
// Lookups are bounded: alpha requests in flight, a request budget, a per-request
// deadline covering the dial, and the caller's callback runs exactly once, never
// inside the call. Single-threaded on the host's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/net/host.h"
#include "shardnode/net/kad.h"
#include "shardnode/net/kad_lookup.h"
#include "shardnode/net/kad_routing.h"
#include "shardnode/net/request_response.h"

namespace shardnode::net::kad {

struct DhtConfig {
  std::string protocol = kProtocol;
  std::size_t k = 20;
  std::size_t alpha = 3;
  std::size_t max_requests = 60;                       // per lookup
  std::chrono::milliseconds request_timeout{10000};    // a request, its dial included
  std::chrono::milliseconds provider_ttl{24 * 3600 * 1000};
  std::size_t max_providers_per_key = 20;
  std::size_t max_provider_keys = 10000;
  std::size_t max_addresses = 4000;                    // peers whose addresses we remember
  std::function<bool(const Multiaddr&)> dialable;      // null: every address
  Limits limits;
  const Clock* clock = nullptr;                        // null: the real monotonic clock
};

struct DhtCounters {
  std::uint64_t requests_in = 0, requests_refused = 0;
  std::uint64_t requests_out = 0, requests_failed = 0;
  std::uint64_t lookups = 0, providers_stored = 0, providers_refused = 0;
};

struct ProviderInfo {
  PeerId peer;
  std::vector<Multiaddr> addrs;
};

struct LookupResult {
  std::vector<PeerId> closest;           // peers that answered, closest first
  std::vector<ProviderInfo> providers;   // GET_PROVIDERS lookups
  std::size_t requests = 0, failures = 0;
};

class DhtService {
 public:
  DhtService(boost::asio::io_context& io, Host& host, DhtConfig cfg = {});
  ~DhtService();
  DhtService(const DhtService&) = delete;
  DhtService& operator=(const DhtService&) = delete;

  void start();  // serve the protocol, learn peers from identify
  void stop();   // lookups in flight end without calling back

  // A peer known to speak the DHT (a bootnode, the peer store), at these addresses.
  void add_peer(const PeerId& peer, const std::vector<Multiaddr>& addrs);
  void find_node(const PeerId& target, std::function<void(LookupResult)> done);
  // Walks toward `key` asking GET_PROVIDERS; stops once `want` providers are known.
  void get_providers(ByteView key, std::size_t want, std::function<void(LookupResult)> done);
  // Finds the k closest peers to `key` and sends each ADD_PROVIDER with our addresses;
  // `done` gets how many accepted the request.
  void provide(ByteView key, std::function<void(std::size_t)> done);

  const RoutingTable& table() const { return table_; }
  const DhtCounters& counters() const { return counters_; }
  std::size_t provider_keys() const { return providers_.size(); }
  std::optional<std::vector<Multiaddr>> addresses_of(const PeerId& peer) const;

 private:
  struct Query;
  Result<Bytes> answer(const PeerId& from, ByteView request);
  Peer peer_entry(const PeerId& p) const;
  void remember(const PeerId& p, const std::vector<Multiaddr>& addrs);
  void ask(const PeerId& peer, const Message& m, std::function<void(Result<Message>)> done);
  void step(const std::shared_ptr<Query>& q);
  void finish(const std::shared_ptr<Query>& q);
  void prune_providers(TimePoint now);

  boost::asio::io_context& io_;
  Host& host_;
  DhtConfig cfg_;
  SteadyClock steady_;
  const Clock* clock_;
  RequestResponse rr_;
  RoutingTable table_;
  std::map<PeerId, std::vector<Multiaddr>> addrs_;
  struct Stored {
    std::vector<Multiaddr> addrs;
    TimePoint expires{};
  };
  std::map<Bytes, std::map<PeerId, Stored>> providers_;
  DhtCounters counters_;
  bool running_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace shardnode::net::kad
