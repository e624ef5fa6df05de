#include "shardnode/core/random.h"

#include <sodium.h>

namespace shardnode {

std::uint64_t SecureRandom::next_u64() {
  std::uint64_t v;
  randombytes_buf(&v, sizeof v);
  return v;
}

}  // namespace shardnode
