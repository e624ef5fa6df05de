// Fixed keys for the fuzz targets and the seeds made for them: a run depends on its
// input only, and a seed made with these keys passes the target's checks.
#pragma once

#include <array>
#include <cstdint>

#include "shardnode/core/keys.h"
#include "shardnode/net/noise.h"

namespace shardnode::fuzz {

inline NodeKey fixed_key(std::uint8_t fill) { return NodeKey::from_seed(Bytes(32, fill)).value(); }

// Noise handshake options with a fixed static and ephemeral DH key (each 32 bytes of
// one value), offering yamux.
inline net::NoiseHandshakeOptions fixed_noise_options(std::uint8_t static_fill, std::uint8_t ephemeral_fill) {
  net::NoiseHandshakeOptions o;
  o.static_private = std::array<std::uint8_t, 32>{};
  o.static_private->fill(static_fill);
  o.ephemeral_private = std::array<std::uint8_t, 32>{};
  o.ephemeral_private->fill(ephemeral_fill);
  o.stream_muxers = {"/yamux/1.0.0"};
  return o;
}

}  // namespace shardnode::fuzz
