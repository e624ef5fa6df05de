// Bootstrap and HS_DESC event parsing, from lines in the exact form tor 0.4.9.11
// writes them (control_bootstrap.c, control_events.c control_event_hs_descriptor_*,
// test_hs_control.c), and from malformed ones.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "shardnode/core/errors.h"
#include "shardnode/onion/control_events.h"
#include "shardnode/onion/errors.h"

using namespace shardnode;
using namespace shardnode::onion;

namespace {

const std::string kAddr = "d3i6r6xcysqujof6r7kli67t2ozuxby4hswpmaipbzbni5h44j7kjoyd";
const std::string kFp = "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const std::string kBlinded = "e3wBvBFZL1aYWjVTbFqW9Qnid0YX0BXkUIhNmhTiAmk";  // base64, 43 chars
const std::string kIndex = "4444444444444444444444444444444444444444444444444444444444444444";

// One reply from the wire bytes of a single reply.
Reply reply_of(const std::string& wire) {
  ReplyParser p;
  REQUIRE(p.feed(wire));
  auto r = p.next();
  REQUIRE(r);
  return *r;
}
Reply event(const std::string& text) { return reply_of("650 " + text + "\r\n"); }

void require_protocol_error(const Error& e) { CHECK(e.code == make_error_code(OnionErrc::control_protocol)); }

}  // namespace

TEST_CASE("event_name is the first word of an async reply", "[events]") {
  CHECK(event_name(event("STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"Connecting to a relay\"")) ==
        "STATUS_CLIENT");
  CHECK(event_name(event("HS_DESC UPLOADED " + kAddr + " UNKNOWN " + kFp)) == "HS_DESC");
  CHECK(event_name(event("SIGNAL")) == "SIGNAL");
  CHECK(event_name(reply_of("650+HS_DESC_CONTENT " + kAddr + " " + kBlinded + " " + kFp +
                            "\r\nhs-descriptor 3\r\n.\r\n650 OK\r\n")) == "HS_DESC_CONTENT");
  CHECK(event_name(reply_of("250 OK\r\n")).empty());
  CHECK(event_name(reply_of("552 Unrecognized event \"FOO\"\r\n")).empty());
  CHECK(event_name(Reply{}).empty());
}

TEST_CASE("bootstrap NOTICE events", "[events]") {
  auto st = parse_bootstrap_event(
      event("STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn_done "
            "SUMMARY=\"Connected to a relay to build circuits\""));
  REQUIRE(st);
  CHECK(st->progress == 85);
  CHECK(st->tag == "ap_conn_done");
  CHECK(st->summary == "Connected to a relay to build circuits");
  CHECK_FALSE(st->problem);
  CHECK(st->warning.empty());
  CHECK(st->reason.empty());

  st = parse_bootstrap_event(event("STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\""));
  REQUIRE(st);
  CHECK(st->progress == 100);
  CHECK(st->tag == "done");

  st = parse_bootstrap_event(event("STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY=\"Starting\""));
  REQUIRE(st);
  CHECK(st->progress == 0);
}

TEST_CASE("bootstrap WARN events are problems", "[events]") {
  // control_event_bootstrap_problem: always severity WARN, RECOMMENDATION ignore|warn.
  auto st = parse_bootstrap_event(event(
      "STATUS_CLIENT WARN BOOTSTRAP PROGRESS=14 TAG=handshake SUMMARY=\"Handshaking with a relay\" "
      "WARNING=\"Connection refused\" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore "
      "HOSTID=\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" HOSTADDR=\"127.0.0.1:5003\""));
  REQUIRE(st);
  CHECK(st->problem);
  CHECK(st->progress == 14);
  CHECK(st->tag == "handshake");
  CHECK(st->warning == "Connection refused");
  CHECK(st->reason == "CONNECTREFUSED");

  st = parse_bootstrap_event(event(
      "STATUS_CLIENT WARN BOOTSTRAP PROGRESS=10 TAG=conn_done SUMMARY=\"Connected to a relay\" "
      "WARNING=\"Clock skew -7300 in NETINFO cell from OR\" REASON=CLOCK_SKEW COUNT=1 RECOMMENDATION=warn "
      "HOSTID=\"?\" HOSTADDR=\"?\""));
  REQUIRE(st);
  CHECK(st->problem);
  CHECK(st->reason == "CLOCK_SKEW");
  CHECK(st->warning == "Clock skew -7300 in NETINFO cell from OR");

  // A WARNING= field alone marks a problem too.
  auto ph = parse_bootstrap_phase("NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"x\" WARNING=\"y\" REASON=NOROUTE");
  REQUIRE(ph);
  CHECK(ph->problem);
  CHECK(ph->reason == "NOROUTE");
}

TEST_CASE("GETINFO status/bootstrap-phase values", "[events]") {
  auto st = parse_bootstrap_phase("NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"");
  REQUIRE(st);
  CHECK(st->progress == 100);
  CHECK(st->summary == "Done");
  CHECK_FALSE(st->problem);
  // Unknown fields are tolerated (control-spec: controllers must accept new keywords).
  st = parse_bootstrap_phase("NOTICE BOOTSTRAP PROGRESS=50 TAG=loading_descriptors SUMMARY=\"Loading\" NEWKEY=1");
  REQUIRE(st);
  CHECK(st->progress == 50);
  // The WARN form GETINFO returns after a problem.
  st = parse_bootstrap_phase(
      "WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"Connecting to a relay\" WARNING=\"No route to host\" "
      "REASON=NOROUTE COUNT=10 RECOMMENDATION=warn HOSTID=\"?\" HOSTADDR=\"?\"");
  REQUIRE(st);
  CHECK(st->problem);
}

TEST_CASE("malformed bootstrap status is an error", "[events][malformed]") {
  const std::vector<std::string> bad = {
      "",
      "NOTICE",
      "NOTICE BOOTSTRAP",                                          // no PROGRESS
      "NOTICE BOOTSTRAP TAG=done SUMMARY=\"Done\"",                 // no PROGRESS
      "NOTICE BOOTSTRAP PROGRESS= TAG=done",                        // empty
      "NOTICE BOOTSTRAP PROGRESS=abc TAG=done",                     // non-numeric
      "NOTICE BOOTSTRAP PROGRESS=-5 TAG=done",                      // negative
      "NOTICE BOOTSTRAP PROGRESS=101 TAG=done",                     // out of range
      "NOTICE BOOTSTRAP PROGRESS=99999999999999999999 TAG=done",    // overflow
      "NOTICE BOOTSTRAP PROGRESS=5x TAG=conn",                      // trailing garbage
      "NOTICE BOOTSTRAP PROGRESS=5",                                // no TAG
      "NOTICE BOOTSTRAP PROGRESS=5 TAG=",                           // empty TAG
      "NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"unterminated",
      "NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"a\"b",
      "DEBUG BOOTSTRAP PROGRESS=5 TAG=conn",                        // unknown severity
      "NOTICE CIRCUIT_ESTABLISHED",                                 // another status event
      "NOTICE BOOTSTRAP EXTRA PROGRESS=5 TAG=conn",
      "BOOTSTRAP PROGRESS=5 TAG=conn",
  };
  for (const auto& text : bad) {
    INFO(text);
    auto st = parse_bootstrap_phase(text);
    REQUIRE_FALSE(st);
    require_protocol_error(st.error());
  }
}

TEST_CASE("parse_bootstrap_event rejects other events and replies", "[events][malformed]") {
  auto r = parse_bootstrap_event(reply_of("250 OK\r\n"));
  REQUIRE_FALSE(r);
  require_protocol_error(r.error());
  r = parse_bootstrap_event(event("STATUS_GENERAL NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"x\""));
  REQUIRE_FALSE(r);
  r = parse_bootstrap_event(event("STATUS_CLIENT NOTICE CIRCUIT_ESTABLISHED"));
  REQUIRE_FALSE(r);
  r = parse_bootstrap_event(event("STATUS_CLIENT NOTICE ENOUGH_DIR_INFO"));
  REQUIRE_FALSE(r);
  r = parse_bootstrap_event(event("HS_DESC UPLOADED " + kAddr + " UNKNOWN " + kFp));
  REQUIRE_FALSE(r);
  r = parse_bootstrap_event(event("STATUS_CLIENT"));
  REQUIRE_FALSE(r);
  r = parse_bootstrap_event(Reply{});
  REQUIRE_FALSE(r);
}

TEST_CASE("HS_DESC events as tor 0.4.9 writes them", "[events]") {
  using A = HsDescEvent::Action;

  // control_event_hs_descriptor_created
  auto ev = parse_hs_desc_event(event("HS_DESC CREATED " + kAddr + " UNKNOWN UNKNOWN " + kBlinded));
  REQUIRE(ev);
  CHECK(ev->action == A::created);
  CHECK(ev->address == kAddr);
  CHECK(ev->auth_type == "UNKNOWN");
  CHECK(ev->hsdir.empty());
  CHECK(ev->descriptor_id == kBlinded);

  // control_event_hs_descriptor_upload
  ev = parse_hs_desc_event(event("HS_DESC UPLOAD " + kAddr + " UNKNOWN " + kFp + "~TestDir " + kBlinded +
                                 " HSDIR_INDEX=" + kIndex));
  REQUIRE(ev);
  CHECK(ev->action == A::upload);
  CHECK(ev->hsdir == kFp + "~TestDir");
  CHECK(ev->descriptor_id == kBlinded);
  CHECK(ev->hsdir_index == kIndex);

  // control_event_hs_descriptor_uploaded: no descriptor id
  ev = parse_hs_desc_event(event("HS_DESC UPLOADED " + kAddr + " UNKNOWN " + kFp + "~relay3"));
  REQUIRE(ev);
  CHECK(ev->action == A::uploaded);
  CHECK(ev->address == kAddr);
  CHECK(ev->hsdir == kFp + "~relay3");
  CHECK(ev->descriptor_id.empty());
  CHECK(ev->reason.empty());

  // control_event_hs_descriptor_upload_failed
  ev = parse_hs_desc_event(event("HS_DESC FAILED " + kAddr + " UNKNOWN " + kFp + " REASON=UPLOAD_REJECTED"));
  REQUIRE(ev);
  CHECK(ev->action == A::failed);
  CHECK(ev->hsdir == kFp);
  CHECK(ev->reason == "UPLOAD_REJECTED");

  // Fetch side: REQUESTED, RECEIVED, FAILED (test_hs_control.c shapes).
  ev = parse_hs_desc_event(event("HS_DESC REQUESTED " + kAddr + " NO_AUTH " + kFp + "=TestDir " + kBlinded +
                                 " HSDIR_INDEX=" + kIndex));
  REQUIRE(ev);
  CHECK(ev->action == A::requested);
  CHECK(ev->auth_type == "NO_AUTH");
  CHECK(ev->hsdir == kFp + "=TestDir");
  ev = parse_hs_desc_event(event("HS_DESC RECEIVED " + kAddr + " NO_AUTH " + kFp + "~TestDir " + kBlinded));
  REQUIRE(ev);
  CHECK(ev->action == A::received);
  ev = parse_hs_desc_event(event("HS_DESC FAILED " + kAddr + " NO_AUTH " + kFp + " " + kBlinded +
                                 " REASON=NOT_FOUND"));
  REQUIRE(ev);
  CHECK(ev->action == A::failed);
  CHECK(ev->descriptor_id == kBlinded);
  CHECK(ev->reason == "NOT_FOUND");
  // No HSDir known: "UNKNOWN".
  ev = parse_hs_desc_event(event("HS_DESC FAILED " + kAddr + " NO_AUTH UNKNOWN " + kBlinded +
                                 " REASON=QUERY_NO_HSDIR"));
  REQUIRE(ev);
  CHECK(ev->hsdir.empty());
  CHECK(ev->reason == "QUERY_NO_HSDIR");
  // Address UNKNOWN, and the spec's IGNORE action and REPLICA field; unknown keys tolerated.
  ev = parse_hs_desc_event(event("HS_DESC IGNORE UNKNOWN REND_V3_AUTH " + kFp + " REPLICA=1 FUTURE=x"));
  REQUIRE(ev);
  CHECK(ev->action == A::ignore);
  CHECK(ev->address.empty());
  CHECK(ev->auth_type == "REND_V3_AUTH");
  CHECK(std::string(to_string(A::uploaded)) == "UPLOADED");
}

TEST_CASE("malformed HS_DESC events are errors", "[events][malformed]") {
  const std::vector<std::string> bad = {
      "HS_DESC",
      "HS_DESC UPLOADED",
      "HS_DESC UPLOADED " + kAddr,
      "HS_DESC UPLOADED " + kAddr + " UNKNOWN",                                   // no HSDir
      "HS_DESC UPLOADED " + kAddr + " UNKNOWN " + kFp + " " + kBlinded + " extra",  // 6 positional
      "HS_DESC DELETED " + kAddr + " UNKNOWN " + kFp,                             // unknown action
      "HS_DESC uploaded " + kAddr + " UNKNOWN " + kFp,                            // actions are upper case
      "HS_DESC UPLOADED " + kAddr.substr(1) + " UNKNOWN " + kFp,                  // 55-char address
      "HS_DESC UPLOADED " + kAddr + ".onion UNKNOWN " + kFp,
      "HS_DESC UPLOADED D3I6R6XCYSQUJOF6R7KLI67T2OZUXBY4HSWPMAIPBZBNI5H44J7KJOYD UNKNOWN " + kFp,
      "HS_DESC UPLOADED " + kAddr + " no_auth " + kFp,                            // bad auth type
      "HS_DESC UPLOADED " + kAddr + " UNKNOWN AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  // no '$'
      "HS_DESC UPLOADED " + kAddr + " UNKNOWN $AAAA",                             // short fingerprint
      "HS_DESC UPLOADED " + kAddr + " UNKNOWN " + kFp + "~",                      // empty nickname
      "HS_DESC UPLOADED " + kAddr + " UNKNOWN " + kFp + "~waytoolongnickname12345",
      "HS_DESC UPLOADED " + kAddr + " UNKNOWN $ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
      "HS_DESC UPLOAD " + kAddr + " UNKNOWN " + kFp + " " + kBlinded + " HSDIR_INDEX=12",      // short index
      "HS_DESC UPLOAD " + kAddr + " UNKNOWN " + kFp + " " + kBlinded + " HSDIR_INDEX=" +
          std::string(64, 'g'),
      "HS_DESC FAILED " + kAddr + " UNKNOWN " + kFp + " REASON=",
      "HS_DESC FAILED " + kAddr + " UNKNOWN " + kFp + " REASON=\"unterminated",
      "HS_DESC FAILED " + kAddr + " UNKNOWN " + kFp + " REASON=UPLOAD_REJECTED " + kBlinded,  // positional after key
      "HS_DESC RECEIVED " + kAddr + " NO_AUTH " + kFp + " bad!descid",
      "HS_DESC_CONTENT " + kAddr + " " + kBlinded + " " + kFp,                    // another event
      "STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn",
  };
  for (const auto& text : bad) {
    INFO(text);
    auto ev = parse_hs_desc_event(event(text));
    REQUIRE_FALSE(ev);
    require_protocol_error(ev.error());
  }
  auto ev = parse_hs_desc_event(reply_of("250 HS_DESC UPLOADED " + kAddr + " UNKNOWN " + kFp + "\r\n"));
  REQUIRE_FALSE(ev);
  ev = parse_hs_desc_event(Reply{});
  REQUIRE_FALSE(ev);
}

TEST_CASE("BootstrapTracker keeps the highest progress and the last problem", "[events]") {
  BootstrapTracker t;
  CHECK(t.progress() == 0);
  CHECK_FALSE(t.done());
  CHECK_FALSE(t.has_problem());
  CHECK(t.describe() == "0%: no bootstrap report from tor yet");

  auto feed = [&t](const std::string& text) {
    auto st = parse_bootstrap_phase(text);
    REQUIRE(st);
    t.update(*st);
  };
  feed("NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"Connecting to a relay\"");
  CHECK(t.progress() == 5);
  CHECK(t.tag() == "conn");
  CHECK(t.describe() == "5% (conn): Connecting to a relay");

  feed("WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY=\"Connecting to a relay\" WARNING=\"Connection refused\" "
       "REASON=CONNECTREFUSED COUNT=1 RECOMMENDATION=ignore HOSTID=\"?\" HOSTADDR=\"?\"");
  CHECK(t.has_problem());
  CHECK(t.problem_warning() == "Connection refused");
  CHECK(t.problem_reason() == "CONNECTREFUSED");
  CHECK(t.describe() == "5% (conn): Connecting to a relay; problem: Connection refused (CONNECTREFUSED)");

  // An older report does not move progress back (nor the tag).
  feed("NOTICE BOOTSTRAP PROGRESS=2 TAG=old SUMMARY=\"Old\"");
  CHECK(t.progress() == 5);
  CHECK(t.tag() == "conn");
  CHECK(t.has_problem());

  // Progress past the problem clears it.
  feed("NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn_done SUMMARY=\"Connected to a relay to build circuits\"");
  CHECK(t.progress() == 85);
  CHECK_FALSE(t.has_problem());
  CHECK(t.problem_warning().empty());
  CHECK_FALSE(t.done());

  feed("NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY=\"Done\"");
  CHECK(t.done());
  CHECK(t.progress() == 100);
  CHECK(t.summary() == "Done");
  CHECK(t.describe() == "100% (done): Done");
}
