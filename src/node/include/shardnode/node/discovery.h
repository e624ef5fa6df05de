// Discovery: where a node finds peers and how it reaches them - one component, so the
// next source (a peer store, signed peer records, a Kademlia DHT) is one more
// implementation of `PeerSource`, not another special case in node.cpp.
//
// Today's sources, in the order they are asked for an address:
// - `IdentifiedAddresses`: the TCP addresses peers advertised in identify (tor.mode =
//   none only: development and tests; off in onion-only mode, where identify carries
//   only /onion3/ addresses and a peer's key already names its onion service).
// - `OnionKeyAddresses`: /onion3/<the peer's key>:<net.onion_port> - a peer known only
//   from its shard-preference record is assumed to listen on our own onion port
//   (records carry no port yet).
// - `Bootnodes`: dialled at start and re-dialled every `node.redial_interval_s` while
//   not connected; they also answer for their own peer ids.
// `Discovery::address_of` is what a table dial (ShardIo::dial) uses. Peer exchange:
// gossipsub's PX candidates (peer ids from PRUNEs of peers above
// score_accept_px_threshold) are handed to `on_px` and counted; without signed peer
// records (addresses we can trust) they are not dialled yet.
//
// Single-threaded on the node's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "shardnode/core/keys.h"
#include "shardnode/core/multiaddr.h"
#include "shardnode/net/host.h"

namespace shardnode::node {

class PeerSource {
 public:
  virtual ~PeerSource() = default;
  virtual const char* name() const = 0;
  virtual void start() {}
  virtual void stop() {}
  // An address to dial `peer` at, if this source knows one.
  virtual std::optional<Multiaddr> address_of(const PeerId& peer, const Ed25519PublicKey& key) const = 0;
};

// TCP addresses learnt from identify (the first TCP listen address a peer advertised).
class IdentifiedAddresses final : public PeerSource {
 public:
  explicit IdentifiedAddresses(net::Host& host);
  ~IdentifiedAddresses() override { *alive_ = false; }
  const char* name() const override { return "identify"; }
  std::optional<Multiaddr> address_of(const PeerId& peer, const Ed25519PublicKey&) const override;
  std::size_t size() const { return addrs_.size(); }

 private:
  std::map<PeerId, Multiaddr> addrs_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// /onion3/<key>:<port>: a peer's onion service is its key.
class OnionKeyAddresses final : public PeerSource {
 public:
  explicit OnionKeyAddresses(std::uint16_t port) : port_(port) {}
  const char* name() const override { return "onion-key"; }
  std::optional<Multiaddr> address_of(const PeerId&, const Ed25519PublicKey& key) const override {
    return Multiaddr::onion3(key, port_);
  }

 private:
  std::uint16_t port_;
};

// The configured bootnodes: dialled at start, re-dialled while not connected.
class Bootnodes final : public PeerSource {
 public:
  Bootnodes(boost::asio::io_context& io, net::Host& host, std::vector<Multiaddr> addrs,
            std::chrono::milliseconds redial_interval);
  ~Bootnodes() override;
  const char* name() const override { return "bootnodes"; }
  void start() override;
  void stop() override;
  std::optional<Multiaddr> address_of(const PeerId& peer, const Ed25519PublicKey&) const override;
  std::uint64_t dials() const { return dials_; }

 private:
  void redial();
  // The peer a bootnode address names (its /p2p/ suffix, or the key of its onion address).
  std::optional<PeerId> expected_peer(const Multiaddr& a) const;

  net::Host& host_;
  std::vector<Multiaddr> addrs_;
  std::chrono::milliseconds interval_;
  boost::asio::steady_timer timer_;
  bool stopped_ = true;
  std::uint64_t dials_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

struct DiscoveryCounters {
  std::uint64_t lookups = 0, unresolved = 0;
  std::uint64_t px_candidates = 0;  // received; not dialled (no signed records yet)
};

class Discovery {
 public:
  // Sources are asked in the order added.
  void add(std::unique_ptr<PeerSource> source) { sources_.push_back(std::move(source)); }
  void start();
  void stop();
  std::optional<Multiaddr> address_of(const PeerId& peer, const Ed25519PublicKey& key);
  void on_px(const std::vector<PeerId>& candidates) { counters_.px_candidates += candidates.size(); }
  const DiscoveryCounters& counters() const { return counters_; }
  const std::vector<std::unique_ptr<PeerSource>>& sources() const { return sources_; }

 private:
  std::vector<std::unique_ptr<PeerSource>> sources_;
  DiscoveryCounters counters_;
};

}  // namespace shardnode::node
