// libFuzzer's entry points (SHARDNODE_FUZZ=ON): the target is named by the
// environment variable SHARDNODE_FUZZ_TARGET (scripts/fuzz.sh sets it);
// SHARDNODE_FUZZ_TARGET=list prints the targets, one per line.
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz.h"
#include "setup.h"

namespace {
const shardnode::fuzz::Target* g_target = nullptr;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* name = std::getenv("SHARDNODE_FUZZ_TARGET");
  if (name && std::string_view(name) == "list") {
    for (const auto& t : shardnode::fuzz::registry()) std::printf("%s\n", t.name);
    std::exit(0);
  }
  g_target = name ? shardnode::fuzz::find_target(name) : nullptr;
  if (!g_target) {
    std::fprintf(stderr, "SHARDNODE_FUZZ_TARGET must name one of:");
    for (const auto& t : shardnode::fuzz::registry()) std::fprintf(stderr, " %s", t.name);
    std::fprintf(stderr, "\n");
    std::exit(2);
  }
  shardnode::fuzz::setup_once();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  g_target->fn(data, size);
  return 0;
}
