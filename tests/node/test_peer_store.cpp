// PeerStore (<datadir>/peers.db): records by seq, reachability and failures, retained
// scores, the eviction rule at the cap, reopening, and refusing files that are not
// (sound) peer stores - left untouched.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "../support/temp_dir.h"
#include "shardnode/node/peer_store.h"
#include "shardnode/shard/errors.h"

using namespace shardnode;
using namespace shardnode::node;
namespace fs = std::filesystem;
using test::TempDir;

namespace {

NodeKey key(std::uint8_t fill) { return NodeKey::from_seed(Bytes(32, fill)).value(); }
PeerId id_of(const NodeKey& k) { return PeerId::from_public_key(k.public_key()); }
net::SignedPeerRecord record(const NodeKey& k, std::uint64_t seq, std::uint16_t port = 4001) {
  return net::seal_peer_record(k, seq, {Multiaddr::onion3(k.public_key(), port)});
}

std::unique_ptr<PeerStore> open_store(const fs::path& f, PeerStoreLimits l = {}) {
  auto s = PeerStore::open(f, l);
  REQUIRE(s);
  return std::move(*s);
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void expect_refused(const fs::path& f, StoreErrc code) {
  const Bytes before = read_file(f);
  auto s = PeerStore::open(f);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == code);
  CHECK(s.error().what().find("peer store " + f.string()) != std::string::npos);
  CHECK(read_file(f) == before);  // left as it was
}

std::vector<PeerId> ids(const std::vector<StoredPeer>& v) {
  std::vector<PeerId> out;
  for (const auto& p : v) out.push_back(p.peer());
  return out;
}

}  // namespace

TEST_CASE("the peer store keeps the newest record of each peer, across a reopen", "[peerstore]") {
  TempDir dir;
  const fs::path f = dir.path / "peers.db";
  const auto a = key(1), b = key(2);
  {
    auto s = open_store(f);
    struct stat st {};
    REQUIRE(::stat(f.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(s->put_record(record(a, 10, 4001), 1000).value());
    CHECK_FALSE(s->put_record(record(a, 10, 4002), 1001).value());  // same seq: kept as it was
    CHECK_FALSE(s->put_record(record(a, 9, 4003), 1002).value());   // older
    CHECK(s->put_record(record(a, 11, 4004), 1003).value());        // newer
    CHECK(s->put_record(record(b, 1), 1004).value());
    CHECK(s->count().value() == 2);
  }
  auto s = open_store(f);
  auto got = s->get(id_of(a)).value();
  REQUIRE(got);
  CHECK(got->record.record.seq == 11);
  CHECK(got->record.record.addrs == std::vector<Multiaddr>{Multiaddr::onion3(a.public_key(), 4004)});
  CHECK(got->last_seen_ms == 1003);
  CHECK(got->last_reachable_ms == 0);
  CHECK_FALSE(s->get(id_of(key(3))).value());
}

TEST_CASE("a newer record without addresses retires its identity: the peer is forgotten", "[peerstore]") {
  TempDir dir;
  auto s = open_store(dir.path / "peers.db");
  const auto a = key(1), b = key(2);
  REQUIRE(s->put_record(record(a, 10), 1000).value());
  REQUIRE(s->put_record(record(b, 10), 1000).value());
  REQUIRE(s->mark_reachable(id_of(a), 1001));
  CHECK_FALSE(s->retire(net::seal_peer_record(a, 10, {})).value());  // not newer: kept
  CHECK_FALSE(s->retire(net::seal_peer_record(a, 9, {})).value());
  REQUIRE(s->get(id_of(a)).value());
  CHECK(s->retire(net::seal_peer_record(a, 11, {})).value());
  CHECK_FALSE(s->get(id_of(a)).value());
  CHECK(s->get(id_of(b)).value());  // only that peer
  CHECK(s->count().value() == 1);
  CHECK(ids(s->candidates(10, 2000, 0, 3).value()) == std::vector<PeerId>{id_of(b)});
  CHECK_FALSE(s->retire(net::seal_peer_record(key(3), 1, {})).value());  // never held: nothing to do
}

TEST_CASE("candidates: reachable first, failing and penalised peers left out", "[peerstore]") {
  TempDir dir;
  auto s = open_store(dir.path / "peers.db");
  const auto a = key(1), b = key(2), c = key(3), d = key(4);
  REQUIRE(s->put_record(record(a, 1), 200).value());  // seen more recently than d
  for (const auto* k : {&b, &c, &d}) REQUIRE(s->put_record(record(*k, 1), 100).value());
  REQUIRE(s->mark_reachable(id_of(b), 500));
  REQUIRE(s->mark_reachable(id_of(c), 400));
  CHECK(ids(s->candidates(10, 1000, 3600000, 5).value()) == std::vector<PeerId>{id_of(b), id_of(c), id_of(a), id_of(d)});

  // c fails five dials in a row: out; a reconnect forgives the failures.
  for (int i = 0; i < 5; ++i) REQUIRE(s->mark_dial_failed(id_of(c)));
  CHECK(s->get(id_of(c)).value()->failures == 5);
  CHECK(ids(s->candidates(10, 1000, 3600000, 5).value()) == std::vector<PeerId>{id_of(b), id_of(a), id_of(d)});
  REQUIRE(s->mark_reachable(id_of(c), 600));
  CHECK(s->get(id_of(c)).value()->failures == 0);

  // b left with a negative score: skipped until retain_ms has passed; a positive
  // score is not kept.
  REQUIRE(s->retain_score(id_of(b), -50.0, 2000));
  REQUIRE(s->retain_score(id_of(c), 12.0, 2000));
  CHECK(s->get(id_of(b)).value()->score == -50.0);
  CHECK(s->get(id_of(c)).value()->score == 0.0);
  CHECK(ids(s->candidates(10, 3000, 3600000, 5).value()) == std::vector<PeerId>{id_of(c), id_of(a), id_of(d)});
  CHECK(ids(s->candidates(10, 2000 + 3600000 + 1, 3600000, 5).value()).size() == 4);
  CHECK(s->candidates(2, 3000, 3600000, 5).value().size() == 2);
}

TEST_CASE("at the cap the least recently reachable peer is evicted, never a recently reachable one", "[peerstore]") {
  TempDir dir;
  PeerStoreLimits l;
  l.max_peers = 3;
  auto s = open_store(dir.path / "peers.db", l);
  const auto a = key(1), b = key(2), c = key(3), d = key(4), e = key(5);
  REQUIRE(s->put_record(record(a, 1), 100).value());
  REQUIRE(s->put_record(record(b, 1), 200).value());
  REQUIRE(s->put_record(record(c, 1), 300).value());
  REQUIRE(s->mark_reachable(id_of(a), 1000));
  REQUIRE(s->mark_dial_failed(id_of(c)));
  // d arrives: b and c were never reachable; c has failed more - c goes.
  REQUIRE(s->put_record(record(d, 1), 400).value());
  CHECK(s->count().value() == 3);
  CHECK_FALSE(s->get(id_of(c)).value());
  // e arrives: b and d never reachable, no failures; b was seen longer ago - b goes.
  REQUIRE(s->put_record(record(e, 1), 500).value());
  CHECK_FALSE(s->get(id_of(b)).value());
  CHECK(s->get(id_of(a)).value());  // reachable: kept
  CHECK(s->get(id_of(d)).value());
  CHECK(s->get(id_of(e)).value());  // the newcomer itself is never the one evicted
}

TEST_CASE("a peer store file that is not one is refused and left untouched", "[peerstore]") {
  TempDir dir;
  SECTION("text") {
    const fs::path f = dir.path / "peers.db";
    write_file(f, Bytes(300, 'x'));
    expect_refused(f, StoreErrc::not_a_database);
  }
  SECTION("a collation store, or another application's database") {
    const fs::path f = dir.path / "other.db";
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(f.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    expect_refused(f, StoreErrc::foreign_database);
  }
  SECTION("a newer schema") {
    const fs::path f = dir.path / "peers.db";
    { auto s = open_store(f); }
    Bytes b = read_file(f);
    REQUIRE(b.size() > 64);
    b[63] = static_cast<std::uint8_t>(kPeerStoreSchemaVersion + 1);  // user_version, big-endian at 60
    write_file(f, b);
    expect_refused(f, StoreErrc::newer_schema);
  }
  SECTION("garbled pages") {
    const fs::path f = dir.path / "peers.db";
    {
      auto s = open_store(f);
      for (std::uint8_t i = 1; i < 60; ++i) REQUIRE(s->put_record(record(key(i), 1), i).value());
    }
    Bytes b = read_file(f);
    REQUIRE(b.size() >= 3 * 4096);
    for (std::size_t i = 4096; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(0xa5 ^ (i * 7));
    write_file(f, b);
    expect_refused(f, StoreErrc::corrupt);
  }
}

TEST_CASE("a stored record that no longer verifies is reported, never returned", "[peerstore]") {
  TempDir dir;
  const fs::path f = dir.path / "peers.db";
  const auto a = key(1);
  { REQUIRE(open_store(f)->put_record(record(a, 1), 1).value()); }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(f.c_str(), &db) == SQLITE_OK);
  // Flip a byte inside the envelope's signature.
  REQUIRE(sqlite3_exec(db,
                       "UPDATE peers SET envelope = substr(envelope, 1, length(envelope) - 1) || "
                       "CASE WHEN substr(envelope, -1) = x'00' THEN x'01' ELSE x'00' END",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto s = open_store(f);
  auto got = s->get(id_of(a));
  REQUIRE_FALSE(got);
  CHECK(got.error().code == StoreErrc::corrupt);
  CHECK_FALSE(s->candidates(10, 10, 1000, 5));
}
