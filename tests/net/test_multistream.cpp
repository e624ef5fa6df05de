#include <catch2/catch.hpp>

#include "shardnode/net/errors.h"
#include "shardnode/net/framing.h"
#include "shardnode/net/identify.h"
#include "shardnode/net/multistream.h"

using namespace shardnode;
using namespace shardnode::net;

namespace {
// Moves bytes between the two sides until neither has anything to send.
void pump(MultistreamSelect& a, MultistreamSelect& b) {
  for (int i = 0; i < 20 && (a.has_bytes_to_send() || b.has_bytes_to_send()); ++i) {
    if (a.has_bytes_to_send()) REQUIRE(b.received_bytes(a.take_bytes_to_send()));
    if (b.has_bytes_to_send()) REQUIRE(a.received_bytes(b.take_bytes_to_send()));
  }
}
Bytes S(std::string_view s) { return Bytes(s.begin(), s.end()); }
}  // namespace

TEST_CASE("multistream-select wire bytes match the spec", "[mss]") {
  CHECK(mss_encode("/multistream/1.0.0") == S("\x13/multistream/1.0.0\n"));
  CHECK(mss_encode("na") == S("\x03na\n"));
  auto d = MultistreamSelect::dialer({"/noise"});
  CHECK(d.take_bytes_to_send() == S("\x13/multistream/1.0.0\n\x07/noise\n"));
}

TEST_CASE("dialer and listener agree on the first supported protocol", "[mss]") {
  auto d = MultistreamSelect::dialer({"/tls/1.0.0", "/noise"});
  auto l = MultistreamSelect::listener({"/noise"});
  pump(d, l);
  REQUIRE(d.done());
  REQUIRE(l.done());
  CHECK(d.selected() == "/noise");
  CHECK(l.selected() == "/noise");
}

TEST_CASE("bytes after the final message are left for the protocol", "[mss]") {
  auto l = MultistreamSelect::listener({"/ipfs/ping/1.0.0"});
  Bytes in = mss_encode("/multistream/1.0.0");
  Bytes p = mss_encode("/ipfs/ping/1.0.0");
  in.insert(in.end(), p.begin(), p.end());
  in.push_back(0xAA);
  in.push_back(0xBB);
  for (auto b : in) REQUIRE(l.received_bytes(Bytes{b}));  // byte at a time
  REQUIRE(l.done());
  CHECK(l.take_leftover() == Bytes{0xAA, 0xBB});
}

TEST_CASE("no common protocol fails the dialer with not_supported", "[mss]") {
  auto d = MultistreamSelect::dialer({"/a", "/b"});
  auto l = MultistreamSelect::listener({"/c"});
  REQUIRE(l.received_bytes(d.take_bytes_to_send()));
  REQUIRE(d.received_bytes(l.take_bytes_to_send()));  // header + na for /a -> dialer proposes /b
  REQUIRE(l.received_bytes(d.take_bytes_to_send()));
  Status s = d.received_bytes(l.take_bytes_to_send());
  REQUIRE_FALSE(s);
  CHECK(s.error().code == MssErrc::not_supported);
  CHECK(d.failed());
}

TEST_CASE("malformed multistream input fails cleanly", "[mss]") {
  auto expect_fail = [](Bytes in, MssErrc code, const char* why) {
    INFO(why);
    auto l = MultistreamSelect::listener({"/noise"});
    Status s = l.received_bytes(in);
    REQUIRE_FALSE(s);
    CHECK(s.error().code == code);
    CHECK(l.failed());
    CHECK_FALSE(l.received_bytes(mss_encode("/multistream/1.0.0")));
  };
  expect_fail(mss_encode("/multistream/2.0.0"), MssErrc::protocol_mismatch, "wrong header");
  expect_fail(S("\x05hello"), MssErrc::malformed, "no trailing newline");
  expect_fail(Bytes{0x00}, MssErrc::malformed, "zero length");
  expect_fail(Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, MssErrc::malformed, "varint overflow");
  expect_fail(Bytes{0x81, 0x00}, MssErrc::malformed, "non-minimal varint");
  Bytes huge;
  huge.push_back(0x80);
  huge.push_back(0x10);  // 2048
  expect_fail(huge, MssErrc::malformed, "oversized message");
  // a dialer that gets an unexpected answer
  auto d = MultistreamSelect::dialer({"/noise"});
  Bytes answer = mss_encode("/multistream/1.0.0");
  Bytes other = mss_encode("/tls/1.0.0");
  answer.insert(answer.end(), other.begin(), other.end());
  Status s = d.received_bytes(answer);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == MssErrc::malformed);
}

TEST_CASE("a listener stops answering na after too many proposals", "[mss]") {
  auto l = MultistreamSelect::listener({"/x"});
  REQUIRE(l.received_bytes(mss_encode("/multistream/1.0.0")));
  Status s;
  for (int i = 0; i < 100 && s; ++i) s = l.received_bytes(mss_encode("/nope/" + std::to_string(i)));
  REQUIRE_FALSE(s);
  CHECK(s.error().code == MssErrc::not_supported);
}

TEST_CASE("length-prefixed reader splits messages and caps their size", "[framing]") {
  LengthPrefixedReader r(10);
  Bytes in = length_prefixed(S("abc"));
  Bytes b = length_prefixed(S("defgh"));
  in.insert(in.end(), b.begin(), b.end());
  REQUIRE(r.received_bytes(ByteView(in).first(2)));
  CHECK_FALSE(r.next());
  REQUIRE(r.received_bytes(ByteView(in).subspan(2)));
  CHECK(r.next() == S("abc"));
  CHECK(r.next() == S("defgh"));
  CHECK_FALSE(r.next());
  LengthPrefixedReader small(4);
  Status s = small.received_bytes(length_prefixed(S("too long")));
  REQUIRE_FALSE(s);
  CHECK(s.error().code == HostErrc::message_too_large);
  LengthPrefixedReader bad(100);
  CHECK_FALSE(bad.received_bytes(Bytes(10, 0xff)));
}

TEST_CASE("identify messages round-trip and must carry the connection's key", "[identify]") {
  NodeKey k = NodeKey::generate();
  IdentifyInfo info;
  info.agent_version = "shardnode/test";
  info.public_key = k.public_key();
  info.listen_addrs = {*Multiaddr::parse("/ip4/127.0.0.1/tcp/4001"),
                       Multiaddr::onion3(k.public_key(), 4001)};
  info.observed_addr = *Multiaddr::parse("/ip4/127.0.0.1/tcp/5555");
  info.protocols = {"/ipfs/ping/1.0.0", "/meshsub/1.1.0"};
  Bytes body = encode_identify(info);
  auto back = decode_identify(body, PeerId::from_public_key(k.public_key()));
  REQUIRE(back);
  CHECK(back->agent_version == "shardnode/test");
  CHECK(back->listen_addrs == info.listen_addrs);
  CHECK(back->observed_addr == info.observed_addr);
  CHECK(back->protocols == info.protocols);

  auto other = decode_identify(body, PeerId::from_public_key(NodeKey::generate().public_key()));
  REQUIRE_FALSE(other);
  CHECK(other.error().code == NoiseErrc::peer_id_mismatch);
  CHECK_FALSE(decode_identify(Bytes{0x0a, 0xff, 0x01}, PeerId::from_public_key(k.public_key())));  // truncated
  CHECK_FALSE(decode_identify(Bytes{}, PeerId::from_public_key(k.public_key())));                  // no key
}
