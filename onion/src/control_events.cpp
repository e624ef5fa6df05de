#include "shardnode/onion/control_events.h"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "shardnode/core/errors.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {
namespace {

Error bad(std::string msg) { return Error{OnionErrc::control_protocol, "tor control: " + std::move(msg)}; }

// The first line's text split at its first space: {keyword, rest}.
std::pair<std::string_view, std::string_view> split_first_word(const Reply& reply) {
  if (reply.lines.empty()) return {};
  std::string_view text = reply.lines.front().text;
  auto sp = text.find(' ');
  if (sp == std::string_view::npos) return {text, {}};
  return {text.substr(0, sp), text.substr(sp + 1)};
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  return std::all_of(s.begin(), s.end(), [pred](char c) { return pred(c); });
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_base32(char c) { return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'); }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_keyword(char c) { return is_digit(c) || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_base64(char c) { return is_alnum(c) || c == '+' || c == '/' || c == '='; }

// "$" 40*HEXDIG [ ("~" / "=") Nickname ]  (control-spec §2.4 LongName).
bool is_long_name(std::string_view s) {
  if (s.size() < 41 || s[0] != '$' || !all_of(s.substr(1, 40), is_hex)) return false;
  if (s.size() == 41) return true;
  if (s[41] != '~' && s[41] != '=') return false;
  auto nick = s.substr(42);
  return !nick.empty() && nick.size() <= 19 && all_of(nick, is_alnum);
}

const std::string* find(const KeyValues& kv, const char* key) {
  auto it = kv.values.find(key);
  return it == kv.values.end() ? nullptr : &it->second;
}

}  // namespace

std::string event_name(const Reply& reply) {
  if (!reply.is_async()) return {};
  return std::string(split_first_word(reply).first);
}

Result<BootstrapStatus> parse_bootstrap_phase(std::string_view text) {
  auto kv = parse_key_values(text);
  if (!kv) return bad("malformed bootstrap status: " + kv.error().what());
  if (kv->positional.size() != 2 || kv->positional[1] != "BOOTSTRAP")
    return bad("not a bootstrap status: '" + std::string(text.substr(0, 80)) + "'");
  const std::string& severity = kv->positional[0];
  if (severity != "NOTICE" && severity != "WARN" && severity != "ERR")
    return bad("bootstrap status with unknown severity '" + severity + "'");

  BootstrapStatus st;
  const std::string* progress = find(*kv, "PROGRESS");
  if (!progress) return bad("bootstrap status without PROGRESS");
  if (progress->empty() || progress->size() > 3 || !all_of(*progress, is_digit))
    return bad("bootstrap PROGRESS is not a number: '" + progress->substr(0, 20) + "'");
  for (char c : *progress) st.progress = st.progress * 10 + (c - '0');
  if (st.progress > 100) return bad("bootstrap PROGRESS out of range: " + *progress);

  const std::string* tag = find(*kv, "TAG");
  if (!tag || tag->empty()) return bad("bootstrap status without TAG");
  st.tag = *tag;
  if (const auto* v = find(*kv, "SUMMARY")) st.summary = *v;
  if (const auto* v = find(*kv, "WARNING")) st.warning = *v;
  if (const auto* v = find(*kv, "REASON")) st.reason = *v;
  st.problem = severity != "NOTICE" || find(*kv, "WARNING") != nullptr;
  return st;
}

Result<BootstrapStatus> parse_bootstrap_event(const Reply& reply) {
  if (!reply.is_async()) return bad("not an asynchronous event (status " + std::to_string(reply.code) + ")");
  auto [name, rest] = split_first_word(reply);
  if (name != "STATUS_CLIENT") return bad("not a STATUS_CLIENT event: '" + std::string(name.substr(0, 40)) + "'");
  return parse_bootstrap_phase(rest);
}

const char* to_string(HsDescEvent::Action action) {
  using A = HsDescEvent::Action;
  switch (action) {
    case A::requested: return "REQUESTED";
    case A::upload: return "UPLOAD";
    case A::received: return "RECEIVED";
    case A::uploaded: return "UPLOADED";
    case A::ignore: return "IGNORE";
    case A::failed: return "FAILED";
    case A::created: return "CREATED";
  }
  return "?";
}

Result<HsDescEvent> parse_hs_desc_event(const Reply& reply) {
  if (!reply.is_async()) return bad("not an asynchronous event (status " + std::to_string(reply.code) + ")");
  auto [name, rest] = split_first_word(reply);
  if (name != "HS_DESC") return bad("not an HS_DESC event: '" + std::string(name.substr(0, 40)) + "'");
  // The positional fields are split off by hand: an HsDir LongName may be
  // "$<fp>=<nick>", which parse_key_values would take for KEY=VALUE.
  std::vector<std::string> pos;
  while (pos.size() < 5) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    auto end = std::min(rest.find(' '), rest.size());
    auto word = rest.substr(0, end);
    if (pos.size() == 4 && word.find('=') != std::string_view::npos) break;  // no DescriptorID
    pos.emplace_back(word);
    rest.remove_prefix(end);
  }
  if (pos.size() < 4)
    return bad("HS_DESC event with " + std::to_string(pos.size()) + " positional fields (want 4 or 5)");
  auto kv = parse_key_values(rest);
  if (!kv) return bad("malformed HS_DESC event: " + kv.error().what());
  if (!kv->positional.empty())
    return bad("HS_DESC event with an unexpected field '" + kv->positional.front().substr(0, 40) + "'");

  HsDescEvent ev;
  using A = HsDescEvent::Action;
  static constexpr A kActions[] = {A::requested, A::upload, A::received, A::uploaded,
                                   A::ignore,    A::failed, A::created};
  bool known = false;
  for (A a : kActions) {
    if (pos[0] == to_string(a)) {
      ev.action = a;
      known = true;
    }
  }
  if (!known) return bad("HS_DESC event with unknown action '" + pos[0].substr(0, 40) + "'");

  if (pos[1] != "UNKNOWN") {
    if (pos[1].size() != 56 || !all_of(pos[1], is_base32))
      return bad("HS_DESC event with a malformed onion address '" + pos[1].substr(0, 64) + "'");
    ev.address = pos[1];
  }
  if (pos[2].empty() || !all_of(pos[2], is_keyword))
    return bad("HS_DESC event with a malformed auth type '" + pos[2].substr(0, 40) + "'");
  ev.auth_type = pos[2];
  if (pos[3] != "UNKNOWN") {
    if (!is_long_name(pos[3])) return bad("HS_DESC event with a malformed HSDir '" + pos[3].substr(0, 64) + "'");
    ev.hsdir = pos[3];
  }
  if (pos.size() == 5) {
    if (pos[4].size() > 128 || !all_of(pos[4], is_base64))
      return bad("HS_DESC event with a malformed descriptor id '" + pos[4].substr(0, 64) + "'");
    ev.descriptor_id = pos[4];
  }
  if (const auto* v = find(*kv, "REASON")) {
    if (v->empty() || !all_of(*v, is_keyword)) return bad("HS_DESC event with a malformed REASON");
    ev.reason = *v;
  }
  if (const auto* v = find(*kv, "HSDIR_INDEX")) {
    if (v->size() != 64 || !all_of(*v, is_hex)) return bad("HS_DESC event with a malformed HSDIR_INDEX");
    ev.hsdir_index = *v;
  }
  return ev;
}

void BootstrapTracker::update(const BootstrapStatus& status) {
  if (!seen_ || status.progress >= progress_) {
    progress_ = std::max(progress_, status.progress);
    tag_ = status.tag;
    summary_ = status.summary;
    seen_ = true;
  }
  if (status.problem) {
    has_problem_ = true;
    problem_progress_ = status.progress;
    warning_ = status.warning;
    reason_ = status.reason;
  } else if (has_problem_ && (status.progress > problem_progress_ || status.progress >= 100)) {
    has_problem_ = false;
    warning_.clear();
    reason_.clear();
  }
}

std::string BootstrapTracker::describe() const {
  if (!seen_) return "0%: no bootstrap report from tor yet";
  std::string s = std::to_string(progress_) + "% (" + tag_ + ")";
  if (!summary_.empty()) s += ": " + summary_;
  if (has_problem_) {
    s += "; problem: " + (warning_.empty() ? std::string("unspecified") : warning_);
    if (!reason_.empty()) s += " (" + reason_ + ")";
  }
  return s;
}

}  // namespace shardnode::onion
