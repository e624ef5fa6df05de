#include "fuzz.h"

namespace shardnode::fuzz {

std::vector<Target>& registry() {
  static std::vector<Target> targets;
  return targets;
}

const Target* find_target(std::string_view name) {
  for (const auto& t : registry())
    if (name == t.name) return &t;
  return nullptr;
}

}  // namespace shardnode::fuzz
