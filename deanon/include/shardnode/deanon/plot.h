// A self-contained SVG of metric vs spy fraction for a sweep of experiments (one
// per p, otherwise equal configs): first-spy precision, recall and inverse rank and
// the timing adversary's recall, with their 95 % intervals as error bars, and the
// flooding closed form 1-(1-p)^d dashed.
#pragma once

#include <string>
#include <vector>

#include "shardnode/deanon/experiment.h"

namespace shardnode::deanon {

// Points are drawn in the order given (sort by spy fraction first); NaN means
// are left out. Entropy (bits, another scale) is not drawn.
std::string to_svg(const std::vector<ExperimentResult>& sweep);

}  // namespace shardnode::deanon
