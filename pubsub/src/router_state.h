// Router internals shared by router.cpp and heartbeat.cpp.
#pragma once

#include <optional>
#include <unordered_map>

#include "shardnode/pubsub/router.h"

namespace shardnode::pubsub {

struct Router::PeerState {
  PeerProtocol proto = PeerProtocol::meshsub_1_1;
  bool outbound = false;
  std::set<TopicId> topics;
  // gossipsub v1.2: ids this peer told us not to send, with the heartbeat tick they expire at.
  std::unordered_map<MessageId, std::uint64_t, BytesHash> dont_send;
  std::size_t ihave_this_heartbeat = 0;    // IHAVE messages received
  std::size_t iasked_this_heartbeat = 0;   // ids we asked for with IWANT
  std::size_t idontwant_this_heartbeat = 0;
  std::size_t choke_this_heartbeat = 0;    // CHOKE/UNCHOKE received
  std::optional<Duration> rtt;             // smoothed round trip (GossipsubConfig::latency)
};

struct Router::Pending {
  Message msg;
  PeerId source;
  TimePoint received;
};

}  // namespace shardnode::pubsub
