// fuzz_replay: runs inputs through a fuzz target without libFuzzer, so the test
// suite (g++, ASan+UBSan) replays every corpus and regression input.
//
//   fuzz_replay --list                 the registered targets, one per line
//   fuzz_replay TARGET PATH...         every file under each PATH (a file or a folder)
//
// Exit 0 after running at least one input; 1 when no input was found; 2 on usage.
// A crash is the sanitizer's abort.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz.h"
#include "setup.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  using shardnode::fuzz::registry;
  if (argc == 2 && std::string(argv[1]) == "--list") {
    std::vector<std::string> names;
    for (const auto& t : registry()) names.emplace_back(t.name);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) std::cout << n << "\n";
    return 0;
  }
  if (argc < 3) {
    std::cerr << "usage: fuzz_replay --list | fuzz_replay TARGET PATH...\n";
    return 2;
  }
  const auto* target = shardnode::fuzz::find_target(argv[1]);
  if (!target) {
    std::cerr << "fuzz_replay: no target " << argv[1] << " (--list shows them)\n";
    return 2;
  }
  shardnode::fuzz::setup_once();
  std::vector<fs::path> files;
  for (int i = 2; i < argc; ++i) {
    const fs::path p = argv[i];
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  std::size_t bytes = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bytes += data.size();
    target->fn(data.data(), data.size());
  }
  std::cout << target->name << ": replayed " << files.size() << " inputs, " << bytes << " bytes\n";
  return files.empty() ? 1 : 0;
}
