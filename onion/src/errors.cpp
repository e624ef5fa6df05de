#include "shardnode/onion/errors.h"

#include <string>

namespace shardnode {
namespace {

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

}  // namespace

const std::error_category& onion_category() noexcept { static OnionCategory c; return c; }
std::error_code make_error_code(OnionErrc e) noexcept { return {static_cast<int>(e), onion_category()}; }

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
