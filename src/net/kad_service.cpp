#include "shardnode/net/kad_service.h"

#include <boost/asio/post.hpp>

#include <algorithm>

#include "shardnode/core/log.h"
#include "shardnode/net/errors.h"

namespace shardnode::net::kad {

struct DhtService::Query {
  Query(const Key& target, const PeerId& self, const std::vector<PeerId>& seeds, LookupConfig cfg)
      : lookup(target, self, seeds, cfg) {}
  Lookup lookup;
  Message request;
  std::size_t want = 0;  // get_providers: stop at this many
  std::map<PeerId, ProviderInfo> providers;
  std::function<void(LookupResult)> done;
  bool finished = false;
};

DhtService::DhtService(boost::asio::io_context& io, Host& host, DhtConfig cfg)
    : io_(io),
      host_(host),
      cfg_(std::move(cfg)),
      clock_(cfg_.clock ? cfg_.clock : &steady_),
      rr_(io, host),
      table_(host.peer_id(), cfg_.k) {
  host_.on_peer_identified([this, alive = alive_](const PeerId& p, const IdentifyInfo& info) {
    if (!*alive || !running_) return;
    if (std::find(info.protocols.begin(), info.protocols.end(), cfg_.protocol) == info.protocols.end()) return;
    // The peer's own word about its addresses: its signed record if it sent one.
    remember(p, info.signed_record ? info.signed_record->record.addrs : info.listen_addrs);
    if (addrs_.count(p)) (void)table_.update(p, clock_->now());
  });
}

DhtService::~DhtService() {
  *alive_ = false;
  stop();
}

void DhtService::start() {
  if (running_) return;
  running_ = true;
  rr_.serve(cfg_.protocol, cfg_.limits.max_message,
            [this](const PeerId& from, ByteView req) { return answer(from, req); });
}

void DhtService::stop() {
  if (!running_) return;
  running_ = false;
  rr_.unserve(cfg_.protocol);
}

void DhtService::remember(const PeerId& p, const std::vector<Multiaddr>& addrs) {
  std::vector<Multiaddr> ok;
  for (const auto& a : addrs) {
    if (cfg_.dialable && !cfg_.dialable(a)) continue;
    auto suffix = a.peer_id();
    if (suffix && !(*suffix == p)) continue;
    ok.push_back(a.without_peer_id());
    if (ok.size() == cfg_.limits.max_addrs) break;
  }
  if (ok.empty() || p == host_.peer_id()) return;
  auto it = addrs_.find(p);
  if (it != addrs_.end()) {
    it->second = std::move(ok);
    return;
  }
  if (addrs_.size() >= cfg_.max_addresses) return;
  addrs_.emplace(p, std::move(ok));
}

std::optional<std::vector<Multiaddr>> DhtService::addresses_of(const PeerId& peer) const {
  auto it = addrs_.find(peer);
  if (it == addrs_.end()) return std::nullopt;
  return it->second;
}

void DhtService::add_peer(const PeerId& peer, const std::vector<Multiaddr>& addrs) {
  remember(peer, addrs);
  if (addrs_.count(peer)) (void)table_.update(peer, clock_->now());
}

Peer DhtService::peer_entry(const PeerId& p) const {
  Peer e{p, {}, host_.connected(p) ? ConnectionType::connected : ConnectionType::can_connect};
  if (auto a = addresses_of(p)) e.addrs = *a;
  return e;
}

void DhtService::prune_providers(TimePoint now) {
  for (auto it = providers_.begin(); it != providers_.end();) {
    std::erase_if(it->second, [&](const auto& kv) { return kv.second.expires <= now; });
    it = it->second.empty() ? providers_.erase(it) : std::next(it);
  }
}

Result<Bytes> DhtService::answer(const PeerId& from, ByteView request) {
  ++counters_.requests_in;
  auto m = decode_kad_message(request, cfg_.limits);
  if (!m) {
    ++counters_.requests_refused;
    return m.error();
  }
  const TimePoint now = clock_->now();
  Message out;
  out.type = m->type;
  out.key = m->key;
  auto closer = [&] {
    for (const auto& p : table_.closest(key_of(m->key), cfg_.k))
      if (!(p == from)) out.closer.push_back(peer_entry(p));
  };
  switch (m->type) {
    case MessageType::ping: break;
    case MessageType::find_node:
    case MessageType::get_value:
    case MessageType::put_value: closer(); break;
    case MessageType::get_providers: {
      prune_providers(now);
      if (auto it = providers_.find(m->key); it != providers_.end())
        for (const auto& [p, s] : it->second) out.providers.push_back({p, s.addrs, ConnectionType::not_connected});
      closer();
      break;
    }
    case MessageType::add_provider: {
      out.key.clear();
      for (const auto& p : m->providers) {
        if (!(p.id == from)) continue;  // only the sender may announce itself
        std::vector<Multiaddr> addrs;
        for (const auto& a : p.addrs)
          if ((!cfg_.dialable || cfg_.dialable(a)) && addrs.size() < cfg_.limits.max_addrs) addrs.push_back(a.without_peer_id());
        if (addrs.empty())
          if (auto known = addresses_of(from)) addrs = *known;
        auto it = providers_.find(m->key);
        if (addrs.empty() || (it == providers_.end() && providers_.size() >= cfg_.max_provider_keys)) {
          ++counters_.providers_refused;
          continue;
        }
        auto& set = providers_[m->key];
        if (!set.count(from) && set.size() >= cfg_.max_providers_per_key) {
          ++counters_.providers_refused;
          continue;
        }
        set[from] = Stored{std::move(addrs), now + cfg_.provider_ttl};
        ++counters_.providers_stored;
      }
      break;
    }
  }
  return encode(out);
}

void DhtService::ask(const PeerId& peer, const Message& m, std::function<void(Result<Message>)> done) {
  ++counters_.requests_out;
  auto send = [this, peer, body = encode(m), done, alive = alive_]() {
    if (!*alive) return;
    rr_.request(peer, cfg_.protocol, body, cfg_.limits.max_message, cfg_.request_timeout,
                [this, done, alive](Result<Bytes> r) {
                  if (!*alive) return;
                  if (!r) return done(r.error());
                  auto msg = decode_kad_message(*r, cfg_.limits);
                  if (!msg) return done(msg.error());
                  done(std::move(*msg));
                });
  };
  if (host_.connected(peer)) return send();
  auto a = addresses_of(peer);
  if (!a || a->empty()) {
    boost::asio::post(io_, [done, peer, alive = alive_] {
      if (*alive) done(Error{HostErrc::unsupported_address, "kad: no address for " + peer.to_string()});
    });
    return;
  }
  host_.connect(a->front().with_peer_id(peer), [send, done, alive = alive_](Result<PeerId> r) {
    if (!*alive) return;
    if (!r) return done(r.error());
    send();
  });
}

void DhtService::step(const std::shared_ptr<Query>& q) {
  if (q->finished || !running_) return;
  const bool enough = q->request.type == MessageType::get_providers && q->providers.size() >= q->want;
  if (enough || q->lookup.finished()) return finish(q);
  for (const auto& p : q->lookup.next(clock_->now())) {
    ask(p, q->request, [this, q, p](Result<Message> r) {
      if (q->finished) return;
      if (!r) {
        ++counters_.requests_failed;
        q->lookup.on_failure(p);
        table_.remove(p);
        return step(q);
      }
      (void)table_.update(p, clock_->now());  // it answered: it speaks the DHT
      std::vector<PeerId> named;
      for (const auto& c : r->closer) {
        remember(c.id, c.addrs);  // a claim: dialled at /p2p/<id>, so Noise checks it
        if (addrs_.count(c.id)) named.push_back(c.id);
      }
      for (const auto& pr : r->providers) {
        std::vector<Multiaddr> addrs;
        for (const auto& a : pr.addrs)
          if (!cfg_.dialable || cfg_.dialable(a)) addrs.push_back(a.without_peer_id());
        if (!addrs.empty() && !(pr.id == host_.peer_id())) q->providers.emplace(pr.id, ProviderInfo{pr.id, addrs});
      }
      q->lookup.on_response(p, named);
      step(q);
    });
  }
  if (q->lookup.finished()) finish(q);
}

void DhtService::finish(const std::shared_ptr<Query>& q) {
  if (q->finished) return;
  q->finished = true;
  LookupResult r;
  r.closest = q->lookup.closest();
  for (auto& [p, info] : q->providers) r.providers.push_back(std::move(info));
  r.requests = q->lookup.requests();
  r.failures = q->lookup.failures();
  boost::asio::post(io_, [done = std::move(q->done), r = std::move(r), alive = alive_]() mutable {
    if (*alive) done(std::move(r));
  });
}

namespace {
LookupConfig lookup_config(const DhtConfig& c) {
  LookupConfig l;
  l.alpha = c.alpha;
  l.k = c.k;
  l.max_requests = c.max_requests;
  // Requests end through their own deadlines (dial timeout, request timeout); the
  // lookup's is a backstop.
  l.request_timeout = std::chrono::duration_cast<Duration>(c.request_timeout) * 3;
  return l;
}
}  // namespace

void DhtService::find_node(const PeerId& target, std::function<void(LookupResult)> done) {
  ++counters_.lookups;
  const Key key = key_of(target);
  auto q = std::make_shared<Query>(key, host_.peer_id(), table_.closest(key, cfg_.k), lookup_config(cfg_));
  q->request.type = MessageType::find_node;
  q->request.key = target.bytes();
  q->done = std::move(done);
  step(q);
}

void DhtService::get_providers(ByteView key, std::size_t want, std::function<void(LookupResult)> done) {
  ++counters_.lookups;
  const Key k = key_of(key);
  auto q = std::make_shared<Query>(k, host_.peer_id(), table_.closest(k, cfg_.k), lookup_config(cfg_));
  q->request.type = MessageType::get_providers;
  q->request.key.assign(key.begin(), key.end());
  q->want = std::max<std::size_t>(want, 1);
  q->done = std::move(done);
  step(q);
}

void DhtService::provide(ByteView key, std::function<void(std::size_t)> done) {
  ++counters_.lookups;
  const Key k = key_of(key);
  auto q = std::make_shared<Query>(k, host_.peer_id(), table_.closest(k, cfg_.k), lookup_config(cfg_));
  q->request.type = MessageType::find_node;
  q->request.key.assign(key.begin(), key.end());
  Bytes key_bytes(key.begin(), key.end());
  q->done = [this, key_bytes, done = std::move(done)](LookupResult r) {
    Message add;
    add.type = MessageType::add_provider;
    add.key = key_bytes;
    add.providers = {Peer{host_.peer_id(), host_.advertised_addrs(), ConnectionType::connected}};
    if (r.closest.empty()) return done(0);
    auto left = std::make_shared<std::size_t>(r.closest.size());
    auto accepted = std::make_shared<std::size_t>(0);
    for (const auto& p : r.closest)
      ask(p, add, [left, accepted, done](Result<Message> m) {
        if (m) ++*accepted;
        if (--*left == 0) done(*accepted);
      });
  };
  step(q);
}

}  // namespace shardnode::net::kad
