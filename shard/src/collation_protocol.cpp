#include "shardnode/shard/collation_protocol.h"

#include <limits>
#include <string>

#include "shardnode/core/errors.h"
#include "shardnode/core/varint.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

namespace {

Error malformed(const std::string& what) { return Error{ShardErrc::malformed, "collation protocol: " + what}; }
Error oversize(const std::string& what) { return Error{ShardErrc::oversize, "collation protocol: " + what}; }

// Reads one uvarint at `pos`, advancing it.
Result<std::uint64_t> next_uvarint(ByteView data, std::size_t& pos, const char* field) {
  const auto v = decode_uvarint(data.subspan(pos));
  if (v.status != VarintStatus::ok) return malformed(std::string("bad ") + field + " varint (" + to_string(v.status) + ")");
  pos += v.length;
  return v.value;
}

Result<CollationRequest> decode_range(ByteView data, std::size_t pos, const CollationProtocolLimits& limits) {
  auto shard = next_uvarint(data, pos, "shard");
  if (!shard) return shard.error();
  if (*shard > std::numeric_limits<std::uint32_t>::max()) return malformed("shard " + std::to_string(*shard) + " above 2^32-1");
  auto from = next_uvarint(data, pos, "from_period");
  if (!from) return from.error();
  auto to = next_uvarint(data, pos, "to_period");
  if (!to) return to.error();
  auto count = next_uvarint(data, pos, "max_count");
  if (!count) return count.error();
  if (pos != data.size()) return malformed("trailing bytes after a range request");
  if (*from > *to)
    return malformed("range request from period " + std::to_string(*from) + " to " + std::to_string(*to));
  if (*to - *from > limits.max_period_span)
    return oversize("range request spans " + std::to_string(*to - *from) + " periods (at most " +
                    std::to_string(limits.max_period_span) + ")");
  if (*count > limits.max_count)
    return oversize("range request asks for " + std::to_string(*count) + " collations (at most " +
                    std::to_string(limits.max_count) + ")");
  CollationRangeRequest r;
  r.shard = static_cast<std::uint32_t>(*shard);
  r.from_period = *from;
  r.to_period = *to;
  r.max_count = static_cast<std::uint32_t>(*count);
  return CollationRequest{r};
}

}  // namespace

Bytes encode_collation_request(const CollationRequest& req) {
  Bytes out;
  if (const auto* r = std::get_if<CollationRangeRequest>(&req)) {
    out.push_back(kCollationRequestRange);
    append_uvarint(out, r->shard);
    append_uvarint(out, r->from_period);
    append_uvarint(out, r->to_period);
    append_uvarint(out, r->max_count);
  } else {
    const auto& h = std::get<CollationHashRequest>(req);
    out.push_back(kCollationRequestHash);
    out.insert(out.end(), h.hash.begin(), h.hash.end());
  }
  return out;
}

Result<CollationRequest> decode_collation_request(ByteView data, const CollationProtocolLimits& limits) {
  if (data.empty()) return malformed("empty request");
  switch (data[0]) {
    case kCollationRequestRange: return decode_range(data, 1, limits);
    case kCollationRequestHash: {
      CollationHashRequest h;
      if (data.size() < 1 + h.hash.size()) return malformed("hash request truncated");
      if (data.size() > 1 + h.hash.size()) return malformed("trailing bytes after a hash request");
      std::copy(data.begin() + 1, data.end(), h.hash.begin());
      return CollationRequest{h};
    }
    default: return malformed("unknown request kind " + std::to_string(data[0]));
  }
}

Bytes encode_collation_response(const CollationResponse& resp) {
  Bytes out;
  append_uvarint(out, resp.collations.size());
  for (const auto& c : resp.collations) {
    append_uvarint(out, c.size());
    out.insert(out.end(), c.begin(), c.end());
  }
  out.push_back(resp.truncated ? 1 : 0);
  return out;
}

Result<CollationResponse> decode_collation_response(ByteView data, const CollationProtocolLimits& limits) {
  if (data.size() > limits.max_response_bytes)
    return oversize("response of " + std::to_string(data.size()) + " bytes (at most " +
                    std::to_string(limits.max_response_bytes) + ")");
  std::size_t pos = 0;
  auto count = next_uvarint(data, pos, "count");
  if (!count) return count.error();
  if (*count > limits.max_count)
    return oversize("response claims " + std::to_string(*count) + " collations (at most " +
                    std::to_string(limits.max_count) + ")");
  // Every collation takes at least its length byte, and the truncated byte follows:
  // a larger count is a lie, caught before anything is allocated for it.
  if (data.size() - pos == 0 || *count > data.size() - pos - 1) return malformed("response truncated");
  CollationResponse out;
  out.collations.reserve(static_cast<std::size_t>(*count));
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto len = next_uvarint(data, pos, "collation length");
    if (!len) return len.error();
    if (*len > limits.max_collation_bytes)
      return oversize("response collation of " + std::to_string(*len) + " bytes (at most " +
                      std::to_string(limits.max_collation_bytes) + ")");
    if (*len > data.size() - pos) return malformed("response truncated");
    const auto n = static_cast<std::size_t>(*len);
    out.collations.emplace_back(data.begin() + static_cast<std::ptrdiff_t>(pos),
                                data.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  }
  if (pos == data.size()) return malformed("response truncated (no truncated byte)");
  const std::uint8_t flag = data[pos++];
  if (flag > 1) return malformed("truncated byte " + std::to_string(flag) + " (0 or 1)");
  if (pos != data.size()) return malformed("trailing bytes after a response");
  out.truncated = flag == 1;
  return out;
}

}  // namespace shardnode::shard
