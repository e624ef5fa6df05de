// The embedded tor (libtor.a linked into this test binary). Every tor started here
// runs with DisableNetwork 1. ctest runs each TEST_CASE in its own process because
// tor runs at most once per process.
#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <sstream>

#include "shardnode/core/errors.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/log.h"
#include "shardnode/onion/embedded_tor.h"
#include "shardnode/onion/onion_service.h"
#include "shardnode/onion/errors.h"
#include "support/temp_dir.h"

using namespace shardnode;
using namespace shardnode::onion;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {
using test::TempDir;

// Threads of this process now. The first thread a process creates makes
// ThreadSanitizer start its own background thread, so one thread is started and
// joined first: the count then changes only with threads that stay.
std::size_t thread_count() {
  static const bool warmed = [] {
    std::thread([] {}).join();
    return true;
  }();
  (void)warmed;
  return static_cast<std::size_t>(std::distance(fs::directory_iterator("/proc/self/task"), fs::directory_iterator()));
}

std::unique_ptr<EmbeddedTor> start_tor(const fs::path& dir) {
  EmbeddedTorOptions o;
  o.data_dir = dir / "tor";
  o.disable_network = true;
  auto t = EmbeddedTor::start(o);
  if (!t) FAIL(t.error().message);
  return std::move(*t);
}

// The libp2p spec's Ed25519 key and its onion address computed independently.
constexpr const char* kSpecSeed = "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d";
constexpr const char* kSpecOnion = "d3i6r6xcysqujof6r7kli67t2ozuxby4hswpmaipbzbni5h44j7kjoyd";
}  // namespace

TEST_CASE("embedded tor reports the linked version, stops within its deadline and leaves no thread",
          "[tor]") {
  TempDir t;
  const std::size_t threads_before = thread_count();
  auto tor = start_tor(t.path);
  CHECK(tor->running());
  auto v = tor->control().getinfo("version", 5s);
  REQUIRE(v);
  CHECK("tor " + *v == EmbeddedTor::provider_version());
  CHECK_THAT(EmbeddedTor::provider_version(), Catch::StartsWith("tor 0."));
  CHECK(fs::status(t.path / "tor").permissions() == (fs::perms::owner_all));

  const auto t0 = std::chrono::steady_clock::now();
  Status st = tor->stop(5s);
  const auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(st);
  CHECK(took < 5s);
  CHECK_FALSE(tor->running());
  CHECK(tor->exit_code() == 0);
  CHECK(thread_count() == threads_before);
  CHECK(tor->stop(1s));  // idempotent
}

TEST_CASE("a second embedded tor in the same process is refused with a clear error", "[tor]") {
  TempDir t;
  auto first = start_tor(t.path);
  EmbeddedTorOptions o;
  o.data_dir = t.path / "tor2";
  auto second = EmbeddedTor::start(o);
  REQUIRE_FALSE(second);
  CHECK(second.error().code == OnionErrc::already_started);
  CHECK(second.error().code == Condition::state_violation);
  CHECK_THAT(second.error().message, Catch::Contains("once per process"));
  CHECK_FALSE(fs::exists(t.path / "tor2"));
  // The first is unaffected.
  CHECK(first->control().getinfo("version", 5s));
  REQUIRE(first->stop(5s));
  // And tor cannot be restarted after it stopped either.
  auto third = EmbeddedTor::start(o);
  REQUIRE_FALSE(third);
  CHECK(third.error().code == OnionErrc::already_started);
}

TEST_CASE("tor derives exactly our onion address from ADD_ONION ED25519-V3:<expanded key>", "[tor][onion]") {
  TempDir t;
  auto tor = start_tor(t.path);
  NodeKey spec = std::move(NodeKey::from_seed(*hex_decode(kSpecSeed)).value());
  NodeKey fresh = NodeKey::generate();
  for (const NodeKey* k : {&spec, &fresh}) {
    const std::string cmd = "ADD_ONION ED25519-V3:" + k->tor_expanded_key_base64() +
                            " Flags=DiscardPK Port=4001,unix:" + (t.path / "in.sock").string();
    auto r = tor->control().command(cmd, 10s);
    REQUIRE(r);
    REQUIRE(r->is_success());
    std::string sid;
    for (const auto& l : r->lines)
      if (l.text.rfind("ServiceID=", 0) == 0) sid = l.text.substr(10);
    CHECK(sid == onion_address(k->public_key()));
    // Nothing else in the reply: DiscardPK and a supplied key mean no PrivateKey line.
    for (const auto& l : r->lines) CHECK(l.text.find("PrivateKey") == std::string::npos);
    REQUIRE(del_onion_service(tor->control(), sid, 5s));
  }
  CHECK(onion_address(spec.public_key()) == kSpecOnion);
  REQUIRE(tor->stop(5s));
}

TEST_CASE("the node's onion service registers with the PoW defence, and its key is never logged",
          "[tor][onion][privacy]") {
  TempDir t;
  std::ostringstream captured;
  REQUIRE(logging::configure({"trace", "", {}}));
  logging::set_sinks({std::make_shared<spdlog::sinks::ostream_sink_mt>(captured)});
  auto tor = start_tor(t.path);
  NodeKey k = NodeKey::generate();
  OnionServiceOptions so;
  so.target = "unix:" + (t.path / "in.sock").string();
  so.pow_defense = true;  // needs a tor built with --enable-gpl
  so.max_streams = 16;
  auto sid = add_onion_service(tor->control(), k, so);
  if (!sid) FAIL(sid.error().message);
  CHECK(*sid == onion_address(k.public_key()));
  auto cur = tor->control().getinfo("onions/current", 5s);
  REQUIRE(cur);
  CHECK_THAT(*cur, Catch::Contains(*sid));
  REQUIRE(tor->stop(5s));
  const std::string log = captured.str();
  CHECK_THAT(log, Catch::Contains("ADD_ONION ED25519-V3:<redacted>"));
  CHECK_THAT(log, !Catch::Contains(k.tor_expanded_key_base64()));
  CHECK_THAT(log, !Catch::Contains(hex_encode(k.to_libp2p_private_key())));
  logging::set_sinks({});
}

TEST_CASE("a tor that cannot start reports why and where to look", "[tor]") {
  TempDir t;
  EmbeddedTorOptions o;
  o.data_dir = t.path / "tor";
  o.extra_options = {{"NoSuchTorOption", "1"}};
  o.start_timeout = 20s;
  const std::size_t threads_before = thread_count();
  auto r = EmbeddedTor::start(o);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == OnionErrc::start_failed);
  CHECK_THAT(r.error().message, Catch::Contains("exited with code") && Catch::Contains("tor.log"));
  CHECK(thread_count() == threads_before);
}

TEST_CASE("a control command with a line break is refused before it reaches tor", "[tor][control]") {
  TempDir t;
  auto tor = start_tor(t.path);
  auto r = tor->control().command("GETINFO version\r\nSIGNAL SHUTDOWN", 5s);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == OnionErrc::control_protocol);
  CHECK(tor->control().getinfo("version", 5s));
  auto bad = tor->control().command_ok("GETINFO no-such-key", 5s);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == OnionErrc::command_failed);
  CHECK_THAT(bad.error().message, Catch::Contains("552"));
  REQUIRE(tor->stop(5s));
}
