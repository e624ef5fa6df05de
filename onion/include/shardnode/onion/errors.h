// The onion layer's error categories: tor itself (onion), the SOCKS5 handshake with
// its SocksPort (socks), and the private test network (testnet). Codes map onto the
// generic shardnode::Condition values of core/errors.h.
#pragma once

#include <system_error>

#include "shardnode/core/errors.h"

namespace shardnode {

enum class OnionErrc {
  already_started = 1,   // one tor per process
  start_failed,
  control_io,            // the control socket failed
  control_protocol,      // a reply violated control-spec
  command_failed,        // tor answered a command with a 4xx/5xx status
  timeout,
  shutdown_failed,
};

const std::error_category& onion_category() noexcept;
std::error_code make_error_code(OnionErrc e) noexcept;

}  // namespace shardnode

template <> struct std::is_error_code_enum<shardnode::OnionErrc> : std::true_type {};

// SOCKS5 client handshake (onion/socks5.h): RFC 1928 + RFC 1929 against tor's SocksPort.
namespace shardnode {

enum class SocksErrc {
  bad_request = 1,       // host, port or credentials unusable (IP literal, too long, empty...)
  protocol,              // the proxy broke RFC 1928/1929 (version, reserved byte, ATYP, unoffered method)
  no_acceptable_method,  // the proxy answered 0xFF to the offered methods
  auth_failed,           // RFC 1929 username/password rejected
  connect_failed,        // CONNECT answered with a non-zero reply code
  closed,                // the proxy closed the connection during the handshake
  bad_state,             // codec used after it finished or failed
};

const std::error_category& socks_category() noexcept;
std::error_code make_error_code(SocksErrc e) noexcept;

}  // namespace shardnode

template <> struct std::is_error_code_enum<shardnode::SocksErrc> : std::true_type {};

// The private Tor test network (onion/testnet/ and onion/testnet_client.h, `shardnode testnet`).
namespace shardnode {

enum class TestnetErrc {
  bad_options = 1,       // invalid TestnetOptions or command-line values
  tool_failed,           // tor-gencert or `tor --list-fingerprint` failed
  no_free_ports,         // no free block of loopback ports found
  spawn_failed,          // fork/exec of a tor failed
  node_exited,           // a tor exited while the network was starting
  timeout,               // not ready within ready_timeout
  already_running,       // the directory holds a testnet with live nodes
  no_state,              // no testnet.json in the directory
  bad_state,             // testnet.json malformed
  bad_client_config,     // client.torrc malformed, unsafe or incomplete
  stop_failed,           // a node survived SIGKILL
  io,
  cancelled,
};

const std::error_category& testnet_category() noexcept;
std::error_code make_error_code(TestnetErrc e) noexcept;

}  // namespace shardnode

template <> struct std::is_error_code_enum<shardnode::TestnetErrc> : std::true_type {};
