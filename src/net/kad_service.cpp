#include "shardnode/net/kad_service.h"

#include <boost/asio/post.hpp>

#include <algorithm>

#include "shardnode/net/errors.h"

namespace shardnode::net::kad {

DhtService::DhtService(boost::asio::io_context& io, Host& host, DhtConfig cfg)
    : io_(io),
      host_(host),
      cfg_(std::move(cfg)),
      clock_(cfg_.clock ? cfg_.clock : &steady_),
      rr_(io, host),
      dht_(host.peer_id(), cfg_.core),
      timer_(io) {
  // A peer that sent us a DHT request before identify told us its addresses is
  // learnt once it does.
  host_.on_peer_identified([this, alive = alive_](const PeerId& p, const IdentifyInfo& info) {
    if (!*alive || !running_ || !learn_on_identify_.erase(p)) return;
    dht_.learn(p, info.signed_record ? info.signed_record->record.addrs : info.listen_addrs, clock_->now());
  });
}

DhtService::~DhtService() {
  *alive_ = false;
  stop();
}

void DhtService::start() {
  if (running_) return;
  running_ = true;
  rr_.serve(cfg_.protocol, cfg_.core.limits.max_message, [this](const PeerId& from, ByteView req) {
    auto answer = dht_.handle_bytes(from, req, clock_->now());
    if (answer) learn_requester(from);
    return answer;
  });
}

void DhtService::stop() {
  if (!running_) return;
  running_ = false;
  rr_.unserve(cfg_.protocol);
  timer_.cancel();
  waiting_.clear();
}

void DhtService::learn_requester(const PeerId& from) {
  if (dht_.table().contains(from)) return;
  if (auto info = host_.peer_info(from)) {
    dht_.learn(from, info->signed_record ? info->signed_record->record.addrs : info->listen_addrs, clock_->now());
    return;
  }
  if (learn_on_identify_.size() < 1024) learn_on_identify_.insert(from);
}

void DhtService::add_peer(const PeerId& peer, const std::vector<Multiaddr>& addrs) {
  dht_.learn(peer, addrs, clock_->now());
}

void DhtService::track(Dht::LookupId id, std::function<void(LookupResult)> done) {
  waiting_[id] = std::move(done);
  pump();
}

void DhtService::find_node(const PeerId& target, std::function<void(LookupResult)> done) {
  track(dht_.find_node(target.bytes(), clock_->now()), std::move(done));
}

void DhtService::find_key(ByteView key, std::function<void(LookupResult)> done) {
  track(dht_.find_node(Bytes(key.begin(), key.end()), clock_->now()), std::move(done));
}

void DhtService::get_providers(ByteView key, std::size_t want, std::function<void(LookupResult)> done) {
  track(dht_.get_providers(Bytes(key.begin(), key.end()), want, clock_->now()), std::move(done));
}

void DhtService::provide(ByteView key, std::function<void(LookupResult)> done) {
  track(dht_.provide(Bytes(key.begin(), key.end()), host_.advertised_addrs(), clock_->now()), std::move(done));
}

void DhtService::put_record(std::function<void(LookupResult)> done) {
  const auto& ours = host_.signed_record();
  if (!ours) {
    boost::asio::post(io_, [done = std::move(done), alive = alive_] {
      if (*alive) done(LookupResult{});
    });
    return;
  }
  track(dht_.put_record(*ours, clock_->now()), std::move(done));
}

void DhtService::get_record(const PeerId& peer, std::function<void(LookupResult)> done) {
  track(dht_.get_record(peer, clock_->now()), std::move(done));
}

void DhtService::send(const Dht::Request& r) {
  const Dht::LookupId id = r.lookup;
  const PeerId peer = r.to;
  auto answered = [this, id, peer, alive = alive_](Result<Message> m) {
    if (!*alive || !running_) return;
    dht_.on_answer(id, peer, m, clock_->now());
    pump();
  };
  auto request = [this, peer, body = encode(r.message), answered, alive = alive_]() {
    if (!*alive || !running_) return;
    rr_.request(peer, cfg_.protocol, body, cfg_.core.limits.max_message,
                std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.core.request_timeout),
                [this, answered](Result<Bytes> b) {
                  if (!b) return answered(b.error());
                  answered(decode_kad_message(*b, cfg_.core.limits));
                });
  };
  if (host_.connected(peer)) return request();
  auto addrs = dht_.addresses_of(peer);
  if (!addrs || addrs->empty()) {
    boost::asio::post(io_, [answered, peer] {
      answered(Error{HostErrc::unsupported_address, "kad: no address for " + peer.to_string()});
    });
    return;
  }
  host_.connect(addrs->front().with_peer_id(peer), [request, answered, alive = alive_](Result<PeerId> c) {
    if (!*alive) return;
    if (!c) return answered(c.error());
    request();
  });
}

void DhtService::pump() {
  if (!running_) return;
  for (const auto& r : dht_.take_requests(clock_->now())) send(r);
  for (auto& f : dht_.take_finished()) {
    auto it = waiting_.find(f.lookup);
    if (it == waiting_.end()) continue;
    boost::asio::post(io_, [done = std::move(it->second), res = std::move(f.result), alive = alive_]() mutable {
      if (*alive) done(std::move(res));
    });
    waiting_.erase(it);
  }
  if (dht_.active_lookups() > 0) schedule_tick();
}

void DhtService::schedule_tick() {
  if (ticking_) return;
  ticking_ = true;
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!*alive) return;
    ticking_ = false;
    if (ec || !running_) return;
    dht_.tick(clock_->now());
    pump();
  });
}

}  // namespace shardnode::net::kad
