// Shared pubsub vocabulary: topics, message ids, messages, RPCs (the libp2p pubsub
// rpc.proto as plain structs; pubsub/src/codec.cpp converts to and from the wire).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shardnode/core/bytes.h"
#include "shardnode/core/clock.h"
#include "shardnode/core/keys.h"

namespace shardnode::pubsub {

using TopicId = std::string;
using MessageId = Bytes;

// Hash for message ids (and other byte strings) in hash tables.
struct BytesHash {
  std::size_t operator()(const Bytes& b) const noexcept {
    // FNV-1a; ids are content hashes already, so this only spreads buckets.
    std::uint64_t h = 1469598103934665603ull;
    for (auto c : b) h = (h ^ c) * 1099511628211ull;
    return static_cast<std::size_t>(h);
  }
};

// A pubsub Message. Under StrictNoSign, from/seqno/signature/key must be absent.
struct Message {
  std::optional<Bytes> from;
  Bytes data;
  std::optional<Bytes> seqno;
  TopicId topic;
  std::optional<Bytes> signature;
  std::optional<Bytes> key;
  bool operator==(const Message&) const = default;
};

struct SubOpts {
  bool subscribe = false;
  TopicId topic;
  bool operator==(const SubOpts&) const = default;
};

struct ControlIHave {
  TopicId topic;
  std::vector<MessageId> ids;
  bool operator==(const ControlIHave&) const = default;
};
struct ControlIWant {
  std::vector<MessageId> ids;
  bool operator==(const ControlIWant&) const = default;
};
struct ControlGraft {
  TopicId topic;
  bool operator==(const ControlGraft&) const = default;
};
struct PeerInfo {
  Bytes peer_id;            // multihash bytes
  std::optional<Bytes> signed_peer_record;
  bool operator==(const PeerInfo&) const = default;
};
struct ControlPrune {
  TopicId topic;
  std::vector<PeerInfo> peers;
  std::optional<std::uint64_t> backoff_seconds;
  bool operator==(const ControlPrune&) const = default;
};
struct ControlIDontWant {
  std::vector<MessageId> ids;
  bool operator==(const ControlIDontWant&) const = default;
};

// The choke extension (libp2p/specs PR 681): a mesh peer that choked us wants IHAVE
// instead of the messages we would push; UNCHOKE (or leaving the mesh) ends that.
struct ControlChoke {
  TopicId topic;
  bool operator==(const ControlChoke&) const = default;
};
struct ControlUnchoke {
  TopicId topic;
  bool operator==(const ControlUnchoke&) const = default;
};

struct Control {
  std::vector<ControlIHave> ihave;
  std::vector<ControlIWant> iwant;
  std::vector<ControlGraft> graft;
  std::vector<ControlPrune> prune;
  std::vector<ControlIDontWant> idontwant;
  std::vector<ControlChoke> choke;
  std::vector<ControlUnchoke> unchoke;
  bool empty() const {
    return ihave.empty() && iwant.empty() && graft.empty() && prune.empty() && idontwant.empty() && choke.empty() &&
           unchoke.empty();
  }
  bool operator==(const Control&) const = default;
};

struct Rpc {
  std::vector<SubOpts> subscriptions;
  std::vector<Message> publish;
  Control control;
  bool empty() const { return subscriptions.empty() && publish.empty() && control.empty(); }
  bool operator==(const Rpc&) const = default;
};

// Which pubsub protocol a peer speaks (from stream negotiation).
enum class PeerProtocol { floodsub, meshsub_1_0, meshsub_1_1, meshsub_1_2 };
inline constexpr const char* kFloodsubId = "/floodsub/1.0.0";
inline constexpr const char* kMeshsub10Id = "/meshsub/1.0.0";
inline constexpr const char* kMeshsub11Id = "/meshsub/1.1.0";
inline constexpr const char* kMeshsub12Id = "/meshsub/1.2.0";

enum class ValidationResult { accept, reject, ignore };

}  // namespace shardnode::pubsub
