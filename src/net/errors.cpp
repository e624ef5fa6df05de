#include "shardnode/net/errors.h"

#include <string>

namespace shardnode::net {
namespace {

class MssCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mss"; }
  std::string message(int c) const override {
    switch (static_cast<MssErrc>(c)) {
      case MssErrc::malformed: return "malformed multistream-select message";
      case MssErrc::protocol_mismatch: return "peer does not speak multistream-select 1.0";
      case MssErrc::not_supported: return "no proposed protocol is supported";
    }
    return "unknown mss error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    if (static_cast<MssErrc>(c) == MssErrc::not_supported) return Condition::not_found;
    return Condition::invalid_input;
  }
};

class NoiseCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "noise"; }
  std::string message(int c) const override {
    switch (static_cast<NoiseErrc>(c)) {
      case NoiseErrc::malformed: return "malformed noise message";
      case NoiseErrc::decrypt_failed: return "noise decryption failed";
      case NoiseErrc::bad_payload: return "invalid noise handshake payload";
      case NoiseErrc::bad_signature: return "invalid identity signature";
      case NoiseErrc::peer_id_mismatch: return "remote peer id differs from the one dialed";
      case NoiseErrc::frame_too_large: return "noise frame too large";
      case NoiseErrc::nonce_exhausted: return "noise nonce exhausted";
      case NoiseErrc::state_violation: return "noise used in the wrong state";
    }
    return "unknown noise error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    if (static_cast<NoiseErrc>(c) == NoiseErrc::state_violation) return Condition::state_violation;
    return Condition::invalid_input;
  }
};

class YamuxCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "yamux"; }
  std::string message(int c) const override {
    switch (static_cast<YamuxErrc>(c)) {
      case YamuxErrc::malformed: return "malformed yamux frame";
      case YamuxErrc::protocol_violation: return "yamux protocol violation";
      case YamuxErrc::window_overflow: return "yamux receive window exceeded";
      case YamuxErrc::frame_too_large: return "yamux frame too large";
      case YamuxErrc::too_many_streams: return "too many yamux streams";
      case YamuxErrc::stream_closed: return "yamux stream closed";
      case YamuxErrc::buffer_full: return "yamux stream buffer full";
      case YamuxErrc::go_away: return "yamux session is going away";
    }
    return "unknown yamux error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<YamuxErrc>(c)) {
      case YamuxErrc::too_many_streams:
      case YamuxErrc::buffer_full: return Condition::resource_exhausted;
      case YamuxErrc::stream_closed:
      case YamuxErrc::go_away: return Condition::state_violation;
      default: return Condition::invalid_input;
    }
  }
};

class HostCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "host"; }
  std::string message(int c) const override {
    switch (static_cast<HostErrc>(c)) {
      case HostErrc::connection_limit: return "connection limit reached";
      case HostErrc::dial_timeout: return "dial timed out";
      case HostErrc::dial_backoff: return "peer is in dial backoff";
      case HostErrc::unsupported_address: return "address not supported by any transport";
      case HostErrc::closed: return "connection closed";
      case HostErrc::message_too_large: return "message too large";
      case HostErrc::onion_only: return "onion-only mode refuses clearnet addresses";
    }
    return "unknown host error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<HostErrc>(c)) {
      case HostErrc::connection_limit: return Condition::resource_exhausted;
      case HostErrc::dial_timeout: return Condition::timeout;
      case HostErrc::dial_backoff: return Condition::state_violation;
      case HostErrc::unsupported_address:
      case HostErrc::message_too_large: return Condition::invalid_input;
      case HostErrc::closed: return Condition::io_failure;
      case HostErrc::onion_only: return Condition::state_violation;
    }
    return {c, *this};
  }
};

class RequestCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "request"; }
  std::string message(int c) const override {
    switch (static_cast<RequestErrc>(c)) {
      case RequestErrc::bad_response: return "bad response framing or size";
      case RequestErrc::timeout: return "no response in time";
      case RequestErrc::closed: return "stream closed before a response";
      case RequestErrc::refused: return "request refused";
    }
    return "unknown request error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<RequestErrc>(c)) {
      case RequestErrc::bad_response: return Condition::invalid_input;
      case RequestErrc::timeout: return Condition::timeout;
      case RequestErrc::closed: return Condition::io_failure;
      case RequestErrc::refused: return Condition::invalid_input;
    }
    return {c, *this};
  }
};

class RecordCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "record"; }
  std::string message(int c) const override {
    switch (static_cast<RecordErrc>(c)) {
      case RecordErrc::malformed: return "malformed signed record";
      case RecordErrc::bad_key: return "signed record key is not Ed25519";
      case RecordErrc::bad_signature: return "signed record signature does not verify";
      case RecordErrc::wrong_type: return "signed record has another payload type";
      case RecordErrc::peer_mismatch: return "record names another peer than its signer";
    }
    return "unknown record error";
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<RecordErrc>(c)) {
      case RecordErrc::malformed:
      case RecordErrc::bad_key:
      case RecordErrc::bad_signature:
      case RecordErrc::wrong_type:
      case RecordErrc::peer_mismatch: return Condition::invalid_input;
    }
    return {c, *this};
  }
};

}  // namespace

const std::error_category& mss_category() noexcept { static MssCategory c; return c; }
const std::error_category& noise_category() noexcept { static NoiseCategory c; return c; }
const std::error_category& yamux_category() noexcept { static YamuxCategory c; return c; }
const std::error_category& host_category() noexcept { static HostCategory c; return c; }
const std::error_category& request_category() noexcept { static RequestCategory c; return c; }
const std::error_category& record_category() noexcept { static RecordCategory c; return c; }

std::error_code make_error_code(MssErrc e) noexcept { return {static_cast<int>(e), mss_category()}; }
std::error_code make_error_code(NoiseErrc e) noexcept { return {static_cast<int>(e), noise_category()}; }
std::error_code make_error_code(YamuxErrc e) noexcept { return {static_cast<int>(e), yamux_category()}; }
std::error_code make_error_code(HostErrc e) noexcept { return {static_cast<int>(e), host_category()}; }
std::error_code make_error_code(RequestErrc e) noexcept { return {static_cast<int>(e), request_category()}; }
std::error_code make_error_code(RecordErrc e) noexcept { return {static_cast<int>(e), record_category()}; }

}  // namespace shardnode::net
