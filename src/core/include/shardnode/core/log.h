// Logging: one spdlog logger per module, sharing sinks (stderr, optional file).
// Levels are set globally and per module. Nothing may log key material: keys have
// no printable form, and tor control commands carrying keys are redacted (onion/).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardnode/core/result.h"

namespace shardnode::logging {

// The modules that have loggers; each maps to a layer folder.
inline constexpr std::string_view kModules[] = {"core", "net", "onion", "pubsub", "shard", "node", "cli", "sim"};

struct Options {
  std::string level = "info";               // trace|debug|info|warn|error|critical|off
  std::string file;                         // empty: stderr only
  std::vector<std::string> module_levels;   // "onion=debug", ...
};

Result<spdlog::level::level_enum> parse_level(std::string_view name);
// Validates one "module=level" entry; returns the error text, empty when valid.
std::string check_module_level(std::string_view entry);

// (Re)configures every module logger. Fails on an unknown level/module or an
// unwritable file, leaving the previous configuration in place.
Status configure(const Options& opts);

// Replaces all sinks (tests capture output this way).
void set_sinks(std::vector<spdlog::sink_ptr> sinks);

// The logger of a module; unknown names get the "core" logger's settings.
std::shared_ptr<spdlog::logger> get(std::string_view module);

}  // namespace shardnode::logging
