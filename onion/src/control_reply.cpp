#include "shardnode/onion/control_reply.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <span>

#include "shardnode/core/errors.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {

Status ReplyParser::fail(std::string msg) {
  failed_ = true;
  buf_.clear();
  return Error{OnionErrc::control_protocol, "tor control: " + std::move(msg)};
}

Status ReplyParser::feed(std::string_view bytes) {
  if (failed_) return Error{OnionErrc::control_protocol, "tor control: parser already failed"};
  buf_.append(bytes);
  std::size_t start = 0;
  for (;;) {
    auto nl = buf_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(buf_.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLineLength) return fail("line longer than " + std::to_string(kMaxLineLength) + " bytes");
    cur_bytes_ += line.size() + 2;
    if (cur_bytes_ > kMaxReplyBytes) return fail("reply larger than " + std::to_string(kMaxReplyBytes) + " bytes");
    if (Status s = on_line(line); !s) return s;
    start = nl + 1;
  }
  buf_.erase(0, start);
  if (buf_.size() > kMaxLineLength) return fail("line longer than " + std::to_string(kMaxLineLength) + " bytes");
  return {};
}

Status ReplyParser::on_line(std::string_view line) {
  if (in_data_) {
    if (line == ".") {
      in_data_ = false;
      return {};
    }
    if (!line.empty() && line[0] == '.') line.remove_prefix(1);  // dot-stuffing
    auto& data = cur_.lines.back().data;
    if (!data.empty()) data.push_back('\n');
    data.append(line);
    return {};
  }
  if (line.size() < 4) return fail("short reply line (" + std::to_string(line.size()) + " bytes)");
  for (int i = 0; i < 3; ++i)
    if (!std::isdigit(static_cast<unsigned char>(line[static_cast<std::size_t>(i)])))
      return fail("reply line does not start with a 3-digit status code");
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (code < 100) return fail("status code " + std::to_string(code) + " out of range");
  const char sep = line[3];
  if (sep != ' ' && sep != '-' && sep != '+') return fail(std::string("bad separator after status code: '") + sep + "'");
  if (in_reply_ && code != cur_.code)
    return fail("status code changed within one reply (" + std::to_string(cur_.code) + " then " + std::to_string(code) + ")");
  if (cur_.lines.size() >= kMaxLinesPerReply) return fail("too many lines in one reply");
  in_reply_ = true;
  cur_.code = code;
  cur_.lines.push_back(ReplyLine{code, sep, std::string(line.substr(4)), {}});
  if (sep == '+') in_data_ = true;
  if (sep == ' ') {
    done_.push_back(std::move(cur_));
    cur_ = Reply{};
    in_reply_ = false;
    cur_bytes_ = 0;
  }
  return {};
}

std::optional<Reply> ReplyParser::next() {
  if (done_.empty()) return std::nullopt;
  Reply r = std::move(done_.front());
  done_.pop_front();
  return r;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[5];
          std::snprintf(buf, sizeof buf, "\\%03o", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

Result<std::string> unquote(std::string_view s, std::size_t* consumed) {
  auto bad = [](std::string m) { return Error{OnionErrc::control_protocol, "tor control: " + std::move(m)}; };
  if (s.empty() || s[0] != '"') return bad("expected a quoted string");
  std::string out;
  for (std::size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      if (consumed) *consumed = i + 1;
      return out;
    }
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= s.size()) break;
    char e = s[i];
    switch (e) {
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case '\\': case '"': case '\'': out.push_back(e); break;
      default:
        if (e >= '0' && e <= '7') {
          int v = 0, n = 0;
          while (n < 3 && i < s.size() && s[i] >= '0' && s[i] <= '7') {
            v = v * 8 + (s[i] - '0');
            ++i;
            ++n;
          }
          --i;
          if (v > 255) return bad("octal escape out of range");
          out.push_back(static_cast<char>(v));
        } else {
          return bad(std::string("unknown escape \\") + e);
        }
    }
  }
  return bad("unterminated quoted string");
}

Result<KeyValues> parse_key_values(std::string_view text) {
  KeyValues kv;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ') { ++i; continue; }
    std::size_t key_end = i;
    while (key_end < text.size() && text[key_end] != ' ' && text[key_end] != '=') ++key_end;
    std::string key(text.substr(i, key_end - i));
    if (key_end >= text.size() || text[key_end] == ' ') {
      if (!kv.values.empty())
        return Error{OnionErrc::control_protocol, "tor control: positional word '" + key + "' after KEY=VALUE pairs"};
      kv.positional.push_back(std::move(key));
      i = key_end;
      continue;
    }
    if (key.empty()) return Error{OnionErrc::control_protocol, "tor control: empty key before '='"};
    std::size_t v = key_end + 1;
    std::string value;
    if (v < text.size() && text[v] == '"') {
      std::size_t used = 0;
      auto q = unquote(text.substr(v), &used);
      if (!q) return q.error();
      value = std::move(*q);
      i = v + used;
      if (i < text.size() && text[i] != ' ')
        return Error{OnionErrc::control_protocol, "tor control: garbage after quoted value of " + key};
    } else {
      std::size_t e = v;
      while (e < text.size() && text[e] != ' ') ++e;
      value = std::string(text.substr(v, e - v));
      i = e;
    }
    kv.values[std::move(key)] = std::move(value);
  }
  return kv;
}

namespace {
// Replaces the token after `marker` (up to the next space) with <redacted>.
void redact_after(std::string& s, std::string_view marker) {
  std::size_t pos = 0;
  while ((pos = s.find(marker, pos)) != std::string::npos) {
    std::size_t start = pos + marker.size();
    std::size_t end = s.find(' ', start);
    if (end == std::string::npos) end = s.size();
    s.replace(start, end - start, "<redacted>");
    pos = start + 10;
  }
}
bool starts_with_ci(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(s[i])) != p[i]) return false;
  return true;
}
}  // namespace

std::string redact_command(std::string_view line) {
  std::string s(line);
  if (starts_with_ci(s, "AUTHENTICATE")) return s.size() > 12 ? "AUTHENTICATE <redacted>" : s;
  if (starts_with_ci(s, "ADD_ONION")) {
    redact_after(s, "ED25519-V3:");
    redact_after(s, "RSA1024:");
    redact_after(s, "ClientAuthV3=");
    redact_after(s, "ClientAuth=");
  }
  if (starts_with_ci(s, "ONION_CLIENT_AUTH_ADD")) redact_after(s, "x25519:");
  return s;
}

std::string redact_reply_text(std::string_view text) {
  std::string s(text);
  redact_after(s, "PrivateKey=");
  redact_after(s, "ClientAuthV3=");
  redact_after(s, "x25519:");
  return s;
}

namespace {

Error control_protocol(std::string msg) { return Error{OnionErrc::control_protocol, "tor control: " + std::move(msg)}; }

// Exactly `out.size()` bytes of hex (either case).
bool from_hex(std::string_view hex, std::span<std::uint8_t> out) {
  if (hex.size() != out.size() * 2) return false;
  std::size_t len = 0;
  return sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr) == 0 &&
         len == out.size();
}

}  // namespace

bool ProtocolInfo::offers(std::string_view m) const {
  return std::find(methods.begin(), methods.end(), m) != methods.end();
}

Result<ProtocolInfo> parse_protocolinfo(const Reply& r) {
  if (!r.is_success())
    return Error{OnionErrc::command_failed,
                 "tor refused PROTOCOLINFO: " + std::to_string(r.code) + " " + r.final_text()};
  for (const auto& l : r.lines) {
    if (l.text.rfind("AUTH ", 0) != 0) continue;
    auto kv = parse_key_values(l.text);
    if (!kv) return control_protocol("malformed PROTOCOLINFO AUTH line: " + kv.error().what());
    auto it = kv->values.find("METHODS");
    if (it == kv->values.end() || it->second.empty())
      return control_protocol("PROTOCOLINFO AUTH line without METHODS");
    ProtocolInfo info;
    std::string_view m = it->second;
    while (!m.empty()) {
      auto comma = m.find(',');
      info.methods.emplace_back(m.substr(0, comma));
      if (comma == std::string_view::npos) break;
      m.remove_prefix(comma + 1);
    }
    if (auto c = kv->values.find("COOKIEFILE"); c != kv->values.end()) info.cookie_file = c->second;
    return info;
  }
  return control_protocol("PROTOCOLINFO reply without an AUTH line");
}

Result<AuthChallenge> parse_authchallenge(const Reply& r) {
  if (!r.is_success())
    return Error{OnionErrc::command_failed,
                 "tor refused AUTHCHALLENGE: " + std::to_string(r.code) + " " + r.final_text()};
  auto kv = parse_key_values(r.final_text());
  AuthChallenge c;
  if (!kv || kv->positional.size() != 1 || kv->positional[0] != "AUTHCHALLENGE" ||
      !from_hex(kv->values["SERVERHASH"], c.server_hash) || !from_hex(kv->values["SERVERNONCE"], c.server_nonce))
    return control_protocol("malformed AUTHCHALLENGE reply");
  return c;
}

}  // namespace shardnode::onion
