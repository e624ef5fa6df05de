#include "shardnode/net/host.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sodium.h>

#include <algorithm>

#include "shardnode/core/log.h"
#include "shardnode/net/errors.h"
#include "shardnode/net/framing.h"

namespace shardnode::net {
namespace asio = boost::asio;

struct Host::PendingDial {
  std::vector<ConnectHandler> waiters;
  std::unique_ptr<asio::steady_timer> timer;
  Connection::Ptr conn;  // once the transport connected
  bool done = false;
};

Host::Host(asio::io_context& io, const NodeKey& key, HostConfig cfg)
    : io_(io),
      key_(key),
      self_(PeerId::from_public_key(key.public_key())),
      cfg_(std::move(cfg)),
      clock_(cfg_.clock ? cfg_.clock : &steady_) {
  handlers_[kIdentifyProtocol] = [this](std::shared_ptr<Stream> s) { serve_identify(s); };
  handlers_[kIdentifyPushProtocol] = [this](std::shared_ptr<Stream> s) { read_identify(s, s->remote_peer(), true); };
  handlers_[kPingProtocol] = [this](std::shared_ptr<Stream> s) { serve_ping(s); };
}

Host::~Host() {
  close();
  *alive_ = false;
  // Nothing will run the io_context for us any more: end every connection now
  // rather than lingering for a graceful close.
  for (auto& [p, c] : std::map(conns_)) c->abort(Error{HostErrc::closed, "host destroyed"});
  for (auto& [i, c] : std::map(upgrading_)) c->abort(Error{HostErrc::closed, "host destroyed"});
  for (auto& [i, c] : std::map(leaving_)) c->abort(Error{HostErrc::closed, "host destroyed"});
  conns_.clear();
  upgrading_.clear();
  leaving_.clear();
}

void Host::add_transport(std::unique_ptr<Transport> t) { transports_.push_back(std::move(t)); }

Transport* Host::transport_for(const Multiaddr& addr, bool listen) const {
  for (const auto& t : transports_)
    if (listen ? t->can_listen(addr) : t->can_dial(addr)) return t.get();
  return nullptr;
}

Result<Multiaddr> Host::listen(const Multiaddr& addr) {
  if (cfg_.onion_only && !addr.is_onion() && !addr.is_loopback())
    return Error{HostErrc::onion_only, "onion-only mode: refusing to listen on " + addr.to_string() +
                                           " (only /onion3/ and loopback addresses)"};
  Transport* t = transport_for(addr, true);
  if (!t) return Error{HostErrc::unsupported_address, "no transport can listen on " + addr.to_string()};
  auto bound = t->listen(addr, [this, alive = alive_](std::unique_ptr<ByteStream> s) {
    if (!*alive || closed_) return;
    if (conns_.size() + upgrading_.size() >= cfg_.max_connections ||
        count(Connection::Direction::inbound) >= cfg_.max_inbound) {
      ++counters_.inbound_rejected;
      logging::get("net")->debug("rejecting inbound connection from {}: connection limit", s->remote_address().to_string());
      s->close();
      return;
    }
    ++counters_.inbound_accepted;
    make_connection(std::move(s), Connection::Direction::inbound, std::nullopt)->start();
  });
  if (!bound) return bound;
  listen_addrs_.push_back(*bound);
  logging::get("net")->info("listening on {}/p2p/{}", bound->to_string(), self_.to_string());
  return bound;
}

void Host::set_handler(const std::string& protocol, StreamHandler h) { handlers_[protocol] = std::move(h); }
void Host::remove_handler(const std::string& protocol) { handlers_.erase(protocol); }

std::vector<std::string> Host::protocols() const {
  std::vector<std::string> out;
  for (const auto& [p, h] : handlers_) out.push_back(p);
  return out;
}

std::size_t Host::count(Connection::Direction d) const {
  std::size_t n = 0;
  for (const auto& [p, c] : conns_) n += c->direction() == d;
  for (const auto& [i, c] : upgrading_) n += c->direction() == d;
  return n;
}

std::vector<PeerId> Host::peers() const {
  std::vector<PeerId> out;
  for (const auto& [p, c] : conns_) out.push_back(p);
  return out;
}

std::optional<Host::ConnectionInfo> Host::connection_info(const PeerId& peer) const {
  auto it = conns_.find(peer);
  if (it == conns_.end()) return std::nullopt;
  return ConnectionInfo{it->second->direction() == Connection::Direction::outbound, it->second->remote_address()};
}

std::optional<IdentifyInfo> Host::peer_info(const PeerId& peer) const {
  auto it = infos_.find(peer);
  if (it == infos_.end()) return std::nullopt;
  return it->second;
}

Connection::Ptr Host::make_connection(std::unique_ptr<ByteStream> s, Connection::Direction dir,
                                      std::optional<PeerId> expected) {
  Connection::Callbacks cb;
  auto alive = alive_;
  cb.on_ready = [this, alive](const Connection::Ptr& c) { if (*alive) on_ready(c); };
  cb.on_closed = [this, alive](const Connection::Ptr& c, const Error& e) { if (*alive) on_closed(c, e); };
  cb.on_going_away = [this, alive](const Connection::Ptr& c) {
    if (!*alive) return;
    leaving_[c->id()] = c;  // until on_closed, so the host can still end it
    forget(c, Error{HostErrc::closed, "connection going away"});
  };
  cb.supported_protocols = [this, alive] { return *alive ? protocols() : std::vector<std::string>{}; };
  cb.on_inbound_stream = [this, alive](std::shared_ptr<Stream> st) {
    if (!*alive) return;
    auto it = handlers_.find(st->protocol());
    if (it == handlers_.end()) return st->reset();
    auto h = it->second;
    h(std::move(st));
  };
  ConnectionConfig cc = cfg_.connection;
  if (!cc.clock) cc.clock = clock_;
  auto c = std::make_shared<Connection>(io_, std::move(s), dir, key_, std::move(expected), cc, std::move(cb));
  upgrading_[c->id()] = c;
  return c;
}

void Host::on_ready(const Connection::Ptr& c) {
  upgrading_.erase(c->id());
  const PeerId peer = c->remote_peer();
  bool kept = true;
  auto existing = conns_.find(peer);
  if (existing != conns_.end() && existing->second != c) {
    // Simultaneous connections: both sides keep the one dialed by the smaller peer id.
    const auto dialer_of = [&](const Connection::Ptr& x) {
      return x->direction() == Connection::Direction::outbound ? self_ : peer;
    };
    kept = dialer_of(c) < dialer_of(existing->second);
    Connection::Ptr loser = kept ? existing->second : c;
    ++counters_.duplicate_connections_closed;
    if (kept) existing->second = c;
    loser->close();
    if (kept) {
      // Whoever opened streams when the peer connected opened them on the connection
      // just closed: the peer is gone from there and is here now.
      logging::get("net")->debug("{}: kept the simultaneous connection dialled by {}", peer.to_string(),
                                 dialer_of(c).to_string());
      for (const auto& f : std::vector(on_disconnected_)) f(peer);
      for (const auto& f : std::vector(on_connected_)) f(peer);
    }
  } else {
    conns_[peer] = c;
    logging::get("net")->info("connected to {} ({}, {})", peer.to_string(),
                              c->remote_address().empty() ? "address unknown: onion service" : c->remote_address().to_string(),
                              c->direction() == Connection::Direction::outbound ? "outbound" : "inbound");
    for (const auto& f : std::vector(on_connected_)) f(peer);
  }
  // Complete the dials this connection belongs to: the caller is connected to the
  // peer either way, through this connection or the one kept instead.
  std::vector<std::string> finished;
  for (auto& [key, d] : dials_)
    if (d->conn == c && !d->done) finished.push_back(key);
  for (const auto& key : finished) finish_dial(key, peer);
  if (kept) start_identify(c);
}

void Host::on_closed(const Connection::Ptr& c, const Error& why) {
  upgrading_.erase(c->id());
  leaving_.erase(c->id());
  for (auto& [key, d] : dials_)
    if (d->conn == c && !d->done) {
      asio::post(io_, [this, alive = alive_, k = key, why] {
        if (*alive) finish_dial(k, why);
      });
    }
  if (!c->ready() && c->remote_peer().bytes().empty()) return;  // never upgraded
  forget(c, why);
}

void Host::forget(const Connection::Ptr& c, const Error& why) {
  // A connection going away is forgotten at once, not when its last bytes are out:
  // until then a dial to the peer would reuse it and a new stream on it would fail.
  auto it = conns_.find(c->remote_peer());
  if (it == conns_.end() || it->second != c) return;
  conns_.erase(it);
  infos_.erase(c->remote_peer());
  logging::get("net")->info("disconnected from {}: {}", c->remote_peer().to_string(), why.what());
  for (const auto& f : std::vector(on_disconnected_)) f(c->remote_peer());
}

void Host::connect(const Multiaddr& addr, ConnectHandler h) {
  auto fail_later = [this](ConnectHandler hh, Error e) { asio::post(io_, [hh = std::move(hh), e] { hh(e); }); };
  if (closed_) return fail_later(std::move(h), Error{HostErrc::closed, "host is closed"});
  if (cfg_.onion_only && !addr.is_onion()) {
    ++counters_.dials_rejected;
    logging::get("net")->warn("onion-only mode: refused to dial clearnet address {}", addr.to_string());
    return fail_later(std::move(h), Error{HostErrc::onion_only, "onion-only mode: refusing to dial " +
                                                                    addr.to_string() + " (not an /onion3/ address)"});
  }
  auto expected = addr.peer_id();
  // An onion address is its service's public key: whoever answers must prove that
  // identity in Noise, with or without a /p2p/ suffix (which must then agree).
  if (auto onion = addr.onion_endpoint()) {
    auto pk = parse_onion_address(onion->address);
    if (!pk) return fail_later(std::move(h), Error{HostErrc::unsupported_address, "bad onion address in " + addr.to_string()});
    const PeerId onion_id = PeerId::from_public_key(*pk);
    if (expected && *expected != onion_id)
      return fail_later(std::move(h), Error{HostErrc::unsupported_address,
                                            addr.to_string() + ": the /p2p/ id is not the onion address's key"});
    expected = onion_id;
  }
  if (expected && *expected == self_)
    return fail_later(std::move(h), Error{HostErrc::unsupported_address, "refusing to dial ourselves"});
  if (expected && conns_.count(*expected)) {
    asio::post(io_, [hh = std::move(h), p = *expected] { hh(p); });
    return;
  }
  const std::string key = addr.to_string();
  if (auto d = dials_.find(key); d != dials_.end()) {
    d->second->waiters.push_back(std::move(h));
    return;
  }
  if (auto b = backoff_.find(key); b != backoff_.end() && clock_->now() < b->second.until) {
    ++counters_.dials_rejected;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(b->second.until - clock_->now());
    return fail_later(std::move(h), Error{HostErrc::dial_backoff, "dial backoff for " + key + " (" +
                                                                     std::to_string(left.count()) + " ms left)"});
  }
  Transport* t = transport_for(addr, false);
  if (!t) return fail_later(std::move(h), Error{HostErrc::unsupported_address, "no transport can dial " + key});
  if (conns_.size() + upgrading_.size() + dials_.size() >= cfg_.max_connections ||
      count(Connection::Direction::outbound) + dials_.size() >= cfg_.max_outbound) {
    ++counters_.dials_rejected;
    return fail_later(std::move(h), Error{HostErrc::connection_limit, "outbound connection limit reached"});
  }
  auto d = std::make_shared<PendingDial>();
  d->waiters.push_back(std::move(h));
  d->timer = std::make_unique<asio::steady_timer>(io_, cfg_.dial_timeout);
  dials_[key] = d;
  d->timer->async_wait([this, alive = alive_, key](const boost::system::error_code& ec) {
    if (ec || !*alive) return;
    finish_dial(key, Error{HostErrc::dial_timeout, "dial to " + key + " timed out"});
  });
  t->dial(addr, [this, alive = alive_, key, expected, d](Result<std::unique_ptr<ByteStream>> r) {
    if (!*alive || d->done) {
      if (r) (*r)->close();
      return;
    }
    if (!r) return finish_dial(key, r.error());
    d->conn = make_connection(std::move(*r), Connection::Direction::outbound, expected);
    d->conn->start();
  });
}

void Host::finish_dial(const std::string& key, Result<PeerId> r) {
  auto it = dials_.find(key);
  if (it == dials_.end()) return;
  auto d = it->second;
  dials_.erase(it);
  d->done = true;
  d->timer->cancel();
  if (r) {
    ++counters_.dials_succeeded;
    backoff_.erase(key);
  } else {
    ++counters_.dials_failed;
    note_dial_failure(key);
    if (d->conn && !d->conn->closed()) d->conn->abort(r.error());
    logging::get("net")->debug("dial {} failed: {}", key, r.error().what());
  }
  for (auto& w : d->waiters) w(r);
}

void Host::note_dial_failure(const std::string& key) {
  auto& b = backoff_[key];
  b.last = b.last.count() == 0 ? cfg_.backoff_base : std::min(b.last * 2, cfg_.backoff_max);
  b.until = clock_->now() + b.last;
}

void Host::new_stream(const PeerId& peer, std::vector<std::string> protocols, StreamOpenHandler h) {
  auto it = conns_.find(peer);
  if (it == conns_.end()) {
    asio::post(io_, [hh = std::move(h), p = peer.to_string()] {
      hh(Error{HostErrc::closed, "not connected to " + p});
    });
    return;
  }
  it->second->open_stream(std::move(protocols), std::move(h));
}

void Host::disconnect(const PeerId& peer) {
  auto it = conns_.find(peer);
  if (it != conns_.end()) it->second->close();
}

void Host::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& t : transports_) t->close();
  auto dials = dials_;
  for (auto& [k, d] : dials) finish_dial(k, Error{HostErrc::closed, "host closed"});
  auto conns = conns_;
  for (auto& [p, c] : conns) c->close();
  auto up = upgrading_;
  for (auto& [i, c] : up) c->abort(Error{HostErrc::closed, "host closed"});
}

// ------------------------------------------------------------ identify

std::vector<Multiaddr> Host::advertised_addrs() const {
  if (withdrawn_) return {};
  std::vector<Multiaddr> out = cfg_.advertise_addrs.empty() ? listen_addrs_ : cfg_.advertise_addrs;
  if (cfg_.onion_only) std::erase_if(out, [](const Multiaddr& a) { return !a.is_onion(); });
  return out;
}

Bytes Host::identify_message(const PeerId& remote) const {
  IdentifyInfo info;
  info.agent_version = cfg_.agent_version;
  info.public_key = key_.public_key();
  info.listen_addrs = advertised_addrs();
  info.signed_record = signed_record_;
  auto c = conns_.find(remote);
  if (cfg_.send_observed_addr && !cfg_.onion_only && c != conns_.end() && !c->second->remote_address().empty())
    info.observed_addr = c->second->remote_address();
  info.protocols = protocols();
  return length_prefixed(encode_identify(info));
}

void Host::serve_identify(const std::shared_ptr<Stream>& s) {
  (void)s->write(identify_message(s->remote_peer()));
  s->close_write();
  s->on_data([](ByteView) {});  // nothing expected; drain
}

void Host::push_identify(std::function<void(std::size_t)> done) {
  struct Pending {
    std::size_t left = 0, delivered = 0;
    std::function<void(std::size_t)> done;
    void one(bool ok) {
      delivered += ok ? 1 : 0;
      if (--left == 0 && done) std::exchange(done, nullptr)(delivered);
    }
  };
  auto p = std::make_shared<Pending>();
  p->done = std::move(done);
  p->left = conns_.size() + 1;  // +1: released below, so no peer finishes it early
  for (const auto& [peer, c] : conns_) {
    new_stream(peer, {kIdentifyPushProtocol}, [this, alive = alive_, p, peer](Result<std::shared_ptr<Stream>> r) {
      if (!*alive || !r) return p->one(false);
      auto s = *r;
      if (!s->write(identify_message(peer))) return p->one(false);
      ++counters_.identify_pushes_sent;
      s->close_write();
      s->on_data([](ByteView) {});
      // The remote closes its side once it has read the message.
      s->on_close([p](std::error_code ec) { p->one(!ec); });
    });
  }
  boost::asio::post(io_, [p] { p->one(false); });
}

void Host::start_identify(const Connection::Ptr& c) {
  const PeerId peer = c->remote_peer();
  c->open_stream({kIdentifyProtocol}, [this, alive = alive_, peer](Result<std::shared_ptr<Stream>> r) {
    if (!*alive) return;
    if (!r) {
      ++counters_.identify_failed;
      logging::get("net")->debug("identify {}: {}", peer.to_string(), r.error().what());
      return;
    }
    (*r)->close_write();
    read_identify(*r, peer, false);
  });
}

void Host::read_identify(const std::shared_ptr<Stream>& s, const PeerId& peer, bool push) {
  auto reader = std::make_shared<LengthPrefixedReader>(kIdentifyMaxMessage);
  auto seen = std::make_shared<bool>(false);
  s->on_data([this, alive = alive_, s, reader, peer, push, seen](ByteView b) {
    if (!*alive || *seen) return;
    if (Status st = reader->received_bytes(b); !st) {
      ++counters_.identify_failed;
      logging::get("net")->debug("identify {}: {}", peer.to_string(), st.error().what());
      s->reset();
      return;
    }
    auto msg = reader->next();
    if (!msg) return;
    *seen = true;
    auto info = decode_identify(*msg, peer);
    if (!info) {
      ++counters_.identify_failed;
      logging::get("net")->debug("identify {}: {}", peer.to_string(), info.error().what());
      s->reset();
      return;
    }
    ++(push ? counters_.identify_pushes_received : counters_.identify_received);
    if (info->signed_record) ++counters_.identify_records;
    if (info->record_rejected) {
      ++counters_.identify_records_rejected;
      logging::get("net")->debug("identify {}: record dropped: {}", peer.to_string(), info->record_rejected->what());
    }
    if (conns_.count(peer)) infos_[peer] = *info;
    logging::get("net")->debug("{} {}: {} ({} protocols)", push ? "identify push from" : "identified", peer.to_string(),
                               info->agent_version, info->protocols.size());
    for (const auto& f : std::vector(on_identified_)) f(peer, *info);
    // A push is answered by closing our side once handled: the pusher's "delivered".
    if (push) s->close_write();
  });
  s->on_close([](std::error_code) {});
}

// ------------------------------------------------------------ ping

void Host::serve_ping(const std::shared_ptr<Stream>& s) {
  // Echo every 32-byte payload back, as often as the dialer sends one.
  auto weak = std::weak_ptr<Stream>(s);
  s->on_data([weak](ByteView b) {
    if (auto st = weak.lock()) (void)st->write(b);
  });
  s->on_close([weak](std::error_code ec) {
    if (auto st = weak.lock(); st && !ec) st->close_write();
  });
}

void Host::ping(const PeerId& peer, PingHandler h) {
  new_stream(peer, {kPingProtocol}, [clock = clock_, h = std::move(h)](Result<std::shared_ptr<Stream>> r) mutable {
    if (!r) return h(r.error());
    auto s = *r;
    auto payload = std::make_shared<Bytes>(kPingSize);
    randombytes_buf(payload->data(), payload->size());
    auto got = std::make_shared<Bytes>();
    auto start = clock->now();
    auto done = std::make_shared<bool>(false);
    auto handler = std::make_shared<PingHandler>(std::move(h));
    s->on_data([s, payload, got, start, done, handler, clock](ByteView b) {
      if (*done) return;
      got->insert(got->end(), b.begin(), b.end());
      if (got->size() < kPingSize) return;
      *done = true;
      const bool ok = std::equal(payload->begin(), payload->end(), got->begin());
      s->close_write();
      if (!ok) return (*handler)(Error{MssErrc::malformed, "ping: echo differs from what we sent"});
      (*handler)(std::chrono::duration_cast<std::chrono::microseconds>(clock->now() - start));
    });
    s->on_close([done, handler](std::error_code ec) {
      if (*done) return;
      *done = true;
      (*handler)(Error{ec ? ec : make_error_code(HostErrc::closed), "ping: stream closed before the echo"});
    });
    if (Status st = s->write(*payload); !st && !*done) {
      *done = true;
      (*handler)(st.error());
    }
  });
}

}  // namespace shardnode::net
