// A sans-IO SOCKS5 CONNECT client (RFC 1928) with username/password authentication
// (RFC 1929), for dialing through tor's SocksPort. Tor uses the credentials for
// stream isolation (IsolateSOCKSAuth), so they are always sent. Only hostnames are
// ever given to tor (ATYP 3): resolving or passing IP literals would leak.
//
// Use: write take_output(), feed() what the proxy sends, write take_output() again
// after each feed, until feed() says connected or failed; bytes that came after
// the CONNECT reply are in take_leftover().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {

// REP codes of RFC 1928 §6 plus tor's ExtendedErrors (SocksPort flag, tor(1)).
enum class Socks5Reply : std::uint8_t {
  succeeded = 0,
  general_failure = 1,
  not_allowed = 2,
  network_unreachable = 3,
  host_unreachable = 4,
  connection_refused = 5,
  ttl_expired = 6,
  command_not_supported = 7,
  address_type_not_supported = 8,
  onion_descriptor_not_found = 0xF0,
  onion_descriptor_invalid = 0xF1,
  onion_intro_failed = 0xF2,
  onion_rendezvous_failed = 0xF3,
  onion_missing_client_auth = 0xF4,
  onion_wrong_client_auth = 0xF5,
  onion_bad_address = 0xF6,
  onion_intro_timed_out = 0xF7,
};

const char* describe(Socks5Reply reply);
// Worth retrying later (the service may just have come up, or a circuit failed):
// general_failure, host_unreachable, ttl_expired, F0, F2, F3, F7.
bool is_retryable(Socks5Reply reply);

class Socks5Connect {
 public:
  static constexpr std::size_t kMaxField = 255;

  // SocksErrc::bad_request for: a host that is empty, longer than 255 bytes, holds
  // NUL/whitespace/control bytes, or is an IPv4/IPv6 literal (any form inet_aton
  // accepts, bracketed or not); port 0; a username or password of 0 or > 255 bytes.
  static Result<Socks5Connect> create(std::string host, std::uint16_t port, std::string username,
                                      std::string password);

  // Bytes to write now: the greeting at first, the auth request after the method
  // reply, the CONNECT request after the auth reply. Empty when nothing is due.
  std::vector<std::uint8_t> take_output();

  enum class State { need_more, connected, failed };
  // Errors (the codec stays failed): SocksErrc::protocol (bad version, reserved
  // byte != 0, unknown ATYP, a method we did not offer), no_acceptable_method
  // (0xFF), auth_failed, bad_state (fed after it finished or failed). A CONNECT
  // reply with a non-zero code is State::failed, with the code in reply().
  Result<State> feed(std::span<const std::uint8_t> in);

  Socks5Reply reply() const { return reply_; }
  // Bytes that arrived after the CONNECT reply (already application data).
  std::vector<std::uint8_t> take_leftover();

 private:
  enum class Phase { method, auth, connect, done, error };
  Socks5Connect() = default;
  Error fail(std::error_code code, std::string msg);

  std::string host_, username_, password_;
  std::uint16_t port_ = 0;
  Phase phase_ = Phase::method;
  std::vector<std::uint8_t> out_, in_, leftover_;
  Socks5Reply reply_ = Socks5Reply::general_failure;
  Error error_;
};

}  // namespace shardnode::onion
