// The control API's dispatch table against the schema: every op of
// src/node/proto/control.proto's `Request.op` has exactly one handler, and the
// table names no op the schema lacks. Adding an op to the proto without a handler
// fails here.
#include <catch2/catch.hpp>

#include <google/protobuf/descriptor.h>

#include <set>

#include "shardnode/node/detail/control_ops.h"

using namespace shardnode::node;
namespace pb = shardnode::control::v1;

TEST_CASE("control dispatch: every op of the schema has a handler", "[control]") {
  const auto* oneof = pb::Request::descriptor()->FindOneofByName("op");
  REQUIRE(oneof != nullptr);
  REQUIRE(oneof->field_count() > 0);
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto* f = oneof->field(i);
    INFO("Request." << f->name() << " (field " << f->number() << ")");
    const auto* op = control::find_op(static_cast<pb::Request::OpCase>(f->number()));
    REQUIRE(op != nullptr);
    CHECK(op->handle != nullptr);
  }
  CHECK(control::dispatch_table().size() == static_cast<std::size_t>(oneof->field_count()));
}

TEST_CASE("control dispatch: the table has one row per op, each an op of the schema", "[control]") {
  const auto* oneof = pb::Request::descriptor()->FindOneofByName("op");
  REQUIRE(oneof != nullptr);
  std::set<int> seen;
  for (const auto& row : control::dispatch_table()) {
    INFO("row for op case " << static_cast<int>(row.op));
    const auto* f = pb::Request::descriptor()->FindFieldByNumber(static_cast<int>(row.op));
    REQUIRE(f != nullptr);
    CHECK(f->containing_oneof() == oneof);
    CHECK(seen.insert(static_cast<int>(row.op)).second);
    CHECK(control::find_op(row.op) == &row);
  }
  // A request without an op is not dispatched to any handler (it gets BAD_REQUEST).
  CHECK(control::find_op(pb::Request::OP_NOT_SET) == nullptr);
}
