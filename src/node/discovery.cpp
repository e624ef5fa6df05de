#include "shardnode/node/discovery.h"

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
                     std::chrono::milliseconds redial_interval)
    : host_(host), addrs_(std::move(addrs)), interval_(redial_interval), timer_(io) {}

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

std::optional<PeerId> Bootnodes::expected_peer(const Multiaddr& a) const {
  if (auto ep = a.onion_endpoint())
    if (auto pk = parse_onion_address(ep->address)) return PeerId::from_public_key(*pk);
  return a.peer_id();
}

std::optional<Multiaddr> Bootnodes::address_of(const PeerId& peer, const Ed25519PublicKey&) const {
  for (const auto& a : addrs_)
    if (expected_peer(a) == peer) return a;
  return std::nullopt;
}

void Bootnodes::redial() {
  if (stopped_) return;
  for (const auto& b : addrs_) {
    auto expected = expected_peer(b);
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
