#include "shardnode/onion/onion_service.h"

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {

std::string add_onion_command(const NodeKey& key, const OnionServiceOptions& opts) {
  std::string cmd = "ADD_ONION ED25519-V3:" + key.tor_expanded_key_base64() + " Flags=DiscardPK";
  if (opts.max_streams > 0) cmd += " MaxStreams=" + std::to_string(opts.max_streams);
  if (opts.pow_defense) cmd += " PoWDefensesEnabled=1";
  cmd += " Port=" + std::to_string(opts.virtual_port) + "," + opts.target;
  return cmd;
}

Result<std::string> add_onion_service(ControlConnection& control, const NodeKey& key,
                                      const OnionServiceOptions& opts) {
  if (opts.target.empty() || opts.target.find_first_of(" \r\n") != std::string::npos)
    return Error{OnionErrc::command_failed, "onion service target must be a unix:<path> or 127.0.0.1:<port> without spaces"};
  std::string cmd = add_onion_command(key, opts);
  auto r = control.command_ok(cmd, opts.timeout);
  std::fill(cmd.begin(), cmd.end(), '\0');
  if (!r) return r.error();
  auto service_id = added_service_id(*r, key);
  if (!service_id) return service_id.error();
  logging::get("onion")->info("onion service {}.onion:{} registered", *service_id, opts.virtual_port);
  return service_id;
}

Result<std::string> added_service_id(const Reply& reply, const NodeKey& key) {
  std::string service_id;
  for (const auto& l : reply.lines) {
    if (l.text.rfind("ServiceID=", 0) == 0) service_id = l.text.substr(10);
  }
  if (service_id.empty()) return Error{OnionErrc::control_protocol, "ADD_ONION reply has no ServiceID"};
  const std::string expected = onion_address(key.public_key());
  if (service_id != expected)
    return Error{OnionErrc::control_protocol,
                 "tor published " + service_id + ".onion but the node key yields " + expected + ".onion"};
  return service_id;
}

Status del_onion_service(ControlConnection& control, const std::string& service_id,
                         std::chrono::milliseconds timeout) {
  auto r = control.command_ok("DEL_ONION " + service_id, timeout);
  if (!r) return r.error();
  return {};
}

}  // namespace shardnode::onion
