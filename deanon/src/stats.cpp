#include "shardnode/deanon/stats.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace shardnode::deanon {

double nearest_rank(const std::vector<double>& sorted, double q) {
  const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted.at(std::max<std::size_t>(k, 1) - 1);
}

double t_quantile_975(std::size_t df) {
  static constexpr std::array<double, 31> kTable{
      0.0,   12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
      2.120, 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df == 0) return std::numeric_limits<double>::infinity();
  if (df < kTable.size()) return kTable[df];
  // Expansion of t's quantile in 1/df around the normal quantile z = 1.959964.
  const double z = 1.959964;
  const double n = static_cast<double>(df);
  const double g1 = (z * z * z + z) / 4.0;
  const double g2 = (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / 96.0;
  return z + g1 / n + g2 / (n * n);
}

Summary summarize(const std::vector<double>& values) {
  Summary s;
  double sum = 0.0;
  for (double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++s.samples;
    }
  if (s.samples == 0) {
    s.mean = s.ci_low = s.ci_high = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  s.mean = sum / static_cast<double>(s.samples);
  if (s.samples >= 2) {
    double ss = 0.0;
    for (double v : values)
      if (std::isfinite(v)) ss += (v - s.mean) * (v - s.mean);
    const double sd = std::sqrt(ss / static_cast<double>(s.samples - 1));
    s.half_width = t_quantile_975(s.samples - 1) * sd / std::sqrt(static_cast<double>(s.samples));
  }
  s.ci_low = s.mean - s.half_width;
  s.ci_high = s.mean + s.half_width;
  return s;
}

}  // namespace shardnode::deanon
