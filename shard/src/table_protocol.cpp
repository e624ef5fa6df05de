#include "shardnode/shard/table_protocol.h"

#include "shardnode/core/errors.h"
#include "shardnode/core/varint.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

namespace {

// Reads one uvarint at `pos`, advancing it.
Result<std::uint64_t> read_uvarint(ByteView data, std::size_t& pos, const char* what) {
  auto v = decode_uvarint(data.subspan(pos));
  if (v.status != VarintStatus::ok)
    return Error{ShardErrc::malformed, std::string("table protocol: bad ") + what + " varint (" + to_string(v.status) + ")"};
  pos += v.length;
  return v.value;
}

}  // namespace

Bytes encode_table_request(std::uint32_t max_records) {
  Bytes out;
  append_uvarint(out, max_records);
  return out;
}

Result<std::uint32_t> decode_table_request(ByteView data, const TableProtocolLimits& limits) {
  std::size_t pos = 0;
  auto n = read_uvarint(data, pos, "max_records");
  if (!n) return n.error();
  if (pos != data.size()) return Error{ShardErrc::malformed, "table request: trailing bytes"};
  if (*n > limits.max_records)
    return Error{ShardErrc::oversize, "table request asks for " + std::to_string(*n) + " records (at most " +
                                          std::to_string(limits.max_records) + ")"};
  return static_cast<std::uint32_t>(*n);
}

Bytes encode_table_response(const std::vector<Bytes>& records) {
  Bytes out;
  append_uvarint(out, records.size());
  for (const auto& r : records) {
    append_uvarint(out, r.size());
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

Result<std::vector<Bytes>> decode_table_response(ByteView data, const TableProtocolLimits& limits) {
  if (data.size() > limits.max_response_bytes)
    return Error{ShardErrc::oversize, "table response of " + std::to_string(data.size()) + " bytes"};
  std::size_t pos = 0;
  auto count = read_uvarint(data, pos, "count");
  if (!count) return count.error();
  if (*count > limits.max_records)
    return Error{ShardErrc::oversize, "table response claims " + std::to_string(*count) + " records"};
  // Every record takes at least its length byte: a larger count is a lie, caught
  // before anything is allocated for it.
  if (*count > data.size() - pos) return Error{ShardErrc::malformed, "table response truncated"};
  std::vector<Bytes> out;
  out.reserve(static_cast<std::size_t>(*count));
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto len = read_uvarint(data, pos, "record length");
    if (!len) return len.error();
    if (*len > limits.max_record_bytes)
      return Error{ShardErrc::oversize, "table response record of " + std::to_string(*len) + " bytes"};
    if (*len > data.size() - pos) return Error{ShardErrc::malformed, "table response truncated"};
    const auto n = static_cast<std::size_t>(*len);
    out.emplace_back(data.begin() + static_cast<std::ptrdiff_t>(pos), data.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  }
  if (pos != data.size()) return Error{ShardErrc::malformed, "table response: trailing bytes"};
  return out;
}

}  // namespace shardnode::shard
