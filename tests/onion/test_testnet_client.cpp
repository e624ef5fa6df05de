// onion/testnet_client.h: client.torrc validation (what an embedded node appends to
// its tor to join a private network written by `shardnode testnet up`).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "shardnode/core/errors.h"
#include "shardnode/onion/testnet_client.h"
#include "shardnode/onion/errors.h"
#include "../support/temp_dir.h"

using namespace shardnode;
using namespace shardnode::onion;
namespace fs = std::filesystem;

namespace {

using test::TempDir;

const std::string kA0 =
    "DirAuthority a0 orport=18828 no-v2 v3ident=9FDA9299671D353446A2CBF3273D920D998B0F1A 127.0.0.1:18835 "
    "189C222EE51F2CAC97C03D43500E378F8CCBB061";
const std::string kA1 =
    "DirAuthority a1 orport=18829 no-v2 v3ident=F5E1B659D5EB62C3B80B0CB65835FC1774488206 127.0.0.1:18836 "
    "2A4C 6D04 AB8B FC65 ADBA D8BB 3813 302A 884D C1DF";

fs::path write(const TempDir& d, const std::string& text) {
  const fs::path p = d.path / "client.torrc";
  std::ofstream(p) << text;
  return p;
}

std::string load_error(const std::string& text) {
  TempDir d;
  auto r = load_testnet_client_options(write(d, text));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == make_error_code(TestnetErrc::bad_client_config));
  CHECK(r.error().code.default_error_condition() == Condition::invalid_input);
  return r.error().what();
}

}  // namespace

TEST_CASE("testnet client torrc: the generated form loads in order", "[testnet]") {
  TempDir d;
  auto r = load_testnet_client_options(
      write(d, "# comment\n\nTestingTorNetwork 1\n  PathsNeededToBuildCircuits 0.67\n" + kA0 + "\n" + kA1 + "\r\n"));
  REQUIRE(r.ok());
  REQUIRE(r->size() == 4);
  CHECK((*r)[0] == std::pair<std::string, std::string>{"TestingTorNetwork", "1"});
  CHECK((*r)[1] == std::pair<std::string, std::string>{"PathsNeededToBuildCircuits", "0.67"});
  CHECK((*r)[2].first == "DirAuthority");
  CHECK((*r)[2].second == kA0.substr(13));
  CHECK((*r)[3].second.rfind("a1 orport=18829", 0) == 0);
}

TEST_CASE("testnet client torrc: a wan client's loopback OutboundBindAddress is accepted", "[testnet]") {
  TempDir d;
  auto r = load_testnet_client_options(write(d, "TestingTorNetwork 1\nOutboundBindAddress 127.0.2.3\n" + kA0 + "\n"));
  REQUIRE(r.ok());
  CHECK((*r)[1] == std::pair<std::string, std::string>{"OutboundBindAddress", "127.0.2.3"});
}

TEST_CASE("testnet client torrc: unsafe or incomplete files are rejected with file:line", "[testnet]") {
  CHECK(load_error("PathsNeededToBuildCircuits 0.67\n" + kA0 + "\n").find("missing 'TestingTorNetwork 1'") !=
        std::string::npos);
  CHECK(load_error("TestingTorNetwork 0\n" + kA0 + "\n").find("client.torrc:1: TestingTorNetwork must be 1") !=
        std::string::npos);
  CHECK(load_error("TestingTorNetwork 1\n").find("no DirAuthority") != std::string::npos);
  // A public authority would take the node onto the public network.
  const std::string public_auth =
      "DirAuthority moria1 orport=9201 no-v2 v3ident=F533C81CEF0BC0267857C99B2F471ADF249FA232 128.31.0.39:9231 "
      "1A25C6358DB91342AA51720A5038B72742732498";
  CHECK(load_error("TestingTorNetwork 1\n" + kA0 + "\n" + public_auth + "\n").find("client.torrc:3:") !=
        std::string::npos);
  CHECK(load_error("TestingTorNetwork 1\n" + public_auth + "\n").find("not on loopback") != std::string::npos);
  CHECK(load_error("TestingTorNetwork 1\n" + kA0 + "\nSocksPort 9050\n").find("client.torrc:3: option 'SocksPort'") !=
        std::string::npos);
  CHECK(load_error("TestingTorNetwork 1\nDataDirectory /tmp/x\n" + kA0 + "\n").find("not allowed") !=
        std::string::npos);
  CHECK(
      load_error("TestingTorNetwork 1\nDirAuthority a0 orport=1 v3ident=XYZ 127.0.0.1:1 " + std::string(40, 'A') + "\n")
          .find("v3ident") != std::string::npos);
  CHECK(load_error("TestingTorNetwork 1\nDirAuthority a0 no-v2 v3ident=" + std::string(40, 'A') + " 127.0.0.1:1 ABC\n")
            .find("fingerprint") != std::string::npos);
  CHECK(load_error("TestingTorNetwork 1\nDirAuthority a0 no-v2 127.0.0.1:1 " + std::string(40, 'A') + "\n")
            .find("without v3ident") != std::string::npos);
  CHECK(load_error("TestingTorNetwork 1\nDirAuthority a0 bridge v3ident=" + std::string(40, 'A') + " 127.0.0.1:1 " +
                   std::string(40, 'A') + "\n")
            .find("unsupported flag 'bridge'") != std::string::npos);
  CHECK(load_error("TestingTorNetwork 1\n" + kA0 + "\nPathsNeededToBuildCircuits 2\n").find("(0, 1]") !=
        std::string::npos);
  CHECK(load_error("TestingTorNetwork 1 # yes\n" + kA0 + "\n").find("inline comments") != std::string::npos);
  CHECK(load_error("TestingTorNetwork\n" + kA0 + "\n").find("has no value") != std::string::npos);

  // --latency wan: an outbound address, on loopback only.
  CHECK(load_error("TestingTorNetwork 1\n" + kA0 + "\nOutboundBindAddress 10.0.0.5\n").find("not on loopback") !=
        std::string::npos);
  CHECK(load_error("TestingTorNetwork 1\n" + kA0 + "\nOutboundBindAddress eth0\n").find("not an IPv4 address") !=
        std::string::npos);

  auto missing = load_testnet_client_options("/nonexistent/client.torrc");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().what().find("/nonexistent/client.torrc") != std::string::npos);
}
