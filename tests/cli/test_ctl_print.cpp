// `shardnode ctl` output: --json is protobuf's canonical JSON (snake_case names,
// defaults printed, bytes base64, 64-bit integers as strings) and parses back into
// the same message; every result of the schema has a human-readable printer.
#include <catch2/catch.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <sstream>

#include "ctl_print.h"

using namespace shardnode;
namespace pb = shardnode::control::v1;

namespace {

std::string json_of(const pb::Response& r) {
  std::string out, error;
  INFO(error);
  REQUIRE(cli::response_json(r, out, error));
  return out;
}

// The JSON parses back (as grpcurl or python's json_format would read it) into `r`.
void round_trips(const pb::Response& r) {
  pb::Response back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json_of(r), &back).ok());
  CHECK(back.SerializeAsString() == r.SerializeAsString());
}

}  // namespace

TEST_CASE("ctl --json: a jump result, 64-bit integers as strings and defaults printed", "[control][cli]") {
  pb::Response r;
  r.set_id(7);
  auto* j = r.mutable_jump();
  j->set_shard(5);
  j->set_completed(true);
  j->set_took_ms(812);
  j->set_dialled(2);
  j->add_shards(5);
  CHECK(json_of(r) == R"({"id":"7","jump":{"shard":5,"completed":true,"took_ms":"812","dialled":2,"shards":[5]}})");
  round_trips(r);

  pb::Response started;
  started.set_id(1);
  started.mutable_jump()->set_shard(6);
  CHECK(json_of(started) == R"({"id":"1","jump":{"shard":6,"completed":false,"took_ms":"0","dialled":0,"shards":[]}})");
  round_trips(started);
}

TEST_CASE("ctl --json: a collation event, bytes as base64", "[control][cli]") {
  pb::Response r;
  r.set_id(1);
  auto* e = r.mutable_event();
  e->set_shard(5);
  e->set_period(149637853);
  e->set_hash(std::string(32, '\xff'));
  e->set_parent_hash(std::string(32, '\0'));
  e->set_proposer("\x01\x02\x03");
  e->set_body_size(2);
  e->set_body("hi");
  const std::string ff = "//////////////////////////////////////////8=";  // 32 bytes of 0xff
  const std::string zero = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  CHECK(json_of(r) == R"({"id":"1","event":{"shard":5,"period":"149637853","hash":")" + ff +
                          R"(","parent_hash":")" + zero +
                          R"(","proposer":"AQID","body_size":"2","body":"aGk=","body_omitted":false}})");
  round_trips(r);
}

TEST_CASE("ctl --json: an error names its code", "[control][cli]") {
  pb::Response r;
  r.set_id(3);
  r.mutable_error()->set_code(pb::Error::NOT_FOUND);
  r.mutable_error()->set_message("no stream with id 9");
  CHECK(json_of(r) == R"({"id":"3","error":{"code":"NOT_FOUND","message":"no stream with id 9"}})");
  round_trips(r);
  // A code this client does not know (a newer node) still prints, as its number.
  r.mutable_error()->set_code(static_cast<pb::Error::Code>(42));
  CHECK(json_of(r) == R"({"id":"3","error":{"code":42,"message":"no stream with id 9"}})");
}

TEST_CASE("ctl: every result of the schema has a printer", "[control][cli]") {
  const auto* oneof = pb::Response::descriptor()->FindOneofByName("result");
  REQUIRE(oneof != nullptr);
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto* f = oneof->field(i);
    INFO("Response." << f->name() << " (field " << f->number() << ")");
    CHECK(cli::find_printer(static_cast<pb::Response::ResultCase>(f->number())) != nullptr);
  }
  CHECK(cli::find_printer(pb::Response::RESULT_NOT_SET) == nullptr);
}

TEST_CASE("ctl: human-readable jump and event lines", "[control][cli]") {
  pb::Response r;
  r.set_id(7);
  r.mutable_jump()->set_shard(5);
  r.mutable_jump()->set_completed(true);
  r.mutable_jump()->set_took_ms(812);
  r.mutable_jump()->set_dialled(2);
  r.mutable_jump()->add_shards(5);
  std::ostringstream out;
  cli::print_human(out, r, false);
  CHECK(out.str() == "jump to shard 5 completed in 812 ms (2 dialled)\nshards: 5\n");

  pb::Response ev;
  ev.set_id(1);
  ev.mutable_event()->set_shard(5);
  ev.mutable_event()->set_period(9);
  ev.mutable_event()->set_hash(std::string(2, '\xab'));
  ev.mutable_event()->set_proposer(std::string(9, '\x01'));
  ev.mutable_event()->set_body_size(3);
  ev.mutable_event()->set_body("a\nb");
  std::ostringstream o2;
  cli::print_human(o2, ev, true);
  CHECK(o2.str() == "shard 5 period 9 hash abab proposer 0101010101010101 size 3 body hex:610a62\n");
}
