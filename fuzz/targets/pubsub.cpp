// Pubsub decoders: the gossipsub RPC and the stem protocol's frame.
#include "../fuzz.h"
#include "shardnode/pubsub/codec.h"

namespace shardnode::fuzz {

// What decodes re-encodes to an RPC that decodes to the same thing, and passes or
// fails the signing policy without crashing.
SHARDNODE_FUZZ_TARGET(pubsub_rpc) {
  auto rpc = pubsub::decode_rpc(ByteView(data, size));
  if (!rpc) return;
  for (const auto& m : rpc->publish) (void)pubsub::check_strict_no_sign(m);
  const Bytes wire = pubsub::encode_rpc(*rpc);
  SHARDNODE_FUZZ_CHECK(pubsub::encoded_size(*rpc) == wire.size());
  auto again = pubsub::decode_rpc(wire);
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *rpc);
}

// The stem protocol's stream: length-prefixed frames (in fuzzer-chosen pieces),
// each one message.
SHARDNODE_FUZZ_TARGET(stem_frame) {
  if (auto msg = pubsub::decode_stem_frame(ByteView(data, size))) {
    auto again = pubsub::decode_stem_frame(pubsub::encode_stem_frame(*msg));
    SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *msg);
  }
}

}  // namespace shardnode::fuzz
