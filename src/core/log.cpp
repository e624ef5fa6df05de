#include "shardnode/core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "shardnode/core/errors.h"

namespace shardnode::logging {
namespace {

struct State {
  std::mutex mu;
  std::vector<spdlog::sink_ptr> sinks;
  spdlog::level::level_enum level = spdlog::level::info;
  std::map<std::string, spdlog::level::level_enum, std::less<>> module_levels;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
};

State& state() {
  static State s;
  return s;
}

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v";

spdlog::level::level_enum level_for(const State& s, std::string_view module) {
  auto it = s.module_levels.find(module);
  return it == s.module_levels.end() ? s.level : it->second;
}

void apply(State& s) {
  for (auto& [name, lg] : s.loggers) {
    lg->sinks() = s.sinks;
    lg->set_level(level_for(s, name));
  }
}

bool known_module(std::string_view m) {
  return std::find(std::begin(kModules), std::end(kModules), m) != std::end(kModules);
}

}  // namespace

Result<spdlog::level::level_enum> parse_level(std::string_view name) {
  static const std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off}};
  for (auto& [n, l] : kLevels)
    if (n == name) return l;
  return Error{ConfigErrc::out_of_range, "unknown log level '" + std::string(name) +
                                             "' (expected trace, debug, info, warn, error, critical or off)"};
}

std::string check_module_level(std::string_view entry) {
  auto eq = entry.find('=');
  if (eq == std::string_view::npos) return "expected module=level, e.g. onion=debug";
  auto mod = entry.substr(0, eq);
  if (!known_module(mod)) {
    std::string all;
    for (auto m : kModules) all += (all.empty() ? "" : ", ") + std::string(m);
    return "unknown log module '" + std::string(mod) + "' (modules: " + all + ")";
  }
  auto lvl = parse_level(entry.substr(eq + 1));
  return lvl ? std::string() : lvl.error().message;
}

Status configure(const Options& opts) {
  auto lvl = parse_level(opts.level);
  if (!lvl) return lvl.error();
  std::map<std::string, spdlog::level::level_enum, std::less<>> mods;
  for (const auto& e : opts.module_levels) {
    if (auto err = check_module_level(e); !err.empty()) return Error{ConfigErrc::out_of_range, err};
    auto eq = e.find('=');
    mods[e.substr(0, eq)] = *parse_level(std::string_view(e).substr(eq + 1));
  }
  std::vector<spdlog::sink_ptr> sinks;
  auto err_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  err_sink->set_pattern(kPattern);
  sinks.push_back(err_sink);
  if (!opts.file.empty()) {
    try {
      auto f = std::make_shared<spdlog::sinks::basic_file_sink_mt>(opts.file);
      f->set_pattern(kPattern);
      sinks.push_back(f);
    } catch (const spdlog::spdlog_ex& ex) {
      return Error{ConfigErrc::io, "cannot open log file " + opts.file + ": " + ex.what()};
    }
  }
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.sinks = std::move(sinks);
  s.level = *lvl;
  s.module_levels = std::move(mods);
  apply(s);
  return {};
}

void set_sinks(std::vector<spdlog::sink_ptr> sinks) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.sinks = std::move(sinks);
  apply(s);
}

std::shared_ptr<spdlog::logger> get(std::string_view module) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  if (auto it = s.loggers.find(module); it != s.loggers.end()) return it->second;
  if (s.sinks.empty()) {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    sink->set_pattern(kPattern);
    s.sinks.push_back(sink);
  }
  auto lg = std::make_shared<spdlog::logger>(std::string(module), s.sinks.begin(), s.sinks.end());
  lg->set_level(level_for(s, module));
  lg->flush_on(spdlog::level::warn);
  s.loggers.emplace(std::string(module), lg);
  return lg;
}

}  // namespace shardnode::logging
