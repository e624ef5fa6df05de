// What every fuzz binary does once before the first input.
#pragma once

#include <spdlog/sinks/null_sink.h>

#include "shardnode/core/log.h"

namespace shardnode::fuzz {

// Every logger at trace into a null sink: the log lines a hostile input makes the
// code format are formatted (a bad format string would throw), and nothing prints.
inline void setup_once() {
  logging::Options opts;
  opts.level = "trace";
  (void)logging::configure(opts);
  logging::set_sinks({std::make_shared<spdlog::sinks::null_sink_mt>()});
}

}  // namespace shardnode::fuzz
