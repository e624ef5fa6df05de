// Output of an experiment: JSON (config, per-metric mean and 95 % CI, every run),
// CSV (one row per metric), and a human-readable table.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "shardnode/deanon/experiment.h"

namespace shardnode::deanon {

nlohmann::json to_json(const ExperimentResult& r);
// Header plus one row per metric: metric,mean,ci_low,ci_high,runs,<config columns>.
std::string to_csv(const ExperimentResult& r);
std::string to_table(const ExperimentResult& r);

}  // namespace shardnode::deanon
