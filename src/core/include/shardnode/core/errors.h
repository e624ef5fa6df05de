// The generic conditions and the core layer's error categories (core, config). Each
// other layer declares its own category in its own errors.h (net, onion, shard);
// all map onto these conditions. Many specific codes map to a few
// generic conditions, so callers can branch on "what kind" without knowing details.
#pragma once

#include <system_error>

namespace shardnode {

enum class Condition {
  invalid_input = 1,     // malformed bytes, text or file contents
  io_failure,            // a file or socket operation failed
  already_exists,        // refusing to overwrite
  not_found,
  timeout,
  state_violation,       // an operation not allowed in the current state
  resource_exhausted,    // a limit or cap was reached
};

enum class CoreErrc {
  bad_encoding = 1,      // base32/base58/hex/protobuf text or bytes malformed
  bad_key,               // key material has the wrong type, size or fails its self-check
  key_exists,            // keygen refuses to overwrite
  key_missing,
  io,
};

enum class ConfigErrc {
  parse_error = 1,
  unknown_key,
  wrong_type,
  out_of_range,
  io,
  invalid_value,         // a value that parses but cannot work (conflicts, missing companions)
};

const std::error_category& core_category() noexcept;
const std::error_category& config_category() noexcept;
const std::error_category& condition_category() noexcept;

std::error_code make_error_code(CoreErrc e) noexcept;
std::error_code make_error_code(ConfigErrc e) noexcept;
std::error_condition make_error_condition(Condition c) noexcept;

}  // namespace shardnode

template <> struct std::is_error_code_enum<shardnode::CoreErrc> : std::true_type {};
template <> struct std::is_error_code_enum<shardnode::ConfigErrc> : std::true_type {};
template <> struct std::is_error_condition_enum<shardnode::Condition> : std::true_type {};

