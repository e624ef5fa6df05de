// Pure parsing of what the testnet's tors publish: a consensus document's HSDirs and
// the bootstrap percentage in a tor log (used by up and status; tested without tor).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shardnode::testnet {

// What a consensus document says about HSDirs.
struct ConsensusSummary {
  bool present = false;  // "network-status-version 3" seen
  std::string valid_after;
  int routers = 0;
  int hsdirs = 0;
  std::vector<std::string> hsdir_nicknames;
};
ConsensusSummary summarize_consensus(std::string_view text);

// The last "Bootstrapped N%" in a tor log text; 0 if none.
int last_bootstrap_percent(std::string_view log_text);

}  // namespace shardnode::testnet
