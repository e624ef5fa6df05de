// The fuzz targets' registry and input reader. Every target is a function
// (const std::uint8_t*, std::size_t) registered under a name by SHARDNODE_FUZZ_TARGET;
// one binary holds them all. Built with clang's libFuzzer (SHARDNODE_FUZZ=ON,
// scripts/fuzz.sh) it fuzzes the target named by SHARDNODE_FUZZ_TARGET; built with the
// test suite (any compiler) it replays corpora (fuzz_replay, one ctest per target).
//
// A target returns 0 and must never crash, leak, hang or trip a sanitizer on any
// input; an invariant it checks fails through SHARDNODE_FUZZ_CHECK (abort).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "shardnode/core/bytes.h"

namespace shardnode::fuzz {

using TargetFn = void (*)(const std::uint8_t* data, std::size_t size);

struct Target {
  const char* name;
  TargetFn fn;
};

// Every registered target, in registration order (unspecified across files).
std::vector<Target>& registry();
const Target* find_target(std::string_view name);

struct Register {
  Register(const char* name, TargetFn fn) { registry().push_back({name, fn}); }
};

// Reads a fuzzer's bytes as a sequence of choices. Past the end every read
// returns zeros/empty, so a stateful target always terminates.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  std::size_t remaining() const { return n_; }
  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(u16()) | (static_cast<std::uint32_t>(u16()) << 16); }
  bool flag() { return (u8() & 1) != 0; }
  // Up to `max` bytes (fewer at the end of the input).
  ByteView bytes(std::size_t max) {
    const std::size_t k = max < n_ ? max : n_;
    ByteView v(p_, k);
    p_ += k;
    n_ -= k;
    return v;
  }
  // A length-prefixed chunk: one byte of length (0..255) then that many bytes.
  ByteView chunk() { return bytes(u8()); }
  ByteView rest() { return bytes(n_); }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

[[noreturn]] inline void check_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "fuzz check failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace shardnode::fuzz

#define SHARDNODE_FUZZ_CHECK(expr) \
  ((expr) ? static_cast<void>(0) : ::shardnode::fuzz::check_failed(#expr, __FILE__, __LINE__))

#define SHARDNODE_FUZZ_CONCAT2(a, b) a##b
#define SHARDNODE_FUZZ_CONCAT(a, b) SHARDNODE_FUZZ_CONCAT2(a, b)
// SHARDNODE_FUZZ_TARGET(name) { ... uses data, size ... }
#define SHARDNODE_FUZZ_TARGET(name)                                                         \
  static void SHARDNODE_FUZZ_CONCAT(fuzz_target_, name)(const std::uint8_t* data, std::size_t size); \
  static const ::shardnode::fuzz::Register SHARDNODE_FUZZ_CONCAT(fuzz_register_, name)(     \
      #name, &SHARDNODE_FUZZ_CONCAT(fuzz_target_, name));                                   \
  static void SHARDNODE_FUZZ_CONCAT(fuzz_target_, name)(const std::uint8_t* data, std::size_t size)
