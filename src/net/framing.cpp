#include "shardnode/net/framing.h"

#include "shardnode/core/varint.h"
#include "shardnode/net/errors.h"

namespace shardnode::net {

Bytes length_prefixed(ByteView body) {
  Bytes out;
  out.reserve(body.size() + uvarint_size(body.size()));
  append_uvarint(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Status LengthPrefixedReader::received_bytes(ByteView bytes) {
  if (failed_) return Error{HostErrc::message_too_large, "length-prefixed reader already failed"};
  in_.insert(in_.end(), bytes.begin(), bytes.end());
  std::size_t off = 0;
  for (;;) {
    auto len = decode_uvarint(ByteView(in_).subspan(off));
    if (len.status == VarintStatus::incomplete) break;
    if (len.status != VarintStatus::ok) {
      failed_ = true;
      return Error{MssErrc::malformed, std::string("message length: ") + to_string(len.status)};
    }
    if (len.value > max_) {
      failed_ = true;
      return Error{HostErrc::message_too_large,
                   "message of " + std::to_string(len.value) + " bytes exceeds the cap of " + std::to_string(max_)};
    }
    const auto n = static_cast<std::size_t>(len.value);
    if (in_.size() - off - len.length < n) break;
    auto begin = in_.begin() + static_cast<std::ptrdiff_t>(off + len.length);
    done_.emplace_back(begin, begin + static_cast<std::ptrdiff_t>(n));
    off += len.length + n;
  }
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(off));
  return {};
}

std::optional<Bytes> LengthPrefixedReader::next() {
  if (done_.empty()) return std::nullopt;
  Bytes b = std::move(done_.front());
  done_.pop_front();
  return b;
}

}  // namespace shardnode::net
