#include "shardnode/node/settings.h"

#include <cctype>

#include <fmt/format.h>

#include <stdexcept>

// toml++ 3.3 (Debian 12) checks its parser's own invariants with TOML_ASSERT_ASSUME:
// assert() in a Debug build, __builtin_assume under clang with NDEBUG. Malformed text
// breaks some of them (a date such as 3317-07-02t-x, "[}", a key after '[' that is no
// key character: fuzz/regressions/settings/toml-*), which aborted a Debug build and was
// undefined behaviour in an optimised clang one. Here each check throws instead, in
// every build (NDEBUG is lifted while toml++ is read, so TOML_ASSERT_ASSUME means
// TOML_ASSERT), and Settings::parse reports malformed TOML. Only this file includes
// toml++, so no other translation unit sees another definition of its inline code.
namespace shardnode::node::detail {
struct TomlInvariantBroken : std::logic_error {
  using std::logic_error::logic_error;
};
[[noreturn]] void toml_invariant_broken(const char* expr);
}  // namespace shardnode::node::detail
#pragma push_macro("NDEBUG")
#undef NDEBUG
#undef TOML_ASSERT
#define TOML_ASSERT(expr) ((expr) ? static_cast<void>(0) : ::shardnode::node::detail::toml_invariant_broken(#expr))
#include <toml++/toml.h>
#pragma pop_macro("NDEBUG")

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "shardnode/core/errors.h"
#include "shardnode/node/tor_options.h"

namespace shardnode::node {
namespace fs = std::filesystem;

void detail::toml_invariant_broken(const char* expr) { throw TomlInvariantBroken(expr); }

namespace {

std::string type_name(const SettingDef& d) {
  switch (d.type) {
    case SettingType::boolean: return "a boolean (true or false)";
    case SettingType::integer: return "an integer in " + std::to_string(d.min) + ".." + std::to_string(d.max);
    case SettingType::real: {
      std::ostringstream o;
      o << "a number in " << d.min_real << ".." << d.max_real;
      return o.str();
    }
    case SettingType::string: return "a string";
    case SettingType::choice: {
      std::string s = "one of";
      for (const auto& c : d.choices) s += " \"" + c + "\"";
      return s;
    }
    case SettingType::string_list: return "an array of strings";
  }
  return "?";
}

std::string short_type(SettingType t) {
  switch (t) {
    case SettingType::boolean: return "bool";
    case SettingType::integer: return "integer";
    case SettingType::real: return "number";
    case SettingType::string: return "string";
    case SettingType::choice: return "choice";
    case SettingType::string_list: return "string array";
  }
  return "?";
}

std::string toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date: case toml::node_type::time: case toml::node_type::date_time: return "a date/time";
    default: return "something else";
  }
}

// Levenshtein distance between a and b, or `limit` if it is `limit` or more (a
// length difference, or a row whose smallest entry reaches it, ends the count early:
// suggestions only care about close keys, and a config's unknown keys may be long).
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t limit) {
  const std::size_t diff = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
  if (diff >= limit) return limit;
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    std::size_t row_min = cur[0];
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min >= limit) return limit;
    std::swap(prev, cur);
  }
  return std::min(prev[b.size()], limit);
}

std::string suggestion(std::string_view key) {
  const SettingDef* best = nullptr;
  std::size_t best_d = 4;
  for (const auto& d : settings_table()) {
    auto dist = edit_distance(key, d.key, best_d);
    if (dist < best_d) { best_d = dist; best = &d; }
  }
  return best ? " (did you mean '" + best->key + "'?)" : "";
}

std::string where(const std::string& source, const toml::source_region& r) {
  return source + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

// Checks a value against its definition; returns "" when valid.
std::string validate(const SettingDef& d, const SettingValue& v) {
  switch (d.type) {
    case SettingType::integer: {
      auto i = std::get<std::int64_t>(v);
      if (i < d.min || i > d.max) return "expected " + type_name(d) + ", got " + std::to_string(i);
      return "";
    }
    case SettingType::real: {
      auto x = std::get<double>(v);
      if (!std::isfinite(x) || x < d.min_real || x > d.max_real) {
        std::ostringstream o;
        o << "expected " << type_name(d) << ", got " << x;
        return o.str();
      }
      return "";
    }
    case SettingType::choice: {
      const auto& s = std::get<std::string>(v);
      if (std::find(d.choices.begin(), d.choices.end(), s) == d.choices.end())
        return "expected " + type_name(d) + ", got \"" + s + "\"";
      return "";
    }
    case SettingType::string:
      return d.check_string ? d.check_string(std::get<std::string>(v)) : "";
    case SettingType::string_list:
      if (d.check_string)
        for (const auto& e : std::get<std::vector<std::string>>(v))
          if (auto err = d.check_string(e); !err.empty()) return "\"" + e + "\": " + err;
      return "";
    case SettingType::boolean: return "";
  }
  return "";
}

}  // namespace

// Converts TOML nodes to setting values; a friend of Settings.
class SettingsLoader {
 public:
  static Result<SettingValue> convert(const SettingDef& d, const toml::node& n, const std::string& at) {
    auto wrong = [&](std::string extra = {}) {
      return Error{ConfigErrc::wrong_type, at + ": " + d.key + ": expected " + type_name(d) + ", got " +
                                               toml_type_name(n) + extra};
    };
    switch (d.type) {
      case SettingType::boolean:
        if (auto b = n.as_boolean()) return SettingValue(b->get());
        return wrong();
      case SettingType::integer:
        if (auto i = n.as_integer()) return SettingValue(i->get());
        return wrong();
      case SettingType::real:
        if (auto f = n.as_floating_point()) return SettingValue(f->get());
        if (auto i = n.as_integer()) return SettingValue(static_cast<double>(i->get()));
        return wrong();
      case SettingType::string:
      case SettingType::choice:
        if (auto s = n.as_string()) return SettingValue(s->get());
        return wrong();
      case SettingType::string_list: {
        auto arr = n.as_array();
        if (!arr) return wrong();
        std::vector<std::string> out;
        for (const auto& e : *arr) {
          auto s = e.as_string();
          if (!s) return wrong(" containing " + toml_type_name(e));
          out.push_back(s->get());
        }
        return SettingValue(std::move(out));
      }
    }
    return wrong();
  }

  static Status apply(Settings& s, const SettingDef& d, SettingValue v, const std::string& at) {
    if (auto err = validate(d, v); !err.empty()) return Error{ConfigErrc::out_of_range, at + ": " + d.key + ": " + err};
    d.set(s.config_, v);
    s.explicitly_set_[d.key] = true;
    s.apply_role_defaults();
    return {};
  }

  static Result<Settings> load(const toml::table& root, const std::string& source) {
    Settings s = Settings::defaults();
    for (const auto& [section_key, section] : root) {
      const std::string sec(section_key.str());
      const auto* tbl = section.as_table();
      if (!tbl) {
        return Error{ConfigErrc::unknown_key, where(source, section.source()) + ": unknown key '" + sec +
                                                  "'" + suggestion(sec) + "; settings live in sections such as [node]"};
      }
      bool known_section = std::any_of(settings_table().begin(), settings_table().end(),
                                       [&](const SettingDef& d) { return d.key.rfind(sec + ".", 0) == 0; });
      if (!known_section)
        return Error{ConfigErrc::unknown_key,
                     where(source, section.source()) + ": unknown section [" + sec + "]" + suggestion(sec)};
      for (const auto& [k, v] : *tbl) {
        const std::string full = sec + "." + std::string(k.str());
        const std::string at = where(source, v.source());
        const SettingDef* d = find_setting(full);
        if (!d) return Error{ConfigErrc::unknown_key, at + ": unknown key '" + full + "'" + suggestion(full)};
        auto val = convert(*d, v, at);
        if (!val) return val.error();
        if (Status st = apply(s, *d, std::move(*val), at); !st) return st.error();
      }
    }
    return s;
  }
};

Settings Settings::defaults() {
  settings_table();  // builds the table, which checks every binding
  Settings s;
  s.apply_role_defaults();
  return s;
}

void Settings::apply_role_defaults() {
  const bool validator = config_.shard.validator;
  if (!is_set("pubsub.stem")) config_.pubsub.gossip.stem.enabled = validator;
  if (!is_set("shard.cover_shards")) {
    const std::size_t room = config_.shard.manager.shard_count > 0 ? config_.shard.manager.shard_count - 1 : 0;
    config_.shard.manager.cover_shards = validator ? std::min(kValidatorCoverShards, room) : 0;
  }
  if (!is_set("pubsub.do_px")) config_.pubsub.gossip.do_px = !config_.node.onion_only;
}

std::vector<std::string> settings_warnings(const Settings& s) {
  std::vector<std::string> w;
  const Config& c = s.config();
  if (!c.shard.validator) return w;
  if (!c.pubsub.gossip.stem.enabled)
    w.push_back("shard.validator is on but pubsub.stem is off: the first spy to hear our collations usually names "
                "this node as their source (docs/PRIVACY.md)");
  if (c.shard.manager.cover_shards == 0)
    w.push_back("shard.validator is on but shard.cover_shards is 0: the shards this node announces give away the "
                "shards its validator works on (docs/PRIVACY.md)");
  if (!c.node.onion_only)
    w.push_back("shard.validator is on but node.onion_only is off: peers may learn this machine's IP address");
  return w;
}

namespace {
// Text for toml++ is printable ASCII plus tab (and CR, LF where lines are allowed):
// see Settings::parse.
Status check_ascii(std::string_view text, const std::string& source, bool lines) {
  for (std::size_t i = 0, line = 1; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') ++line;
    const std::string at = lines ? source + ":" + std::to_string(line) : source;
    if (c >= 0x80) return Error{ConfigErrc::parse_error, at + ": a non-ASCII byte; shardnode configs are ASCII"};
    if ((c < 0x20 && c != '\t' && !(lines && (c == '\n' || c == '\r'))) || c == 0x7F)
      return Error{ConfigErrc::parse_error,
                   at + ": control character 0x" + fmt::format("{:02X}", c) + " (not allowed in TOML)"};
  }
  return {};
}
}  // namespace

Result<Settings> Settings::parse(std::string_view text, const std::string& source) {
  toml::table root;
  // Configs are printable ASCII (plus tab, CR, LF). toml++ 3.3 (Debian 12) reaches
  // an unreachable branch on some non-ASCII code points where it looks for
  // whitespace, and assumes (TOML_ASSERT_ASSUME) a key character after '[' that a NUL
  // is not - undefined behaviour both, found by fuzzing (fuzz/regressions/settings) -
  // so such text never reaches it. TOML allows no other control character anyway. A
  // UTF-8 byte order mark (some editors write one) is skipped.
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  if (Status st = check_ascii(text, source, true); !st) return st.error();
  // A table header must start its key with a key character or a quote: toml++ 3.3
  // assumes it does (TOML_ASSERT_ASSUME in parse_key), so "[[.x]" was undefined
  // behaviour (fuzz/corpus/settings).
  for (std::size_t pos = 0, line = 1; pos < text.size(); ++line) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view l = text.substr(pos, end - pos);
    pos = end + 1;
    const auto first = l.find_first_not_of(" \t");
    if (first == std::string_view::npos || l[first] != '[') continue;
    l.remove_prefix(first + 1);
    if (!l.empty() && l.front() == '[') l.remove_prefix(1);
    const auto k = l.find_first_not_of(" \t");
    if (k == std::string_view::npos) continue;  // toml++ reports the missing key itself
    const char c = l[k];
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '"' || c == '\'' ||
                    c == ']';
    if (!ok)
      return Error{ConfigErrc::parse_error,
                   source + ":" + std::to_string(line) + ": malformed table header (a key must follow '[')"};
  }
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Error{ConfigErrc::parse_error,
                 where(source, e.source()) + ": malformed TOML: " + std::string(e.description())};
  } catch (const detail::TomlInvariantBroken&) {
    return Error{ConfigErrc::parse_error,
                 source + ": malformed TOML (toml++ could not place the error: look at dates, inline tables, arrays "
                          "and table headers)"};
  }
  return SettingsLoader::load(root, source);
}

Result<Settings> Settings::load_file(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error{ConfigErrc::io, "cannot read config file " + path.string() + ": " + std::strerror(errno)};
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return Error{ConfigErrc::io, "cannot read config file " + path.string()};
  return parse(ss.str(), path.string());
}

Status Settings::set_from_text(std::string_view assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string_view::npos) return Error{ConfigErrc::parse_error, "--set " + std::string(assignment) + ": expected key=value"};
  std::string key(assignment.substr(0, eq));
  std::string value(assignment.substr(eq + 1));
  const std::string at = "--set " + key;
  // The same bytes a config file may hold, on one line: the value goes to toml++ too
  // (a non-ASCII byte there was undefined behaviour, found by fuzzing).
  if (Status st = check_ascii(assignment, at, false); !st) return st.error();
  const SettingDef* d = find_setting(key);
  if (!d) return Error{ConfigErrc::unknown_key, at + ": unknown key '" + key + "'" + suggestion(key)};
  // Bare words are accepted for strings and choices; everything else is TOML
  // (a quoted string, basic "..." or literal '...').
  if ((d->type == SettingType::string || d->type == SettingType::choice) &&
      (value.empty() || (value[0] != '"' && value[0] != '\'')))
    return SettingsLoader::apply(*this, *d, SettingValue(value), at);
  toml::table t;
  try {
    t = toml::parse("v = " + value, at);
  } catch (const toml::parse_error& e) {
    return Error{ConfigErrc::parse_error, at + ": malformed value: " + std::string(e.description())};
  } catch (const detail::TomlInvariantBroken&) {
    return Error{ConfigErrc::parse_error, at + ": malformed value"};
  }
  auto val = SettingsLoader::convert(*d, *t.get("v"), at);
  if (!val) return val.error();
  return SettingsLoader::apply(*this, *d, std::move(*val), at);
}

SettingValue Settings::value(std::string_view key) const {
  const SettingDef* d = find_setting(key);
  if (!d) throw std::logic_error("no such setting: " + std::string(key));
  return d->get(config_);
}

std::string format_value(const SettingValue& v) {
  struct V {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      std::ostringstream o;
      o << d;
      std::string s = o.str();
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";
      return s;
    }
    std::string operator()(const std::string& s) const {
      std::ostringstream o;
      o << toml::value<std::string>(s);
      return o.str();
    }
    std::string operator()(const std::vector<std::string>& l) const {
      std::string out = "[";
      for (std::size_t i = 0; i < l.size(); ++i) out += (i ? ", " : "") + (*this)(l[i]);
      return out + "]";
    }
  };
  return std::visit(V{}, v);
}

namespace {
// Wraps text at ~86 columns with a prefix on every line.
std::string wrap(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string word, line, out;
  while (in >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > 86) {
      out += prefix + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += prefix + line + "\n";
  return out;
}
}  // namespace

std::string print_defaults_toml(bool validator) {
  Settings s = Settings::defaults();
  if (validator && !s.set_from_text("shard.validator=true")) throw std::logic_error("shard.validator is not a setting");
  std::string out = validator ? "# shardnode configuration for a validator: every setting with its default when\n"
                                "# shard.validator = true (the privacy modes on).\n"
                                "# Generated by `shardnode config --print-defaults --validator`.\n"
                              : "# shardnode configuration: every setting with its default.\n"
                                "# Generated by `shardnode config --print-defaults`.\n";
  std::string section;
  for (const auto& d : settings_table()) {
    auto dot = d.key.find('.');
    std::string sec = d.key.substr(0, dot);
    if (sec != section) {
      out += "\n[" + sec + "]\n";
      section = sec;
    }
    out += wrap(d.description + " (" + type_name(d) + ")", "# ");
    out += d.key.substr(dot + 1) + " = " + format_value(d.get(s.config())) + "\n";
  }
  return out;
}

std::string config_reference_markdown() {
  const Settings defaults = Settings::defaults();
  std::string out =
      "# Configuration reference\n\n"
      "Generated from the settings table (`src/node/settings_table.cpp`) by\n"
      "`shardnode config --reference`; a test fails when this file is out of date.\n\n"
      "A config file is TOML with one section per prefix (`[node]`, `[log]`, `[tor]`, `[pubsub]`).\n"
      "Unknown keys, wrong types and out-of-range values are errors that name the file,\n"
      "line, column and key. `shardnode --set key=value` overrides a file.\n\n"
      "Defaults below are a node's with no file. Three follow the node's role unless set: with\n"
      "`shard.validator = true`, `pubsub.stem` is on and `shard.cover_shards` is 2 (at most\n"
      "`shard.count` - 1); with `node.onion_only = true`, `pubsub.do_px` is off. `shardnode config\n"
      "--print-defaults --validator` prints a validator's.\n";
  std::string section;
  for (const auto& d : settings_table()) {
    std::string sec = d.key.substr(0, d.key.find('.'));
    if (sec != section) {
      out += "\n## [" + sec + "]\n\n| key | type | default | description |\n|---|---|---|---|\n";
      section = sec;
    }
    std::string desc = d.description;
    if (d.type == SettingType::integer)
      desc += " Range " + std::to_string(d.min) + "..=" + std::to_string(d.max) + ".";
    if (d.type == SettingType::choice) {
      desc += " One of:";
      for (const auto& c : d.choices) desc += " `" + c + "`";
      desc += ".";
    }
    out += "| `" + d.key + "` | " + short_type(d.type) + " | `" + format_value(d.get(defaults.config())) + "` | " + desc +
           " |\n";
  }
  out +=
      "\n### `tor.options`: the allowlist\n\n"
      "Every other torrc key is refused (`src/node/tor_options.cpp`). Keys are case-insensitive.\n\n"
      "| key | values | why it is allowed |\n|---|---|---|\n";
  for (const auto& a : allowed_tor_options()) {
    std::string values = "any";
    if (!a.values.empty()) {
      values.clear();
      for (auto v : a.values) values += (values.empty() ? "`" : ", `") + std::string(v) + "`";
    }
    out += "| `" + std::string(a.key) + "` | " + values + " | " + std::string(a.why) + " |\n";
  }
  return out;
}

fs::path expand_home(const std::string& p) {
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (home && *home) return fs::path(home) / p.substr(p.size() > 1 ? 2 : 1);
  }
  return fs::path(p);
}

}  // namespace shardnode::node
