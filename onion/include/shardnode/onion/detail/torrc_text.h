// Small text helpers for torrc-style files, shared by the node's client.torrc check
// (testnet_client.cpp) and the testnet launcher (onion/testnet/).
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardnode::onion::detail {

// Fields separated by spaces, tabs or line ends (no quoting: torrc lines we read have none).
std::vector<std::string> split_ws(std::string_view s);
// A file's contents, at most max_bytes of them; nullopt when it cannot be opened.
std::optional<std::string> read_text(const std::filesystem::path& p, std::size_t max_bytes = 16u << 20);
// Exactly 40 hex digits (a relay fingerprint or a v3ident).
bool is_hex40(std::string_view s);

}  // namespace shardnode::onion::detail
