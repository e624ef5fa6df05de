#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "shardnode/core/errors.h"
#include "shardnode/core/key_file.h"
#include "support/temp_dir.h"

using namespace shardnode;
namespace fs = std::filesystem;

namespace {
using test::TempDir;

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

Bytes read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

void write_raw(const fs::path& p, const Bytes& b, mode_t mode = 0600) {
  { std::ofstream f(p, std::ios::binary | std::ios::trunc); f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size())); }
  ::chmod(p.c_str(), mode);
}
}  // namespace

TEST_CASE("keygen writes a 0600 key in a new 0700 datadir and it loads back", "[keyfile]") {
  TempDir t;
  const fs::path dir = t.path / "node";
  const fs::path p = identity_key_path(dir);
  NodeKey k = NodeKey::generate();
  REQUIRE(write_new_key_file(p, k));
  CHECK(mode_of(p) == 0600);
  CHECK(mode_of(dir) == 0700);
  CHECK(fs::file_size(p) == 68);
  auto back = load_key_file(p);
  REQUIRE(back);
  CHECK(back->public_key() == k.public_key());
  // no temporary file left behind
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
}

TEST_CASE("keygen refuses to overwrite an existing key", "[keyfile]") {
  TempDir t;
  const fs::path p = identity_key_path(t.path);
  NodeKey first = NodeKey::generate();
  REQUIRE(write_new_key_file(p, first));
  const Bytes before = read_all(p);
  Status st = write_new_key_file(p, NodeKey::generate());
  REQUIRE_FALSE(st);
  CHECK(st.error().code == CoreErrc::key_exists);
  CHECK(st.error().code == Condition::already_exists);
  CHECK_THAT(st.error().message, Catch::Contains("refusing to overwrite"));
  CHECK(read_all(p) == before);
  CHECK(std::distance(fs::directory_iterator(t.path), fs::directory_iterator()) == 1);
}

TEST_CASE("keygen refuses to write through a symlink at the key path", "[keyfile]") {
  TempDir t;
  fs::create_symlink(t.path / "elsewhere", identity_key_path(t.path));
  REQUIRE_FALSE(write_new_key_file(identity_key_path(t.path), NodeKey::generate()));
  CHECK_FALSE(fs::exists(t.path / "elsewhere"));
}

TEST_CASE("corrupt, short and exposed key files are rejected with a clear error", "[keyfile]") {
  TempDir t;
  const fs::path p = identity_key_path(t.path);
  NodeKey k = NodeKey::generate();
  const Bytes good = k.to_libp2p_private_key();

  SECTION("missing") {
    auto r = load_key_file(p);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Condition::not_found);
    CHECK_THAT(r.error().message, Catch::Contains("shardnode keygen"));
  }
  SECTION("short") {
    write_raw(p, Bytes(good.begin(), good.begin() + 40));
    auto r = load_key_file(p);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("40 bytes") && Catch::Contains(p.string()));
  }
  SECTION("empty") {
    write_raw(p, {});
    CHECK_FALSE(load_key_file(p));
  }
  SECTION("one flipped bit in the seed") {
    Bytes bad = good;
    bad[10] ^= 0x01;
    write_raw(p, bad);
    auto r = load_key_file(p);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("corrupt"));
  }
  SECTION("wrong key type") {
    Bytes bad = good;
    bad[1] = 0;  // RSA
    write_raw(p, bad);
    auto r = load_key_file(p);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("Ed25519"));
  }
  SECTION("readable by others") {
    write_raw(p, good, 0644);
    auto r = load_key_file(p);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("0644") && Catch::Contains("chmod 600"));
  }
  SECTION("a directory") {
    fs::create_directory(p);
    CHECK_FALSE(load_key_file(p));
  }
}
