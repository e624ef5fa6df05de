// CollationStore: round trips, reopen, idempotence, ranges, pruning, refusing files
// that are not (sound, current) collation stores, and surviving a SIGKILL.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "../support/shard_keys.h"
#include "shardnode/core/errors.h"
#include "shardnode/shard/collation.h"
#include "shardnode/shard/store.h"
#include "shardnode/shard/validator_key.h"
#include "shardnode/shard/errors.h"

using namespace shardnode;
using namespace shardnode::shard;
namespace fs = std::filesystem;

namespace {

using test::h32;
using test::vkey;

Bytes body_of(std::size_t n, std::uint8_t salt = 0) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 31 + 7 + salt);
  return b;
}

// A short directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/snstXXXXXX";
    const char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path operator/(const char* name) const { return path_ / name; }

 private:
  fs::path path_;
};

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const Bytes& b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  REQUIRE(out.good());
}

std::unique_ptr<SqliteCollationStore> open_ok(const fs::path& p) {
  auto s = SqliteCollationStore::open(p, {});
  INFO((s ? std::string() : s.error().what()));
  REQUIRE(s);
  return std::move(*s);
}

// A store holding `n` collations of shard 1 with ~1 KB bodies (several pages), closed.
void make_store(const fs::path& p, int n) {
  auto s = open_ok(p);
  const ValidatorKey k = vkey(3);
  for (int i = 0; i < n; ++i) {
    auto r = s->put(make_collation(k, 1, static_cast<std::uint64_t>(i), h32(0), body_of(1000, static_cast<std::uint8_t>(i))));
    REQUIRE(r);
  }
}

// Expects `p` to be refused with `errc`, by a message naming the file, and left byte for byte.
void expect_refused(const fs::path& p, StoreErrc errc) {
  const Bytes before = read_file(p);
  auto s = SqliteCollationStore::open(p, {});
  REQUIRE_FALSE(s);
  INFO(s.error().what());
  CHECK(s.error().code == errc);
  CHECK(s.error().what().find(p.string()) != std::string::npos);
  CHECK(read_file(p) == before);
  // Refused again the same way: nothing was repaired or replaced.
  auto again = SqliteCollationStore::open(p, {});
  REQUIRE_FALSE(again);
  CHECK(again.error().code == errc);
  CHECK(read_file(p) == before);
}

}  // namespace

TEST_CASE("the store round trips collations and keeps them across a reopen", "[shard][store]") {
  TempDir dir;
  const fs::path file = dir / "c.db";
  const ValidatorKey k = vkey(1);
  const Collation a = make_collation(k, 2, 10, h32(1), body_of(100));
  const Collation b = make_collation(k, 2, 11, h32(2), body_of(0));
  {
    auto s = open_ok(file);
    CHECK(s->count().value() == 0);
    CHECK(s->put(a).value());
    CHECK(s->put(b).value());
    CHECK_FALSE(s->put(a).value());  // idempotent
    CHECK(s->count().value() == 2);
    CHECK(s->contains(collation_hash(a.header)));
    CHECK_FALSE(s->contains(h32(9)));
    auto got = s->get(collation_hash(a.header));
    REQUIRE(got);
    REQUIRE(got->has_value());
    CHECK(**got == a);
    auto none = s->get(h32(9));
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
  }
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto s = open_ok(file);
  CHECK(s->count().value() == 2);
  CHECK(s->get(collation_hash(b.header)).value() == std::optional<Collation>(b));
  CHECK_FALSE(s->put(b).value());
}

TEST_CASE("the store refuses collations that would not read back", "[shard][store]") {
  TempDir dir;
  auto s = open_ok(dir / "c.db");
  Collation bad = make_collation(vkey(1), 2, 10, h32(1), body_of(10));
  bad.body[0] ^= 1;
  auto r = s->put(bad);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ShardErrc::body_mismatch);
  Collation forged = make_collation(vkey(1), 2, 10, h32(1), body_of(10));
  forged.signature[0] ^= 1;
  CHECK(s->put(forged).error().code == ShardErrc::bad_signature);
  CHECK(s->count().value() == 0);
}

TEST_CASE("ranges are ordered by period then hash and honour count and byte caps", "[shard][store]") {
  TempDir dir;
  auto s = open_ok(dir / "c.db");
  const ValidatorKey k1 = vkey(1);
  const ValidatorKey k2 = vkey(2);
  std::vector<Collation> all;
  for (std::uint64_t p : {5u, 3u, 4u, 3u, 7u}) {
    all.push_back(make_collation(p % 2 == 0 ? k1 : k2, 1, p, h32(static_cast<std::uint8_t>(all.size())), body_of(100)));
    REQUIRE(s->put(all.back()).value());
  }
  REQUIRE(s->put(make_collation(k1, 2, 4, h32(0), body_of(100))).value());  // another shard

  auto r = s->range(1, 3, 5, 100, 1 << 20);
  REQUIRE(r);
  CHECK_FALSE(r->truncated);
  REQUIRE(r->collations.size() == 4);
  for (std::size_t i = 1; i < r->collations.size(); ++i) {
    const auto& x = r->collations[i - 1].header;
    const auto& y = r->collations[i].header;
    CHECK(x.shard == 1);
    CHECK((x.period < y.period || (x.period == y.period && collation_hash(x) < collation_hash(y))));
  }
  CHECK(r->collations.front().header.period == 3);
  CHECK(r->collations.back().header.period == 5);

  SECTION("count cap") {
    auto c = s->range(1, 0, 100, 2, 1 << 20);
    REQUIRE(c);
    CHECK(c->collations.size() == 2);
    CHECK(c->truncated);
    auto exact = s->range(1, 0, 100, 5, 1 << 20);
    CHECK(exact->collations.size() == 5);
    CHECK_FALSE(exact->truncated);
  }
  SECTION("byte cap") {
    const std::size_t one = encode(all[0]).size();
    auto c = s->range(1, 0, 100, 100, 2 * one + one / 2);
    REQUIRE(c);
    CHECK(c->collations.size() == 2);
    CHECK(c->truncated);
    auto none = s->range(1, 0, 100, 100, one - 1);
    CHECK(none->collations.empty());
    CHECK(none->truncated);
  }
  SECTION("empty and inverted ranges") {
    CHECK(s->range(1, 8, 100, 10, 1 << 20)->collations.empty());
    CHECK(s->range(1, 5, 3, 10, 1 << 20)->collations.empty());
    CHECK(s->range(9, 0, 100, 10, 1 << 20)->collations.empty());
    CHECK(s->range(1, 0, 100, 0, 1 << 20)->truncated);
  }
  SECTION("prune") {
    CHECK(s->prune_before(5).value() == 4);  // 3, 3, 4 and shard 2's 4
    CHECK(s->count().value() == 2);
    CHECK(s->prune_before(5).value() == 0);
    CHECK(s->range(1, 0, 100, 10, 1 << 20)->collations.size() == 2);
    CHECK_FALSE(s->contains(collation_hash(all[1].header)));
  }
}

TEST_CASE("a file that is not a database is refused and left untouched", "[shard][store]") {
  TempDir dir;
  const fs::path text = dir / "notes.txt";
  const std::string words = "these are not the collations you are looking for\n";
  write_file(text, Bytes(words.begin(), words.end()));
  expect_refused(text, StoreErrc::not_a_database);
  const fs::path noise = dir / "noise.db";
  write_file(noise, body_of(8192));
  expect_refused(noise, StoreErrc::not_a_database);
}

TEST_CASE("a truncated or garbled database is refused and left untouched", "[shard][store]") {
  TempDir dir;
  const fs::path file = dir / "c.db";
  make_store(file, 40);
  const Bytes good = read_file(file);
  REQUIRE(good.size() >= 16 * 4096);

  SECTION("truncated to a few pages") {
    write_file(file, Bytes(good.begin(), good.begin() + 3 * 4096));
    expect_refused(file, StoreErrc::corrupt);
  }
  SECTION("truncated inside the header") {
    write_file(file, Bytes(good.begin(), good.begin() + 50));  // the magic string survives
    expect_refused(file, StoreErrc::corrupt);
  }
  SECTION("pages overwritten with garbage") {
    Bytes bad = good;
    for (std::size_t i = 4096; i < 4 * 4096; ++i) bad[i] = static_cast<std::uint8_t>(0xa5 ^ (i * 7));
    write_file(file, bad);
    expect_refused(file, StoreErrc::corrupt);
  }
  SECTION("a garbled header") {
    Bytes bad = good;
    bad[3] ^= 0xff;  // "SQLite format 3"
    write_file(file, bad);
    expect_refused(file, StoreErrc::not_a_database);
  }
}

TEST_CASE("a store with a newer schema version is refused", "[shard][store]") {
  TempDir dir;
  const fs::path file = dir / "c.db";
  make_store(file, 1);
  Bytes b = read_file(file);
  REQUIRE(b.size() > 64);
  b[60] = 0;  // PRAGMA user_version: 4 bytes big-endian at offset 60
  b[61] = 0;
  b[62] = 0;
  b[63] = static_cast<std::uint8_t>(kStoreSchemaVersion + 1);
  write_file(file, b);
  expect_refused(file, StoreErrc::newer_schema);
}

TEST_CASE("every committed put survives a SIGKILL of the process", "[shard][store][crash]") {
  TempDir dir;
  const fs::path file = dir / "c.db";
  constexpr int kPuts = 50;
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child: no Catch2 here; any failure exits with a code the parent reports.
    auto s = SqliteCollationStore::open(file, {});
    if (!s) ::_exit(2);
    const ValidatorKey k = vkey(7);
    for (int i = 0; i < kPuts; ++i) {
      auto r = (*s)->put(make_collation(k, 3, static_cast<std::uint64_t>(i), h32(1), body_of(200, static_cast<std::uint8_t>(i))));
      if (!r || !*r) ::_exit(3);
    }
    ::raise(SIGKILL);
    ::_exit(4);  // not reached
  }
  int status = 0;
  pid_t waited = -1;
  for (int tries = 0; tries < 100 && waited != pid; ++tries) {
    waited = ::waitpid(pid, &status, 0);
    if (waited < 0 && errno != EINTR) break;
  }
  REQUIRE(waited == pid);
  INFO("child status " << status);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(fs::exists(dir / "c.db-wal"));  // the child never closed the store

  auto s = open_ok(file);
  CHECK(s->count().value() == kPuts);
  auto r = s->range(3, 0, kPuts, kPuts + 1, 1 << 24);
  REQUIRE(r);
  REQUIRE(r->collations.size() == kPuts);
  for (std::size_t i = 0; i < r->collations.size(); ++i) {
    CHECK(r->collations[i].header.period == i);
    CHECK(r->collations[i].body == body_of(200, static_cast<std::uint8_t>(i)));
  }
}
