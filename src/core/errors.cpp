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
const std::error_category& onion_category() noexcept { static OnionCategory c; return c; }
const std::error_category& config_category() noexcept { static ConfigCategory c; return c; }

std::error_code make_error_code(CoreErrc e) noexcept { return {static_cast<int>(e), core_category()}; }
std::error_code make_error_code(OnionErrc e) noexcept { return {static_cast<int>(e), onion_category()}; }
std::error_code make_error_code(ConfigErrc e) noexcept { return {static_cast<int>(e), config_category()}; }
std::error_condition make_error_condition(Condition c) noexcept {
  return {static_cast<int>(c), condition_category()};
}

}  // namespace shardnode

namespace shardnode {
namespace {

class SocksCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "socks"; }
  std::string message(int c) const override {
    switch (static_cast<SocksErrc>(c)) {
      case SocksErrc::bad_request: return "unusable SOCKS5 request";
      case SocksErrc::protocol: return "SOCKS5 protocol violation";
      case SocksErrc::no_acceptable_method: return "SOCKS5 proxy accepts none of our methods";
      case SocksErrc::auth_failed: return "SOCKS5 authentication failed";
      case SocksErrc::connect_failed: return "SOCKS5 CONNECT failed";
      case SocksErrc::closed: return "SOCKS5 proxy closed the connection";
      case SocksErrc::bad_state: return "SOCKS5 codec used after it finished";
    }
    return "unknown socks error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<SocksErrc>(c)) {
      case SocksErrc::bad_request:
      case SocksErrc::protocol:
      case SocksErrc::no_acceptable_method:
      case SocksErrc::auth_failed: return Condition::invalid_input;
      case SocksErrc::connect_failed:
      case SocksErrc::closed: return Condition::io_failure;
      case SocksErrc::bad_state: return Condition::state_violation;
    }
    return {c, *this};
  }
};

}  // namespace

const std::error_category& socks_category() noexcept { static SocksCategory c; return c; }
std::error_code make_error_code(SocksErrc e) noexcept { return {static_cast<int>(e), socks_category()}; }

}  // namespace shardnode

// The private Tor test network (onion/testnet/, onion/testnet_client.h).
namespace shardnode {
namespace {

class TestnetCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "testnet"; }
  std::string message(int c) const override {
    switch (static_cast<TestnetErrc>(c)) {
      case TestnetErrc::bad_options: return "invalid testnet options";
      case TestnetErrc::tool_failed: return "tor key generation failed";
      case TestnetErrc::no_free_ports: return "no free loopback ports";
      case TestnetErrc::spawn_failed: return "cannot start tor";
      case TestnetErrc::node_exited: return "a testnet tor exited";
      case TestnetErrc::timeout: return "testnet not ready in time";
      case TestnetErrc::already_running: return "a testnet is already running there";
      case TestnetErrc::no_state: return "no testnet there";
      case TestnetErrc::bad_state: return "malformed testnet state";
      case TestnetErrc::bad_client_config: return "invalid testnet client torrc";
      case TestnetErrc::stop_failed: return "a testnet tor did not stop";
      case TestnetErrc::io: return "testnet i/o error";
      case TestnetErrc::cancelled: return "cancelled";
    }
    return "unknown testnet error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<TestnetErrc>(c)) {
      case TestnetErrc::bad_options:
      case TestnetErrc::bad_state:
      case TestnetErrc::bad_client_config: return Condition::invalid_input;
      case TestnetErrc::tool_failed:
      case TestnetErrc::spawn_failed:
      case TestnetErrc::node_exited:
      case TestnetErrc::io: return Condition::io_failure;
      case TestnetErrc::no_free_ports: return Condition::resource_exhausted;
      case TestnetErrc::timeout:
      case TestnetErrc::stop_failed: return Condition::timeout;
      case TestnetErrc::already_running:
      case TestnetErrc::cancelled: return Condition::state_violation;
      case TestnetErrc::no_state: return Condition::not_found;
    }
    return {c, *this};
  }
};

}  // namespace

const std::error_category& testnet_category() noexcept { static TestnetCategory c; return c; }
std::error_code make_error_code(TestnetErrc e) noexcept { return {static_cast<int>(e), testnet_category()}; }

}  // namespace shardnode

// The shard layer (shard/).
namespace shardnode {
namespace {

class ShardCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "shard"; }
  std::string message(int c) const override {
    switch (static_cast<ShardErrc>(c)) {
      case ShardErrc::malformed: return "malformed shard message";
      case ShardErrc::bad_signature: return "bad signature";
      case ShardErrc::wrong_shard_count: return "wrong shard count";
      case ShardErrc::expired: return "shard preference expired";
      case ShardErrc::stale: return "shard preference not newer than the one held";
      case ShardErrc::wrong_shard: return "collation for another shard";
      case ShardErrc::oversize: return "shard message over its size cap";
      case ShardErrc::too_old: return "collation period too old";
      case ShardErrc::duplicate: return "collation already seen";
      case ShardErrc::future: return "too far in the future";
      case ShardErrc::body_mismatch: return "collation body does not match its hash";
    }
    return "unknown shard error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<ShardErrc>(c)) {
      case ShardErrc::malformed:
      case ShardErrc::bad_signature:
      case ShardErrc::wrong_shard_count:
      case ShardErrc::wrong_shard:
      case ShardErrc::future:
      case ShardErrc::body_mismatch: return Condition::invalid_input;
      case ShardErrc::oversize: return Condition::resource_exhausted;
      case ShardErrc::stale:
      case ShardErrc::duplicate: return Condition::already_exists;
      case ShardErrc::expired:
      case ShardErrc::too_old: return Condition::state_violation;
    }
    return {c, *this};
  }
};

}  // namespace

const std::error_category& shard_category() noexcept { static ShardCategory c; return c; }
std::error_code make_error_code(ShardErrc e) noexcept { return {static_cast<int>(e), shard_category()}; }

}  // namespace shardnode

// The collation store (shard/store.h).
namespace shardnode {
namespace {

class StoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "store"; }
  std::string message(int c) const override {
    switch (static_cast<StoreErrc>(c)) {
      case StoreErrc::io: return "collation store i/o error";
      case StoreErrc::not_a_database: return "not an SQLite database";
      case StoreErrc::corrupt: return "collation store is corrupt";
      case StoreErrc::newer_schema: return "collation store written by a newer version";
      case StoreErrc::foreign_database: return "SQLite database is not a collation store";
    }
    return "unknown store error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<StoreErrc>(c)) {
      case StoreErrc::io: return Condition::io_failure;
      case StoreErrc::not_a_database:
      case StoreErrc::corrupt:
      case StoreErrc::foreign_database: return Condition::invalid_input;
      case StoreErrc::newer_schema: return Condition::state_violation;
    }
    return {c, *this};
  }
};

}  // namespace

const std::error_category& store_category() noexcept { static StoreCategory c; return c; }
std::error_code make_error_code(StoreErrc e) noexcept { return {static_cast<int>(e), store_category()}; }

}  // namespace shardnode
