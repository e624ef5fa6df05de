// Kademlia DHT messages and keys (libp2p kad-dht): the message codec, the 256-bit
// key space and XOR distance. Sans-IO; the routing table is kad_routing.h, an
// iterative lookup kad_lookup.h.
//
// Keys: a peer's DHT key is SHA-256 of its peer id's bytes; any other key (a provider
// key, a record key) is SHA-256 of its bytes too, so distances are uniform.
// Decoding is strict about sizes (every cap below) and lenient about content it can
// skip: a peer entry whose id is not a peer id, or an address we cannot represent, is
// skipped and counted, as identify does.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shardnode/core/keys.h"
#include "shardnode/core/random.h"
#include "shardnode/core/multiaddr.h"
#include "shardnode/core/result.h"

namespace shardnode::net::kad {

inline constexpr const char* kProtocol = "/shardnode/kad/1.0.0";  // our network's DHT
inline constexpr const char* kIpfsProtocol = "/ipfs/kad/1.0.0";   // js-libp2p interop

struct Limits {
  std::size_t max_message = 64 * 1024;  // bytes of one message
  std::size_t max_key = 256;
  std::size_t max_value = 8 * 1024;     // a record's value (a signed peer record is < 4 KiB)
  std::size_t max_peers = 40;           // closer + provider peers in one message
  std::size_t max_addrs = 16;           // addresses of one peer entry
};

enum class MessageType : std::uint8_t { put_value = 0, get_value = 1, add_provider = 2, get_providers = 3, find_node = 4, ping = 5 };
enum class ConnectionType : std::uint8_t { not_connected = 0, connected = 1, can_connect = 2, cannot_connect = 3 };

struct Peer {
  PeerId id;
  std::vector<Multiaddr> addrs;
  ConnectionType connection = ConnectionType::not_connected;
  bool operator==(const Peer&) const = default;
};

struct Record {
  Bytes key;
  Bytes value;
  std::string time_received;
  bool operator==(const Record&) const = default;
};

struct Message {
  MessageType type = MessageType::ping;
  Bytes key;
  std::optional<Record> record;
  std::vector<Peer> closer;
  std::vector<Peer> providers;
  // decode: entries skipped (ids that are not peer ids, unrepresentable addresses)
  std::size_t skipped = 0;
  bool operator==(const Message& o) const {
    return type == o.type && key == o.key && record == o.record && closer == o.closer && providers == o.providers;
  }
};

Bytes encode(const Message& m);  // the protobuf body, without the length prefix
Result<Message> decode_kad_message(ByteView body, const Limits& limits = {});

// ---- key space

using Key = std::array<std::uint8_t, 32>;
Key key_of(const PeerId& peer);  // SHA-256 of the peer id's bytes
Key key_of(ByteView bytes);      // SHA-256 of any key
Key distance(const Key& a, const Key& b);
// Index of the first bit in which a and b differ, 0..255 (the shared prefix length);
// 256 when a == b.
unsigned common_prefix_length(const Key& a, const Key& b);
// A random lookup key (bytes, hashed like any key) whose SHA-256 shares exactly
// `cpl` leading bits with `self` (cpl < 24: found by trying, about 2^(cpl+1)
// hashes): the target of a bucket refresh, which walks into bucket `cpl`'s part of
// the key space. A self lookup alone leaves a node's shallow buckets to chance.
Bytes key_in_bucket(const Key& self, unsigned cpl, Random& rng);

}  // namespace shardnode::net::kad
