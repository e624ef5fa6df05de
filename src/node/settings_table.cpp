// The settings table. Add a setting here and it is loadable from TOML, printed by
// `shardnode config --print-defaults`, and documented in docs/CONFIG.md (a test
// keeps that file in sync).
#include "shardnode/core/log.h"
#include "shardnode/node/settings.h"

namespace shardnode::node {

namespace {

std::string check_log_module(const std::string& entry) { return logging::check_module_level(entry); }

std::string check_not_empty(const std::string& s) { return s.empty() ? "must not be empty" : ""; }

std::vector<SettingDef> make_table() {
  std::vector<SettingDef> t;
  auto add = [&t](SettingDef d) { t.push_back(std::move(d)); };

  // [node]
  add({.key = "node.datadir", .type = SettingType::string, .def = std::string("~/.local/share/shardnode"),
       .description = "Data directory: identity.key (mode 0600), tor state, the collation store. "
                      "Created with mode 0700. A leading ~/ means $HOME.",
       .check_string = check_not_empty});

  // [log]
  add({.key = "log.level", .type = SettingType::choice, .def = std::string("info"),
       .description = "Log level for every module without its own entry in log.modules.",
       .choices = {"trace", "debug", "info", "warn", "error", "critical", "off"}});
  add({.key = "log.file", .type = SettingType::string, .def = std::string(""),
       .description = "Also append log lines to this file (empty: stderr only)."});
  add({.key = "log.modules", .type = SettingType::string_list, .def = std::vector<std::string>{},
       .description = "Per-module levels as \"module=level\", e.g. [\"onion=debug\"]. "
                      "Modules: core, net, onion, pubsub, shard, node, cli, sim.",
       .check_string = check_log_module});

  // [tor]
  add({.key = "tor.data_dir", .type = SettingType::string, .def = std::string(""),
       .description = "The embedded tor's DataDirectory (mode 0700). Empty: <node.datadir>/tor."});
  add({.key = "tor.log_level", .type = SettingType::choice, .def = std::string("notice"),
       .description = "Level of tor's own log, written to <tor.data_dir>/tor.log.",
       .choices = {"debug", "info", "notice", "warn", "err"}});
  add({.key = "tor.start_timeout", .type = SettingType::integer, .def = std::int64_t{60},
       .description = "Seconds to wait for the embedded tor to answer on its control socket.",
       .min = 1, .max = 3600});
  add({.key = "tor.stop_timeout", .type = SettingType::integer, .def = std::int64_t{10},
       .description = "Seconds to wait for the embedded tor to exit on shutdown.",
       .min = 1, .max = 600});
  return t;
}

}  // namespace

const std::vector<SettingDef>& settings_table() {
  static const std::vector<SettingDef> table = make_table();
  return table;
}

const SettingDef* find_setting(std::string_view key) {
  for (const auto& d : settings_table())
    if (d.key == key) return &d;
  return nullptr;
}

}  // namespace shardnode::node
