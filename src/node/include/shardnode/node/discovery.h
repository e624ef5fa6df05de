// Discovery: where a node finds peers and how it reaches them - one component, so the
// next source (a peer store, signed peer records, a Kademlia DHT) is one more
// implementation of `PeerSource`, not another special case in node.cpp.
//
// Sources, in the order they are asked for an address:
// - `StoredPeers`: the peer store (peer_store.h, <datadir>/peers.db): every peer's
//   signed peer record, from identify and from PX. At start and every
//   `node.redial_interval_s` while the node has fewer than `node.target_peers`
//   connections it dials the store's best candidates; their dial failures, reachability
//   and retained negative scores go back into the store.
// - `DhtRecords` (with node.dht): a peer known only by key gets its signed record
//   looked up in the DHT; found, it lands in the peer store for the next dial.
// - `IdentifiedAddresses`: the TCP addresses peers advertised in identify (tor.mode =
//   none only: development and tests; off in onion-only mode, where identify carries
//   only /onion3/ addresses and a peer's key already names its onion service).
// - `OnionKeyAddresses`: /onion3/<the peer's key>:<net.onion_port> - a peer known only
//   from its shard-preference record is assumed to listen on our own onion port
//   (records carry no port yet).
// - `Bootnodes`: dialled - at start and every `node.redial_interval_s` - only while the
//   peer store holds fewer than `node.bootnode_threshold` reachable peers (a peer that
//   answered once and has not failed max_failures dials since), so they are a way in,
//   not a dependency or a permanent observer; they also answer for their own peer ids.
// `Discovery::address_of` is what a table dial (ShardIo::dial) uses. Peer exchange:
// gossipsub's PX candidates (from PRUNEs of peers above score_accept_px_threshold)
// reach `StoredPeers::on_px`; a candidate whose signed record opens, names it and has
// an address we may dial is stored, and dialled while below target. A candidate
// without a record is counted and dropped (nobody's word but the peer's own counts).
//
// Single-threaded on the node's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "shardnode/core/keys.h"
#include "shardnode/core/multiaddr.h"
#include "shardnode/core/clock.h"
#include "shardnode/net/host.h"
#include "shardnode/net/kad_service.h"
#include "shardnode/node/peer_store.h"
#include "shardnode/pubsub/router.h"

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

// Which addresses this node may dial: /onion3/ always (with tor), TCP only without
// onion-only mode.
struct DialPolicy {
  bool onion = true;
  bool tcp = false;
  bool allows(const Multiaddr& a) const { return a.is_onion() ? onion : tcp && a.tcp_endpoint().has_value(); }
};

struct StoredPeersConfig {
  std::size_t target_peers = 8;                            // node.target_peers
  std::size_t bootnode_threshold = 3;                      // node.bootnode_threshold
  std::uint32_t max_failures = 5;                          // a peer failing this often in a row is not dialled
  std::chrono::milliseconds retain_score{3600 * 1000};     // how long a negative score keeps a peer undialled
  std::chrono::milliseconds interval{15000};               // node.redial_interval_s
  std::size_t max_px_dials = 4;                            // PX peers dialled per PRUNE batch
  DialPolicy policy;
};

struct StoredPeersCounters {
  std::uint64_t records_stored = 0;     // new or newer records written
  std::uint64_t records_rejected = 0;   // did not open, another peer's, nothing we may dial, store error
  std::uint64_t records_retired = 0;    // a newer record without addresses: that identity is gone, forgotten
  std::uint64_t dials = 0, dial_failures = 0;
  std::uint64_t px_candidates = 0, px_without_record = 0, px_dials = 0;
  std::uint64_t store_errors = 0;
};

// The peer store as a discovery source. `store` may be null (no datadir store: the
// source then knows nothing and never dials).
class StoredPeers final : public PeerSource {
 public:
  StoredPeers(boost::asio::io_context& io, net::Host& host, std::unique_ptr<PeerStore> store, const WallClock& wall,
              StoredPeersConfig cfg);
  ~StoredPeers() override;
  const char* name() const override { return "peer-store"; }
  void start() override;
  void stop() override;
  std::optional<Multiaddr> address_of(const PeerId& peer, const Ed25519PublicKey&) const override;

  // A record that opened (identify, PX, the DHT): stored if it names an address we may
  // dial. False if it was refused (counted).
  bool learn(const net::SignedPeerRecord& r);
  void on_px(const std::vector<pubsub::Router::PxCandidate>& px);
  // The peer disconnected with this gossipsub score (kept by the store if negative).
  void on_disconnected(const PeerId& peer, double score);
  // Peers in the store that answered once and have not failed max_failures dials since.
  std::size_t reachable() const;
  // The store's best dial candidates (as candidates() ranks them), at most n.
  std::vector<StoredPeer> best(std::size_t n) const;
  // The envelope of `peer`'s stored record (what our PRUNEs offer in PX).
  std::optional<Bytes> record_of(const PeerId& peer) const;
  PeerStore* store() const { return store_.get(); }
  const StoredPeersCounters& counters() const { return counters_; }

 private:
  void tick();
  void dial(const net::PeerRecord& r, bool px);
  std::optional<Multiaddr> dialable(const net::PeerRecord& r) const;
  std::int64_t now_ms() const { return static_cast<std::int64_t>(wall_.unix_ms()); }

  net::Host& host_;
  std::unique_ptr<PeerStore> store_;
  const WallClock& wall_;
  StoredPeersConfig cfg_;
  boost::asio::steady_timer timer_;
  bool stopped_ = true;
  std::map<PeerId, bool> dialling_;  // dials in flight (from this source)
  mutable StoredPeersCounters counters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The peer a bootnode address names: the key of its onion address, else its /p2p/ suffix.
std::optional<PeerId> bootnode_peer(const Multiaddr& a);

// Signed peer records from the DHT, for a peer known only by its key (a preference
// record names a key, not a port): address_of starts a GET_VALUE lookup of the peer's
// record - one in flight per peer, again only after `retry` - and answers nothing
// itself; a record found (it opened and names the peer) goes into the peer store,
// which answers the next dial (a jump re-dials after dial_retry_ms).
class DhtRecords final : public PeerSource {
 public:
  DhtRecords(net::kad::DhtService& dht, StoredPeers& stored, const Clock& clock,
             Duration retry = std::chrono::seconds(60));
  ~DhtRecords() override { *alive_ = false; }
  const char* name() const override { return "dht-records"; }
  std::optional<Multiaddr> address_of(const PeerId& peer, const Ed25519PublicKey&) const override;
  std::uint64_t lookups() const { return lookups_; }
  std::uint64_t found() const { return found_; }

 private:
  net::kad::DhtService& dht_;
  StoredPeers& stored_;
  const Clock& clock_;
  Duration retry_;
  mutable std::map<PeerId, TimePoint> asked_;
  mutable std::uint64_t lookups_ = 0, found_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The configured bootnodes: dialled at start and on every tick while `needed()` (the
// peer store holds too few reachable peers) and not connected.
class Bootnodes final : public PeerSource {
 public:
  Bootnodes(boost::asio::io_context& io, net::Host& host, std::vector<Multiaddr> addrs,
            std::chrono::milliseconds redial_interval, std::function<bool()> needed = {});
  ~Bootnodes() override;
  const char* name() const override { return "bootnodes"; }
  void start() override;
  void stop() override;
  std::optional<Multiaddr> address_of(const PeerId& peer, const Ed25519PublicKey&) const override;
  std::uint64_t dials() const { return dials_; }

 private:
  void redial();

  net::Host& host_;
  std::vector<Multiaddr> addrs_;
  std::chrono::milliseconds interval_;
  std::function<bool()> needed_;
  boost::asio::steady_timer timer_;
  bool stopped_ = true;
  std::uint64_t dials_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

struct DiscoveryCounters {
  std::uint64_t lookups = 0, unresolved = 0;
};

class Discovery {
 public:
  // Sources are asked in the order added.
  void add(std::unique_ptr<PeerSource> source) { sources_.push_back(std::move(source)); }
  void start();
  void stop();
  std::optional<Multiaddr> address_of(const PeerId& peer, const Ed25519PublicKey& key);
  const DiscoveryCounters& counters() const { return counters_; }
  const std::vector<std::unique_ptr<PeerSource>>& sources() const { return sources_; }

 private:
  std::vector<std::unique_ptr<PeerSource>> sources_;
  DiscoveryCounters counters_;
};

}  // namespace shardnode::node
