#include <catch2/catch.hpp>

#include <algorithm>

#include "shardnode/pubsub/codec.h"
#include "shardnode/pubsub/mcache.h"

using namespace shardnode;
using namespace shardnode::pubsub;
using namespace std::chrono_literals;

namespace {
Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }
Rpc sample() {
  Rpc r;
  r.subscriptions = {{true, "/shard/1/collations/v1"}, {false, "/beacon/v1"}};
  Message m;
  m.data = B("collation bytes");
  m.topic = "/shard/1/collations/v1";
  r.publish = {m};
  r.control.ihave = {{"/shard/1/collations/v1", {B("id-1"), B("id-2")}}};
  r.control.iwant = {{{B("id-3")}}};
  r.control.graft = {{"/beacon/v1"}};
  r.control.prune = {{"/shard/2/collations/v1", {{B("peer-a"), std::nullopt}}, 60}};
  r.control.idontwant = {{{B("id-4")}}};
  r.control.choke = {{"/shard/1/collations/v1"}};
  r.control.unchoke = {{"/shard/3/collations/v1"}};
  return r;
}
}  // namespace

TEST_CASE("pubsub RPCs round-trip through the wire encoding", "[codec]") {
  const Rpc r = sample();
  auto back = decode_rpc(encode_rpc(r));
  REQUIRE(back);
  CHECK(*back == r);
  CHECK(encoded_size(r) == encode_rpc(r).size());
  auto empty = decode_rpc(Bytes{});
  REQUIRE(empty);
  CHECK(empty->empty());
}

TEST_CASE("malformed and oversized RPCs are rejected before use", "[codec]") {
  CHECK(decode_rpc(Bytes{0x0a, 0x05, 0x01}).error().code == PubsubErrc::malformed);  // truncated field
  CHECK(decode_rpc(Bytes{0xff, 0xff, 0xff}).error().code == PubsubErrc::malformed);  // garbage
  CodecLimits small;
  small.max_rpc_size = 10;
  CHECK(decode_rpc(encode_rpc(sample()), small).error().code == PubsubErrc::too_large);

  Rpc big;
  Message m;
  m.topic = "t";
  m.data = Bytes(2 * 1024 * 1024, 1);
  big.publish = {m};
  CodecLimits roomy;
  roomy.max_rpc_size = 4 * 1024 * 1024;
  auto r = decode_rpc(encode_rpc(big), roomy);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == PubsubErrc::too_large);

  Rpc many;
  ControlIWant iw;
  for (int i = 0; i < 6000; ++i) iw.ids.push_back(B("id" + std::to_string(i)));
  many.control.iwant = {iw};
  CHECK(decode_rpc(encode_rpc(many)).error().code == PubsubErrc::too_large);

  Rpc long_topic;
  long_topic.subscriptions = {{true, std::string(300, 'x')}};
  CHECK(decode_rpc(encode_rpc(long_topic)).error().code == PubsubErrc::too_large);

  Rpc empty_id;
  empty_id.control.iwant = {{{Bytes{}}}};
  CHECK(decode_rpc(encode_rpc(empty_id)).error().code == PubsubErrc::malformed);

  // CHOKE/UNCHOKE: topics are checked like GRAFT's, and they count in the same cap.
  Rpc bad_choke;
  bad_choke.control.choke = {{std::string(300, 'x')}};
  CHECK(decode_rpc(encode_rpc(bad_choke)).error().code == PubsubErrc::too_large);
  Rpc many_chokes;
  for (int i = 0; i < 3000; ++i) many_chokes.control.unchoke.push_back({"t"});
  CHECK(decode_rpc(encode_rpc(many_chokes)).error().code == PubsubErrc::too_large);

  // A message without a topic (hand-made protobuf: publish { data: "x" }).
  CHECK(decode_rpc(Bytes{0x12, 0x03, 0x12, 0x01, 'x'}).error().code == PubsubErrc::malformed);
}

TEST_CASE("CHOKE and UNCHOKE use the experimental field numbers, which peers without them skip", "[codec]") {
  // ControlMessage { choke(2764631) { topicID: "t" } }: field 2764631, wire type 2 is
  // the varint 0xba 0xf5 0xc5 0x0a (4 bytes, as gossipsub v1.3 asks of experiments).
  Rpc c;
  c.control.choke = {{"t"}};
  const Bytes wire = encode_rpc(c);
  const Bytes tag{0xba, 0xf5, 0xc5, 0x0a};
  CHECK(std::search(wire.begin(), wire.end(), tag.begin(), tag.end()) != wire.end());
  // An unknown control field (what a v1.3 extension would be to us) is skipped.
  // RPC { control(3) { field 6 (length-delimited) { } } }.
  auto skipped = decode_rpc(Bytes{0x1a, 0x02, 0x32, 0x00});
  REQUIRE(skipped);
  CHECK(skipped->control.empty());
}

TEST_CASE("StrictNoSign rejects any origin field", "[codec]") {
  Message m;
  m.topic = "t";
  m.data = B("x");
  CHECK(check_strict_no_sign(m));
  for (int field = 0; field < 4; ++field) {
    Message bad = m;
    if (field == 0) bad.from = B("peer");
    if (field == 1) bad.seqno = Bytes(8, 0);
    if (field == 2) bad.signature = Bytes(64, 0);
    if (field == 3) bad.key = Bytes(36, 0);
    auto st = check_strict_no_sign(bad);
    REQUIRE_FALSE(st);
    CHECK(st.error().code == PubsubErrc::sign_policy);
  }
}

TEST_CASE("the message cache gossips recent windows and caps retransmissions", "[mcache]") {
  MessageCache mc(5, 3);
  const PeerId peer = PeerId::from_public_key(NodeKey::generate().public_key());
  for (int i = 0; i < 6; ++i) {
    Message m;
    m.topic = i % 2 ? "odd" : "even";
    m.data = B("m" + std::to_string(i));
    CHECK(mc.put(B("id" + std::to_string(i)), m));
    mc.shift();
  }
  // Five windows, newest first: {} {id5} {id4} {id3} {id2}; id1 and id0 aged out.
  // Gossip covers the newest three windows.
  CHECK(mc.get(B("id1")) == nullptr);
  CHECK(mc.get(B("id2")) != nullptr);
  CHECK(mc.gossip_ids("odd") == std::vector<MessageId>{B("id5")});
  CHECK(mc.gossip_ids("even") == std::vector<MessageId>{B("id4")});
  Message fresh;
  fresh.topic = "odd";
  CHECK(mc.put(B("id6"), fresh));
  CHECK(mc.gossip_ids("odd") == std::vector<MessageId>{B("id6"), B("id5")});
  for (int i = 0; i < 3; ++i) CHECK(mc.get_for_peer(B("id5"), peer, 3) != nullptr);
  CHECK(mc.get_for_peer(B("id5"), peer, 3) == nullptr);
  CHECK_FALSE(mc.put(B("id5"), Message{}));
}

TEST_CASE("the seen cache forgets ids after its TTL", "[mcache]") {
  SeenCache s(120s);
  CHECK(s.add(B("a"), 0s));
  CHECK_FALSE(s.add(B("a"), 60s));
  CHECK(s.add(B("b"), 100s));
  CHECK(s.add(B("a"), 120s));  // expired exactly at ttl
  s.prune(230s);
  CHECK_FALSE(s.contains(B("b")));
  CHECK(s.contains(B("a")));
}
