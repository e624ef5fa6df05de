// The node key on disk: <datadir>/identity.key, the libp2p PrivateKey protobuf,
// mode 0600, written atomically and never overwritten.
#pragma once

#include <filesystem>

#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"

namespace shardnode {

inline constexpr const char* kIdentityKeyFile = "identity.key";

std::filesystem::path identity_key_path(const std::filesystem::path& datadir);

// Creates datadir (0700) if needed, then writes the key to a temporary file (0600),
// fsyncs it and links it into place; fails with CoreErrc::key_exists if a key is
// already there (nothing is overwritten, even under a race).
Status write_new_key_file(const std::filesystem::path& path, const NodeKey& key);

// Reads and checks a key file: it must be a regular file, not readable or writable
// by group/others, exactly one Ed25519 libp2p private key whose public half matches.
Result<NodeKey> load_key_file(const std::filesystem::path& path);

// The key at `path` if there is one (checked as load_key_file does), else a new key
// written there (write_new_key_file); `created` says which.
Result<NodeKey> load_or_create_key_file(const std::filesystem::path& path, bool& created);

}  // namespace shardnode
