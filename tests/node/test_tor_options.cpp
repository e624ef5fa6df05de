// tor.options: the allowlist of torrc lines an operator may pass to the embedded tor
// (src/node/tor_options.cpp), as a setting and on its own.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "shardnode/core/errors.h"
#include "shardnode/node/settings.h"
#include "shardnode/node/tor_options.h"

using namespace shardnode;
using namespace shardnode::node;

namespace {

std::string refusal(std::string_view line) {
  auto o = parse_tor_option(line);
  REQUIRE(!o);
  CHECK(o.error().code == ConfigErrc::invalid_value);
  return o.error().what();
}

}  // namespace

TEST_CASE("tor.options: allowed keys pass in tor's spelling, with their value", "[tor_options]") {
  auto o = parse_tor_option("numcpus 2");
  REQUIRE(o);
  CHECK(o->first == "NumCPUs");
  CHECK(o->second == "2");
  auto m = parse_tor_option("  MaxMemInQueues\t512 MB  ");
  REQUIRE(m);
  CHECK(m->first == "MaxMemInQueues");
  CHECK(m->second == "512 MB");  // the value is everything after the key, trimmed
  // defences may be kept on, never turned off
  CHECK(parse_tor_option("ConnectionPadding auto"));
  CHECK(parse_tor_option("ConnectionPadding 1"));
  CHECK(parse_tor_option("VanguardsLiteEnabled 1"));
  const auto off = refusal("ConnectionPadding 0");
  CHECK(off.find("ConnectionPadding 0") != std::string::npos);
  CHECK(off.find("allowed values: 1, auto") != std::string::npos);
  CHECK(refusal("CircuitPadding 0").find("CircuitPadding") != std::string::npos);
  CHECK(refusal("VanguardsLiteEnabled 0").find("VanguardsLiteEnabled") != std::string::npos);
  // every allowlist entry says why, and parses in its own spelling
  for (const auto& a : allowed_tor_options()) {
    CHECK(!a.why.empty());
    const std::string line = std::string(a.key) + " " + (a.values.empty() ? "1" : std::string(a.values.front()));
    auto p = parse_tor_option(line);
    CHECK(p);
    if (p) CHECK(p->first == a.key);
  }
}

TEST_CASE("tor.options: keys the node owns or that weaken anonymity are refused by name", "[tor_options]") {
  struct Case {
    const char* line;
    const char* key;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"SocksPort 0.0.0.0:9050", "SocksPort", "listeners"},
      {"controlport 9051", "controlport", "listeners"},
      {"DataDirectory /tmp/x", "DataDirectory", "files"},
      {"DirAuthority x 127.0.0.1:1 AAAA", "DirAuthority", "tor.testnet"},
      {"UseBridges 1", "UseBridges", "tor.bridges"},
      {"Socks5Proxy 10.0.0.1:1080", "Socks5Proxy", "reaches the network"},
      {"ClientUseIPv6 1", "ClientUseIPv6", "reaches the network"},
      {"EntryNodes {us}", "EntryNodes", "path selection"},
      {"ExcludeNodes {ru}", "ExcludeNodes", "path selection"},
      {"NumEntryGuards 8", "NumEntryGuards", "guard"},
      {"HiddenServiceSingleHopMode 1", "HiddenServiceSingleHopMode", "single-hop"},
      {"HiddenServiceNonAnonymousMode 1", "HiddenServiceNonAnonymousMode", "single-hop"},
      {"SafeLogging 0", "SafeLogging", "log addresses"},
      {"ReducedConnectionPadding 1", "ReducedConnectionPadding", "weaken"},
      {"MaxCircuitDirtiness 3600", "MaxCircuitDirtiness", "linked"},
      {"FooBar 1", "FooBar", "not on the allowlist"},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    const auto msg = refusal(c.line);
    CHECK(msg.find("'" + std::string(c.key) + "' is not allowed") != std::string::npos);
    CHECK(msg.find(c.why) != std::string::npos);
  }
}

TEST_CASE("tor.options: malformed lines get a clear error", "[tor_options]") {
  CHECK(refusal("").find("empty tor option") != std::string::npos);
  CHECK(refusal("   ").find("empty tor option") != std::string::npos);
  CHECK(refusal("NumCPUs").find("'NumCPUs' needs a value") != std::string::npos);
  CHECK(refusal("NumCPUs 2\nSocksPort 9050").find("one line") != std::string::npos);
  CHECK(refusal(std::string("NumCPUs 2\0x", 11)).find("one line") != std::string::npos);
  CHECK(refusal("--NumCPUs 2").find("not a tor option name") != std::string::npos);
  CHECK(refusal("__OwningControllerFD 3").find("not a tor option name") != std::string::npos);
  CHECK(refusal("Num=CPUs 2").find("not a tor option name") != std::string::npos);
  // a list: the first bad line is the error; a key given twice too
  CHECK(parse_tor_options({"NumCPUs 2", "AvoidDiskWrites 1"}));
  auto twice = parse_tor_options({"NumCPUs 2", "numcpus 4"});
  REQUIRE(!twice);
  CHECK(twice.error().what().find("'NumCPUs' is given twice") != std::string::npos);
  auto bad = parse_tor_options({"NumCPUs 2", "ORPort 9001"});
  REQUIRE(!bad);
  CHECK(bad.error().what().find("'ORPort' is not allowed") != std::string::npos);
}

TEST_CASE("tor.options as a setting: a refused line names the key where the file says it", "[tor_options][settings]") {
  auto ok = Settings::parse("[tor]\noptions = [\"NumCPUs 2\", \"AvoidDiskWrites 1\"]\n", "t.toml");
  REQUIRE(ok);
  CHECK(ok->config().tor.options == std::vector<std::string>{"NumCPUs 2", "AvoidDiskWrites 1"});
  auto bad = Settings::parse("[tor]\noptions = [\"NumCPUs 2\", \"Socks5Proxy 10.0.0.1:1080\"]\n", "t.toml");
  REQUIRE(!bad);
  CHECK(bad.error().what().find("t.toml:2") != std::string::npos);
  CHECK(bad.error().what().find("tor.options") != std::string::npos);
  CHECK(bad.error().what().find("'Socks5Proxy' is not allowed") != std::string::npos);
}

TEST_CASE("tor.bridges and tor.transport_plugins: lines, checks, and the options tor gets", "[tor_options]") {
  const std::string fpr(40, 'A');
  auto b = parse_bridge_line("obfs4   192.0.2.1:443 " + fpr + " cert=abc+/= iat-mode=0");
  REQUIRE(b);
  CHECK(b->transport == "obfs4");
  CHECK(b->address == "192.0.2.1");
  CHECK(!b->loopback);
  CHECK(b->line == "obfs4 192.0.2.1:443 " + fpr + " cert=abc+/= iat-mode=0");
  auto plain = parse_bridge_line("[::1]:9001");
  REQUIRE(plain);
  CHECK(plain->transport.empty());
  CHECK(plain->loopback);
  CHECK(parse_bridge_line("127.0.0.5:1 " + fpr)->loopback);
  for (const char* badline : {"", "obfs4", "obfs4 bridge.example:443", "obfs4 192.0.2.1", "obfs4 192.0.2.1:0",
                              "obfs4 192.0.2.1:70000", "obfs4 192.0.2.1:443 nothex", "obfs4 192.0.2.1:443 ABC",
                              "ob-fs4 192.0.2.1:443", "obfs4 192.0.2.1:443 =x", "obfs4 [::1:443",
                              "obfs4 192.0.2.1:443\ncert=x"}) {
    INFO(badline);
    CHECK(!parse_bridge_line(badline));
  }
  auto p = parse_transport_plugin("obfs4,meek_lite exec /usr/bin/obfs4proxy -enableLogging");
  REQUIRE(p);
  CHECK(p->transports == std::vector<std::string>{"obfs4", "meek_lite"});
  CHECK(p->path == "/usr/bin/obfs4proxy");
  auto socks = parse_transport_plugin("obfs4 socks5 127.0.0.1:1080");
  REQUIRE(!socks);
  CHECK(socks.error().what().find("running proxy") != std::string::npos);
  CHECK(!parse_transport_plugin("obfs4 exec obfs4proxy"));  // not absolute
  CHECK(!parse_transport_plugin("obfs4, exec /bin/true"));
  CHECK(!parse_transport_plugin("obfs4 /usr/bin/obfs4proxy"));

  // The options: UseBridges, the bridges, the plugins; /bin/sh stands in for a proxy.
  const std::string br = "obfs4 127.0.0.1:5000 " + fpr + " cert=x iat-mode=0";
  auto o = bridge_options({br}, {"obfs4 exec /bin/sh"}, true);
  REQUIRE(o);
  CHECK(*o == std::vector<std::pair<std::string, std::string>>{
                  {"UseBridges", "1"}, {"Bridge", br}, {"ClientTransportPlugin", "obfs4 exec /bin/sh"}});
  CHECK(bridge_options({}, {}, false)->empty());
  auto e1 = bridge_options({br}, {}, true);
  REQUIRE(!e1);
  CHECK(e1.error().what().find("provides 'obfs4'") != std::string::npos);
  auto e2 = bridge_options({}, {"obfs4 exec /bin/sh"}, false);
  REQUIRE(!e2);
  CHECK(e2.error().what().find("tor.bridges is empty") != std::string::npos);
  auto e3 = bridge_options({br}, {"obfs4 exec /nonexistent/obfs4proxy"}, true);
  REQUIRE(!e3);
  CHECK(e3.error().what().find("not an executable") != std::string::npos);
  auto e4 = bridge_options({"obfs4 192.0.2.1:443 " + fpr + " cert=x"}, {"obfs4 exec /bin/sh"}, true);
  REQUIRE(!e4);
  CHECK(e4.error().what().find("not on loopback") != std::string::npos);
  CHECK(bridge_options({"obfs4 192.0.2.1:443 " + fpr + " cert=x"}, {"obfs4 exec /bin/sh"}, false));
  auto e5 = bridge_options({br}, {"obfs4 exec /bin/sh", "meek_lite exec /bin/sh"}, true);
  REQUIRE(!e5);
  CHECK(e5.error().what().find("no bridge in tor.bridges uses it") != std::string::npos);
  CHECK(!bridge_options({br}, {"obfs4 exec /bin/sh", "obfs4 exec /bin/true"}, true));  // provided twice
}
