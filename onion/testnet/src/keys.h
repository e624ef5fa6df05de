// An authority's keys: tor-gencert makes its v3 identity and signing key (with a
// random passphrase on stdin), then `tor --list-fingerprint` (DisableNetwork 1)
// gives its relay identity. Internal to shardnode_testnet.
#pragma once

#include <filesystem>
#include <string>

#include "shardnode/core/result.h"
#include "shardnode/testnet/testnet.h"

namespace shardnode::testnet::detail {

// Creates <datadir>/keys (0700) and fills n.v3ident and n.fingerprint. n.datadir
// must exist; n.name, n.or_port and n.dir_port must be set.
Status make_authority_keys(TestnetNode& n, const std::string& tor, const std::string& gencert,
                           const std::filesystem::path& empty_torrc);

}  // namespace shardnode::testnet::detail
