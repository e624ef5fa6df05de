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

class OnionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "onion"; }
  std::string message(int c) const override {
    switch (static_cast<OnionErrc>(c)) {
      case OnionErrc::already_started: return "tor already started in this process";
      case OnionErrc::start_failed: return "tor failed to start";
      case OnionErrc::control_io: return "tor control socket error";
      case OnionErrc::control_protocol: return "malformed tor control reply";
      case OnionErrc::command_failed: return "tor rejected a control command";
      case OnionErrc::timeout: return "tor did not answer in time";
      case OnionErrc::shutdown_failed: return "tor did not stop in time";
    }
    return "unknown onion error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<OnionErrc>(c)) {
      case OnionErrc::already_started: return Condition::state_violation;
      case OnionErrc::start_failed:
      case OnionErrc::control_io: return Condition::io_failure;
      case OnionErrc::control_protocol:
      case OnionErrc::command_failed: return Condition::invalid_input;
      case OnionErrc::timeout:
      case OnionErrc::shutdown_failed: return Condition::timeout;
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
const std::error_category& onion_category() noexcept { static OnionCategory c; return c; }
const std::error_category& config_category() noexcept { static ConfigCategory c; return c; }

std::error_code make_error_code(CoreErrc e) noexcept { return {static_cast<int>(e), core_category()}; }
std::error_code make_error_code(OnionErrc e) noexcept { return {static_cast<int>(e), onion_category()}; }
std::error_code make_error_code(ConfigErrc e) noexcept { return {static_cast<int>(e), config_category()}; }
std::error_condition make_error_condition(Condition c) noexcept {
  return {static_cast<int>(c), condition_category()};
}

}  // namespace shardnode
