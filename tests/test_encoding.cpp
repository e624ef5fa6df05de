#include <catch2/catch.hpp>

#include "shardnode/core/bytes.h"

using namespace shardnode;

namespace {
Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }
}  // namespace

TEST_CASE("hex round trip and malformed input", "[encoding]") {
  CHECK(hex_encode(B("\x01\xab\xff")) == "01abff");
  CHECK(hex_decode("01ABff") == B("\x01\xab\xff"));
  CHECK_FALSE(hex_decode("abc"));   // odd length
  CHECK_FALSE(hex_decode("zz"));    // not hex
  CHECK(hex_decode("")->empty());
}

TEST_CASE("base32 matches RFC 4648 vectors (lowercase, unpadded)", "[encoding]") {
  const std::pair<const char*, const char*> v[] = {
      {"", ""}, {"f", "my"}, {"fo", "mzxq"}, {"foo", "mzxw6"}, {"foob", "mzxw6yq"},
      {"fooba", "mzxw6ytb"}, {"foobar", "mzxw6ytboi"}};
  for (auto [plain, enc] : v) {
    CHECK(base32_encode(B(plain)) == enc);
    CHECK(base32_decode(enc) == B(plain));
  }
  CHECK(base32_decode("MZXW6YTBOI") == B("foobar"));  // either case
}

TEST_CASE("base32 rejects malformed text", "[encoding]") {
  CHECK_FALSE(base32_decode("mzxw6ytboi=="));  // padding
  CHECK_FALSE(base32_decode("mzxw1"));         // '1' not in alphabet
  CHECK_FALSE(base32_decode("m"));             // impossible length
  CHECK_FALSE(base32_decode("mzx"));           // impossible length
  CHECK_FALSE(base32_decode("mz"));            // "f" is "my": non-zero trailing bits
}

TEST_CASE("base58btc matches known vectors and keeps leading zeros", "[encoding]") {
  CHECK(base58_encode(B("Hello World!")) == "2NEpo7TZRRrLZSi2U");
  CHECK(base58_decode("2NEpo7TZRRrLZSi2U") == B("Hello World!"));
  const Bytes z = {0, 0, 0, 0x28, 0x7f, 0xb4, 0xcd};
  CHECK(base58_encode(z) == "111233QC4");
  CHECK(base58_decode("111233QC4") == z);
  CHECK(base58_encode(Bytes{0}) == "1");
  CHECK(base58_encode(Bytes{}).empty());
}

TEST_CASE("base58btc rejects characters outside its alphabet", "[encoding]") {
  for (const char* bad : {"0abc", "Oabc", "Iabc", "labc", "ab c", "ab\xff"}) CHECK_FALSE(base58_decode(bad));
}

TEST_CASE("base64 round trip and malformed input", "[encoding]") {
  CHECK(base64_encode(B("foobar")) == "Zm9vYmFy");
  CHECK(base64_encode(B("fooba")) == "Zm9vYmE=");
  CHECK(base64_decode("Zm9vYmE=") == B("fooba"));
  CHECK_FALSE(base64_decode("Zm9vYmE"));    // missing padding
  CHECK_FALSE(base64_decode("Zm9v!mE="));   // bad character
  CHECK_FALSE(base64_decode("Zm9vYmE=x"));  // trailing garbage
}
