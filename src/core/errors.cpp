#include "shardnode/core/errors.h"

#include <string>

namespace shardnode {
namespace {

class ConditionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "shardnode"; }
  std::string message(int c) const override {
    switch (static_cast<Condition>(c)) {
      case Condition::invalid_input: return "invalid input";
      case Condition::io_failure: return "i/o failure";
      case Condition::already_exists: return "already exists";
      case Condition::not_found: return "not found";
      case Condition::timeout: return "timed out";
      case Condition::state_violation: return "not allowed in this state";
      case Condition::resource_exhausted: return "limit reached";
    }
    return "unknown condition";
  }
};

class CoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "core"; }
  std::string message(int c) const override {
    switch (static_cast<CoreErrc>(c)) {
      case CoreErrc::bad_encoding: return "malformed encoding";
      case CoreErrc::bad_key: return "invalid key";
      case CoreErrc::key_exists: return "key file already exists";
      case CoreErrc::key_missing: return "key file missing";
      case CoreErrc::io: return "i/o error";
    }
    return "unknown core error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<CoreErrc>(c)) {
      case CoreErrc::bad_encoding:
      case CoreErrc::bad_key: return Condition::invalid_input;
      case CoreErrc::key_exists: return Condition::already_exists;
      case CoreErrc::key_missing: return Condition::not_found;
      case CoreErrc::io: return Condition::io_failure;
    }
    return {c, *this};
  }
};

class ConfigCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "config"; }
  std::string message(int c) const override {
    switch (static_cast<ConfigErrc>(c)) {
      case ConfigErrc::parse_error: return "malformed TOML";
      case ConfigErrc::unknown_key: return "unknown setting";
      case ConfigErrc::wrong_type: return "wrong type";
      case ConfigErrc::out_of_range: return "value out of range";
      case ConfigErrc::io: return "cannot read config file";
      case ConfigErrc::invalid_value: return "invalid setting";
    }
    return "unknown config error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    if (static_cast<ConfigErrc>(c) == ConfigErrc::io) return Condition::io_failure;
    return Condition::invalid_input;
  }
};

}  // namespace

const std::error_category& condition_category() noexcept { static ConditionCategory c; return c; }
const std::error_category& core_category() noexcept { static CoreCategory c; return c; }
const std::error_category& config_category() noexcept { static ConfigCategory c; return c; }

std::error_code make_error_code(CoreErrc e) noexcept { return {static_cast<int>(e), core_category()}; }
std::error_code make_error_code(ConfigErrc e) noexcept { return {static_cast<int>(e), config_category()}; }
std::error_condition make_error_condition(Condition c) noexcept {
  return {static_cast<int>(c), condition_category()};
}

}  // namespace shardnode
