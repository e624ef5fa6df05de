// A testnet state of 2 authorities (a0, a1) and 2 relays (r2, r3) with fixed ports,
// fingerprints and v3 identities, for the torrc generation tests; nothing runs.
#pragma once

#include <filesystem>
#include <string>

#include "shardnode/testnet/testnet.h"

namespace shardnode::testnet {

inline TestnetState four_node_state(const std::filesystem::path& dir) {
  TestnetState st;
  st.dir = dir;
  for (int i = 0; i < 4; ++i) {
    TestnetNode n;
    n.authority = i < 2;
    n.name = std::string(n.authority ? "a" : "r") + std::to_string(i);
    n.datadir = dir / n.name;
    n.or_port = 20000 + i;
    n.dir_port = n.authority ? 20100 + i : 0;
    n.fingerprint = std::string(40, static_cast<char>('A' + i));
    n.v3ident = n.authority ? std::string(40, static_cast<char>('0' + i)) : "";
    st.nodes.push_back(n);
  }
  return st;
}

}  // namespace shardnode::testnet
