// The network's layout on 127.0.0.1 and the torrc files the launcher writes: a free
// port block, each node's torrc (shared/reference/tor.md §3.3) and D/client.torrc
// (what onion::load_testnet_client_options() accepts). Internal to shardnode_testnet.
#pragma once

#include <string>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/testnet/testnet.h"

namespace shardnode::testnet::detail {

// A random block of `count` consecutive free ports on 127.0.0.1, below the ephemeral
// range when possible (tor's outgoing connections then cannot take them), so two
// testnets on one machine do not collide. Returns the first port.
Result<int> pick_port_block(int count);

// "DirAuthority <name> orport=N no-v2 v3ident=HEX <address>:<dirport> <fingerprint>"
std::string dir_authority_line(const TestnetNode& authority);

// The torrc of node n in a network of `nodes` (all authorities' DirAuthority lines).
// lan (real_or_port 0): Address and ORPort on 127.0.0.1. wan: Address and
// OutboundBindAddress n.address, the real listener `ORPort addr:real NoAdvertise`
// and the advertised `ORPort addr:or_port NoListen` (the forwarder listens there).
// A bridge (n.bridge): BridgeRelay 1, no published descriptor, obfs4 on n.pt_port
// through `obfs4proxy`.
std::string node_torrc(const TestnetNode& n, const std::vector<TestnetNode>& nodes, int voting_interval,
                       const std::string& obfs4proxy = {});

// D/client.torrc: the lines an embedded client tor adds to join the network; with an
// outbound address (wan) also `OutboundBindAddress <outbound>` (its region's).
std::string client_torrc_text(const TestnetState& st, const std::string& region = {},
                              const std::string& outbound = {});

}  // namespace shardnode::testnet::detail
