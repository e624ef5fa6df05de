// tor.options: torrc lines an operator may pass to the embedded tor, from an allowlist.
//
// The node owns every option that decides where tor listens, which network it joins and
// how it reaches it, where it keeps state and what it logs (DataDirectory, SocksPort,
// ControlPort, DisableNetwork, DirAuthority, bridges, proxies, SafeLogging, ...). What an
// operator may add is limited to resources and performance, and to privacy defences that
// may only be turned *on*: anything that could weaken anonymity (path selection, guards,
// padding off, single-hop onion services) or make tor reach the network another way
// (proxies, bind addresses, IPv6 preferences, bridges outside tor.bridges) is refused,
// and the refusal names the key. Keys are case-insensitive, as tor's are; an accepted
// line is returned with the key in tor's spelling.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shardnode/core/result.h"

namespace shardnode::node {

struct AllowedTorOption {
  std::string_view key;                  // tor's spelling
  std::string_view why;                  // why passing it is safe
  std::vector<std::string_view> values;  // the only values allowed (case-insensitive); empty: any
};

// The allowlist, in the order docs/CONFIG.md shows it.
std::span<const AllowedTorOption> allowed_tor_options();

// One "Key value..." line: the key (tor's spelling) and its value, or an error that
// names the key and says why it is refused (ConfigErrc::invalid_value).
Result<std::pair<std::string, std::string>> parse_tor_option(std::string_view line);

// Every line, in order; the first refused line's error; a key given twice is refused.
Result<std::vector<std::pair<std::string, std::string>>> parse_tor_options(const std::vector<std::string>& lines);

// tor.bridges: one bridge, "[transport] address:port [fingerprint] [key=value ...]" as
// tor's Bridge option takes it (e.g. "obfs4 192.0.2.1:443 <40 hex> cert=... iat-mode=0").
// The address is an IPv4 or [IPv6] literal (a host name would need DNS).
struct BridgeLine {
  std::string transport;  // empty: a plain bridge (no pluggable transport)
  std::string address;    // "192.0.2.1" or "[2001:db8::1]"
  std::string line;       // the whole line, normalised (single spaces)
  bool loopback = false;  // 127.0.0.0/8 or [::1]
};
Result<BridgeLine> parse_bridge_line(std::string_view line);

// tor.transport_plugins: "transport[,transport...] exec /absolute/path [args]", tor's
// ClientTransportPlugin in its managed-proxy form. The forms that name a running proxy
// (socks4, socks5) are refused: they make tor reach the network through it.
struct TransportPlugin {
  std::vector<std::string> transports;
  std::string path;  // the executable
  std::string line;  // normalised
};
Result<TransportPlugin> parse_transport_plugin(std::string_view line);

// The torrc options that make the embedded tor use only `bridges` (UseBridges 1, one
// Bridge line each, one ClientTransportPlugin line per plugin). Refuses a bridge whose
// transport no plugin provides, a plugin no bridge uses, a plugin executable that is not
// there, and with `loopback_only` (a private test network) a bridge off loopback.
Result<std::vector<std::pair<std::string, std::string>>> bridge_options(const std::vector<std::string>& bridges,
                                                                       const std::vector<std::string>& plugins,
                                                                       bool loopback_only);

}  // namespace shardnode::node
