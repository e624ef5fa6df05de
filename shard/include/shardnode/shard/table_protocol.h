// /shardnode/shard-table/1: a joining node asks a peer for its preference table.
//   request:  uvarint max_records
//   response: uvarint count, then count x (uvarint length, encoded ShardPreference)
// Sans-IO codec; every record in a response is verified by the receiver like a
// gossiped one (decode_preference), so a peer cannot slip in what gossip would reject.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "shardnode/core/bytes.h"
#include "shardnode/core/result.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

inline constexpr const char* kTableProtocol = "/shardnode/shard-table/1";

struct TableProtocolLimits {
  std::size_t max_records = 2000;        // per response, and the most a request may ask for
  std::size_t max_record_bytes = 1024;   // one encoded record
  std::size_t max_response_bytes = 2 * 1024 * 1024;
};

Bytes encode_table_request(std::uint32_t max_records);
// Errors: ShardErrc::malformed (not one canonical uvarint, trailing bytes), oversize
// (asks for more than limits.max_records: the answer is capped, never refused - the
// cap is applied by the caller from the returned value).
Result<std::uint32_t> decode_table_request(ByteView data, const TableProtocolLimits& limits);

Bytes encode_table_response(const std::vector<Bytes>& records);
// Splits a response into its encoded records without verifying them. Errors:
// malformed (truncated, trailing bytes, count/length varints), oversize (more records,
// bigger records or a bigger response than the limits).
Result<std::vector<Bytes>> decode_table_response(ByteView data, const TableProtocolLimits& limits);

}  // namespace shardnode::shard
