// Publishing the node's own onion service through a tor control connection:
// ADD_ONION ED25519-V3:<node key> so that the onion address is the node identity.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"
#include "shardnode/onion/control_connection.h"

namespace shardnode::onion {

struct OnionServiceOptions {
  std::uint16_t virtual_port = 4001;   // the port in /onion3/<addr>:<port>
  std::string target;                  // "unix:/path/sock" or "127.0.0.1:port"
  bool pow_defense = true;             // PoWDefensesEnabled=1 (needs a tor built with --enable-gpl)
  std::uint32_t max_streams = 0;       // 0: unlimited
  std::chrono::milliseconds timeout{10000};
};

// Builds the ADD_ONION command line. It carries the secret key: log only through
// redact_command().
std::string add_onion_command(const NodeKey& key, const OnionServiceOptions& opts);

// Sends ADD_ONION and returns the ServiceID tor reports (56 chars, no ".onion").
// Fails if tor refuses or reports an address other than the one our key yields.
// The ServiceID of an ADD_ONION reply, checked against the address `key` yields.
Result<std::string> added_service_id(const Reply& reply, const NodeKey& key);

Result<std::string> add_onion_service(ControlConnection& control, const NodeKey& key,
                                      const OnionServiceOptions& opts);

Status del_onion_service(ControlConnection& control, const std::string& service_id,
                         std::chrono::milliseconds timeout);

}  // namespace shardnode::onion
