// The testnet launcher (onion/testnet/, shardnode_testnet) without starting tor:
// consensus and log parsing, option checks, missing state.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "shardnode/core/errors.h"
#include "shardnode/onion/testnet_client.h"
#include "shardnode/testnet/consensus.h"
#include "shardnode/testnet/testnet.h"
#include "shardnode/onion/errors.h"
#include "four_nodes.h"
#include "torrc.h"  // onion/testnet/src: the launcher's torrc generation

using namespace shardnode;
using namespace shardnode::testnet;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  TempDir() {
    std::string t = (fs::temp_directory_path() / "sn-tn-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

}  // namespace

TEST_CASE("testnet: consensus summary counts HSDir routers by nickname", "[testnet]") {
  const std::string doc =
      "network-status-version 3\nvote-status consensus\nvalid-after 2026-11-25 21:51:20\n"
      "r a0 GJwiLuUfLKyXwD1DUA43j4zLsGE AAAA 2026-11-25 21:51:00 127.0.0.1 18828 18835\n"
      "s Authority Exit Fast Guard HSDir Running Stable V2Dir Valid\n"
      "r r3 AAAA BBBB 2026-11-25 21:51:00 127.0.0.1 18831 0\n"
      "s Exit Fast Guard HSDir Running Stable V2Dir Valid\n"
      "r r4 AAAA BBBB 2026-11-25 21:51:00 127.0.0.1 18832 0\n"
      "s Fast Running Valid\n";
  const auto s = summarize_consensus(doc);
  CHECK(s.present);
  CHECK(s.valid_after == "2026-11-25 21:51:20");
  CHECK(s.routers == 3);
  CHECK(s.hsdirs == 2);
  CHECK(s.hsdir_nicknames == std::vector<std::string>{"a0", "r3"});
  CHECK_FALSE(summarize_consensus("<html>404</html>").present);
}

TEST_CASE("testnet: bootstrap percentage is the last one logged", "[testnet]") {
  CHECK(last_bootstrap_percent("") == 0);
  CHECK(last_bootstrap_percent("Nov 25 [notice] Bootstrapped 5% (conn): Connecting\n"
                               "Nov 25 [notice] Bootstrapped 100% (done): Done\n") == 100);
  CHECK(last_bootstrap_percent("[notice] Bootstrapped 85% (ap_conn_done)") == 85);
  CHECK(last_bootstrap_percent("Bootstrapped lots") == 0);
}

TEST_CASE("testnet: bad options and missing state fail before starting anything", "[testnet]") {
  TempDir d;
  TestnetOptions o;
  o.dir = d.path / "net";
  o.relays = 2;
  auto r = testnet_up(o, {});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == make_error_code(TestnetErrc::bad_options));
  CHECK_FALSE(fs::exists(o.dir));

  o.relays = 3;
  o.voting_interval = 7;
  CHECK(testnet_up(o, {}).error().code == make_error_code(TestnetErrc::bad_options));

  o.voting_interval = 20;
  o.dir = d.path / "with space";
  CHECK(testnet_up(o, {}).error().code == make_error_code(TestnetErrc::bad_options));

  o.dir = d.path / "net";
  o.tor_binary = "/nonexistent/tor";
  auto nt = testnet_up(o, {});
  REQUIRE_FALSE(nt.ok());
  CHECK(nt.error().what().find("/nonexistent/tor") != std::string::npos);

  auto st = testnet_status(d.path / "nothing");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == make_error_code(TestnetErrc::no_state));
  CHECK(st.error().code.default_error_condition() == Condition::not_found);
  CHECK(testnet_down(d.path / "nothing").error().code == make_error_code(TestnetErrc::no_state));
}

// The generator (shardnode_testnet) and the node's validator (shardnode_onion) live in
// different libraries: what `testnet up` writes must be what a node accepts.
TEST_CASE("testnet: the generated client.torrc passes the node's validation, node torrcs stay local", "[testnet]") {
  TempDir d;
  TestnetState st = four_node_state(d.path);
  const fs::path file = d.path / "client.torrc";
  std::ofstream(file) << detail::client_torrc_text(st);
  auto lines = onion::load_testnet_client_options(file);
  REQUIRE(lines.ok());
  REQUIRE(lines->size() == 4);  // TestingTorNetwork, PathsNeededToBuildCircuits, 2 x DirAuthority
  CHECK((*lines)[2].second == detail::dir_authority_line(st.nodes[0]).substr(13));

  for (const auto& n : st.nodes) {
    const std::string t = detail::node_torrc(n, st.nodes, 20);
    for (const char* line : {"TestingTorNetwork 1\n", "SocksPort 0\n", "ControlPort 0\n", "Address 127.0.0.1\n"})
      CHECK(t.find(line) != std::string::npos);
    CHECK(t.find("ORPort 127.0.0.1:" + std::to_string(n.or_port) + "\n") != std::string::npos);
    CHECK((t.find("DirPort 127.0.0.1:") != std::string::npos) == n.authority);
  }
}
