#include "shardnode/pubsub/codec.h"

#include "rpc.pb.h"
#include "shardnode/core/errors.h"

namespace shardnode::pubsub {
namespace {

class PubsubCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "pubsub"; }
  std::string message(int c) const override {
    switch (static_cast<PubsubErrc>(c)) {
      case PubsubErrc::malformed: return "malformed pubsub RPC";
      case PubsubErrc::too_large: return "pubsub RPC over a size cap";
      case PubsubErrc::sign_policy: return "message violates StrictNoSign";
      case PubsubErrc::no_stem_route: return "no stem peer on the message's topic";
    }
    return "unknown pubsub error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    if (static_cast<PubsubErrc>(c) == PubsubErrc::too_large) return Condition::resource_exhausted;
    return Condition::invalid_input;
  }
};

Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string to_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

void fill(pb::Message& out, const Message& m) {
  if (m.from) out.set_from(to_string(*m.from));
  out.set_data(to_string(m.data));
  if (m.seqno) out.set_seqno(to_string(*m.seqno));
  out.set_topic(m.topic);
  if (m.signature) out.set_signature(to_string(*m.signature));
  if (m.key) out.set_key(to_string(*m.key));
}

pb::RPC to_pb(const Rpc& rpc) {
  pb::RPC out;
  for (const auto& s : rpc.subscriptions) {
    auto* o = out.add_subscriptions();
    o->set_subscribe(s.subscribe);
    o->set_topicid(s.topic);
  }
  for (const auto& m : rpc.publish) fill(*out.add_publish(), m);
  if (!rpc.control.empty()) {
    auto* c = out.mutable_control();
    for (const auto& ih : rpc.control.ihave) {
      auto* o = c->add_ihave();
      o->set_topicid(ih.topic);
      for (const auto& id : ih.ids) o->add_messageids(to_string(id));
    }
    for (const auto& iw : rpc.control.iwant) {
      auto* o = c->add_iwant();
      for (const auto& id : iw.ids) o->add_messageids(to_string(id));
    }
    for (const auto& g : rpc.control.graft) c->add_graft()->set_topicid(g.topic);
    for (const auto& p : rpc.control.prune) {
      auto* o = c->add_prune();
      o->set_topicid(p.topic);
      for (const auto& pi : p.peers) {
        auto* po = o->add_peers();
        po->set_peerid(to_string(pi.peer_id));
        if (pi.signed_peer_record) po->set_signedpeerrecord(to_string(*pi.signed_peer_record));
      }
      if (p.backoff_seconds) o->set_backoff(*p.backoff_seconds);
    }
    for (const auto& d : rpc.control.idontwant) {
      auto* o = c->add_idontwant();
      for (const auto& id : d.ids) o->add_messageids(to_string(id));
    }
    for (const auto& x : rpc.control.choke) c->add_choke()->set_topicid(x.topic);
    for (const auto& x : rpc.control.unchoke) c->add_unchoke()->set_topicid(x.topic);
  }
  return out;
}

Error too_large(const std::string& what) { return {PubsubErrc::too_large, "pubsub RPC: " + what}; }

}  // namespace

const std::error_category& pubsub_category() noexcept {
  static PubsubCategory c;
  return c;
}
std::error_code make_error_code(PubsubErrc e) noexcept { return {static_cast<int>(e), pubsub_category()}; }

Bytes encode_rpc(const Rpc& rpc) {
  std::string s = to_pb(rpc).SerializeAsString();
  return Bytes(s.begin(), s.end());
}

std::size_t encoded_size(const Rpc& rpc) { return to_pb(rpc).ByteSizeLong(); }

Bytes encode_stem_frame(const Message& msg) {
  Rpc rpc;
  rpc.publish.push_back(msg);
  return encode_rpc(rpc);
}

Result<Message> decode_stem_frame(ByteView bytes, const CodecLimits& limits) {
  auto rpc = decode_rpc(bytes, limits);
  if (!rpc) return rpc.error();
  if (rpc->publish.size() != 1 || !rpc->subscriptions.empty() || !rpc->control.empty())
    return Error{PubsubErrc::malformed, "stem frame: exactly one message and nothing else"};
  return std::move(rpc->publish.front());
}

Result<Rpc> decode_rpc(ByteView bytes, const CodecLimits& lim) {
  if (bytes.size() > lim.max_rpc_size)
    return too_large(std::to_string(bytes.size()) + " bytes exceeds " + std::to_string(lim.max_rpc_size));
  pb::RPC in;
  if (!in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Error{PubsubErrc::malformed, "pubsub RPC: not a valid protobuf"};
  if (static_cast<std::size_t>(in.subscriptions_size()) > lim.max_subscriptions) return too_large("too many subscriptions");
  if (static_cast<std::size_t>(in.publish_size()) > lim.max_messages) return too_large("too many messages");
  auto check_topic = [&](const std::string& t) -> Status {
    if (t.size() > lim.max_topic_length) return too_large("topic longer than " + std::to_string(lim.max_topic_length));
    return {};
  };
  std::size_t ids = 0;
  auto take_ids = [&](const auto& repeated, std::vector<MessageId>& out) -> Status {
    for (const auto& id : repeated) {
      if (++ids > lim.max_ids_per_control) return too_large("more than " + std::to_string(lim.max_ids_per_control) + " message ids");
      if (id.size() > lim.max_message_id_length || id.empty())
        return Error{PubsubErrc::malformed, "pubsub RPC: message id of " + std::to_string(id.size()) + " bytes"};
      out.push_back(to_bytes(id));
    }
    return {};
  };

  Rpc rpc;
  for (const auto& s : in.subscriptions()) {
    if (!s.has_topicid()) return Error{PubsubErrc::malformed, "pubsub RPC: subscription without a topic"};
    if (Status st = check_topic(s.topicid()); !st) return st.error();
    rpc.subscriptions.push_back({s.subscribe(), s.topicid()});
  }
  for (const auto& m : in.publish()) {
    if (m.data().size() > lim.max_message_size)
      return too_large("message of " + std::to_string(m.data().size()) + " bytes exceeds " + std::to_string(lim.max_message_size));
    if (!m.has_topic()) return Error{PubsubErrc::malformed, "pubsub RPC: message without a topic"};
    if (Status st = check_topic(m.topic()); !st) return st.error();
    Message msg;
    if (m.has_from()) msg.from = to_bytes(m.from());
    msg.data = to_bytes(m.data());
    if (m.has_seqno()) msg.seqno = to_bytes(m.seqno());
    msg.topic = m.topic();
    if (m.has_signature()) msg.signature = to_bytes(m.signature());
    if (m.has_key()) msg.key = to_bytes(m.key());
    rpc.publish.push_back(std::move(msg));
  }
  if (in.has_control()) {
    const auto& c = in.control();
    for (const auto& ih : c.ihave()) {
      ControlIHave o;
      if (Status st = check_topic(ih.topicid()); !st) return st.error();
      o.topic = ih.topicid();
      if (Status st = take_ids(ih.messageids(), o.ids); !st) return st.error();
      rpc.control.ihave.push_back(std::move(o));
    }
    for (const auto& iw : c.iwant()) {
      ControlIWant o;
      if (Status st = take_ids(iw.messageids(), o.ids); !st) return st.error();
      rpc.control.iwant.push_back(std::move(o));
    }
    if (static_cast<std::size_t>(c.graft_size() + c.prune_size() + c.choke_size() + c.unchoke_size()) >
        lim.max_subscriptions)
      return too_large("too many GRAFT/PRUNE/CHOKE/UNCHOKE entries");
    for (const auto& g : c.graft()) {
      if (Status st = check_topic(g.topicid()); !st) return st.error();
      rpc.control.graft.push_back({g.topicid()});
    }
    for (const auto& p : c.prune()) {
      if (Status st = check_topic(p.topicid()); !st) return st.error();
      if (static_cast<std::size_t>(p.peers_size()) > lim.max_px_peers) return too_large("too many PX peers");
      ControlPrune o;
      o.topic = p.topicid();
      for (const auto& pi : p.peers()) {
        PeerInfo info;
        info.peer_id = to_bytes(pi.peerid());
        if (pi.has_signedpeerrecord()) info.signed_peer_record = to_bytes(pi.signedpeerrecord());
        o.peers.push_back(std::move(info));
      }
      if (p.has_backoff()) o.backoff_seconds = p.backoff();
      rpc.control.prune.push_back(std::move(o));
    }
    for (const auto& d : c.idontwant()) {
      ControlIDontWant o;
      if (Status st = take_ids(d.messageids(), o.ids); !st) return st.error();
      rpc.control.idontwant.push_back(std::move(o));
    }
    for (const auto& x : c.choke()) {
      if (Status st = check_topic(x.topicid()); !st) return st.error();
      rpc.control.choke.push_back({x.topicid()});
    }
    for (const auto& x : c.unchoke()) {
      if (Status st = check_topic(x.topicid()); !st) return st.error();
      rpc.control.unchoke.push_back({x.topicid()});
    }
  }
  return rpc;
}

Status check_strict_no_sign(const Message& m) {
  if (m.from || m.seqno || m.signature || m.key)
    return Error{PubsubErrc::sign_policy, "message carries from/seqno/signature/key under StrictNoSign"};
  return {};
}

}  // namespace shardnode::pubsub
