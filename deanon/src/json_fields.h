// JSON spellings shared by the deanon reports (report.cpp, fingerprint.cpp).
// Internal to deanon/src.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>

#include "shardnode/deanon/stats.h"
#include "units.h"

namespace shardnode::deanon {

// NaN and infinities have no JSON spelling: null.
inline nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

inline nlohmann::json summary_json(const Summary& s) {
  return nlohmann::json{{"mean", number(s.mean)},
                        {"ci95_low", s.has_ci() ? number(s.ci_low) : nlohmann::json(nullptr)},
                        {"ci95_high", s.has_ci() ? number(s.ci_high) : nlohmann::json(nullptr)},
                        {"runs", s.samples}};
}

}  // namespace shardnode::deanon
