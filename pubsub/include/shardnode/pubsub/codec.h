// The pubsub RPC on the wire: protobuf (proto/rpc.proto) <-> the structs in types.h,
// each RPC sent as one uvarint-length-prefixed protobuf on the peer's stream.
// Decoding enforces size caps before allocating and never trusts a count.
#pragma once

#include "shardnode/core/result.h"
#include "shardnode/pubsub/types.h"

namespace shardnode::pubsub {

struct CodecLimits {
  std::size_t max_rpc_size = 1024 * 1024 + 64 * 1024;  // a 1 MiB message plus framing and control
  std::size_t max_message_size = 1024 * 1024;          // Message.data
  std::size_t max_topic_length = 256;
  std::size_t max_message_id_length = 128;
  std::size_t max_ids_per_control = 5000;              // across IHAVE/IWANT/IDONTWANT entries in one RPC
  std::size_t max_subscriptions = 512;
  std::size_t max_messages = 1024;
  std::size_t max_px_peers = 64;
};

enum class PubsubErrc {
  malformed = 1,        // not a valid RPC protobuf
  too_large,            // a cap in CodecLimits was exceeded
  sign_policy,          // StrictNoSign violated (from/seqno/signature/key present)
  no_stem_route,        // stem mode: no peer to carry our message on a topic we are not on
};
const std::error_category& pubsub_category() noexcept;
std::error_code make_error_code(PubsubErrc e) noexcept;

Bytes encode_rpc(const Rpc& rpc);
Result<Rpc> decode_rpc(ByteView bytes, const CodecLimits& limits = {});

// One frame body of the stem protocol (/shardnode/stem/1.0.0): an RPC carrying exactly
// one message and nothing else. PubsubErrc::malformed for anything else.
Bytes encode_stem_frame(const Message& msg);
Result<Message> decode_stem_frame(ByteView bytes, const CodecLimits& limits = {});

// StrictNoSign (the node's only policy): from, seqno, signature and key must be absent.
Status check_strict_no_sign(const Message& m);

// Size of the RPC once encoded (used by the simulator for bandwidth accounting).
std::size_t encoded_size(const Rpc& rpc);

}  // namespace shardnode::pubsub

template <> struct std::is_error_code_enum<shardnode::pubsub::PubsubErrc> : std::true_type {};
