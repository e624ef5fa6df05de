// Polling the running network: each node's bootstrap percentage from its notice
// log, and the best consensus a live authority serves (HTTP GET on its loopback
// DirPort, else its cached-consensus file). Internal to shardnode_testnet.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "shardnode/testnet/consensus.h"
#include "shardnode/testnet/testnet.h"

namespace shardnode::testnet::detail {

// The last "Bootstrapped N%" in the log file from byte `from` on (a restarted node
// appends to the same log); 0 if none or unreadable.
int bootstrap_of(const std::filesystem::path& log, std::uintmax_t from = 0);

struct ConsensusView {
  ConsensusSummary summary;
  int relays_with_hsdir = 0;  // of `nodes`' relays, by nickname
};

// The consensus with the most of our relays as HSDir (then the newest) that any
// authority in `nodes` serves; with require_live, only authorities whose recorded
// PID still runs their torrc are asked.
ConsensusView fetch_consensus(const std::vector<TestnetNode>& nodes, std::chrono::milliseconds timeout,
                              bool require_live = true);

}  // namespace shardnode::testnet::detail
