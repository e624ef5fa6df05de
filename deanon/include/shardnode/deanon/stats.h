// Summary statistics for repeated experiment runs: mean and a two-sided 95 %
// confidence interval from Student's t with (runs - 1) degrees of freedom.
#pragma once

#include <cstddef>
#include <vector>

namespace shardnode::deanon {

struct Summary {
  double mean = 0.0;
  double ci_low = 0.0;   // mean - half_width
  double ci_high = 0.0;  // mean + half_width
  double half_width = 0.0;
  std::size_t samples = 0;  // values the summary is over (NaN values are skipped)
  bool has_ci() const { return samples >= 2; }
};

// 97.5 % quantile of Student's t with `df` degrees of freedom (exact table for
// df <= 30, a Cornish-Fisher style expansion beyond, 1.96 as df -> infinity).
double t_quantile_975(std::size_t df);

// The nearest-rank q-quantile of `sorted` (ascending, not empty).
double nearest_rank(const std::vector<double>& sorted, double q);

// Mean and 95 % t interval of the finite values; with fewer than two values the
// interval collapses to the mean (has_ci() false); with none, mean is NaN.
Summary summarize(const std::vector<double>& values);

}  // namespace shardnode::deanon
