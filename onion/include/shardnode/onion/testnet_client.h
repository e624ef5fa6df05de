// The node's side of a private Tor test network: reading and checking the torrc
// lines (`D/client.torrc`, written by `shardnode testnet up`, onion/testnet/) that an
// embedded tor appends to join that network (`tor.testnet`). The launcher itself is
// a tool (shardnode_testnet) and is not linked into the node.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {

// Parses and validates D/client.torrc: (key, rest-of-line) pairs in file order;
// '#' comment lines and blank lines are skipped. Allowed keys: TestingTorNetwork
// (must be 1, required), DirAuthority (at least one; every address must be on
// 127.0.0.0/8), PathsNeededToBuildCircuits (0 < x <= 1), OutboundBindAddress (an
// IPv4 address on 127.0.0.0/8: `testnet up --latency wan` gives each client region
// one). Errors
// (TestnetErrc::bad_client_config) name file and line.
Result<std::vector<std::pair<std::string, std::string>>> load_testnet_client_options(
    const std::filesystem::path& client_torrc);

}  // namespace shardnode::onion
