// Tor control-protocol reply parsing, from replies recorded from tor 0.4.9.11
// and from malformed input.
#include <catch2/catch.hpp>

#include "shardnode/core/errors.h"
#include "shardnode/onion/control_reply.h"
#include "shardnode/onion/errors.h"

using namespace shardnode;
using namespace shardnode::onion;

namespace {
std::vector<Reply> feed_all(std::string_view bytes, std::size_t chunk = 0) {
  ReplyParser p;
  if (chunk == 0) {
    REQUIRE(p.feed(bytes));
  } else {
    for (std::size_t i = 0; i < bytes.size(); i += chunk) REQUIRE(p.feed(bytes.substr(i, chunk)));
  }
  std::vector<Reply> out;
  while (auto r = p.next()) out.push_back(std::move(*r));
  CHECK(p.idle());
  return out;
}
Error feed_error(std::string_view bytes) {
  ReplyParser p;
  Status s = p.feed(bytes);
  REQUIRE_FALSE(s);
  CHECK(p.failed());
  CHECK_FALSE(p.feed("250 OK\r\n"));  // stays failed
  return s.error();
}
}  // namespace

TEST_CASE("single-line and multi-line replies", "[control]") {
  auto r = feed_all("250 OK\r\n");
  REQUIRE(r.size() == 1);
  CHECK(r[0].code == 250);
  CHECK(r[0].is_success());
  CHECK(r[0].final_text() == "OK");

  // Recorded: ADD_ONION with a supplied key and DiscardPK.
  r = feed_all("250-ServiceID=d3i6r6xcysqujof6r7kli67t2ozuxby4hswpmaipbzbni5h44j7kjoyd\r\n250 OK\r\n");
  REQUIRE(r.size() == 1);
  REQUIRE(r[0].lines.size() == 2);
  CHECK(r[0].lines[0].sep == '-');
  CHECK(r[0].lines[0].text == "ServiceID=d3i6r6xcysqujof6r7kli67t2ozuxby4hswpmaipbzbni5h44j7kjoyd");

  r = feed_all("552 Unrecognized option: Unknown option 'Bogus'.  Failing.\r\n");
  REQUIRE(r.size() == 1);
  CHECK_FALSE(r[0].is_success());
  CHECK(r[0].final_text() == "Unrecognized option: Unknown option 'Bogus'.  Failing.");
}

TEST_CASE("data replies are dot-unstuffed", "[control]") {
  const std::string wire =
      "250+config-text=\r\n"
      "DataDirectory /tmp/x\r\n"
      "..leading dot\r\n"
      "\r\n"
      ".\r\n"
      "250 OK\r\n";
  for (std::size_t chunk : {0u, 1u, 3u, 7u}) {
    auto r = feed_all(wire, chunk);
    REQUIRE(r.size() == 1);
    REQUIRE(r[0].lines.size() == 2);
    CHECK(r[0].lines[0].sep == '+');
    CHECK(r[0].lines[0].data == "DataDirectory /tmp/x\n.leading dot\n");
  }
}

TEST_CASE("async events interleave with replies and keep their order", "[control]") {
  auto r = feed_all(
      "650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"Connecting to a relay\"\r\n"
      "250-version=0.4.9.11\r\n250 OK\r\n"
      "650 HS_DESC UPLOADED d3i6r6xcysqujof6r7kli67t2ozuxby4hswpmaipbzbni5h44j7kjoyd UNKNOWN $AAAA\r\n");
  REQUIRE(r.size() == 3);
  CHECK(r[0].is_async());
  CHECK_FALSE(r[1].is_async());
  CHECK(r[2].is_async());
}

TEST_CASE("bare LF line endings are accepted", "[control]") {
  auto r = feed_all("250-a=b\n250 OK\n");
  REQUIRE(r.size() == 1);
  CHECK(r[0].lines[0].text == "a=b");
}

TEST_CASE("malformed replies fail the parser with a reason", "[control]") {
  CHECK_THAT(feed_error("25\r\n").message, Catch::Contains("short reply line"));
  CHECK_THAT(feed_error("2x0 OK\r\n").message, Catch::Contains("3-digit"));
  CHECK_THAT(feed_error("250_OK\r\n").message, Catch::Contains("bad separator"));
  CHECK_THAT(feed_error("250-a\r\n251 OK\r\n").message, Catch::Contains("status code changed"));
  CHECK_THAT(feed_error("099 OK\r\n").message, Catch::Contains("out of range"));
  std::string long_line = "250 " + std::string(ReplyParser::kMaxLineLength + 10, 'a') + "\r\n";
  CHECK_THAT(feed_error(long_line).message, Catch::Contains("line longer"));
  // A line that never ends is capped too.
  CHECK_THAT(feed_error("250 " + std::string(ReplyParser::kMaxLineLength + 10, 'a')).message,
             Catch::Contains("line longer"));
  auto e = feed_error("xyz\r\n");
  CHECK(e.code == OnionErrc::control_protocol);
  CHECK(e.code == Condition::invalid_input);
}

TEST_CASE("an endless data reply is capped", "[control]") {
  ReplyParser p;
  REQUIRE(p.feed("250+big=\r\n"));
  const std::string line(1000, 'x');
  Status s;
  for (std::size_t i = 0; i < ReplyParser::kMaxReplyBytes / 1000 + 10 && s; ++i) s = p.feed(line + "\r\n");
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Catch::Contains("reply larger"));
}

TEST_CASE("an incomplete reply is held until its end line arrives", "[control]") {
  ReplyParser p;
  REQUIRE(p.feed("250-ServiceID=abc\r\n250 O"));
  CHECK_FALSE(p.next());
  CHECK_FALSE(p.idle());
  REQUIRE(p.feed("K\r\n"));
  CHECK(p.next());
}

TEST_CASE("quoted strings round trip through every escape", "[control]") {
  const std::string raw = std::string("a\"b\\c\nd\re\tf") + '\x01' + "g\x7f";
  const std::string q = quote(raw);
  CHECK(q == "\"a\\\"b\\\\c\\nd\\re\\tf\\001g\\177\"");
  std::size_t used = 0;
  auto back = unquote(q + " tail", &used);
  REQUIRE(back);
  CHECK(*back == raw);
  CHECK(used == q.size());
}

TEST_CASE("malformed quoted strings are rejected", "[control]") {
  CHECK_FALSE(unquote("no quotes"));
  CHECK_FALSE(unquote("\"unterminated"));
  CHECK_FALSE(unquote("\"bad escape \\q\""));
  CHECK_FALSE(unquote("\"octal \\777\""));
  CHECK_FALSE(unquote("\"ends in backslash \\"));
}

TEST_CASE("KEY=VALUE parsing with positional words and quoted values", "[control]") {
  auto kv = parse_key_values("NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done \\\"ok\\\"\"");
  REQUIRE(kv);
  CHECK(kv->positional == std::vector<std::string>{"NOTICE", "BOOTSTRAP"});
  CHECK(kv->values.at("PROGRESS") == "100");
  CHECK(kv->values.at("SUMMARY") == "Done \"ok\"");
  CHECK(kv->values.at("TAG") == "done");
  CHECK_FALSE(parse_key_values("A=\"x\"garbage"));
  CHECK_FALSE(parse_key_values("A=1 positional"));
  CHECK_FALSE(parse_key_values("=1"));
  CHECK_FALSE(parse_key_values("A=\"open"));
}

TEST_CASE("commands and replies carrying keys are redacted for logs", "[control][privacy]") {
  const std::string blob = "SECRETBLOBSECRETBLOB+/==";
  const std::string cmd = "ADD_ONION ED25519-V3:" + blob + " Flags=DiscardPK Port=4001,unix:/x/in.sock";
  const std::string red = redact_command(cmd);
  CHECK_THAT(red, !Catch::Contains(blob));
  CHECK(red == "ADD_ONION ED25519-V3:<redacted> Flags=DiscardPK Port=4001,unix:/x/in.sock");
  CHECK(redact_command("AUTHENTICATE 0a1b2c") == "AUTHENTICATE <redacted>");
  CHECK(redact_command("add_onion ED25519-V3:" + blob) == "add_onion ED25519-V3:<redacted>");
  CHECK_THAT(redact_command("ONION_CLIENT_AUTH_ADD xyz x25519:" + blob), !Catch::Contains(blob));
  CHECK(redact_reply_text("PrivateKey=ED25519-V3:" + blob) == "PrivateKey=<redacted>");
  CHECK(redact_command("GETINFO version") == "GETINFO version");
}
