#include "wire.h"

#include <sodium.h>

#include <cstring>
#include <stdexcept>
#include "shardnode/shard/errors.h"

namespace shardnode::shard::wire {

std::array<std::uint8_t, 32> sha256(ByteView data) {
  static const int rc = sodium_init();
  if (rc < 0) throw std::runtime_error("libsodium failed to initialise");
  std::array<std::uint8_t, 32> out{};
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}

Status parse_canonical(ByteView data, std::size_t max_encoded, google::protobuf::Message& msg, const char* what) {
  if (data.size() > max_encoded)
    return fail(ShardErrc::oversize, std::string(what) + ": " + std::to_string(data.size()) + " bytes exceeds the cap of " +
                                         std::to_string(max_encoded));
  if (data.size() > static_cast<std::size_t>(INT_MAX))
    return fail(ShardErrc::oversize, std::string(what) + ": too large to parse");
  if (!msg.ParseFromArray(data.data(), static_cast<int>(data.size())))
    return fail(ShardErrc::malformed, std::string(what) + ": not a valid protobuf");
  msg.DiscardUnknownFields();
  const std::string again = msg.SerializeAsString();
  if (again.size() != data.size() || (!again.empty() && std::memcmp(again.data(), data.data(), again.size()) != 0))
    return fail(ShardErrc::malformed, std::string(what) + ": not in canonical encoding");
  return {};
}

}  // namespace shardnode::shard::wire
