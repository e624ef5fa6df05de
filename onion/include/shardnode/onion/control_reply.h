// Tor control protocol (control-spec §2.3, §2.4): a sans-IO reply parser and the
// free functions that read and write the protocol's text forms. No sockets here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardnode/core/result.h"

namespace shardnode::onion {

struct ReplyLine {
  int code = 0;
  char sep = ' ';      // '-' mid line, '+' data line, ' ' end line
  std::string text;    // the line after "NNNx"
  std::string data;    // for '+' lines: the data block, dot-unstuffed, lines joined by "\n"
};

struct Reply {
  int code = 0;
  std::vector<ReplyLine> lines;

  bool is_async() const { return code / 100 == 6; }
  bool is_success() const { return code / 100 == 2; }
  // The end line's text ("OK", or the error tor gave).
  const std::string& final_text() const { return lines.back().text; }
};

// Feed bytes as they arrive; complete replies come out in order. After an error the
// parser stays failed: the connection must be closed.
class ReplyParser {
 public:
  static constexpr std::size_t kMaxLineLength = 128 * 1024;
  static constexpr std::size_t kMaxReplyBytes = 16 * 1024 * 1024;
  static constexpr std::size_t kMaxLinesPerReply = 100000;

  Status feed(std::string_view bytes);
  std::optional<Reply> next();
  bool failed() const { return failed_; }
  bool idle() const { return buf_.empty() && !in_reply_; }

 private:
  Status fail(std::string msg);
  Status on_line(std::string_view line);

  std::string buf_;
  Reply cur_;
  bool in_reply_ = false;
  bool in_data_ = false;
  std::size_t cur_bytes_ = 0;
  std::deque<Reply> done_;
  bool failed_ = false;
};

// QuotedString (control-spec §2.1.1): surrounds with quotes, escapes \ " and
// control characters.
std::string quote(std::string_view s);
// Parses a QuotedString at the start of `s`; on success sets `consumed`.
Result<std::string> unquote(std::string_view s, std::size_t* consumed = nullptr);

// KEY=VALUE pairs separated by spaces, values optionally quoted
// (e.g. "ServiceID=abc", "STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"").
// Leading positional words (without '=') are returned in `positional`.
struct KeyValues {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
};
Result<KeyValues> parse_key_values(std::string_view text);

// PROTOCOLINFO's answer (control-spec §3.21): the AUTH line's methods and cookie file.
//   250-PROTOCOLINFO 1 / 250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="..." / 250 OK
struct ProtocolInfo {
  std::vector<std::string> methods;
  std::string cookie_file;
  bool offers(std::string_view m) const;
};
Result<ProtocolInfo> parse_protocolinfo(const Reply& r);

// AUTHCHALLENGE's answer (§3.24): "250 AUTHCHALLENGE SERVERHASH=<64 hex> SERVERNONCE=<64 hex>".
struct AuthChallenge {
  std::array<std::uint8_t, 32> server_hash{};
  std::array<std::uint8_t, 32> server_nonce{};
};
Result<AuthChallenge> parse_authchallenge(const Reply& r);

// A command line with secrets replaced by "<redacted>", for logs: key blobs in
// ADD_ONION / ONION_CLIENT_AUTH_ADD, AUTHENTICATE's argument.
std::string redact_command(std::string_view line);
// A reply line with secrets redacted (PrivateKey=..., ClientAuthV3 keys).
std::string redact_reply_text(std::string_view text);

}  // namespace shardnode::onion
