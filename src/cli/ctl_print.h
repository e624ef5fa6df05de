// How `shardnode ctl` prints a control API response (docs/CONTROL.md): protobuf's
// canonical JSON with --json, else one human-readable printer per Response.result.
// Adding an operation to the API adds a printer to the table in ctl_print.cpp
// (tests/cli/test_ctl_print.cpp fails while a result of the schema has none).
#pragma once

#include <ostream>
#include <string>

#include "control.pb.h"

namespace shardnode::cli {

// `r` as one line of protobuf's canonical JSON (proto3 JSON mapping), printed with
//   preserve_proto_field_names = true    (snake_case, as in control.proto)
//   always_print_primitive_fields = true (zeros, false, "" and [] are printed)
// and no whitespace. So bytes are base64 and 64-bit integers are strings (proto3
// JSON), enums are their names. Fails only if protobuf cannot print the message.
bool response_json(const control::v1::Response& r, std::string& out, std::string& error);

using ResponsePrinter = void (*)(std::ostream& out, const control::v1::Response& r, bool with_body);
// The human-readable printer for a result; nullptr for RESULT_NOT_SET or a result
// this client has no printer for.
ResponsePrinter find_printer(control::v1::Response::ResultCase result);
// Prints `r` with its printer (a note for a result without one); with_body: print
// the bodies of stream events.
void print_human(std::ostream& out, const control::v1::Response& r, bool with_body);

}  // namespace shardnode::cli
