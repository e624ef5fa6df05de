// multistream-select 1.0 (libp2p/specs connections/README.md), sans-IO.
//
// Every message is uvarint(length) || text || '\n'. Both sides first send
// "/multistream/1.0.0". The dialer then proposes protocols one at a time; the
// listener echoes a supported one or answers "na". Bytes after the final message
// belong to the selected protocol (leftover()).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "shardnode/core/bytes.h"
#include "shardnode/core/result.h"

namespace shardnode::net {

inline constexpr const char* kMultistreamId = "/multistream/1.0.0";
inline constexpr std::size_t kMssMaxMessage = 1024;  // protocol ids are short

// Encodes one multistream message (length prefix, text, newline).
Bytes mss_encode(std::string_view text);

class MultistreamSelect {
 public:
  // Dialer: proposes `protocols` in order. The header and the first proposal are
  // queued at once (as go-libp2p does), saving a round trip.
  static MultistreamSelect dialer(std::vector<std::string> protocols);
  // Listener: accepts any of `supported`.
  static MultistreamSelect listener(std::vector<std::string> supported);

  Status received_bytes(ByteView bytes);
  Bytes take_bytes_to_send();
  bool has_bytes_to_send() const { return !out_.empty(); }

  bool done() const { return done_; }
  bool failed() const { return failed_; }
  const std::string& selected() const { return selected_; }
  // Bytes received after the negotiation finished.
  Bytes take_leftover();

 private:
  enum class Role { dialer, listener };
  MultistreamSelect(Role r, std::vector<std::string> protocols);
  Status on_message(std::string_view msg);
  Status fail(std::error_code ec, std::string msg);

  Role role_;
  std::vector<std::string> protocols_;
  static constexpr std::size_t kMaxProposals = 32;
  std::size_t next_ = 0;
  std::size_t proposals_ = 0;  // listener: proposals seen  // dialer: index of the proposal awaiting an answer
  bool header_seen_ = false;
  bool done_ = false;
  bool failed_ = false;
  std::string selected_;
  Bytes in_;
  Bytes out_;
};

}  // namespace shardnode::net
