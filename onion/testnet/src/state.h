// D/testnet.json: the launcher's record of a network (nodes, pids, ports), written
// atomically after every change. Internal to shardnode_testnet; reading it is public
// (load_testnet_state in testnet.h).
#pragma once

#include <filesystem>

#include "shardnode/core/result.h"
#include "shardnode/testnet/testnet.h"

namespace shardnode::testnet::detail {

Status save_state(const TestnetState& s);

// dir made absolute and normal, without a trailing '/'.
std::filesystem::path normalize_dir(const std::filesystem::path& dir);

}  // namespace shardnode::testnet::detail
