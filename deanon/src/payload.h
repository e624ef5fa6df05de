// Distinct message content per (run, message counter): the router drops a duplicate
// publish, so every experiment message must differ. Internal to deanon/src.
#pragma once

#include <cstdint>

#include "shardnode/core/bytes.h"

namespace shardnode::deanon {

inline Bytes payload(std::uint64_t run_seed, std::uint64_t counter) {
  Bytes b(64, 0);
  for (std::size_t k = 0; k < 8; ++k) {
    b[k] = static_cast<std::uint8_t>(run_seed >> (8 * k));
    b[8 + k] = static_cast<std::uint8_t>(counter >> (8 * k));
  }
  return b;
}

}  // namespace shardnode::deanon
