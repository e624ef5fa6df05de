// fuzz_seeds OUT: writes the generated seed inputs, OUT/<target>/seed-<name>, made
// with the node's own encoders from fixed keys, so they are valid inputs that reach
// past each decoder's checks (signatures included) and are the same on every run.
// fuzz/corpus holds them (fuzz_seeds_current checks they are up to date) beside
// the inputs campaigns found and the recorded traffic.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "control.pb.h"
#include "fixed_keys.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/multiaddr.h"
#include "shardnode/core/varint.h"
#include "shardnode/net/framing.h"
#include "shardnode/net/identify.h"
#include "shardnode/net/kad.h"
#include "shardnode/net/multistream.h"
#include "shardnode/net/noise.h"
#include "shardnode/net/peer_record.h"
#include "shardnode/net/yamux.h"
#include "shardnode/pubsub/codec.h"
#include "shardnode/shard/beacon.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/collation_protocol.h"
#include "shardnode/shard/preference.h"
#include "shardnode/shard/table_protocol.h"
#include "shardnode/shard/topics.h"
#include "shardnode/shard/validator_key.h"

namespace fs = std::filesystem;
using namespace shardnode;

namespace {

fs::path g_out;

void write(const std::string& target, const std::string& name, const Bytes& data) {
  const fs::path dir = g_out / target;
  fs::create_directories(dir);
  std::ofstream f(dir / ("seed-" + name), std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}
void write(const std::string& target, const std::string& name, std::string_view text) {
  write(target, name, Bytes(text.begin(), text.end()));
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// fuzz::Input's chunk(): one length byte (0..255) then that many bytes.
Bytes chunked(const Bytes& stream, std::size_t piece = 255) {
  Bytes out;
  for (std::size_t off = 0; off < stream.size(); off += piece) {
    const std::size_t n = std::min(piece, stream.size() - off);
    out.push_back(static_cast<std::uint8_t>(n));
    out.insert(out.end(), stream.begin() + static_cast<std::ptrdiff_t>(off),
               stream.begin() + static_cast<std::ptrdiff_t>(off + n));
  }
  return out;
}

// A little-endian u16, as fuzz::Input::u16() reads it.
Bytes le16(std::size_t v) { return {static_cast<std::uint8_t>(v & 0xff), static_cast<std::uint8_t>((v >> 8) & 0xff)}; }

NodeKey key(std::uint8_t fill) { return fuzz::fixed_key(fill); }

void core_seeds() {
  const auto k = key(7);
  const PeerId id = PeerId::from_public_key(k.public_key());
  const auto tcp = Multiaddr::tcp("127.0.0.1", 4001).with_peer_id(id);
  const auto tcp6 = Multiaddr::tcp("::1", 9000);
  const auto onion = Multiaddr::onion3(k.public_key(), 4001).with_peer_id(id);
  write("multiaddr", "tcp4-bytes", tcp.to_bytes());
  write("multiaddr", "tcp6-bytes", tcp6.to_bytes());
  write("multiaddr", "onion3-bytes", onion.to_bytes());
  write("multiaddr", "tcp4-text", tcp.to_string());
  write("multiaddr", "onion3-text", onion.to_string());

  Bytes v;
  append_uvarint(v, 300);
  write("uvarint", "varint-300", cat({v}));
  const Bytes frames = cat({net::length_prefixed(bytes_of("hello")), net::length_prefixed(Bytes(200, 1))});
  write("uvarint", "two-frames", cat({Bytes{0x00, 0x04}, chunked(frames, 7)}));

  write("peer_id", "multihash", id.bytes());
  write("peer_id", "base58", id.to_string());
  write("peer_id", "onion", onion_address(k.public_key()) + ".onion");
  write("peer_id", "pubkey-protobuf", encode_libp2p_public_key(k.public_key()));

  write("key_file", "identity-key", k.to_libp2p_private_key());
}

void net_seeds() {
  // Listener side (flag 0): the dialer's header and proposals; dialer side (flag 1):
  // the listener's header and its answers.
  write("multistream", "listener-noise",
        cat({Bytes{0}, chunked(cat({net::mss_encode(net::kMultistreamId), net::mss_encode("/noise")}), 5)}));
  write("multistream", "listener-na-then-yamux",
        cat({Bytes{0}, chunked(cat({net::mss_encode(net::kMultistreamId), net::mss_encode("/tls/1.0.0"),
                                    net::mss_encode("/yamux/1.0.0"), bytes_of("after")}))}));
  write("multistream", "dialer-na-then-mplex",
        cat({Bytes{1}, chunked(cat({net::mss_encode(net::kMultistreamId), net::mss_encode("na"),
                                    net::mss_encode("/mplex/6.7.0")}))}));

  const auto k = key(7);
  const std::array<std::uint8_t, 32> static_pub{};
  net::NoisePayload p;
  p.identity_key = k.public_key();
  const auto sig = net::sign_noise_static_key(k, ByteView(static_pub.data(), static_pub.size()));
  p.identity_sig.assign(sig.begin(), sig.end());
  write("noise_payload", "plain", net::encode_noise_payload(p));
  p.stream_muxers = {"/yamux/1.0.0"};
  write("noise_payload", "with-muxers", net::encode_noise_payload(p));

  net::IdentifyInfo info;
  info.agent_version = "shardnode/0.1.0";
  info.public_key = k.public_key();
  info.listen_addrs = {Multiaddr::onion3(k.public_key(), 4001), Multiaddr::tcp("127.0.0.1", 4001)};
  info.observed_addr = Multiaddr::tcp("127.0.0.1", 50000);
  info.protocols = {"/ipfs/id/1.0.0", "/meshsub/1.1.0", "/meshsub/1.2.0", "/shardnode/stem/1.0.0"};
  write("identify", "node", net::encode_identify(info));
  info.signed_record = net::seal_peer_record(k, 1700000000000, info.listen_addrs);
  write("identify", "node-with-record", net::encode_identify(info));

  write("peer_record", "onion-and-tcp", net::seal_peer_record(k, 1700000000000, info.listen_addrs).envelope);
  net::kad::Message find;
  find.type = net::kad::MessageType::find_node;
  find.key = PeerId::from_public_key(key(3).public_key()).bytes();
  write("kad_message", "find-node", net::kad::encode(find));
  find.closer = {{PeerId::from_public_key(k.public_key()), info.listen_addrs, net::kad::ConnectionType::connected}};
  write("kad_message", "find-node-answer", net::kad::encode(find));
  net::kad::Message providers;
  providers.type = net::kad::MessageType::get_providers;
  providers.key = bytes_of("/shardnode/shard/1");
  providers.providers = find.closer;
  providers.record = net::kad::Record{bytes_of("k"), bytes_of("v"), ""};
  write("kad_message", "providers", net::kad::encode(providers));
  write("peer_record", "no-addresses", net::seal_peer_record(k, 1, {}).envelope);
  // Another domain's envelope around a peer record: must not open as one.
  write("peer_record", "other-domain",
        net::seal_envelope(k, "libp2p-routing-state", net::kPeerRecordPayloadType, Bytes{0x0a, 0x00}));
}

void pubsub_seeds() {
  using namespace pubsub;
  const PeerId other = PeerId::from_public_key(key(3).public_key());
  Message m;
  m.topic = shard::collation_topic(1);
  m.data = bytes_of("a collation would be here");
  Rpc sub;
  sub.subscriptions = {{true, shard::collation_topic(1)}, {false, shard::collation_topic(2)}};
  write("pubsub_rpc", "subscriptions", encode_rpc(sub));
  Rpc pub;
  pub.publish = {m, m};
  pub.publish[1].topic = "/shardnode/beacon/1";
  write("pubsub_rpc", "publish", encode_rpc(pub));
  Rpc ctl;
  ctl.control.ihave = {{m.topic, {Bytes(20, 1), Bytes(20, 2)}}};
  ctl.control.iwant = {{{Bytes(20, 1)}}};
  ctl.control.graft = {{m.topic}};
  ctl.control.prune = {{m.topic, {{other.bytes(), std::nullopt}}, 60}};
  ctl.control.idontwant = {{{Bytes(20, 3)}}};
  write("pubsub_rpc", "control", encode_rpc(ctl));
  Rpc choke;
  choke.control.choke = {{m.topic}};
  choke.control.unchoke = {{shard::collation_topic(2)}};
  write("pubsub_rpc", "choke", encode_rpc(choke));
  Message signed_msg = m;
  signed_msg.from = other.bytes();
  signed_msg.seqno = Bytes(8, 0);
  write("pubsub_rpc", "signed-fields", encode_rpc(Rpc{{}, {signed_msg}, {}}));

  write("stem_frame", "one-message", encode_stem_frame(m));
  write("stem_frame", "two-messages", encode_rpc(pub));
}

void shard_seeds() {
  const auto nk = key(5);
  const auto vk = shard::ValidatorKey::from_seed(Bytes(32, 6)).value();
  constexpr std::uint64_t kExpires = 1'700'000'600;  // fuzz/targets/shard.cpp's now + 10 min
  const auto pref = shard::make_preference(nk, 3, kExpires, 64, {0, 5, 63});
  const Bytes pref_wire = shard::encode(pref);
  write("preference", "record", pref_wire);
  write("preference", "no-shards", shard::encode(shard::make_preference(nk, 4, kExpires, 64, {})));

  write("table_protocol", "request", cat({Bytes{0}, shard::encode_table_request(100)}));
  write("table_protocol", "response",
        cat({Bytes{1}, shard::encode_table_response(
                           {pref_wire, shard::encode(shard::make_preference(key(8), 1, kExpires, 64, {2}))})}));

  shard::Hash32 parent{};
  parent[0] = 1;
  const auto c1 = shard::make_collation(vk, 1, 10, parent, bytes_of("body one"));
  const auto c2 = shard::make_collation(vk, 1, 11, shard::collation_hash(c1.header), Bytes(300, 0xab));
  write("collation", "small", shard::encode(c1));
  write("collation", "larger", shard::encode(c2));

  write("collation_protocol", "range-request",
        cat({Bytes{0}, shard::encode_collation_request(shard::CollationRangeRequest{1, 10, 20, 16})}));
  write("collation_protocol", "hash-request",
        cat({Bytes{0}, shard::encode_collation_request(shard::CollationHashRequest{shard::collation_hash(c1.header)})}));
  write("collation_protocol", "response",
        cat({Bytes{1}, shard::encode_collation_response({{shard::encode(c1), shard::encode(c2)}, true})}));

  write("beacon", "header", shard::encode(shard::make_beacon_header(vk, 42, parent, shard::Hash32{})));
}

void onion_seeds() {
  // What tor's SOCKS port answers: method 02 (username/password), auth ok, then
  // CONNECT succeeded (IPv4 bound address) or an onion error (F0, F6).
  const Bytes ok = {0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
  write("socks5", "connected", chunked(cat({ok, bytes_of("app data")}), 2));
  write("socks5", "descriptor-not-found", chunked({0x05, 0x02, 0x01, 0x00, 0x05, 0xF0, 0x00, 0x01, 0, 0, 0, 0, 0, 0}));
  write("socks5", "ipv6-bound", chunked({0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34}));
  write("socks5", "domain-bound", chunked(cat({Bytes{0x05, 0x02, 0x01, 0x00, 0x05, 0x00, 0x00, 0x03, 4},
                                               bytes_of("abcd"), Bytes{0, 80}})));

  // Control-port replies as tor writes them (control-spec §2.3, §4.1).
  const std::string replies =
      "250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE=\"/var/lib/tor/control_auth_cookie\"\r\n"
      "250-VERSION Tor=\"0.4.9.11\"\r\n250 OK\r\n"
      "250 AUTHCHALLENGE SERVERHASH=" + std::string(64, 'A') + " SERVERNONCE=" + std::string(64, 'b') + "\r\n"
      "250-ServiceID=" + onion_address(key(7).public_key()) + "\r\n250 OK\r\n"
      "650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn_done_pt SUMMARY=\"Connected to a relay to build circuits\"\r\n"
      "650 HS_DESC UPLOADED " + onion_address(key(7).public_key()) + " UNKNOWN $AAAA~relay1 descid\r\n"
      "250+info/names=\r\nversion -- The current version\r\n..dot-stuffed\r\n.\r\n250 OK\r\n"
      "552 Unrecognized key \"nope\"\r\n";
  write("tor_control", "replies", chunked(bytes_of(replies), 40));
  write("tor_control", "bootstrap-done",
        chunked(bytes_of("250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"\r\n250 OK\r\n")));
}

void node_seeds() {
  namespace pb = shardnode::control::v1;
  auto frame = [](const pb::Request& r) {
    std::string body = r.SerializeAsString();
    Bytes out;
    append_uvarint(out, body.size());
    out.insert(out.end(), body.begin(), body.end());
    return out;
  };
  Bytes all;
  pb::Request r;
  r.set_id(1);
  r.mutable_identity();
  all = cat({all, frame(r)});
  r.set_id(2);
  r.mutable_peers();
  all = cat({all, frame(r)});
  r.set_id(3);
  r.mutable_jump()->set_to(3);
  all = cat({all, frame(r)});
  r.set_id(4);
  r.mutable_publish_collation()->set_shard(1);
  r.mutable_publish_collation()->set_body("body");
  all = cat({all, frame(r)});
  r.set_id(5);
  r.mutable_stream_collations();
  all = cat({all, frame(r)});
  r.set_id(6);
  r.mutable_cancel()->set_stream_id(5);
  all = cat({all, frame(r)});
  write("control_frame", "every-kind", all);
  // control_server: the frames as one write (op 0), a read (op 3), a second of
  // time (op 2), a read.
  write("control_server", "every-kind", cat({Bytes{0}, le16(all.size()), all, Bytes{3, 2, 0xe8, 0x03, 3}}));

  write("metrics_http", "scrape-keepalive",
        chunked(bytes_of("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                         "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                         "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                         "GET /other HTTP/1.0\r\n\r\n"), 16));
  write("metrics_http", "chunked-body",
        chunked(bytes_of("GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")));
}


void stateful_seeds() {
  // yamux, server side: what a client sends to open a stream, write and ping, then
  // reads on the stream it opened (op 0 = bytes in, op 6 = read).
  {
    net::YamuxSession client(true);
    const auto id = client.open_stream().value();
    (void)client.write(id, bytes_of("hello over yamux"));
    client.ping(7);
    (void)client.close_write(id);
    const Bytes wire = client.take_bytes_to_send();
    Bytes ops{0};  // server
    for (std::size_t off = 0; off < wire.size(); off += 200) {
      const std::size_t n = std::min<std::size_t>(200, wire.size() - off);
      ops.push_back(0);
      ops.push_back(static_cast<std::uint8_t>(n));
      ops.insert(ops.end(), wire.begin() + static_cast<std::ptrdiff_t>(off), wire.begin() + static_cast<std::ptrdiff_t>(off + n));
    }
    ops.insert(ops.end(), {6, 0, static_cast<std::uint8_t>(id), 0xff, 0xff, 4, 5, 1, 'x', 7, 0});
    write("yamux", "client-stream", ops);
  }
  // Noise mode 0: an initiator's messages 1 and 3 and a transport frame, made with
  // the fixed keys the target's responder expects; mode 1: an untouched exchange.
  {
    const auto opts = fuzz::fixed_noise_options;
    const auto ki = key(11), kr = key(12);
    net::NoiseHandshake a(net::NoiseHandshake::Role::initiator, ki, opts(3, 4));
    net::NoiseHandshake b(net::NoiseHandshake::Role::responder, kr, opts(1, 2));
    a.start();
    b.start();
    const Bytes m1 = a.take_bytes_to_send();
    (void)b.received_bytes(m1);
    (void)a.received_bytes(b.take_bytes_to_send());
    const Bytes m3 = a.take_bytes_to_send();
    auto fin = a.finish().value();
    (void)fin.session.write(bytes_of("first transport message"));
    const Bytes t = fin.session.take_bytes_to_send();
    write("noise", "responder-transcript", cat({Bytes{0}, chunked(m1), chunked(m3), chunked(t)}));
    write("noise", "honest-pair", cat({Bytes{1}, Bytes(64, 3), Bytes{5}, bytes_of("hello"), Bytes(8, 3)}));
  }
  // The router: peer 0 arrives (gossipsub v1.2, outbound), subscribes to topic 0,
  // we subscribe, it grafts and publishes, heartbeats pass, peer 1 sends a stem message.
  {
    using namespace pubsub;
    const std::string t0 = "/shardnode/collations/0";
    Rpc sub;
    sub.subscriptions = {{true, t0}};
    sub.control.graft = {{t0}};
    Rpc pub;
    Message m;
    m.topic = t0;
    m.data = bytes_of("_accepted");
    m.data[0] = 0;
    pub.publish = {m};
    const Bytes sub_wire = encode_rpc(sub), pub_wire = encode_rpc(pub);
    Message sm = m;
    sm.data = bytes_of("stem");
    sm.data[0] = 4;
    const Bytes stem_wire = encode_stem_frame(sm);
    auto router_ops = [&](std::uint8_t stem) {
      return cat({Bytes{stem},
                  Bytes{0, 0, 0, 3, 1},                           // add peer 0, v1.2, outbound
                  Bytes{1, 0, 0, 3, 1},                           // add peer 1
                  Bytes{0, 0, 6, 1},                              // subscribe topic 0
                  Bytes{0, 0, 2}, le16(sub_wire.size()), sub_wire,  // peer 0: subscribe + graft
                  Bytes{0, 0, 4, 0xe8, 0x03},                     // heartbeat +1 s
                  Bytes{0, 0, 2}, le16(pub_wire.size()), pub_wire,  // peer 0 publishes
                  Bytes{1, 0, 8}, le16(stem_wire.size()), stem_wire,  // peer 1: a stem message
                  Bytes{0, 0, 5, 3, 'o', 'w', 'n'},               // we publish
                  Bytes{0, 0, 4, 0xe8, 0x03}, Bytes{0, 0, 4, 0xff, 0xff}, Bytes{0, 0, 1}});
    };
    write("router", "gossip", router_ops(0));
    write("router", "stem", router_ops(1));
    // Peer 0 chokes us, a message comes from peer 1 (we announce it to peer 0), peer 0 unchokes.
    Rpc choke, unchoke;
    choke.control.choke = {{t0}};
    unchoke.control.unchoke = {{t0}};
    const Bytes choke_wire = encode_rpc(choke), unchoke_wire = encode_rpc(unchoke);
    Message m2 = m;
    m2.data = bytes_of("_second");
    m2.data[0] = 0;
    Rpc pub2;
    pub2.publish = {m2};
    const Bytes pub2_wire = encode_rpc(pub2);
    write("router", "choke",
          cat({router_ops(0), Bytes{0, 0, 2}, le16(choke_wire.size()), choke_wire,  // peer 0 chokes us
               Bytes{1, 0, 2}, le16(sub_wire.size()), sub_wire,                     // peer 1 joins the mesh
               Bytes{1, 0, 2}, le16(pub2_wire.size()), pub2_wire,                   // and sends a message
               Bytes{0, 0, 2}, le16(unchoke_wire.size()), unchoke_wire, Bytes{0, 0, 4, 0xe8, 0x03}}));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds OUTDIR\n";
    return 2;
  }
  g_out = argv[1];
  core_seeds();
  net_seeds();
  pubsub_seeds();
  shard_seeds();
  onion_seeds();
  node_seeds();
  stateful_seeds();
  return 0;
}
