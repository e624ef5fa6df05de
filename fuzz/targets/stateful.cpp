// Stateful targets: the sans-IO cores driven by fuzzer-chosen sequences of inputs
// and calls - yamux, the Noise handshake and session, the gossipsub router with
// several fake peers.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "../fixed_keys.h"
#include "../fuzz.h"
#include "shardnode/core/random.h"
#include "shardnode/net/noise.h"
#include "shardnode/net/yamux.h"
#include "shardnode/pubsub/codec.h"
#include "shardnode/pubsub/router.h"

namespace shardnode::fuzz {
namespace {

// Deterministic randomness for the router (splitmix64): a run depends on the input only.
class FuzzRandom final : public Random {
 public:
  explicit FuzzRandom(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next_u64() override {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t s_;
};


}  // namespace

// One yamux session (client or server by the first byte) fed frames and driven by
// the application calls a muxer user makes, in the fuzzer's order; time moves when
// the fuzzer says (op 11), so its RTT pings and window auto-tuning run too.
SHARDNODE_FUZZ_TARGET(yamux) {
  Input in(data, size);
  net::YamuxConfig cfg;
  cfg.max_streams = 8;
  cfg.max_frame_data = 64 * 1024;
  cfg.max_send_buffer = 64 * 1024;
  cfg.max_pending_pings = 4;
  cfg.max_window = 1024 * 1024;
  cfg.session_window_budget = 1024 * 1024;
  net::YamuxSession s(in.flag(), cfg);
  TimePoint now{};
  std::vector<std::uint32_t> ids;
  auto pick = [&]() -> std::uint32_t {
    if (ids.empty() || in.flag()) return in.u8();
    return ids[in.u8() % ids.size()];
  };
  while (!in.empty()) {
    const bool was_failed = s.failed();
    switch (in.u8() % 12) {
      case 0: case 1: case 2: case 3: {
        const Status st = s.received_bytes(in.chunk());
        if (was_failed) SHARDNODE_FUZZ_CHECK(!st);
        break;
      }
      case 4:
        if (auto id = s.open_stream()) ids.push_back(*id);
        break;
      case 5: {
        const std::uint32_t id = pick();
        const ByteView b = in.chunk();
        const std::size_t cap = s.write_capacity(id);
        if (s.write(id, b)) SHARDNODE_FUZZ_CHECK(b.size() <= cap);
        break;
      }
      case 6: {
        const std::uint32_t id = pick();
        const std::size_t before = s.readable(id);
        const Bytes got = s.read(id, in.u16());
        SHARDNODE_FUZZ_CHECK(got.size() <= before);
        break;
      }
      case 7: (void)s.close_write(pick()); break;
      case 8: s.reset(pick()); break;
      case 9: s.ping(in.u32()); break;
      case 10: s.go_away(static_cast<net::YamuxSession::GoAwayCode>(in.u8() % 3)); break;
      case 11:
        now += std::chrono::microseconds(in.u16());
        s.tick(now);
        (void)s.send_window(pick());
        break;
    }
    (void)s.take_bytes_to_send();
    while (auto ev = s.next_event())
      if (ev->kind == net::YamuxSession::Event::Kind::stream_opened) ids.push_back(ev->id);
    SHARDNODE_FUZZ_CHECK(s.stream_count() <= cfg.max_streams);
    SHARDNODE_FUZZ_CHECK(s.window_growth() <= cfg.session_window_budget);
    for (const std::uint32_t id : ids) {  // credit granted and data unread never exceed the window
      SHARDNODE_FUZZ_CHECK(s.window_size(id) <= cfg.max_window);
      if (!s.failed()) SHARDNODE_FUZZ_CHECK(std::uint64_t{s.recv_window(id)} + s.readable(id) <= s.window_size(id));
    }
    if (ids.size() > 64) ids.erase(ids.begin(), ids.begin() + 32);
  }
}

// Noise XX with fixed keys, so a run depends on the input only.
//  mode 0: a responder eats the input as the initiator's bytes, then as transport
//          frames if the handshake completes;
//  mode 1: an honest initiator and responder talk through a channel the fuzzer
//          splits, corrupts, drops and injects into; while it has not tampered,
//          every plaintext written arrives intact and in order.
SHARDNODE_FUZZ_TARGET(noise) {
  static const NodeKey ki = fixed_key(11), kr = fixed_key(12);
  Input in(data, size);
  const auto opts = fixed_noise_options;
  if (in.u8() % 2 == 0) {
    net::NoiseHandshake r(net::NoiseHandshake::Role::responder, kr, opts(1, 2));
    r.start();
    while (!in.empty() && !r.done() && !r.failed()) {
      (void)r.received_bytes(in.chunk());
      (void)r.take_bytes_to_send();
    }
    if (!r.done()) return;
    auto fin = r.finish();
    if (!fin) return;
    (void)fin->session.received_bytes(fin->leftover);
    while (!in.empty()) {
      (void)fin->session.received_bytes(in.chunk());
      (void)fin->session.take_plaintext();
    }
    return;
  }

  auto iopts = opts(3, 4);
  iopts.expected_remote = PeerId::from_public_key(kr.public_key());
  net::NoiseHandshake a(net::NoiseHandshake::Role::initiator, ki, std::move(iopts));
  net::NoiseHandshake b(net::NoiseHandshake::Role::responder, kr, opts(1, 2));
  a.start();
  b.start();
  bool tampered = false;
  // Moves what `from` has to send into `to`, as the fuzzer says.
  auto transit = [&](Bytes wire, auto&& deliver) {
    switch (in.u8() % 8) {
      case 0:  // flip one byte
        if (!wire.empty()) {
          wire[in.u16() % wire.size()] ^= static_cast<std::uint8_t>(in.u8() | 1);
          tampered = true;
        }
        break;
      case 1:  // drop a tail
        if (!wire.empty()) {
          wire.resize(in.u16() % wire.size());
          tampered = true;
        }
        break;
      case 2: {  // inject bytes first
        const ByteView extra = in.chunk();
        if (!extra.empty()) tampered = true;
        wire.insert(wire.begin(), extra.begin(), extra.end());
        break;
      }
      default: break;
    }
    // Delivered in two pieces at a fuzzer-chosen split.
    const std::size_t cut = wire.empty() ? 0 : in.u16() % (wire.size() + 1);
    deliver(ByteView(wire).first(cut));
    deliver(ByteView(wire).subspan(cut));
  };
  for (int round = 0; round < 4 && !(a.done() && b.done()); ++round) {
    if (a.failed() || b.failed()) return;
    transit(a.take_bytes_to_send(), [&](ByteView v) { (void)b.received_bytes(v); });
    transit(b.take_bytes_to_send(), [&](ByteView v) { (void)a.received_bytes(v); });
  }
  if (!a.done() || !b.done()) {
    SHARDNODE_FUZZ_CHECK(tampered);  // three messages, four rounds: untouched, it completes
    return;
  }
  auto fa = a.finish();
  auto fb = b.finish();
  if (!tampered) SHARDNODE_FUZZ_CHECK(fa && fb);
  if (!fa || !fb) return;
  if (!tampered) SHARDNODE_FUZZ_CHECK(fb->session.remote_peer() == PeerId::from_public_key(ki.public_key()));
  (void)fb->session.received_bytes(fb->leftover);
  (void)fa->session.received_bytes(fa->leftover);
  Bytes sent, got;
  while (!in.empty()) {
    const ByteView p = in.chunk();
    if (!fa->session.write(p)) break;
    sent.insert(sent.end(), p.begin(), p.end());
    transit(fa->session.take_bytes_to_send(), [&](ByteView v) { (void)fb->session.received_bytes(v); });
    const Bytes out = fb->session.take_plaintext();
    got.insert(got.end(), out.begin(), out.end());
  }
  if (!tampered) SHARDNODE_FUZZ_CHECK(got == sent);
}

// The gossipsub router (v1.2 with scoring and choking; the stem phase on or off by the
// first byte) with four fake peers whose RPCs, stem messages, arrivals and departures, and
// our own calls and heartbeats come in the fuzzer's order on a clock it advances.
SHARDNODE_FUZZ_TARGET(router) {
  Input in(data, size);
  static const std::vector<PeerId> peers = [] {
    std::vector<PeerId> v;
    for (std::uint8_t i = 0; i < 4; ++i) v.push_back(PeerId::from_public_key(fixed_key(static_cast<std::uint8_t>(20 + i)).public_key()));
    return v;
  }();
  static const PeerId self = PeerId::from_public_key(fixed_key(19).public_key());
  const std::vector<pubsub::TopicId> topics = {"/shardnode/collations/0", "/shardnode/collations/1", "other"};

  pubsub::GossipsubConfig cfg;
  cfg.d = 2;
  cfg.d_lo = 1;
  cfg.d_hi = 3;
  cfg.d_lazy = 2;
  cfg.d_score = 1;
  cfg.d_out = 1;
  cfg.stem.enabled = in.flag();
  // Choking on, judged after two messages: the statistics and CHOKE/UNCHOKE both ways.
  cfg.choke.enabled = true;
  cfg.choke.unchoked = 1;
  cfg.choke.min_trials = 2;
  // The latency-aware mesh too, swapping at every heartbeat on any difference.
  cfg.latency.enabled = true;
  cfg.latency.swap_ticks = 1;
  cfg.latency.swap_ratio = 1.0;
  cfg.latency.swap_margin = std::chrono::milliseconds(0);
  FuzzRandom rng(0x5eed);
  pubsub::Router r(self, cfg, rng);
  std::vector<pubsub::MessageId> pending;  // validations decided later
  for (const auto& t : topics)
    r.set_validator(t, [&pending](const PeerId&, const pubsub::Message& m) -> std::optional<pubsub::ValidationResult> {
      if (m.data.empty()) return pubsub::ValidationResult::reject;
      switch (m.data[0] % 4) {
        case 0: return pubsub::ValidationResult::accept;
        case 1: return pubsub::ValidationResult::reject;
        case 2: return pubsub::ValidationResult::ignore;
        default:
          pending.push_back(pubsub::default_message_id(m));
          return std::nullopt;  // report_validation() decides
      }
    });
  TimePoint now{std::chrono::seconds(1000)};
  const pubsub::CodecLimits limits;
  while (!in.empty()) {
    const PeerId& peer = peers[in.u8() % peers.size()];
    const pubsub::TopicId& topic = topics[in.u8() % topics.size()];
    switch (in.u8() % 10) {
      case 0:
        (void)r.add_peer(peer, static_cast<pubsub::PeerProtocol>(in.u8() % 4), in.flag(), "", now);
        break;
      case 1: r.remove_peer(peer, now); break;
      case 2: case 3:
        if (auto rpc = pubsub::decode_rpc(in.bytes(in.u16() % 2048), limits)) r.handle_rpc(peer, std::move(*rpc), now);
        break;
      case 4: {
        // The step doubles as a round trip to `peer` (no extra input: corpora keep their meaning).
        const std::chrono::milliseconds step(in.u16());
        r.observe_rtt(peer, step);
        now += step;
        r.heartbeat(now);
        break;
      }
      case 5: {
        const ByteView d = in.chunk();
        (void)r.publish(topic, Bytes(d.begin(), d.end()), now);
        break;
      }
      case 6: if (in.flag()) r.subscribe(topic, now); else r.unsubscribe(topic, now); break;
      case 7:
        if (!pending.empty()) {
          r.report_validation(pending[in.u8() % pending.size()], static_cast<pubsub::ValidationResult>(in.u8() % 3), now);
        }
        break;
      case 8:
        if (auto m = pubsub::decode_stem_frame(in.bytes(in.u16() % 2048), limits)) r.handle_stem(peer, std::move(*m), now);
        break;
      case 9: {
        pubsub::Message m;
        m.topic = topic;
        const ByteView d = in.chunk();
        m.data.assign(d.begin(), d.end());
        r.stem_undeliverable(peer, std::move(m), now);
        break;
      }
    }
    for (auto& o : r.take_sends()) {
      SHARDNODE_FUZZ_CHECK(o.to != self);
      SHARDNODE_FUZZ_CHECK(static_cast<bool>(pubsub::decode_rpc(pubsub::encode_rpc(o.rpc), limits)));
    }
    (void)r.take_deliveries();
    if (pending.size() > 32) pending.erase(pending.begin(), pending.begin() + 16);
    (void)r.take_disconnects();
    (void)r.take_px_candidates();
    for (auto& s : r.take_stem_sends()) SHARDNODE_FUZZ_CHECK(s.to != self);
    (void)r.take_own_gossiped();
    for (const auto& p : peers) (void)r.score(p, now);
    (void)r.flagged_peers();
  }
}

}  // namespace shardnode::fuzz
