#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "shardnode/core/errors.h"
#include "shardnode/core/log.h"

using namespace shardnode;

TEST_CASE("per-module levels apply and bad entries are rejected", "[log]") {
  REQUIRE(logging::configure({"warn", "", {"onion=debug"}}));
  std::ostringstream out;
  logging::set_sinks({std::make_shared<spdlog::sinks::ostream_sink_mt>(out)});
  logging::get("onion")->debug("onion-debug-line");
  logging::get("net")->info("net-info-line");
  logging::get("net")->warn("net-warn-line");
  CHECK_THAT(out.str(), Catch::Contains("onion-debug-line"));
  CHECK_THAT(out.str(), !Catch::Contains("net-info-line"));
  CHECK_THAT(out.str(), Catch::Contains("net-warn-line"));

  auto bad_module = logging::configure({"info", "", {"gossip=debug"}});
  REQUIRE_FALSE(bad_module);
  CHECK_THAT(bad_module.error().message, Catch::Contains("unknown log module"));
  CHECK_FALSE(logging::configure({"loud", "", {}}));
  CHECK_FALSE(logging::configure({"info", "", {"onion"}}));
  auto bad_file = logging::configure({"info", "/dev/null/y.log", {}});
  REQUIRE_FALSE(bad_file);
  CHECK_THAT(bad_file.error().message, Catch::Contains("/dev/null/y.log"));
}
