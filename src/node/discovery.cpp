#include "shardnode/node/discovery.h"

#include <algorithm>

#include "shardnode/core/log.h"

namespace shardnode::node {

IdentifiedAddresses::IdentifiedAddresses(net::Host& host) {
  host.on_peer_identified([this, alive = alive_](const PeerId& p, const net::IdentifyInfo& i) {
    if (!*alive) return;
    for (const auto& a : i.listen_addrs)
      if (a.tcp_endpoint()) {
        addrs_.insert_or_assign(p, a);
        break;
      }
  });
}

std::optional<Multiaddr> IdentifiedAddresses::address_of(const PeerId& peer, const Ed25519PublicKey&) const {
  auto it = addrs_.find(peer);
  if (it == addrs_.end()) return std::nullopt;
  return it->second.with_peer_id(peer);
}

Bootnodes::Bootnodes(boost::asio::io_context& io, net::Host& host, std::vector<Multiaddr> addrs,
                     std::chrono::milliseconds redial_interval, std::function<bool()> needed)
    : host_(host), addrs_(std::move(addrs)), interval_(redial_interval), needed_(std::move(needed)), timer_(io) {}

Bootnodes::~Bootnodes() {
  *alive_ = false;
  stop();
}

void Bootnodes::start() {
  stopped_ = false;
  redial();
}

void Bootnodes::stop() {
  stopped_ = true;
  timer_.cancel();
}

std::optional<PeerId> bootnode_peer(const Multiaddr& a) {
  if (auto ep = a.onion_endpoint())
    if (auto pk = parse_onion_address(ep->address)) return PeerId::from_public_key(*pk);
  return a.peer_id();
}

std::optional<Multiaddr> Bootnodes::address_of(const PeerId& peer, const Ed25519PublicKey&) const {
  for (const auto& a : addrs_)
    if (bootnode_peer(a) == peer) return a;
  return std::nullopt;
}

void Bootnodes::redial() {
  if (stopped_) return;
  const bool needed = !needed_ || needed_();
  for (const auto& b : addrs_) {
    if (!needed) break;
    auto expected = bootnode_peer(b);
    if (expected && (*expected == host_.peer_id() || host_.connected(*expected))) continue;
    ++dials_;
    host_.connect(b, [b, alive = alive_](Result<PeerId> r) {
      if (!*alive) return;
      if (r) logging::get("node")->info("connected to bootnode {}", b.to_string());
      else logging::get("node")->info("bootnode {}: {}", b.to_string(), r.error().what());
    });
  }
  timer_.expires_after(interval_);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive) redial();
  });
}

// ------------------------------------------------------------ StoredPeers

StoredPeers::StoredPeers(boost::asio::io_context& io, net::Host& host, std::unique_ptr<PeerStore> store,
                         const WallClock& wall, StoredPeersConfig cfg)
    : host_(host), store_(std::move(store)), wall_(wall), cfg_(cfg), timer_(io) {
  host_.on_peer_identified([this, alive = alive_](const PeerId&, const net::IdentifyInfo& i) {
    if (*alive && i.signed_record) learn(*i.signed_record);
  });
  host_.on_peer_connected([this, alive = alive_](const PeerId& p) {
    if (!*alive || !store_) return;
    if (Status st = store_->mark_reachable(p, now_ms()); !st) {
      ++counters_.store_errors;
      logging::get("node")->warn("{}", st.error().what());
    }
  });
}

StoredPeers::~StoredPeers() {
  *alive_ = false;
  stop();
}

void StoredPeers::start() {
  stopped_ = false;
  tick();
}

void StoredPeers::stop() {
  stopped_ = true;
  timer_.cancel();
}

std::optional<Multiaddr> StoredPeers::dialable(const net::PeerRecord& r) const {
  for (const auto& a : r.addrs)
    if (cfg_.policy.allows(a)) return a.with_peer_id(r.peer);
  return std::nullopt;
}

std::optional<Multiaddr> StoredPeers::address_of(const PeerId& peer, const Ed25519PublicKey&) const {
  if (!store_) return std::nullopt;
  auto p = store_->get(peer);
  if (!p) {
    ++counters_.store_errors;
    return std::nullopt;
  }
  if (!*p) return std::nullopt;
  return dialable((*p)->record.record);
}

std::vector<StoredPeer> StoredPeers::best(std::size_t n) const {
  if (!store_) return {};
  auto c = store_->candidates(n, now_ms(), cfg_.retain_score.count(), cfg_.max_failures);
  if (!c) {
    ++counters_.store_errors;
    return {};
  }
  return std::move(*c);
}

std::optional<Bytes> StoredPeers::record_of(const PeerId& peer) const {
  if (!store_) return std::nullopt;
  auto p = store_->get(peer);
  if (!p || !*p) return std::nullopt;
  return (*p)->record.envelope;
}

bool StoredPeers::learn(const net::SignedPeerRecord& r) {
  if (!store_ || r.record.peer == host_.peer_id()) return false;
  if (r.record.addrs.empty()) {
    // A retired identity (the peer rotated its node key): forget it, stop dialling it.
    auto gone = store_->retire(r);
    if (!gone) {
      ++counters_.store_errors;
      logging::get("node")->warn("{}", gone.error().what());
    } else if (*gone) {
      ++counters_.records_retired;
    }
    return false;
  }
  if (!dialable(r.record)) {
    ++counters_.records_rejected;
    return false;
  }
  auto put = store_->put_record(r, now_ms());
  if (!put) {
    ++counters_.store_errors;
    logging::get("node")->warn("{}", put.error().what());
    return false;
  }
  if (*put) ++counters_.records_stored;
  // Identify comes after the connection: a peer met for the first time is reachable.
  if (*put && host_.connected(r.record.peer))
    if (Status st = store_->mark_reachable(r.record.peer, now_ms()); !st) ++counters_.store_errors;
  return true;
}

void StoredPeers::on_px(const std::vector<pubsub::Router::PxCandidate>& px) {
  std::size_t dialled = 0;
  for (const auto& c : px) {
    ++counters_.px_candidates;
    if (!c.signed_record) {
      ++counters_.px_without_record;
      continue;
    }
    auto r = net::open_peer_record(*c.signed_record);
    if (!r || !(r->record.peer == c.peer)) {
      ++counters_.records_rejected;
      continue;
    }
    if (!learn(*r) || stopped_ || host_.connected(c.peer) || dialling_.count(c.peer)) continue;
    if (dialled >= cfg_.max_px_dials || host_.connection_count() + dialling_.size() >= cfg_.target_peers) continue;
    ++dialled;
    ++counters_.px_dials;
    dial(r->record, true);
  }
}

void StoredPeers::on_disconnected(const PeerId& peer, double score) {
  if (!store_) return;
  if (Status st = store_->retain_score(peer, score, now_ms()); !st) ++counters_.store_errors;
}

std::size_t StoredPeers::reachable() const {
  if (!store_) return 0;
  auto c = store_->candidates(cfg_.bootnode_threshold + 64, now_ms(), cfg_.retain_score.count(), cfg_.max_failures);
  if (!c) {
    ++counters_.store_errors;
    return 0;
  }
  return static_cast<std::size_t>(
      std::count_if(c->begin(), c->end(), [](const StoredPeer& p) { return p.last_reachable_ms > 0; }));
}

void StoredPeers::dial(const net::PeerRecord& rec, bool px) {
  auto addr = dialable(rec);
  if (!addr) return;
  const PeerId peer = rec.peer;
  dialling_[peer] = px;
  ++counters_.dials;
  host_.connect(*addr, [this, peer, alive = alive_](Result<PeerId> r) {
    if (!*alive) return;
    dialling_.erase(peer);
    if (r) return;  // on_peer_connected marks it reachable
    ++counters_.dial_failures;
    logging::get("node")->debug("stored peer {}: {}", peer.to_string(), r.error().what());
    if (store_)
      if (Status st = store_->mark_dial_failed(peer); !st) ++counters_.store_errors;
  });
}

void StoredPeers::tick() {
  if (stopped_) return;
  const std::size_t have = host_.connection_count() + dialling_.size();
  if (store_ && have < cfg_.target_peers) {
    // Ask for more than we need: some are connected already.
    auto c = store_->candidates(cfg_.target_peers * 2 + dialling_.size() + host_.connection_count(), now_ms(),
                                cfg_.retain_score.count(), cfg_.max_failures);
    if (!c) {
      ++counters_.store_errors;
      logging::get("node")->warn("{}", c.error().what());
    } else {
      std::size_t want = cfg_.target_peers - have;
      for (const auto& p : *c) {
        if (want == 0) break;
        if (p.peer() == host_.peer_id() || host_.connected(p.peer()) || dialling_.count(p.peer())) continue;
        dial(p.record.record, false);
        --want;
      }
    }
  }
  timer_.expires_after(cfg_.interval);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!ec && *alive) tick();
  });
}

// ------------------------------------------------------------ DhtRecords

DhtRecords::DhtRecords(net::kad::DhtService& dht, StoredPeers& stored, const Clock& clock, Duration retry)
    : dht_(dht), stored_(stored), clock_(clock), retry_(retry) {}

std::optional<Multiaddr> DhtRecords::address_of(const PeerId& peer, const Ed25519PublicKey&) const {
  const TimePoint now = clock_.now();
  auto it = asked_.find(peer);
  if (it != asked_.end() && now < it->second + retry_) return std::nullopt;
  if (asked_.size() >= 4096) asked_.clear();  // a bound, not a cache policy
  asked_[peer] = now;
  ++lookups_;
  dht_.get_record(peer, [this, peer, alive = alive_](net::kad::LookupResult r) {
    if (!*alive || !r.record || !(r.record->record.peer == peer)) return;
    if (stored_.learn(*r.record)) ++found_;
  });
  return std::nullopt;
}

// ------------------------------------------------------------ Discovery

void Discovery::start() {
  for (auto& s : sources_) s->start();
}

void Discovery::stop() {
  for (auto& s : sources_) s->stop();
}

std::optional<Multiaddr> Discovery::address_of(const PeerId& peer, const Ed25519PublicKey& key) {
  ++counters_.lookups;
  for (const auto& s : sources_)
    if (auto a = s->address_of(peer, key)) return a;
  ++counters_.unresolved;
  return std::nullopt;
}

}  // namespace shardnode::node
