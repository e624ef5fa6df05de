// /shardnode/collations/1: ask a peer for collations it stores (shard/store.h).
//   request:  kind byte, then
//               0x01 range: uvarint shard, uvarint from_period, uvarint to_period, uvarint max_count
//               0x02 hash:  32 raw bytes (a collation id, collation_hash)
//   response: uvarint count, count x (uvarint length, encoded Collation), truncated byte (0 or 1)
// `truncated` = 1 says the peer had more collations for the range than it sent (count
// or size cap); ask again from the last period received. A hash request is answered
// with zero or one collation. Sans-IO codec: responses are split, not verified - the
// receiver decodes every collation with decode_collation (and checks it is what it
// asked for).
#pragma once

#include <cstddef>
#include <cstdint>
#include <variant>
#include <vector>

#include "shardnode/core/bytes.h"
#include "shardnode/core/result.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/errors.h"

namespace shardnode::shard {

inline constexpr const char* kCollationProtocol = "/shardnode/collations/1";

inline constexpr std::uint8_t kCollationRequestRange = 0x01;
inline constexpr std::uint8_t kCollationRequestHash = 0x02;

struct CollationProtocolLimits {
  std::size_t max_count = 256;                        // per request and per response
  std::uint64_t max_period_span = 10000;              // to_period - from_period, at most
  std::size_t max_response_bytes = 8 * 1024 * 1024;   // a whole response
  std::size_t max_collation_bytes = CollationLimits{}.max_encoded;  // one encoded collation
};

struct CollationRangeRequest {
  std::uint32_t shard = 0;
  std::uint64_t from_period = 0;  // inclusive
  std::uint64_t to_period = 0;    // inclusive
  std::uint32_t max_count = 0;
  bool operator==(const CollationRangeRequest&) const = default;
};

struct CollationHashRequest {
  Hash32 hash{};
  bool operator==(const CollationHashRequest&) const = default;
};

using CollationRequest = std::variant<CollationRangeRequest, CollationHashRequest>;

struct CollationResponse {
  std::vector<Bytes> collations;  // encoded, as encode(Collation)
  bool truncated = false;
  bool operator==(const CollationResponse&) const = default;
};

// Periods must be below 2^63 (uvarint range); the encoder does not check.
Bytes encode_collation_request(const CollationRequest& req);
// Errors: ShardErrc::malformed (empty, unknown kind, bad or non-minimal varints, a
// shard above 2^32-1, from_period > to_period, a short hash, trailing bytes);
// oversize (a span over max_period_span, max_count over limits.max_count - refused,
// not clamped, so a peer learns our cap from the error instead of a silent short answer).
Result<CollationRequest> decode_collation_request(ByteView data, const CollationProtocolLimits& limits);

Bytes encode_collation_response(const CollationResponse& resp);
// Errors: malformed (truncated, count/length varints, a count larger than the bytes
// left - refused before any allocation, a truncated byte other than 0/1, trailing
// bytes); oversize (more than max_count collations, one over max_collation_bytes, or
// the response over max_response_bytes).
Result<CollationResponse> decode_collation_response(ByteView data, const CollationProtocolLimits& limits);

}  // namespace shardnode::shard
