// JSON spellings shared by the deanon reports (report.cpp, fingerprint.cpp).
// Internal to deanon/src.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>

#include "shardnode/core/clock.h"
#include "shardnode/deanon/stats.h"

namespace shardnode::deanon {

inline double ms(Duration d) { return static_cast<double>(d.count()) / 1e6; }

// NaN and infinities have no JSON spelling: null.
inline nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

inline nlohmann::json summary_json(const Summary& s) {
  return nlohmann::json{{"mean", number(s.mean)},
                        {"ci95_low", s.has_ci() ? number(s.ci_low) : nlohmann::json(nullptr)},
                        {"ci95_high", s.has_ci() ? number(s.ci_high) : nlohmann::json(nullptr)},
                        {"runs", s.samples}};
}

}  // namespace shardnode::deanon
