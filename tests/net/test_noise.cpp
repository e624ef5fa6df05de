// Noise XX (libp2p) handshake and transport, driven in memory.
#include <sodium.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "noise_payload.pb.h"
#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/net/errors.h"
#include "shardnode/net/noise.h"

using namespace shardnode;
using namespace shardnode::net;

namespace {

using Role = NoiseHandshake::Role;
using Key32 = std::array<std::uint8_t, 32>;

NodeKey key_with_seed_from(std::uint8_t first) {
  Bytes seed(32);
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(first + i);
  return NodeKey::from_seed(seed).value();
}

Key32 key32_hex(const char* hex) {
  const Bytes b = hex_decode(hex).value();
  Key32 k{};
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

Bytes str_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Splits framed bytes into frame bodies (the input must hold whole frames).
std::vector<Bytes> frames_of(const Bytes& b) {
  std::vector<Bytes> out;
  std::size_t pos = 0;
  while (pos + 2 <= b.size()) {
    const std::size_t len = (std::size_t{b[pos]} << 8) | b[pos + 1];
    REQUIRE(pos + 2 + len <= b.size());
    out.emplace_back(b.begin() + static_cast<std::ptrdiff_t>(pos + 2),
                     b.begin() + static_cast<std::ptrdiff_t>(pos + 2 + len));
    pos += 2 + len;
  }
  REQUIRE(pos == b.size());
  return out;
}

Bytes framed(const Bytes& body) {
  Bytes out{static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size() & 0xff)};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::string sha256_hex(const Bytes& b) {
  std::array<std::uint8_t, 32> h{};
  crypto_hash_sha256(h.data(), b.data(), b.size());
  return hex_encode(h);
}

// Shuttles bytes both ways until neither side has anything to send or one fails.
void pump(NoiseHandshake& a, NoiseHandshake& b) {
  for (int round = 0; round < 8; ++round) {
    bool moved = false;
    if (a.has_bytes_to_send()) {
      moved = true;
      if (!b.received_bytes(a.take_bytes_to_send())) return;
    }
    if (b.has_bytes_to_send()) {
      moved = true;
      if (!a.received_bytes(b.take_bytes_to_send())) return;
    }
    if (!moved) return;
  }
}

struct Sessions {
  NoiseHandshake::Finished initiator;
  NoiseHandshake::Finished responder;
};

Sessions handshake(const NodeKey& ik, const NodeKey& rk, NoiseHandshakeOptions iopts = {},
                   NoiseHandshakeOptions ropts = {}) {
  NoiseHandshake init(Role::initiator, ik, std::move(iopts));
  NoiseHandshake resp(Role::responder, rk, std::move(ropts));
  init.start();
  pump(init, resp);
  REQUIRE(init.done());
  REQUIRE(resp.done());
  auto fi = init.finish();
  auto fr = resp.finish();
  REQUIRE(fi.ok());
  REQUIRE(fr.ok());
  return Sessions{std::move(fi).value(), std::move(fr).value()};
}

Bytes deliver(NoiseSession& from, NoiseSession& to) {
  const Status st = to.received_bytes(from.take_bytes_to_send());
  REQUIRE(st.ok());
  return to.take_plaintext();
}

}  // namespace

TEST_CASE("a handshake between initiator and responder yields matching sessions and peer ids", "[noise]") {
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  NoiseHandshakeOptions iopts;
  iopts.expected_remote = PeerId::from_public_key(bob.public_key());
  iopts.stream_muxers = {"/yamux/1.0.0"};
  NoiseHandshakeOptions ropts;
  ropts.stream_muxers = {"/yamux/1.0.0", "/mplex/6.7.0"};
  auto s = handshake(alice, bob, iopts, ropts);

  CHECK(s.initiator.session.remote_peer() == PeerId::from_public_key(bob.public_key()));
  CHECK(s.initiator.session.remote_key() == bob.public_key());
  CHECK(s.responder.session.remote_peer() == PeerId::from_public_key(alice.public_key()));
  CHECK(s.responder.session.remote_key() == alice.public_key());
  CHECK(s.initiator.remote_stream_muxers == std::vector<std::string>{"/yamux/1.0.0", "/mplex/6.7.0"});
  CHECK(s.responder.remote_stream_muxers == std::vector<std::string>{"/yamux/1.0.0"});
  CHECK(s.initiator.leftover.empty());
  CHECK(s.responder.leftover.empty());

  REQUIRE(s.initiator.session.write(str_bytes("ping")).ok());
  CHECK(deliver(s.initiator.session, s.responder.session) == str_bytes("ping"));
  REQUIRE(s.responder.session.write(str_bytes("pong")).ok());
  REQUIRE(s.responder.session.write(str_bytes("!")).ok());
  CHECK(deliver(s.responder.session, s.initiator.session) == str_bytes("pong!"));
  CHECK_FALSE(s.initiator.session.has_plaintext());
}

TEST_CASE("the message flow has the XX shape: 32-byte e, then e+s+payload, then s+payload", "[noise]") {
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  NoiseHandshake init(Role::initiator, alice), resp(Role::responder, bob);
  resp.start();  // the responder has nothing to send first
  CHECK_FALSE(resp.has_bytes_to_send());
  init.start();
  const Bytes m1 = init.take_bytes_to_send();
  CHECK(m1.size() == 2 + 32);
  CHECK(frames_of(m1).size() == 1);
  REQUIRE(resp.received_bytes(m1).ok());
  const auto m2 = frames_of(resp.take_bytes_to_send());
  REQUIRE(m2.size() == 1);
  CHECK(m2[0].size() > 32 + 48 + 16);
  REQUIRE(init.received_bytes(framed(m2[0])).ok());
  CHECK(init.done());
  const auto m3 = frames_of(init.take_bytes_to_send());
  REQUIRE(m3.size() == 1);
  CHECK(m3[0].size() > 48 + 16);
  CHECK_FALSE(resp.done());
  REQUIRE(resp.received_bytes(framed(m3[0])).ok());
  CHECK(resp.done());
  CHECK_FALSE(resp.has_bytes_to_send());
}

TEST_CASE("a 200 KiB write is split into maximum-size frames and reassembles", "[noise]") {
  auto s = handshake(key_with_seed_from(1), key_with_seed_from(100));
  Bytes big(200 * 1024);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 31 + 7);
  REQUIRE(s.initiator.session.write(big).ok());
  const Bytes wire = s.initiator.session.take_bytes_to_send();
  const auto frames = frames_of(wire);
  REQUIRE(frames.size() == (big.size() + kNoiseMaxPlaintext - 1) / kNoiseMaxPlaintext);
  for (std::size_t i = 0; i + 1 < frames.size(); ++i) CHECK(frames[i].size() == kNoiseMaxFrame);
  CHECK(frames.back().size() == big.size() % kNoiseMaxPlaintext + kNoiseTagSize);
  REQUIRE(s.responder.session.received_bytes(wire).ok());
  CHECK(s.responder.session.take_plaintext() == big);
  // And the other way.
  REQUIRE(s.responder.session.write(big).ok());
  CHECK(deliver(s.responder.session, s.initiator.session) == big);
}

TEST_CASE("bytes delivered one at a time complete the handshake and decrypt frame by frame", "[noise]") {
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  NoiseHandshake init(Role::initiator, alice), resp(Role::responder, bob);
  init.start();
  auto trickle = [](NoiseHandshake& from, NoiseHandshake& to) {
    const Bytes b = from.take_bytes_to_send();
    for (std::uint8_t byte : b) REQUIRE(to.received_bytes(ByteView(&byte, 1)).ok());
  };
  trickle(init, resp);
  trickle(resp, init);
  REQUIRE(init.done());
  trickle(init, resp);
  REQUIRE(resp.done());
  auto fi = init.finish();
  auto fr = resp.finish();
  REQUIRE(fi.ok());
  REQUIRE(fr.ok());

  Bytes msg(70000, 0x5a);  // two frames
  REQUIRE(fi->session.write(msg).ok());
  const Bytes wire = fi->session.take_bytes_to_send();
  Bytes got;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    REQUIRE(fr->session.received_bytes(ByteView(&wire[i], 1)).ok());
    const Bytes p = fr->session.take_plaintext();
    if (!p.empty()) CHECK(((i + 1 == 2 + kNoiseMaxFrame) || (i + 1 == wire.size())));  // only on frame ends
    got.insert(got.end(), p.begin(), p.end());
  }
  CHECK(got == msg);
}

TEST_CASE("transport data sent right behind message 3 reaches the responder's session as leftover", "[noise]") {
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  NoiseHandshake init(Role::initiator, alice), resp(Role::responder, bob);
  init.start();
  REQUIRE(resp.received_bytes(init.take_bytes_to_send()).ok());
  REQUIRE(init.received_bytes(resp.take_bytes_to_send()).ok());
  auto fi = init.finish();
  REQUIRE(fi.ok());
  REQUIRE(fi->session.write(str_bytes("early")).ok());
  REQUIRE(fi->session.write(str_bytes(" bird")).ok());
  Bytes wire = init.take_bytes_to_send();
  const Bytes data = fi->session.take_bytes_to_send();
  wire.insert(wire.end(), data.begin(), data.end());
  wire.push_back(0x00);  // and the first byte of a frame still in flight

  REQUIRE(resp.received_bytes(wire).ok());
  REQUIRE(resp.done());
  auto fr = resp.finish();
  REQUIRE(fr.ok());
  CHECK(fr->leftover.size() == data.size() + 1);
  REQUIRE(fr->session.received_bytes(fr->leftover).ok());
  CHECK(fr->session.take_plaintext() == str_bytes("early bird"));
}

TEST_CASE("dialing the wrong peer id fails the initiator with peer_id_mismatch", "[noise]") {
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100), carol = key_with_seed_from(200);
  NoiseHandshakeOptions opts;
  opts.expected_remote = PeerId::from_public_key(carol.public_key());
  NoiseHandshake init(Role::initiator, alice, opts), resp(Role::responder, bob);
  init.start();
  REQUIRE(resp.received_bytes(init.take_bytes_to_send()).ok());
  const Status st = init.received_bytes(resp.take_bytes_to_send());
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == NoiseErrc::peer_id_mismatch);
  CHECK(init.failed());
  CHECK_FALSE(init.done());
  CHECK_FALSE(init.has_bytes_to_send());  // message 3 is never sent
  const Status again = init.received_bytes(Bytes{0x00});
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == NoiseErrc::peer_id_mismatch);
  auto f = init.finish();
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().code == NoiseErrc::peer_id_mismatch);
}

TEST_CASE("a responder can insist on the initiator's peer id too", "[noise]") {
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100), carol = key_with_seed_from(200);
  NoiseHandshakeOptions opts;
  opts.expected_remote = PeerId::from_public_key(carol.public_key());
  NoiseHandshake init(Role::initiator, alice), resp(Role::responder, bob, opts);
  init.start();
  pump(init, resp);
  CHECK(init.done());
  CHECK(resp.failed());
  auto f = resp.finish();
  REQUIRE_FALSE(f.ok());
  CHECK(f.error().code == NoiseErrc::peer_id_mismatch);
}

TEST_CASE("tampered handshake ciphertext fails with decrypt_failed", "[noise]") {
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  NoiseHandshake init(Role::initiator, alice), resp(Role::responder, bob);
  init.start();
  REQUIRE(resp.received_bytes(init.take_bytes_to_send()).ok());
  Bytes m2 = frames_of(resp.take_bytes_to_send()).at(0);

  SECTION("message 2, encrypted static key") {
    m2[32 + 5] ^= 0x01;
    const Status st = init.received_bytes(framed(m2));
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == NoiseErrc::decrypt_failed);
    CHECK(init.failed());
  }
  SECTION("message 2, encrypted payload") {
    m2.back() ^= 0x80;
    const Status st = init.received_bytes(framed(m2));
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == NoiseErrc::decrypt_failed);
  }
  SECTION("message 3") {
    REQUIRE(init.received_bytes(framed(m2)).ok());
    for (std::size_t at : {std::size_t{3}, std::size_t{60}}) {
      NoiseHandshake resp2(Role::responder, bob);  // fresh pair per tampering position
      NoiseHandshake init2(Role::initiator, alice);
      init2.start();
      REQUIRE(resp2.received_bytes(init2.take_bytes_to_send()).ok());
      REQUIRE(init2.received_bytes(resp2.take_bytes_to_send()).ok());
      Bytes m3 = frames_of(init2.take_bytes_to_send()).at(0);
      m3[at] ^= 0x04;
      const Status st = resp2.received_bytes(framed(m3));
      REQUIRE_FALSE(st.ok());
      CHECK(st.error().code == NoiseErrc::decrypt_failed);
      CHECK(resp2.failed());
    }
  }
}

TEST_CASE("a tampered transport frame fails with decrypt_failed and fails the session", "[noise]") {
  auto s = handshake(key_with_seed_from(1), key_with_seed_from(100));
  REQUIRE(s.initiator.session.write(str_bytes("attack at dawn")).ok());
  Bytes wire = s.initiator.session.take_bytes_to_send();
  wire[5] ^= 0x01;
  const Status st = s.responder.session.received_bytes(wire);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == NoiseErrc::decrypt_failed);
  CHECK_FALSE(s.responder.session.has_plaintext());
  const Status later = s.responder.session.received_bytes(Bytes{});
  REQUIRE_FALSE(later.ok());
  CHECK(later.error().code == NoiseErrc::state_violation);
  const Status write = s.responder.session.write(str_bytes("x"));
  REQUIRE_FALSE(write.ok());
  CHECK(write.error().code == NoiseErrc::state_violation);
}

TEST_CASE("replayed or reordered transport frames fail to decrypt", "[noise]") {
  auto s = handshake(key_with_seed_from(1), key_with_seed_from(100));
  REQUIRE(s.initiator.session.write(str_bytes("one")).ok());
  const Bytes first = s.initiator.session.take_bytes_to_send();
  REQUIRE(s.responder.session.received_bytes(first).ok());
  const Status st = s.responder.session.received_bytes(first);  // same nonce again
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == NoiseErrc::decrypt_failed);
}

TEST_CASE("a transport frame shorter than the tag is malformed", "[noise]") {
  auto s = handshake(key_with_seed_from(1), key_with_seed_from(100));
  const Status st = s.responder.session.received_bytes(framed(Bytes(15, 0)));
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == NoiseErrc::malformed);
}

TEST_CASE("truncated handshake frames wait for more bytes without error", "[noise]") {
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  NoiseHandshake init(Role::initiator, alice), resp(Role::responder, bob);
  init.start();
  const Bytes m1 = init.take_bytes_to_send();
  REQUIRE(resp.received_bytes(ByteView(m1).first(1)).ok());  // half the length prefix
  REQUIRE(resp.received_bytes(ByteView(m1).subspan(1, 20)).ok());
  CHECK_FALSE(resp.has_bytes_to_send());
  REQUIRE(resp.received_bytes(ByteView(m1).subspan(21)).ok());
  const Bytes m2 = resp.take_bytes_to_send();
  REQUIRE(init.received_bytes(ByteView(m2).first(m2.size() - 1)).ok());
  CHECK_FALSE(init.done());
  CHECK_FALSE(init.failed());
  REQUIRE(init.received_bytes(ByteView(m2).last(1)).ok());
  CHECK(init.done());
}

TEST_CASE("handshake messages shorter than their minimum size are malformed", "[noise]") {
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  SECTION("message 1 shorter than an X25519 key") {
    NoiseHandshake resp(Role::responder, bob);
    const Status st = resp.received_bytes(framed(Bytes(31, 9)));
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == NoiseErrc::malformed);
    CHECK(resp.failed());
  }
  SECTION("an empty message 1") {
    NoiseHandshake resp(Role::responder, bob);
    const Status st = resp.received_bytes(Bytes{0x00, 0x00});
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == NoiseErrc::malformed);
  }
  SECTION("message 2 without room for e, encrypted s and a tag") {
    NoiseHandshake init(Role::initiator, alice);
    init.start();
    const Status st = init.received_bytes(framed(Bytes(95, 9)));
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == NoiseErrc::malformed);
  }
  SECTION("message 3 without room for encrypted s and a tag") {
    NoiseHandshake init(Role::initiator, alice), resp(Role::responder, bob);
    init.start();
    REQUIRE(resp.received_bytes(init.take_bytes_to_send()).ok());
    const Status st = resp.received_bytes(framed(Bytes(63, 9)));
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == NoiseErrc::malformed);
  }
}

TEST_CASE("a low-order ephemeral key in message 1 is rejected as malformed", "[noise]") {
  const NodeKey bob = key_with_seed_from(100);
  NoiseHandshake resp(Role::responder, bob);
  const Status st = resp.received_bytes(framed(Bytes(32, 0)));  // the identity point: DH output is zero
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == NoiseErrc::malformed);
  CHECK_FALSE(resp.has_bytes_to_send());
}

TEST_CASE("a plaintext payload after e in message 1 is hashed and ignored", "[noise]") {
  // The spec wants message 1's payload empty; like go- and js-libp2p we tolerate one.
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  NoiseHandshake init(Role::initiator, alice), resp(Role::responder, bob);
  init.start();
  Bytes m1 = frames_of(init.take_bytes_to_send()).at(0);
  m1.push_back(0x42);
  REQUIRE(resp.received_bytes(framed(m1)).ok());
  REQUIRE(resp.has_bytes_to_send());
  // The extra byte is in the responder's transcript, not the initiator's.
  const Status st = init.received_bytes(resp.take_bytes_to_send());
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == NoiseErrc::decrypt_failed);
}

TEST_CASE("a handshake message too big for one frame fails with frame_too_large", "[noise]") {
  NoiseHandshakeOptions opts;
  opts.stream_muxers.assign(300, std::string(250, 'm'));
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  NoiseHandshake init(Role::initiator, alice);
  NoiseHandshake resp(Role::responder, bob, opts);
  init.start();
  const Status st = resp.received_bytes(init.take_bytes_to_send());
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == NoiseErrc::frame_too_large);
}

TEST_CASE("finish() before the handshake completes fails with state_violation", "[noise]") {
  static_assert(!std::is_default_constructible_v<NoiseSession>);
  static_assert(!std::is_copy_constructible_v<NoiseSession>);
  static_assert(!std::is_copy_constructible_v<NoiseHandshake>);
  static_assert(!std::is_constructible_v<NoiseHandshake, NoiseHandshake::Role, NodeKey>);  // no dangling key
  // NoiseHandshake has no write(): transport data can only be written through the
  // NoiseSession that finish() hands out once the handshake is done.
  const NodeKey alice = key_with_seed_from(1), bob = key_with_seed_from(100);
  NoiseHandshake init(Role::initiator, alice), resp(Role::responder, bob);
  auto early = init.finish();
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().code == NoiseErrc::state_violation);
  init.start();
  REQUIRE(resp.received_bytes(init.take_bytes_to_send()).ok());
  auto mid = resp.finish();
  REQUIRE_FALSE(mid.ok());
  CHECK(mid.error().code == NoiseErrc::state_violation);

  pump(init, resp);
  REQUIRE(resp.done());
  REQUIRE(resp.finish().ok());
  auto twice = resp.finish();
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().code == NoiseErrc::state_violation);
}

TEST_CASE("an initiator fed bytes before start() fails with state_violation", "[noise]") {
  const NodeKey alice = key_with_seed_from(1);
  NoiseHandshake init(Role::initiator, alice);
  const Status st = init.received_bytes(Bytes{0x00, 0x20});
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == NoiseErrc::state_violation);
  CHECK(init.failed());
}

TEST_CASE("nonce exhaustion fails writes and reads with nonce_exhausted", "[noise]") {
  const NodeKey bob = key_with_seed_from(100);
  const PeerId bob_id = PeerId::from_public_key(bob.public_key());
  NoiseCipherState near_end;
  near_end.key.fill(0x33);
  near_end.nonce = std::numeric_limits<std::uint64_t>::max() - 1;  // the last usable nonce
  NoiseSession sender(near_end, NoiseCipherState{}, bob_id, bob.public_key());
  NoiseSession receiver(NoiseCipherState{}, near_end, bob_id, bob.public_key());

  REQUIRE(sender.write(str_bytes("last")).ok());
  CHECK(deliver(sender, receiver) == str_bytes("last"));
  const Status w = sender.write(str_bytes("one too many"));
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().code == NoiseErrc::nonce_exhausted);
  CHECK_FALSE(sender.has_bytes_to_send());

  const Status r = receiver.received_bytes(framed(Bytes(20, 0)));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == NoiseErrc::nonce_exhausted);
}

TEST_CASE("a moved-from session is unusable and the moved-to one carries on", "[noise]") {
  auto s = handshake(key_with_seed_from(1), key_with_seed_from(100));
  NoiseSession moved = std::move(s.initiator.session);
  REQUIRE(moved.write(str_bytes("still here")).ok());
  CHECK(deliver(moved, s.responder.session) == str_bytes("still here"));
  CHECK_FALSE(s.initiator.session.write(str_bytes("x")).ok());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("noise payloads round-trip identity key, signature and stream muxers", "[noise]") {
  const NodeKey k = key_with_seed_from(7);
  const Key32 static_pub = key32_hex("7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13");
  NoisePayload p;
  p.identity_key = k.public_key();
  const auto sig = sign_noise_static_key(k, static_pub);
  p.identity_sig.assign(sig.begin(), sig.end());
  p.stream_muxers = {"/yamux/1.0.0"};
  auto back = decode_noise_payload(encode_noise_payload(p));
  REQUIRE(back.ok());
  CHECK(back->identity_key == k.public_key());
  CHECK(back->identity_sig == p.identity_sig);
  CHECK(back->stream_muxers == p.stream_muxers);
  CHECK(verify_noise_identity_sig(back->identity_key, static_pub, back->identity_sig));

  p.stream_muxers.clear();
  const Bytes plain = encode_noise_payload(p);
  CHECK(plain.size() == 2 + 36 + 2 + 64);  // no extensions field at all
}

TEST_CASE("malformed noise payloads are rejected with bad_payload", "[noise]") {
  const NodeKey k = key_with_seed_from(7);
  NoisePayload p;
  p.identity_key = k.public_key();
  p.identity_sig.assign(64, 0xaa);
  const Bytes good = encode_noise_payload(p);
  REQUIRE(decode_noise_payload(good).ok());
  const Bytes key_pb = encode_libp2p_public_key(k.public_key());

  auto expect_bad = [](const Bytes& b) {
    auto r = decode_noise_payload(b);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == NoiseErrc::bad_payload);
  };
  SECTION("truncated") { expect_bad(Bytes(good.begin(), good.end() - 10)); }
  SECTION("garbage") { expect_bad(Bytes(40, 0xff)); }
  SECTION("empty") { expect_bad(Bytes{}); }
  SECTION("missing signature") {
    pb::NoiseHandshakePayload m;
    m.set_identity_key(std::string(key_pb.begin(), key_pb.end()));
    const std::string s = m.SerializeAsString();
    expect_bad(Bytes(s.begin(), s.end()));
  }
  SECTION("missing key") {
    pb::NoiseHandshakePayload m;
    m.set_identity_sig(std::string(64, 'x'));
    const std::string s = m.SerializeAsString();
    expect_bad(Bytes(s.begin(), s.end()));
  }
  SECTION("an RSA identity key") {
    Bytes rsa = key_pb;
    rsa[1] = 0x00;  // KeyType RSA
    pb::NoiseHandshakePayload m;
    m.set_identity_key(std::string(rsa.begin(), rsa.end()));
    m.set_identity_sig(std::string(64, 'x'));
    const std::string s = m.SerializeAsString();
    expect_bad(Bytes(s.begin(), s.end()));
  }
  SECTION("a secp256k1 identity key") {
    pb::NoiseHandshakePayload m;
    m.set_identity_key(std::string("\x08\x02\x12\x21", 4) + std::string(33, '\x02'));
    m.set_identity_sig(std::string(64, 'x'));
    const std::string s = m.SerializeAsString();
    expect_bad(Bytes(s.begin(), s.end()));
  }
}

TEST_CASE("the identity signature verifies only for the signed static key and signer", "[noise]") {
  const NodeKey k = key_with_seed_from(7), other = key_with_seed_from(8);
  const Key32 static_pub = key32_hex("7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13");
  Key32 other_static = static_pub;
  other_static[0] ^= 1;
  auto sig = sign_noise_static_key(k, static_pub);
  CHECK(verify_noise_identity_sig(k.public_key(), static_pub, sig));
  CHECK_FALSE(verify_noise_identity_sig(k.public_key(), other_static, sig));
  CHECK_FALSE(verify_noise_identity_sig(other.public_key(), static_pub, sig));
  CHECK_FALSE(verify_noise_identity_sig(k.public_key(), static_pub, ByteView(sig).first(63)));
  // Not a bare signature over the key: the libp2p prefix is part of what is signed.
  const auto bare = k.sign(static_pub);
  CHECK_FALSE(verify_noise_identity_sig(k.public_key(), static_pub, bare));
  sig[10] ^= 0x20;
  CHECK_FALSE(verify_noise_identity_sig(k.public_key(), static_pub, sig));
}

TEST_CASE("fixed keys give a handshake identical to an independent Noise implementation", "[noise]") {
  // Expected values come from the Python `noiseprotocol` package (plizonczyk/noiseprotocol
  // 0.3.1) running Noise_XX_25519_ChaChaPoly_SHA256 with the same keys, an empty
  // prologue and the same libp2p payloads (identity seeds 00..1f and 20..3f,
  // responder advertising /yamux/1.0.0). e keys are the RFC 7748 section 6.1 pair.
  const NodeKey alice = key_with_seed_from(0x00), bob = key_with_seed_from(0x20);
  auto opts = [](std::uint8_t static_fill, const char* eph_hex, std::vector<std::string> muxers) {
    NoiseHandshakeOptions o;
    o.static_private = std::array<std::uint8_t, 32>{};
    o.static_private->fill(static_fill);  // 11..11 / 22..22
    o.ephemeral_private = key32_hex(eph_hex);
    o.stream_muxers = std::move(muxers);
    return o;
  };
  const char* kAliceE = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
  const char* kBobE = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";

  struct Transcript {
    Bytes m1, m2, m3, t1, t2;
  };
  auto run = [&] {
    Transcript t;
    NoiseHandshake init(Role::initiator, alice, opts(0x11, kAliceE, {}));
    NoiseHandshake resp(Role::responder, bob, opts(0x22, kBobE, {"/yamux/1.0.0"}));
    init.start();
    t.m1 = init.take_bytes_to_send();
    REQUIRE(resp.received_bytes(t.m1).ok());
    t.m2 = resp.take_bytes_to_send();
    REQUIRE(init.received_bytes(t.m2).ok());
    t.m3 = init.take_bytes_to_send();
    REQUIRE(resp.received_bytes(t.m3).ok());
    auto fi = init.finish();
    auto fr = resp.finish();
    REQUIRE(fi.ok());
    REQUIRE(fr.ok());
    CHECK(fi->session.remote_peer() == PeerId::from_public_key(bob.public_key()));
    CHECK(fr->session.remote_peer() == PeerId::from_public_key(alice.public_key()));
    CHECK(fi->remote_stream_muxers == std::vector<std::string>{"/yamux/1.0.0"});
    REQUIRE(fi->session.write(str_bytes("hello")).ok());
    REQUIRE(fr->session.write(str_bytes("world")).ok());
    t.t1 = fi->session.take_bytes_to_send();
    t.t2 = fr->session.take_bytes_to_send();
    // Both sides derived the same transport keys: each decrypts the other.
    REQUIRE(fr->session.received_bytes(t.t1).ok());
    REQUIRE(fi->session.received_bytes(t.t2).ok());
    CHECK(fr->session.take_plaintext() == str_bytes("hello"));
    CHECK(fi->session.take_plaintext() == str_bytes("world"));
    return t;
  };
  const Transcript a = run();
  const Transcript b = run();
  CHECK(a.m1 == b.m1);
  CHECK(a.m2 == b.m2);
  CHECK(a.m3 == b.m3);
  CHECK(a.t1 == b.t1);
  CHECK(a.t2 == b.t2);

  // Message 1 is exactly e.pub: RFC 7748's public key for Alice's private key.
  CHECK(hex_encode(a.m1) == "0020" "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  const auto m2 = frames_of(a.m2), m3 = frames_of(a.m3);
  REQUIRE(m2.size() == 1);
  REQUIRE(m3.size() == 1);
  CHECK(m2[0].size() == 216);
  CHECK(m3[0].size() == 168);
  CHECK(sha256_hex(m2[0]) == "c575a387408e09684d861b4f8b66595deb798cb14edf084ccb2c7b5414f8c1a2");
  CHECK(sha256_hex(m3[0]) == "62efa12332300dc12416a5816b4ec37c3678e9be9c2e10956c68452cac7377f8");
  // The transport keys from Split(): initiator->responder and responder->initiator.
  CHECK(hex_encode(a.t1) == "0015" "18c8eed2ee455fb365a7f2c7f180e79da11e59c035");
  CHECK(hex_encode(a.t2) == "0015" "329b6bec63d80186565dc4161e8157bbf1572de51d");
}
