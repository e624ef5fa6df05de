// Signed envelopes and peer records (libp2p RFC 0002/0003): round trips, the exact
// signed bytes, and every way a record can be wrong.
#include <catch2/catch.hpp>

#include "peer_record.pb.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/varint.h"
#include "shardnode/net/errors.h"
#include "shardnode/net/identify.h"
#include "shardnode/net/peer_record.h"

using namespace shardnode;
using namespace shardnode::net;

namespace {

NodeKey key(std::uint8_t fill) { return NodeKey::from_seed(Bytes(32, fill)).value(); }

Bytes serialize(const google::protobuf::MessageLite& m) {
  std::string s = m.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

pb::Envelope parse_envelope(const Bytes& b) {
  pb::Envelope e;
  REQUIRE(e.ParseFromArray(b.data(), static_cast<int>(b.size())));
  return e;
}

// Re-signs an envelope whose payload was changed, as an attacker holding `k` would.
Bytes resign(const NodeKey& k, pb::Envelope e, std::string_view domain = kPeerRecordDomain) {
  Bytes to_sign;
  for (std::string_view part : {domain, std::string_view(e.payload_type()), std::string_view(e.payload())}) {
    append_uvarint(to_sign, part.size());
    to_sign.insert(to_sign.end(), part.begin(), part.end());
  }
  auto sig = k.sign(to_sign);
  e.set_signature(sig.data(), sig.size());
  Bytes pk = encode_libp2p_public_key(k.public_key());
  e.set_public_key(pk.data(), pk.size());
  return serialize(e);
}

}  // namespace

TEST_CASE("a sealed peer record opens with its peer, seq and addresses", "[record]") {
  const auto k = key(1);
  const std::vector<Multiaddr> addrs{Multiaddr::onion3(k.public_key(), 4001),
                                     Multiaddr::tcp("127.0.0.1", 4002).with_peer_id(PeerId::from_public_key(k.public_key()))};
  auto sealed = seal_peer_record(k, 42, addrs);
  auto r = open_peer_record(sealed.envelope);
  REQUIRE(r);
  CHECK(r->record.peer == PeerId::from_public_key(k.public_key()));
  CHECK(r->key == k.public_key());
  CHECK(r->record.seq == 42);
  // The /p2p suffix is dropped: the record names its peer.
  CHECK(r->record.addrs == std::vector<Multiaddr>{addrs[0], Multiaddr::tcp("127.0.0.1", 4002)});
  CHECK(r->envelope == sealed.envelope);
  CHECK(r->record.skipped_addrs == 0);
}

TEST_CASE("the envelope is RFC 0002's: payload type 0x0301 and a signature over the varint-prefixed parts", "[record]") {
  const auto k = key(2);
  auto sealed = seal_peer_record(k, 7, {Multiaddr::onion3(k.public_key(), 4001)});
  auto e = parse_envelope(sealed.envelope);
  CHECK(e.payload_type() == std::string("\x03\x01", 2));
  CHECK(Bytes(e.public_key().begin(), e.public_key().end()) == encode_libp2p_public_key(k.public_key()));
  Bytes signed_bytes;
  append_uvarint(signed_bytes, 18);
  for (char c : std::string_view("libp2p-peer-record")) signed_bytes.push_back(static_cast<std::uint8_t>(c));
  append_uvarint(signed_bytes, 2);
  signed_bytes.push_back(0x03);
  signed_bytes.push_back(0x01);
  append_uvarint(signed_bytes, e.payload().size());
  signed_bytes.insert(signed_bytes.end(), e.payload().begin(), e.payload().end());
  CHECK(k.public_key().verify(signed_bytes, as_bytes(e.signature())));
  pb::PeerRecord pr;
  REQUIRE(pr.ParseFromString(e.payload()));
  CHECK(pr.seq() == 7);
  CHECK(pr.addresses_size() == 1);
}

TEST_CASE("malformed and forged peer records are refused with the reason", "[record]") {
  const auto k = key(3), other = key(4);
  auto good = seal_peer_record(k, 1, {Multiaddr::onion3(k.public_key(), 4001)});
  auto code_of = [](ByteView b) {
    auto r = open_peer_record(b);
    REQUIRE_FALSE(r);
    return r.error().code;
  };
  SECTION("not a protobuf, empty fields, oversized") {
    CHECK(code_of(Bytes{0xff, 0xff, 0xff}) == RecordErrc::malformed);
    CHECK(code_of(Bytes{}) == RecordErrc::bad_key);  // no key at all
    CHECK(code_of(Bytes(kMaxEnvelopeSize + 1, 0)) == RecordErrc::malformed);
  }
  SECTION("a flipped payload byte breaks the signature") {
    auto e = parse_envelope(good.envelope);
    std::string p = e.payload();
    p.back() ^= 1;
    e.set_payload(p);
    CHECK(code_of(serialize(e)) == RecordErrc::bad_signature);
  }
  SECTION("a truncated signature") {
    auto e = parse_envelope(good.envelope);
    e.set_signature(e.signature().substr(0, 63));
    CHECK(code_of(serialize(e)) == RecordErrc::bad_signature);
  }
  SECTION("signed under another domain") {
    CHECK(code_of(resign(k, parse_envelope(good.envelope), "libp2p-routing-state")) == RecordErrc::bad_signature);
  }
  SECTION("another payload type") {
    auto e = parse_envelope(good.envelope);
    e.set_payload_type(std::string("\x03\x02", 2));
    CHECK(code_of(resign(k, e)) == RecordErrc::wrong_type);
  }
  SECTION("a record of one peer signed by another") {
    CHECK(code_of(resign(other, parse_envelope(good.envelope))) == RecordErrc::peer_mismatch);
  }
  SECTION("a key that is not Ed25519") {
    auto e = parse_envelope(good.envelope);
    e.set_public_key(std::string("\x08\x02\x12\x01\x00", 5));  // type 2 (secp256k1)
    CHECK(code_of(serialize(e)) == RecordErrc::bad_key);
  }
  SECTION("a payload that is not a PeerRecord, or too many addresses") {
    auto e = parse_envelope(good.envelope);
    e.set_payload(std::string("\xff\xff", 2));
    CHECK(code_of(resign(k, e)) == RecordErrc::malformed);
    pb::PeerRecord pr;
    const Bytes id = PeerId::from_public_key(k.public_key()).bytes();
    pr.set_peer_id(id.data(), id.size());
    const Bytes a = Multiaddr::onion3(k.public_key(), 1).to_bytes();
    for (std::size_t i = 0; i <= kMaxRecordAddresses; ++i) pr.add_addresses()->set_multiaddr(a.data(), a.size());
    e.set_payload(pr.SerializeAsString());
    CHECK(code_of(resign(k, e)) == RecordErrc::malformed);
  }
}

TEST_CASE("addresses a peer record cannot carry are skipped and counted", "[record]") {
  const auto k = key(5), other = key(6);
  pb::PeerRecord pr;
  const Bytes id = PeerId::from_public_key(k.public_key()).bytes();
  pr.set_peer_id(id.data(), id.size());
  const Bytes good = Multiaddr::onion3(k.public_key(), 4001).to_bytes();
  const Bytes foreign_p2p =
      Multiaddr::tcp("127.0.0.1", 1).with_peer_id(PeerId::from_public_key(other.public_key())).to_bytes();
  pr.add_addresses()->set_multiaddr(good.data(), good.size());
  pr.add_addresses()->set_multiaddr("\x04\x7f", 2);  // truncated ip4
  pr.add_addresses()->set_multiaddr(foreign_p2p.data(), foreign_p2p.size());
  const std::string payload = pr.SerializeAsString();
  auto env = seal_envelope(k, kPeerRecordDomain, kPeerRecordPayloadType, as_bytes(payload));
  auto r = open_peer_record(env);
  REQUIRE(r);
  CHECK(r->record.addrs == std::vector<Multiaddr>{Multiaddr::onion3(k.public_key(), 4001)});
  CHECK(r->record.skipped_addrs == 2);
}

TEST_CASE("identify carries the signed peer record, and drops one that is not the remote's", "[record]") {
  const auto k = key(8), other = key(9);
  const PeerId remote = PeerId::from_public_key(k.public_key());
  IdentifyInfo info;
  info.public_key = k.public_key();
  info.listen_addrs = {Multiaddr::onion3(k.public_key(), 4001)};
  info.signed_record = seal_peer_record(k, 5, info.listen_addrs);
  auto got = decode_identify(encode_identify(info), remote);
  REQUIRE(got);
  REQUIRE(got->signed_record);
  CHECK(got->signed_record->record.seq == 5);
  CHECK_FALSE(got->record_rejected);

  info.signed_record = seal_peer_record(other, 5, {Multiaddr::onion3(other.public_key(), 4001)});
  got = decode_identify(encode_identify(info), remote);
  REQUIRE(got);  // identify itself stands
  CHECK_FALSE(got->signed_record);
  REQUIRE(got->record_rejected);
  CHECK(got->record_rejected->code == RecordErrc::peer_mismatch);

  info.signed_record->envelope = Bytes{1, 2, 3};
  got = decode_identify(encode_identify(info), remote);
  REQUIRE(got);
  CHECK_FALSE(got->signed_record);
  CHECK(got->record_rejected);
}
