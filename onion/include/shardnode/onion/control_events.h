// Tor asynchronous control events (control-spec §4.1) that the node acts on:
// bootstrap status (STATUS_CLIENT ... BOOTSTRAP, and GETINFO status/bootstrap-phase)
// and onion-service descriptor progress (HS_DESC). Sans-IO: parsers take the
// `Reply` that ReplyParser produced.
#pragma once

#include <string>
#include <string_view>

#include "shardnode/core/result.h"
#include "shardnode/onion/control_reply.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {

// The event keyword of an asynchronous (6xx) reply: the first word of its first
// line ("STATUS_CLIENT", "HS_DESC", "HS_DESC_CONTENT"). Empty for other replies.
std::string event_name(const Reply& reply);

// One bootstrap status report. Tor sends
//   NOTICE BOOTSTRAP PROGRESS=85 TAG=ap_conn_done SUMMARY="..."
// and, when stuck (control_event_bootstrap_problem, always severity WARN),
//   WARN BOOTSTRAP PROGRESS=.. TAG=.. SUMMARY=".." WARNING=".." REASON=.. COUNT=..
//        RECOMMENDATION=ignore|warn HOSTID=".." HOSTADDR=".."
struct BootstrapStatus {
  int progress = 0;        // 0..100
  std::string tag;         // "conn", "ap_conn_done", "done", ...
  std::string summary;
  std::string warning;     // WARNING=, empty unless a problem
  std::string reason;      // REASON= (e.g. "CONNECTREFUSED", "NOROUTE", "CLOCK_SKEW")
  bool problem = false;    // severity WARN/ERR or a WARNING= field
};

// `650 STATUS_CLIENT <severity> BOOTSTRAP ...`. OnionErrc::control_protocol when the
// reply is another event or a malformed one (missing, non-numeric or out-of-range
// PROGRESS, missing TAG, bad quoting).
Result<BootstrapStatus> parse_bootstrap_event(const Reply& reply);
// The value of `GETINFO status/bootstrap-phase` ("NOTICE BOOTSTRAP PROGRESS=100 ...").
Result<BootstrapStatus> parse_bootstrap_phase(std::string_view text);

// `650 HS_DESC Action HSAddress AuthType HsDir [DescriptorID] [REASON=..]
// [REPLICA=..] [HSDIR_INDEX=..]` as sent by tor 0.4.9 (control_events.c
// control_event_hs_descriptor_*). Unknown KEY=VALUE fields are ignored.
struct HsDescEvent {
  enum class Action { requested, upload, received, uploaded, ignore, failed, created };
  Action action = Action::requested;
  std::string address;        // 56-char v3 service id without ".onion"; empty if tor said UNKNOWN
  std::string auth_type;      // "NO_AUTH", "REND_V3_AUTH" or "UNKNOWN"
  std::string hsdir;          // "$<40 hex>[~|=nick]" as tor wrote it; empty if UNKNOWN
  std::string descriptor_id;  // base64 blinded key (v3); empty when absent
  std::string reason;         // REASON= ("UPLOAD_REJECTED", "NOT_FOUND", ...); empty when absent
  std::string hsdir_index;    // HSDIR_INDEX= (64 hex); empty when absent
};

Result<HsDescEvent> parse_hs_desc_event(const Reply& reply);
const char* to_string(HsDescEvent::Action action);

// Folds bootstrap reports into what the node shows and waits on. Progress never
// goes backwards; a problem is kept until progress moves past where it happened.
class BootstrapTracker {
 public:
  void update(const BootstrapStatus& status);

  int progress() const { return progress_; }  // highest seen, 0 before any report
  bool done() const { return progress_ >= 100; }
  const std::string& tag() const { return tag_; }
  const std::string& summary() const { return summary_; }
  bool has_problem() const { return has_problem_; }
  const std::string& problem_warning() const { return warning_; }
  const std::string& problem_reason() const { return reason_; }
  // "85% (ap_conn_done): Connected to a relay to build circuits", plus
  // "; problem: <warning> (<reason>)" while a problem stands.
  std::string describe() const;

 private:
  int progress_ = 0;
  bool seen_ = false;
  std::string tag_, summary_;
  bool has_problem_ = false;
  int problem_progress_ = 0;
  std::string warning_, reason_;
};

}  // namespace shardnode::onion
