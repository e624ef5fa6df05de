#include "shardnode/shard/topics.h"

namespace shardnode::shard {
namespace {
constexpr std::string_view kCollationPrefix = "/shardnode/shard/";
constexpr std::string_view kCollationSuffix = "/collations/1";
}  // namespace

std::string collation_topic(std::uint32_t shard) {
  std::string t(kCollationPrefix);
  t += std::to_string(shard);
  t += kCollationSuffix;
  return t;
}

std::optional<std::uint32_t> shard_of_collation_topic(std::string_view topic) {
  if (topic.size() <= kCollationPrefix.size() + kCollationSuffix.size()) return std::nullopt;
  if (topic.substr(0, kCollationPrefix.size()) != kCollationPrefix) return std::nullopt;
  if (topic.substr(topic.size() - kCollationSuffix.size()) != kCollationSuffix) return std::nullopt;
  const std::string_view digits =
      topic.substr(kCollationPrefix.size(), topic.size() - kCollationPrefix.size() - kCollationSuffix.size());
  if (digits.size() > 10) return std::nullopt;  // 4294967295 has 10 digits
  if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

}  // namespace shardnode::shard
