#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "shardnode/core/errors.h"
#include "shardnode/node/settings.h"

using namespace shardnode;
using namespace shardnode::node;

namespace {
Error parse_error(std::string_view toml) {
  auto r = Settings::parse(toml, "test.toml");
  REQUIRE_FALSE(r);
  return r.error();
}
std::string read_file(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("an empty file yields the defaults", "[config]") {
  auto s = Settings::parse("", "empty.toml");
  REQUIRE(s);
  CHECK(s->get_string("log.level") == "info");
  CHECK(s->get_int("tor.start_timeout") == 60);
  CHECK_FALSE(s->is_set("log.level"));
}

TEST_CASE("a valid file sets typed values", "[config]") {
  auto s = Settings::parse(R"(
[node]
datadir = "/var/lib/shardnode"
[log]
level = "debug"
modules = ["onion=trace", "net=warn"]
[tor]
start_timeout = 120
)", "ok.toml");
  REQUIRE(s);
  CHECK(s->get_string("node.datadir") == "/var/lib/shardnode");
  CHECK(s->get_string("log.level") == "debug");
  CHECK(s->get_list("log.modules") == std::vector<std::string>{"onion=trace", "net=warn"});
  CHECK(s->get_int("tor.start_timeout") == 120);
  CHECK(s->is_set("tor.start_timeout"));
}

TEST_CASE("malformed TOML names the file and line", "[config]") {
  auto e = parse_error("[log]\nlevel = \"debug\"\nfile = \n");
  CHECK(e.code == ConfigErrc::parse_error);
  CHECK_THAT(e.message, Catch::StartsWith("test.toml:3:") && Catch::Contains("malformed TOML"));
  auto dup = parse_error("[log]\nlevel = \"debug\"\nlevel = \"info\"\n");
  CHECK_THAT(dup.message, Catch::StartsWith("test.toml:3:"));
}

TEST_CASE("a wrong type names line, key and what was expected", "[config]") {
  auto e = parse_error("[tor]\n\nstart_timeout = \"soon\"\n");
  CHECK(e.code == ConfigErrc::wrong_type);
  CHECK_THAT(e.message, Catch::StartsWith("test.toml:3:") && Catch::Contains("tor.start_timeout") &&
                            Catch::Contains("expected an integer in 1..3600") && Catch::Contains("got a string"));
  auto l = parse_error("[log]\nmodules = [\"onion=debug\", 3]\n");
  CHECK_THAT(l.message, Catch::StartsWith("test.toml:2:") && Catch::Contains("array of strings"));
}

TEST_CASE("unknown keys and sections are errors naming the line", "[config]") {
  auto e = parse_error("[log]\nlevel = \"info\"\nlvel = \"debug\"\n");
  CHECK(e.code == ConfigErrc::unknown_key);
  CHECK_THAT(e.message, Catch::StartsWith("test.toml:3:") && Catch::Contains("unknown key 'log.lvel'") &&
                            Catch::Contains("did you mean 'log.level'"));
  auto s = parse_error("\n[logs]\nlevel = \"info\"\n");
  CHECK_THAT(s.message, Catch::StartsWith("test.toml:2:") && Catch::Contains("unknown section [logs]"));
  auto top = parse_error("level = \"info\"\n");
  CHECK_THAT(top.message, Catch::StartsWith("test.toml:1:") && Catch::Contains("sections"));
  auto deep = parse_error("[tor.extra]\nx = 1\n");
  CHECK_THAT(deep.message, Catch::Contains("unknown key 'tor.extra'"));
}

TEST_CASE("out-of-range values are errors naming the line and range", "[config]") {
  auto e = parse_error("[tor]\nstart_timeout = 0\n");
  CHECK(e.code == ConfigErrc::out_of_range);
  CHECK_THAT(e.message, Catch::StartsWith("test.toml:2:") && Catch::Contains("1..3600") && Catch::Contains("got 0"));
  auto c = parse_error("[log]\nlevel = \"loud\"\n");
  CHECK_THAT(c.message, Catch::StartsWith("test.toml:2:") && Catch::Contains("one of") && Catch::Contains("\"loud\""));
  auto m = parse_error("[log]\nmodules = [\"gossip=debug\"]\n");
  CHECK_THAT(m.message, Catch::Contains("unknown log module 'gossip'"));
  auto d = parse_error("[node]\ndatadir = \"\"\n");
  CHECK_THAT(d.message, Catch::Contains("must not be empty"));
}

TEST_CASE("setting overrides from --set parse like TOML and are validated", "[config]") {
  Settings s = Settings::defaults();
  REQUIRE(s.set_from_text("tor.start_timeout=5"));
  CHECK(s.get_int("tor.start_timeout") == 5);
  REQUIRE(s.set_from_text("log.level=warn"));  // bare word for choices
  CHECK(s.get_string("log.level") == "warn");
  REQUIRE(s.set_from_text("log.modules=[\"onion=debug\"]"));
  CHECK_FALSE(s.set_from_text("tor.start_timeout=abc"));
  CHECK_FALSE(s.set_from_text("tor.start_timeout=99999"));
  CHECK_FALSE(s.set_from_text("no.such=1"));
  CHECK_FALSE(s.set_from_text("novalue"));
}

TEST_CASE("unreadable config file is a clear error", "[config]") {
  auto r = Settings::load_file("/nonexistent/shardnode.toml");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Condition::io_failure);
  CHECK_THAT(r.error().message, Catch::Contains("/nonexistent/shardnode.toml"));
}

TEST_CASE("the output of --print-defaults parses back to exactly the defaults", "[config]") {
  auto s = Settings::parse(print_defaults_toml(), "defaults.toml");
  REQUIRE(s);
  for (const auto& d : settings_table()) {
    INFO(d.key);
    CHECK(s->is_set(d.key));
  }
  CHECK(s->get_string("node.datadir") == Settings::defaults().get_string("node.datadir"));
}

TEST_CASE("docs/CONFIG.md is generated from the settings table and up to date", "[config]") {
  const std::string doc = read_file(std::string(SHARDNODE_SOURCE_DIR) + "/docs/CONFIG.md");
  INFO("regenerate with: shardnode config --reference > docs/CONFIG.md");
  CHECK(doc == config_reference_markdown());
}

TEST_CASE("the shipped configs load", "[config]") {
  for (const char* name : {"validator.toml", "bootnode.toml"}) {
    INFO(name);
    auto s = Settings::load_file(std::string(SHARDNODE_SOURCE_DIR) + "/configs/" + name);
    if (!s) FAIL(s.error().message);
  }
}
