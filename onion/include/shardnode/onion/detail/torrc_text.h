// Small text helpers for torrc-style lines, shared by the node's client.torrc check
// (testnet_client.cpp) and the testnet launcher (onion/testnet/).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shardnode::onion::detail {

// Fields separated by spaces or tabs (no quoting: torrc lines we read have none).
std::vector<std::string> split_ws(std::string_view s);
// Exactly 40 hex digits (a relay fingerprint or a v3ident).
bool is_hex40(std::string_view s);

}  // namespace shardnode::onion::detail
