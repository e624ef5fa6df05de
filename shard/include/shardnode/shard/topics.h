// Versioned pubsub topic names of the shard layer. The trailing number is the wire
// version of the messages on the topic; a change of message format gets a new topic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shardnode::shard {

// Signed shard-preference records of every node (shard/preference.h).
inline constexpr std::string_view kPreferenceTopic = "/shardnode/shard-prefs/1";
// Signed beacon headers (shard/beacon.h).
inline constexpr std::string_view kBeaconTopic = "/shardnode/beacon/1";

// "/shardnode/shard/<k>/collations/1", k in decimal.
std::string collation_topic(std::uint32_t shard);

// The k of a collation topic. Strict: decimal digits only, no sign, no leading zeros
// (except "0" itself), no whitespace, within uint32; anything else is nullopt.
std::optional<std::uint32_t> shard_of_collation_topic(std::string_view topic);

}  // namespace shardnode::shard
