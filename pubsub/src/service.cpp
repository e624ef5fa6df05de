#include "shardnode/pubsub/service.h"

#include <boost/asio/post.hpp>

#include "shardnode/core/log.h"
#include "shardnode/net/errors.h"
#include "shardnode/net/framing.h"

namespace shardnode::pubsub {
namespace asio = boost::asio;

struct PubsubService::PeerStreams {
  std::shared_ptr<net::Stream> out;   // ours, for sending
  PeerProtocol proto = PeerProtocol::meshsub_1_1;
  bool added = false;                 // known to the router
  std::vector<Rpc> early_in;          // RPCs that arrived before our stream was ready (bounded)
  std::uint64_t generation = 0;       // which connection notice this entry belongs to
  std::shared_ptr<net::Stream> stem_out;  // opened on the first stem message to this peer
  bool stem_opening = false;
  std::vector<Message> stem_queue;        // waiting for stem_out (bounded)
  OutboundQueue queue;                    // frames waiting for room on `out`
  explicit PeerStreams(const OutboundLimits& l) : queue(l) {}
};

namespace {
constexpr std::size_t kMaxEarlyRpcs = 64;
constexpr std::size_t kMaxStemQueue = 64;

PeerProtocol protocol_of(const std::string& id) {
  if (id == kMeshsub12Id) return PeerProtocol::meshsub_1_2;
  if (id == kMeshsub11Id) return PeerProtocol::meshsub_1_1;
  if (id == kMeshsub10Id) return PeerProtocol::meshsub_1_0;
  return PeerProtocol::floodsub;
}
}  // namespace

PubsubService::PubsubService(asio::io_context& io, net::Host& host, ServiceConfig cfg)
    : io_(io),
      host_(host),
      cfg_(std::move(cfg)),
      router_(host.peer_id(), cfg_.gossip, rng_, cfg_.score, cfg_.thresholds),
      gate_(cfg_.inbound),
      heartbeat_(io) {}

PubsubService::~PubsubService() {
  *alive_ = false;
  stop();
}

void PubsubService::start() {
  if (started_) return;
  started_ = true;
  for (const char* proto : {kMeshsub12Id, kMeshsub11Id, kMeshsub10Id, kFloodsubId})
    host_.set_handler(proto, [this, alive = alive_](std::shared_ptr<net::Stream> s) {
      if (*alive) on_inbound(std::move(s));
    });
  if (cfg_.gossip.stem.enabled)
    host_.set_handler(kStemProtocolId, [this, alive = alive_](std::shared_ptr<net::Stream> s) {
      if (*alive) on_stem_inbound(std::move(s));
    });
  host_.on_peer_connected([this, alive = alive_](const PeerId& p) { if (*alive && started_) on_connected(p); });
  host_.on_peer_disconnected([this, alive = alive_](const PeerId& p) { if (*alive) on_disconnected(p); });
  for (const auto& p : host_.peers()) on_connected(p);
  schedule_heartbeat(cfg_.heartbeat_initial_delay);
}

void PubsubService::stop() {
  if (!started_) return;
  started_ = false;
  heartbeat_.cancel();
  for (auto& [p, ps] : peers_) {
    if (ps->out) ps->out->close_write();
    if (ps->stem_out) ps->stem_out->close_write();
  }
  peers_.clear();
}

void PubsubService::schedule_heartbeat(Duration after) {
  heartbeat_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(after));
  heartbeat_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || !started_) return;
    router_.heartbeat(now());
    gate_.heartbeat(now(), [this](const PeerId& p) { return router_.score(p, now()); });
    flush();
    drop_stalled_peers();
    ping_peers();
    schedule_heartbeat(cfg_.gossip.heartbeat_interval);
  });
}

void PubsubService::ping_peers() {
  if (!cfg_.gossip.latency.enabled || cfg_.ping_interval <= Duration::zero()) return;
  if (last_ping_ && now() - *last_ping_ < cfg_.ping_interval) return;
  last_ping_ = now();
  for (const auto& [peer, ps] : peers_) {
    if (!ps->added) continue;
    host_.ping(peer, [this, alive = alive_, peer = peer](Result<std::chrono::microseconds> r) {
      // A failed ping says nothing about latency: the connection's own fate handles it.
      if (*alive && r) router_.observe_rtt(peer, *r);
    });
  }
}

void PubsubService::on_connected(const PeerId& peer) {
  if (peers_.count(peer)) return;
  const auto conn = host_.connection_info(peer);
  if (!gate_.admit(peer, conn && conn->outbound, now())) {
    // A new inbound identity past the admission rate: not read, not routed to.
    logging::get("pubsub")->debug("{}: inbound admission rate reached, disconnecting", peer.to_string());
    asio::post(io_, [this, alive = alive_, peer] {
      if (*alive) host_.disconnect(peer);
    });
    return;
  }
  auto& entry = peers_[peer];
  entry = std::make_unique<PeerStreams>(cfg_.outbound);
  entry->generation = ++generation_;
  host_.new_stream(peer, {kMeshsub12Id, kMeshsub11Id, kFloodsubId},
                   [this, alive = alive_, peer, gen = entry->generation](Result<std::shared_ptr<net::Stream>> r) {
                     if (!*alive) return;
                     auto it = peers_.find(peer);
                     // Gone, or connected again since (a newer entry opens its own stream).
                     if (it == peers_.end() || it->second->generation != gen) return;
                     if (!r) {
                       logging::get("pubsub")->debug("{} speaks no pubsub protocol: {}", peer.to_string(),
                                                     r.error().what());
                       return;
                     }
                     auto& ps = *it->second;
                     ps.out = *r;
                     ps.proto = protocol_of((*r)->protocol());
                     ps.out->on_data([](ByteView) {});  // nothing comes back on our stream
                     ps.out->on_writable([this, alive = alive_, peer, gen] {
                       if (!*alive) return;
                       auto at = peers_.find(peer);
                       if (at != peers_.end() && at->second->generation == gen) pump(peer, *at->second);
                     });
                     auto info = host_.connection_info(peer);
                     // P6 is keyed on the remote IP for TCP; onion peers have none (empty key: P6 off).
                     std::string coloc;
                     if (info) {
                       if (auto ep = info->remote_address.tcp_endpoint()) coloc = ep->ip;
                     }
                     if (!router_.add_peer(peer, ps.proto, info && info->outbound, coloc, now())) {
                       host_.disconnect(peer);
                       return;
                     }
                     ps.added = true;
                     for (auto& rpc : std::exchange(ps.early_in, {})) router_.handle_rpc(peer, std::move(rpc), now());
                     flush();
                   });
}

void PubsubService::on_disconnected(const PeerId& peer) {
  gate_.remove(peer);
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  if (it->second->added) router_.remove_peer(peer, now());
  peers_.erase(it);
  flush();
}

// A peer's inbound stream (gossipsub RPCs or stem frames), read through the gate:
// while the peer's budget is spent the stream is paused and a timer resumes it.
struct PubsubService::Inbound {
  PeerId peer;
  bool stem = false;
  std::weak_ptr<net::Stream> stream;
  net::LengthPrefixedReader reader;
  asio::steady_timer timer;
  bool paused = false;
  Inbound(asio::io_context& io, PeerId p, bool is_stem, std::weak_ptr<net::Stream> s, std::size_t max)
      : peer(std::move(p)), stem(is_stem), stream(std::move(s)), reader(max), timer(io) {}
};

void PubsubService::on_inbound(std::shared_ptr<net::Stream> s) {
  auto in = std::make_shared<Inbound>(io_, s->remote_peer(), false, s, cfg_.limits.max_rpc_size);
  s->on_data([this, alive = alive_, in](ByteView b) {
    if (!*alive) return;
    if (Status st = in->reader.received_bytes(b); !st) {
      ++counters_.rpcs_malformed;
      logging::get("pubsub")->debug("{}: {}", in->peer.to_string(), st.error().what());
      if (auto strm = in->stream.lock()) strm->reset();
      return;
    }
    read_inbound(in);
  });
  s->on_close([in](std::error_code) { in->timer.cancel(); });
}

void PubsubService::on_stem_inbound(std::shared_ptr<net::Stream> s) {
  auto in = std::make_shared<Inbound>(io_, s->remote_peer(), true, s, cfg_.limits.max_rpc_size);
  s->on_data([this, alive = alive_, in](ByteView b) {
    if (!*alive || !started_) return;
    if (Status st = in->reader.received_bytes(b); !st) {
      ++counters_.stem_malformed;
      logging::get("pubsub")->debug("{}: stem: {}", in->peer.to_string(), st.error().what());
      if (auto strm = in->stream.lock()) strm->reset();
      return;
    }
    read_inbound(in);
  });
  s->on_close([in](std::error_code) { in->timer.cancel(); });
}

// Decodes and hands on the frames `in` holds while the peer's budget allows; when it
// does not, pauses the stream until it will. A frame is charged once decoded (its
// size, and its messages plus control entries), so the decoder runs at most one
// frame past the budget; nothing past that frame is read.
void PubsubService::read_inbound(const std::shared_ptr<Inbound>& in) {
  const PeerId& peer = in->peer;
  bool handled = false;
  while (true) {
    if (const Duration w = gate_.wait(peer, now()); w > Duration::zero()) {
      if (in->paused) break;
      auto strm = in->stream.lock();
      if (!strm) break;
      strm->pause();
      in->paused = true;
      in->timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(w));
      in->timer.async_wait([this, alive = alive_, in](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        in->paused = false;
        read_inbound(in);
        // Frames buffered in the reader are done (or we paused again): take more.
        if (!in->paused)
          if (auto st = in->stream.lock()) st->resume();
      });
      break;
    }
    auto body = in->reader.next();
    if (!body) break;
    if (in->stem) {
      auto msg = decode_stem_frame(*body, cfg_.limits);
      if (!msg) {
        ++counters_.stem_malformed;
        logging::get("pubsub")->debug("{}: stem: {}", peer.to_string(), msg.error().what());
        if (auto strm = in->stream.lock()) strm->reset();
        break;
      }
      ++counters_.stem_in;
      gate_.charge(peer, body->size(), 1, now());
      auto it = peers_.find(peer);
      if (it == peers_.end() || !it->second->added) continue;  // not a pubsub peer (yet)
      report_receipts(peer, std::span<const Message>(&*msg, 1), Receipt::Kind::stem);
      router_.handle_stem(peer, std::move(*msg), now());
      handled = true;
      continue;
    }
    auto rpc = decode_rpc(*body, cfg_.limits);
    if (!rpc) {
      ++counters_.rpcs_malformed;
      gate_.charge(peer, body->size(), 1, now());
      logging::get("pubsub")->debug("{}: {}", peer.to_string(), rpc.error().what());
      continue;
    }
    ++counters_.rpcs_in;
    gate_.charge(peer, body->size(), inbound_entries(*rpc), now());
    auto it = peers_.find(peer);
    if (it == peers_.end()) continue;
    report_receipts(peer, rpc->publish, Receipt::Kind::gossip);
    if (!it->second->added) {
      // Their stream can beat ours: keep the first RPCs (subscriptions) for later.
      if (it->second->early_in.size() < kMaxEarlyRpcs) it->second->early_in.push_back(std::move(*rpc));
      else ++counters_.rpcs_dropped_queue_full;
      continue;
    }
    router_.handle_rpc(peer, std::move(*rpc), now());
    handled = true;
  }
  if (handled) flush();
}

// A message that cannot go out (no stream, a full buffer, a failed write) is dropped:
// we hold it, and its embargo gossips it. Only a peer that refuses the protocol
// makes the router route around it.
void PubsubService::send_stem(const PeerId& peer, Message msg) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || !started_) {
    ++counters_.stem_dropped;
    return;
  }
  auto& ps = *it->second;
  if (ps.stem_out) {
    Bytes wire = net::length_prefixed(encode_stem_frame(msg));
    if (ps.stem_out->write_capacity() >= wire.size() && ps.stem_out->write(wire)) {
      ++counters_.stem_out;
    } else {
      // A dead or stuck stream: the next message opens a new one.
      ++counters_.stem_dropped;
      ps.stem_out->reset();
      ps.stem_out.reset();
    }
    return;
  }
  if (ps.stem_queue.size() >= kMaxStemQueue) {
    ++counters_.stem_dropped;
    return;
  }
  ps.stem_queue.push_back(std::move(msg));
  if (ps.stem_opening) return;
  ps.stem_opening = true;
  host_.new_stream(peer, {kStemProtocolId},
                   [this, alive = alive_, peer, gen = ps.generation](Result<std::shared_ptr<net::Stream>> r) {
                     if (!*alive || !started_) return;
                     auto at = peers_.find(peer);
                     if (at == peers_.end() || at->second->generation != gen) return;
                     auto& entry = *at->second;
                     entry.stem_opening = false;
                     auto queued = std::exchange(entry.stem_queue, {});
                     if (!r) {
                       logging::get("pubsub")->debug("stem stream to {} failed: {}", peer.to_string(),
                                                     r.error().what());
                       if (r.error().code == make_error_code(net::MssErrc::not_supported)) {
                         for (auto& m : queued) router_.stem_undeliverable(peer, std::move(m), now());
                       } else {
                         counters_.stem_dropped += queued.size();
                       }
                       flush();
                       return;
                     }
                     entry.stem_out = *r;
                     entry.stem_out->on_data([](ByteView) {});
                     // The peer closed or reset it: open a new one next time.
                     std::weak_ptr<net::Stream> weak = entry.stem_out;
                     entry.stem_out->on_close([this, alive = alive_, peer, weak](std::error_code) {
                       if (!*alive) return;
                       auto e = peers_.find(peer);
                       if (e != peers_.end() && e->second->stem_out == weak.lock()) e->second->stem_out.reset();
                     });
                     for (auto& m : queued) send_stem(peer, std::move(m));
                     flush();
                   });
}

void PubsubService::flush() {
  // Sending stem messages can make the router produce more (a reroute, a fluff):
  // loop until it has nothing left. Each round ends or shrinks the stem routes.
  do flush_once();
  while (router_.has_output());
}

void PubsubService::flush_once() {
  const TimePoint t = now();
  for (auto& o : router_.take_sends()) {
    auto it = peers_.find(o.to);
    if (it == peers_.end() || !it->second->out) continue;
    const PeerId peer = o.to;
    auto& ps = *it->second;
    for (auto& f : split_into_lanes(std::move(o))) {
      if (ps.queue.push(f.lane, std::move(f.frame), t)) continue;
      ++counters_.rpcs_dropped_queue_full;
      ++counters_.dropped_by_lane[static_cast<std::size_t>(f.lane)];
    }
    pump(peer, ps);
  }
  for (auto& o : router_.take_stem_sends()) send_stem(o.to, std::move(o.message));
  for (auto& d : router_.take_deliveries())
    if (on_message_) on_message_(d);
  for (const auto& id : router_.take_own_gossiped())
    if (on_own_gossiped_) on_own_gossiped_(id);
  for (const auto& p : router_.take_disconnects()) host_.disconnect(p);
  // PX candidates go to the node's discovery (which has no trusted addresses for them yet).
  if (auto px = router_.take_px_candidates(); !px.empty() && on_px_) on_px_(px);
}

void PubsubService::pump(const PeerId& peer, PeerStreams& ps) {
  if (!ps.out) return;
  const TimePoint t = now();
  while (auto f = ps.queue.pop(ps.out->write_capacity(), t)) {
    if (ps.out->write(*f)) {
      ++counters_.rpcs_out;
    } else {
      ++counters_.rpcs_dropped_queue_full;
      logging::get("pubsub")->debug("{}: write failed with room reported", peer.to_string());
    }
  }
}

void PubsubService::drop_stalled_peers() {
  const TimePoint t = now();
  std::vector<PeerId> slow;
  for (const auto& [p, ps] : peers_)
    if (ps->queue.stalled(t)) slow.push_back(p);
  for (const auto& p : slow) {
    ++counters_.slow_peers_dropped;
    logging::get("pubsub")->warn("{}: slow peer: {} bytes waited {} s without it taking any; disconnecting",
                                 p.to_string(), peers_[p]->queue.bytes(),
                                 std::chrono::duration_cast<std::chrono::seconds>(cfg_.outbound.stall_after).count());
    host_.disconnect(p);
  }
}

void PubsubService::subscribe(const TopicId& topic) {
  router_.subscribe(topic, now());
  flush();
}

void PubsubService::unsubscribe(const TopicId& topic) {
  router_.unsubscribe(topic, now());
  flush();
}

Result<MessageId> PubsubService::publish(const TopicId& topic, Bytes data) {
  auto r = router_.publish(topic, std::move(data), now());
  if (r && on_receipt_) on_receipt_(Receipt{Receipt::Kind::own, host_.peer_id(), topic, *r});
  flush();
  return r;
}

void PubsubService::report_receipts(const PeerId& from, std::span<const Message> msgs, Receipt::Kind kind) {
  if (!on_receipt_) return;
  for (const Message& m : msgs) on_receipt_(Receipt{kind, from, m.topic, cfg_.gossip.message_id(m)});
}

void PubsubService::report_validation(const MessageId& id, ValidationResult r) {
  router_.report_validation(id, r, now());
  flush();
}

}  // namespace shardnode::pubsub
