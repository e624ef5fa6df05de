// One typed table of every setting (name, type, the field it is bound to,
// description, validation), after libtorrent's settings_pack. Each row reads and
// writes one field of `Config` (config.h), and its default is that field's
// default. The TOML loader, `shardnode config --print-defaults` and docs/CONFIG.md
// all come from this table.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/node/config.h"

namespace shardnode::node {

enum class SettingType { boolean, integer, real, string, choice, string_list };

using SettingValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;

struct SettingDef {
  std::string key;                 // "section.name"
  SettingType type;
  std::string description;
  std::int64_t min = 0, max = 0;   // integer: inclusive range
  double min_real = 0, max_real = 0;
  std::vector<std::string> choices;  // choice
  // Extra validation; returns an error text ("" when valid). For lists, per element.
  std::function<std::string(const std::string&)> check_string;
  // The field this setting lives in, read and written as a value of `type`. `set`
  // is only given values that passed the checks above.
  std::function<SettingValue(const Config&)> get;
  std::function<void(Config&, const SettingValue&)> set;
  SettingValue def;  // get(Config{}), filled in by the table
};

const std::vector<SettingDef>& settings_table();
const SettingDef* find_setting(std::string_view key);

class Settings {
 public:
  static Settings defaults();
  // Parses TOML text; `source` names the file in error messages.
  static Result<Settings> parse(std::string_view toml_text, const std::string& source);
  static Result<Settings> load_file(const std::filesystem::path& path);

  // `key=value` overrides (CLI --set); value in TOML syntax ("5", "true", "\"x\"")
  // or a bare string for string/choice settings.
  Status set_from_text(std::string_view assignment);

  // Every setting, typed: what the node and the CLI read.
  const Config& config() const { return config_; }

  // One setting by key, as the table types it (tools and tests; code reads config()).
  // Throws std::logic_error for a key not in the table.
  SettingValue value(std::string_view key) const;
  bool get_bool(std::string_view key) const { return std::get<bool>(value(key)); }
  std::int64_t get_int(std::string_view key) const { return std::get<std::int64_t>(value(key)); }
  double get_real(std::string_view key) const { return std::get<double>(value(key)); }
  std::string get_string(std::string_view key) const { return std::get<std::string>(value(key)); }
  std::vector<std::string> get_list(std::string_view key) const { return std::get<std::vector<std::string>>(value(key)); }

  // Whether the value came from a file or override rather than the default.
  bool is_set(std::string_view key) const { return explicitly_set_.count(std::string(key)) != 0; }

 private:
  // Defaults that follow the node's role, for every key not set explicitly: a
  // validator (shard.validator) runs both privacy modes (pubsub.stem and
  // kValidatorCoverShards cover shards), and an onion-only node (node.onion_only)
  // gives out no peer exchange (pubsub.do_px); see docs/PRIVACY.md. Re-applied after
  // every assignment, so the order of file and --set does not matter.
  void apply_role_defaults();

  Config config_;
  std::map<std::string, bool, std::less<>> explicitly_set_;
  friend class SettingsLoader;
};

// Cover shards a validator joins unless shard.cover_shards is set (fewer when
// shard.count leaves no room: at most shard.count - 1).
inline constexpr std::size_t kValidatorCoverShards = 2;

// A commented TOML file holding every default; with `validator`, the defaults of a
// node with shard.validator = true (the privacy modes on).
std::string print_defaults_toml(bool validator = false);
// Warnings for settings that are valid but weaken what the node is for (a validator
// without the privacy modes); empty when there is nothing to say.
std::vector<std::string> settings_warnings(const Settings& s);
// Markdown reference (docs/CONFIG.md).
std::string config_reference_markdown();
// TOML text for a value.
std::string format_value(const SettingValue& v);

// Expands a leading "~/" with $HOME.
std::filesystem::path expand_home(const std::string& p);

}  // namespace shardnode::node
