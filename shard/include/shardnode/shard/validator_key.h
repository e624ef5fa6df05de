// A validator's signing key: Ed25519 like the node key, but a separate key with a
// separate role. Validator keys sign collations and beacon headers; they are never
// bound to a node identity (no peer id, no onion address is derived from them), so a
// node's network identity does not reveal which collations it proposed. A distinct
// type keeps a NodeKey from being passed where a validator key belongs and back.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"

namespace shardnode::shard {

class ValidatorKey {
 public:
  static ValidatorKey generate();
  static Result<ValidatorKey> from_seed(ByteView seed);  // 32 bytes
  // Takes over an Ed25519 key loaded from a key file (validator.key uses the same
  // on-disk format as identity.key; it is a different key).
  static ValidatorKey adopt(NodeKey key) { return ValidatorKey(std::move(key)); }

  const Ed25519PublicKey& public_key() const { return key_.public_key(); }
  std::array<std::uint8_t, 64> sign(ByteView message) const { return key_.sign(message); }

 private:
  explicit ValidatorKey(NodeKey k) : key_(std::move(k)) {}
  NodeKey key_;  // move-only, wiped on destruction
};

}  // namespace shardnode::shard
