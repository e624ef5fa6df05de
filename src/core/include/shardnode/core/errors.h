// Error categories for the layers built so far. Many specific codes map to a few
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

enum class OnionErrc {
  already_started = 1,   // one tor per process
  start_failed,
  control_io,            // the control socket failed
  control_protocol,      // a reply violated control-spec
  command_failed,        // tor answered a command with a 4xx/5xx status
  timeout,
  shutdown_failed,
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
const std::error_category& onion_category() noexcept;
const std::error_category& config_category() noexcept;
const std::error_category& condition_category() noexcept;

std::error_code make_error_code(CoreErrc e) noexcept;
std::error_code make_error_code(OnionErrc e) noexcept;
std::error_code make_error_code(ConfigErrc e) noexcept;
std::error_condition make_error_condition(Condition c) noexcept;

}  // namespace shardnode

template <> struct std::is_error_code_enum<shardnode::CoreErrc> : std::true_type {};
template <> struct std::is_error_code_enum<shardnode::OnionErrc> : std::true_type {};
template <> struct std::is_error_code_enum<shardnode::ConfigErrc> : std::true_type {};
template <> struct std::is_error_condition_enum<shardnode::Condition> : std::true_type {};

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

// The shard layer (shard/): preference records, collations, beacon headers.
namespace shardnode {

enum class ShardErrc {
  malformed = 1,         // not a canonical protobuf, wrong field sizes, bits beyond shard_count
  bad_signature,         // Ed25519 signature does not verify over the signing payload
  wrong_shard_count,     // a preference record for another shard_count configuration
  expired,               // a preference record whose expires_at has passed
  stale,                 // a preference record not newer (by seq) than the one held
  wrong_shard,           // a collation published on another shard's topic
  oversize,              // encoded message or collation body over its cap
  too_old,               // a collation period older than the retention window
  duplicate,             // a collation already seen
  future,                // a collation period too far ahead, or a record TTL over the cap
  body_mismatch,         // a collation body whose SHA-256 differs from header.body_hash
};

const std::error_category& shard_category() noexcept;
std::error_code make_error_code(ShardErrc e) noexcept;

}  // namespace shardnode

template <> struct std::is_error_code_enum<shardnode::ShardErrc> : std::true_type {};

// The collation store (shard/store.h): an SQLite file.
namespace shardnode {

enum class StoreErrc {
  io = 1,                // opening, reading or writing the file failed (permissions, disk full, locked)
  not_a_database,        // the file exists but is not an SQLite database
  corrupt,               // PRAGMA quick_check failed, or a stored row does not decode and verify
  newer_schema,          // written by a newer version (PRAGMA user_version above ours)
  foreign_database,      // an SQLite database that is not a collation store
};

const std::error_category& store_category() noexcept;
std::error_code make_error_code(StoreErrc e) noexcept;

}  // namespace shardnode

template <> struct std::is_error_code_enum<shardnode::StoreErrc> : std::true_type {};
