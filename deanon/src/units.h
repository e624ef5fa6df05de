// Durations as the deanon reports and models spell them. Internal to deanon/src.
#pragma once

#include "shardnode/core/clock.h"

namespace shardnode::deanon {

inline double ms(Duration d) { return static_cast<double>(d.count()) / 1e6; }
inline Duration duration_ms(double v) { return Duration{static_cast<Duration::rep>(v * 1e6)}; }

}  // namespace shardnode::deanon
