// Small helpers shared by the testnet launcher's files: errors, whole-file reads
// and atomic writes, text splitting. Internal to shardnode_testnet.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardnode/core/clock.h"
#include "shardnode/core/errors.h"
#include "shardnode/core/result.h"
#include "shardnode/onion/detail/torrc_text.h"
#include "shardnode/onion/errors.h"

namespace shardnode::testnet::detail {

// Names inside the testnet directory D (see testnet.h).
inline constexpr const char* kStateFile = "testnet.json";
inline constexpr const char* kClientTorrc = "client.torrc";
inline constexpr const char* kEmptyTorrc = "empty.torrc";
inline constexpr const char* kNoticeLog = "notice.log";  // in each node's DataDirectory
inline constexpr const char* kConsoleLog = "tor.out";    // ditto: the process's stdout and stderr

inline Error err(TestnetErrc c, std::string msg) {
  return Error{make_error_code(c), std::move(msg)};
}

std::string errno_text(int e);

// Unix seconds from SystemWallClock (wall time: recorded in testnet.json for people to read).
std::int64_t unix_now();
// The real monotonic clock (SteadyClock): the launcher's waits on tor processes.
TimePoint steady_now();

// Writes via a temporary file and rename, so readers never see half a file.
Status write_text(const std::filesystem::path& p, const std::string& text, mode_t mode);

// The last n lines of text (all of it if shorter).
std::string last_lines(const std::string& text, int n);

// Shared with the node's client.torrc check.
using onion::detail::is_hex40;
using onion::detail::read_text;
using onion::detail::split_ws;

}  // namespace shardnode::testnet::detail
