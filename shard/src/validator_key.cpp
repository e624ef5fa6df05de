#include "shardnode/shard/validator_key.h"

namespace shardnode::shard {

ValidatorKey ValidatorKey::generate() { return ValidatorKey(NodeKey::generate()); }

Result<ValidatorKey> ValidatorKey::from_seed(ByteView seed) {
  auto k = NodeKey::from_seed(seed);
  if (!k) return k.error();
  return ValidatorKey(std::move(k).value());
}

}  // namespace shardnode::shard
