// Tor-facing decoders: the SOCKS5 client codec (tor's replies) and the control
// port's replies and events.
#include <string>
#include <string_view>

#include "../fuzz.h"
#include "shardnode/onion/control_events.h"
#include "shardnode/onion/control_reply.h"
#include "shardnode/onion/socks5.h"

namespace shardnode::fuzz {

// The input is what tor answers, in fuzzer-chosen pieces; we send what the codec
// asks for between pieces.
SHARDNODE_FUZZ_TARGET(socks5) {
  Input in(data, size);
  auto c = onion::Socks5Connect::create(
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.onion", 4001, "user", "pass");
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(c));
  while (!in.empty()) {
    (void)c->take_output();
    auto st = c->feed(in.chunk());
    if (!st || *st != onion::Socks5Connect::State::need_more) {
      if (st && *st == onion::Socks5Connect::State::failed) (void)onion::describe(c->reply());
      (void)c->take_leftover();
      SHARDNODE_FUZZ_CHECK(!c->feed(in.rest()));  // finished: more input is refused
      return;
    }
  }
}

// The control connection's byte stream (pieces chosen by the fuzzer) through the
// reply parser; every reply then goes through each parser the node applies to
// replies and events.
SHARDNODE_FUZZ_TARGET(tor_control) {
  Input in(data, size);
  onion::ReplyParser parser;
  while (!in.empty()) {
    const ByteView piece = in.chunk();
    if (!parser.feed(std::string_view(reinterpret_cast<const char*>(piece.data()), piece.size()))) break;
    while (auto r = parser.next()) {
      SHARDNODE_FUZZ_CHECK(!r->lines.empty());
      (void)r->final_text();
      (void)onion::parse_bootstrap_event(*r);
      (void)onion::parse_hs_desc_event(*r);
      (void)onion::parse_protocolinfo(*r);
      (void)onion::parse_authchallenge(*r);
      for (const auto& l : r->lines) {
        (void)onion::parse_key_values(l.text);
        (void)onion::parse_bootstrap_phase(l.text);
        (void)onion::redact_reply_text(l.text);
        (void)onion::unquote(l.text);
      }
    }
  }
}

}  // namespace shardnode::fuzz
