#include "shardnode/onion/socks5.h"

#include <arpa/inet.h>

#include <algorithm>
#include <utility>

#include "shardnode/core/errors.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {
namespace {

constexpr std::uint8_t kVersion = 0x05;
constexpr std::uint8_t kAuthVersion = 0x01;       // RFC 1929
constexpr std::uint8_t kMethodUserPass = 0x02;
constexpr std::uint8_t kNoAcceptableMethod = 0xFF;
constexpr std::uint8_t kCmdConnect = 0x01;
constexpr std::uint8_t kAtypIpv4 = 0x01;
constexpr std::uint8_t kAtypDomain = 0x03;
constexpr std::uint8_t kAtypIpv6 = 0x04;

Error bad_request(std::string msg) { return Error{SocksErrc::bad_request, "socks5: " + std::move(msg)}; }

std::string hex_byte(std::uint8_t b) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[b >> 4] + kHex[b & 0x0f];
}

// Hostnames never contain ':' and are never all digits and dots; anything inet_aton
// takes ("127.1", "0x7f000001", "2130706433") is an address tor would connect to
// without a lookup, so it is refused as well.
bool is_ip_literal(const std::string& host) {
  if (host.front() == '[' || host.find(':') != std::string::npos) return true;
  if (std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; }))
    return true;
  in_addr v4{};
  return ::inet_aton(host.c_str(), &v4) != 0;
}

}  // namespace

const char* describe(Socks5Reply reply) {
  switch (reply) {
    case Socks5Reply::succeeded: return "succeeded";
    case Socks5Reply::general_failure: return "general SOCKS server failure";
    case Socks5Reply::not_allowed: return "connection not allowed by ruleset";
    case Socks5Reply::network_unreachable: return "network unreachable";
    case Socks5Reply::host_unreachable: return "host unreachable";
    case Socks5Reply::connection_refused: return "connection refused";
    case Socks5Reply::ttl_expired: return "TTL expired";
    case Socks5Reply::command_not_supported: return "command not supported";
    case Socks5Reply::address_type_not_supported: return "address type not supported";
    case Socks5Reply::onion_descriptor_not_found: return "onion service descriptor can not be found";
    case Socks5Reply::onion_descriptor_invalid: return "onion service descriptor is invalid";
    case Socks5Reply::onion_intro_failed: return "onion service introduction failed";
    case Socks5Reply::onion_rendezvous_failed: return "onion service rendezvous failed";
    case Socks5Reply::onion_missing_client_auth: return "onion service missing client authorization";
    case Socks5Reply::onion_wrong_client_auth: return "onion service wrong client authorization";
    case Socks5Reply::onion_bad_address: return "onion service invalid address";
    case Socks5Reply::onion_intro_timed_out: return "onion service introduction timed out";
  }
  return "unknown SOCKS5 reply code";
}

bool is_retryable(Socks5Reply reply) {
  switch (reply) {
    case Socks5Reply::general_failure:
    case Socks5Reply::host_unreachable:
    case Socks5Reply::ttl_expired:
    case Socks5Reply::onion_descriptor_not_found:
    case Socks5Reply::onion_intro_failed:
    case Socks5Reply::onion_rendezvous_failed:
    case Socks5Reply::onion_intro_timed_out: return true;
    default: return false;
  }
}

Result<Socks5Connect> Socks5Connect::create(std::string host, std::uint16_t port, std::string username,
                                            std::string password) {
  if (host.empty()) return bad_request("empty host name");
  if (host.size() > kMaxField)
    return bad_request("host name of " + std::to_string(host.size()) + " bytes (at most 255)");
  for (char c : host) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return bad_request("host name contains NUL, whitespace or a control byte");
  }
  if (is_ip_literal(host)) return bad_request("refusing IP literal '" + host + "': only host names go to tor");
  if (port == 0) return bad_request("port 0");
  if (username.empty() || username.size() > kMaxField)
    return bad_request("username of " + std::to_string(username.size()) + " bytes (want 1..255)");
  if (password.empty() || password.size() > kMaxField)
    return bad_request("password of " + std::to_string(password.size()) + " bytes (want 1..255)");

  Socks5Connect c;
  c.host_ = std::move(host);
  c.port_ = port;
  c.username_ = std::move(username);
  c.password_ = std::move(password);
  c.out_ = {kVersion, 0x01, kMethodUserPass};
  return c;
}

std::vector<std::uint8_t> Socks5Connect::take_output() { return std::exchange(out_, {}); }

std::vector<std::uint8_t> Socks5Connect::take_leftover() { return std::exchange(leftover_, {}); }

Error Socks5Connect::fail(std::error_code code, std::string msg) {
  phase_ = Phase::error;
  in_.clear();
  out_.clear();
  error_ = Error{code, "socks5: " + std::move(msg)};
  return error_;
}

Result<Socks5Connect::State> Socks5Connect::feed(std::span<const std::uint8_t> in) {
  if (phase_ == Phase::error)
    return Error{SocksErrc::bad_state, "socks5: fed after the handshake failed (" + error_.message + ")"};
  if (phase_ == Phase::done) return Error{SocksErrc::bad_state, "socks5: fed after the CONNECT reply"};
  in_.insert(in_.end(), in.begin(), in.end());

  for (;;) {
    switch (phase_) {
      case Phase::method: {
        if (in_.size() < 2) return State::need_more;
        const std::uint8_t ver = in_[0], method = in_[1];
        in_.erase(in_.begin(), in_.begin() + 2);
        if (ver != kVersion) return fail(SocksErrc::protocol, "method reply with version " + hex_byte(ver));
        if (method == kNoAcceptableMethod)
          return fail(SocksErrc::no_acceptable_method, "proxy accepts no offered method (offered username/password)");
        if (method != kMethodUserPass)
          return fail(SocksErrc::protocol, "proxy chose method " + hex_byte(method) + ", which we did not offer");
        out_.push_back(kAuthVersion);
        out_.push_back(static_cast<std::uint8_t>(username_.size()));
        out_.insert(out_.end(), username_.begin(), username_.end());
        out_.push_back(static_cast<std::uint8_t>(password_.size()));
        out_.insert(out_.end(), password_.begin(), password_.end());
        phase_ = Phase::auth;
        break;
      }
      case Phase::auth: {
        if (in_.size() < 2) return State::need_more;
        const std::uint8_t ver = in_[0], status = in_[1];
        in_.erase(in_.begin(), in_.begin() + 2);
        if (ver != kAuthVersion)
          return fail(SocksErrc::protocol, "username/password reply with version " + hex_byte(ver));
        if (status != 0)
          return fail(SocksErrc::auth_failed, "proxy rejected username/password (status " + hex_byte(status) + ")");
        out_.insert(out_.end(), {kVersion, kCmdConnect, 0x00, kAtypDomain, static_cast<std::uint8_t>(host_.size())});
        out_.insert(out_.end(), host_.begin(), host_.end());
        out_.push_back(static_cast<std::uint8_t>(port_ >> 8));
        out_.push_back(static_cast<std::uint8_t>(port_ & 0xff));
        phase_ = Phase::connect;
        break;
      }
      case Phase::connect: {
        if (in_.size() < 4) return State::need_more;
        if (in_[0] != kVersion) return fail(SocksErrc::protocol, "CONNECT reply with version " + hex_byte(in_[0]));
        if (in_[2] != 0) return fail(SocksErrc::protocol, "CONNECT reply with reserved byte " + hex_byte(in_[2]));
        std::size_t total = 0;
        switch (in_[3]) {
          case kAtypIpv4: total = 4 + 4 + 2; break;
          case kAtypIpv6: total = 4 + 16 + 2; break;
          case kAtypDomain:
            if (in_.size() < 5) return State::need_more;
            total = 4 + 1 + std::size_t{in_[4]} + 2;
            break;
          default: return fail(SocksErrc::protocol, "CONNECT reply with unknown address type " + hex_byte(in_[3]));
        }
        if (in_.size() < total) return State::need_more;
        reply_ = static_cast<Socks5Reply>(in_[1]);
        leftover_.assign(in_.begin() + static_cast<std::ptrdiff_t>(total), in_.end());
        in_.clear();
        phase_ = Phase::done;
        return reply_ == Socks5Reply::succeeded ? State::connected : State::failed;
      }
      case Phase::done:
      case Phase::error: return Error{SocksErrc::bad_state, "socks5: unreachable state"};
    }
  }
}

}  // namespace shardnode::onion
