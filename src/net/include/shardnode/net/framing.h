// uvarint-length-prefixed messages (identify, pubsub RPCs): a sans-IO reader with a
// size cap, and the encoder.
#pragma once

#include <deque>
#include <optional>

#include "shardnode/core/bytes.h"
#include "shardnode/core/result.h"

namespace shardnode::net {

Bytes length_prefixed(ByteView body);

class LengthPrefixedReader {
 public:
  explicit LengthPrefixedReader(std::size_t max_message) : max_(max_message) {}
  // Splits complete messages out; a length over the cap or a bad varint fails the reader.
  Status received_bytes(ByteView bytes);
  std::optional<Bytes> next();
  bool mid_message() const { return !in_.empty(); }

 private:
  std::size_t max_;
  Bytes in_;
  std::deque<Bytes> done_;
  bool failed_ = false;
};

}  // namespace shardnode::net
