#include "shardnode/net/multistream.h"

#include <algorithm>

#include "shardnode/core/varint.h"
#include "shardnode/net/errors.h"

namespace shardnode::net {

Bytes mss_encode(std::string_view text) {
  Bytes out;
  append_uvarint(out, text.size() + 1);
  out.insert(out.end(), text.begin(), text.end());
  out.push_back('\n');
  return out;
}

MultistreamSelect::MultistreamSelect(Role r, std::vector<std::string> protocols)
    : role_(r), protocols_(std::move(protocols)) {}

MultistreamSelect MultistreamSelect::dialer(std::vector<std::string> protocols) {
  MultistreamSelect m(Role::dialer, std::move(protocols));
  Bytes h = mss_encode(kMultistreamId);
  m.out_.insert(m.out_.end(), h.begin(), h.end());
  if (m.protocols_.empty()) {
    m.failed_ = true;
  } else {
    Bytes p = mss_encode(m.protocols_[0]);
    m.out_.insert(m.out_.end(), p.begin(), p.end());
  }
  return m;
}

MultistreamSelect MultistreamSelect::listener(std::vector<std::string> supported) {
  return MultistreamSelect(Role::listener, std::move(supported));
}

Status MultistreamSelect::fail(std::error_code ec, std::string msg) {
  failed_ = true;
  in_.clear();
  return Error{ec, "multistream-select: " + std::move(msg)};
}

Status MultistreamSelect::received_bytes(ByteView bytes) {
  if (failed_) return Error{MssErrc::malformed, "multistream-select: negotiation already failed"};
  in_.insert(in_.end(), bytes.begin(), bytes.end());
  std::size_t off = 0;
  while (!done_ && off < in_.size()) {
    auto len = decode_uvarint(ByteView(in_).subspan(off));
    if (len.status == VarintStatus::incomplete) break;
    if (len.status != VarintStatus::ok) return fail(MssErrc::malformed, std::string("length prefix: ") + to_string(len.status));
    if (len.value == 0 || len.value > kMssMaxMessage)
      return fail(MssErrc::malformed, "message length " + std::to_string(len.value) + " outside 1.." +
                                          std::to_string(kMssMaxMessage));
    const std::size_t n = static_cast<std::size_t>(len.value);
    if (in_.size() - off - len.length < n) break;
    const auto* p = in_.data() + off + len.length;
    if (p[n - 1] != '\n') return fail(MssErrc::malformed, "message does not end with a newline");
    std::string_view msg(reinterpret_cast<const char*>(p), n - 1);
    off += len.length + n;
    if (Status s = on_message(msg); !s) return s;
  }
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(off));
  if (!done_ && in_.size() > kMssMaxMessage + kMaxVarintBytes)
    return fail(MssErrc::malformed, "message too long");
  return {};
}

Status MultistreamSelect::on_message(std::string_view msg) {
  if (!header_seen_) {
    if (msg != kMultistreamId)
      return fail(MssErrc::protocol_mismatch, "expected " + std::string(kMultistreamId) + ", got '" +
                                                  std::string(msg.substr(0, 64)) + "'");
    header_seen_ = true;
    if (role_ == Role::listener) {
      Bytes h = mss_encode(kMultistreamId);
      out_.insert(out_.end(), h.begin(), h.end());
    }
    return {};
  }
  if (role_ == Role::dialer) {
    if (msg == protocols_[next_]) {
      selected_ = protocols_[next_];
      done_ = true;
      return {};
    }
    if (msg != "na")
      return fail(MssErrc::malformed, "listener answered '" + std::string(msg.substr(0, 64)) + "' to a proposal of " +
                                          protocols_[next_]);
    if (++next_ >= protocols_.size()) {
      std::string all;
      for (const auto& p : protocols_) all += (all.empty() ? "" : ", ") + p;
      return fail(MssErrc::not_supported, "peer supports none of: " + all);
    }
    Bytes p = mss_encode(protocols_[next_]);
    out_.insert(out_.end(), p.begin(), p.end());
    return {};
  }
  // listener: a proposal
  if (++proposals_ > kMaxProposals)
    return fail(MssErrc::not_supported, "more than " + std::to_string(kMaxProposals) + " proposals");
  if (std::find(protocols_.begin(), protocols_.end(), msg) != protocols_.end()) {
    selected_ = std::string(msg);
    Bytes p = mss_encode(selected_);
    out_.insert(out_.end(), p.begin(), p.end());
    done_ = true;
    return {};
  }
  Bytes na = mss_encode("na");
  out_.insert(out_.end(), na.begin(), na.end());
  return {};
}

Bytes MultistreamSelect::take_bytes_to_send() { return std::exchange(out_, {}); }

Bytes MultistreamSelect::take_leftover() { return std::exchange(in_, {}); }

}  // namespace shardnode::net
