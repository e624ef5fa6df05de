// Error categories of the wire layer: one per protocol, many codes, mapped to the
// generic shardnode::Condition values (invalid_input, io_failure, timeout, ...).
#pragma once

#include <system_error>

#include "shardnode/core/errors.h"

namespace shardnode::net {

enum class MssErrc {
  malformed = 1,        // bad varint, missing newline, oversized message
  protocol_mismatch,    // the peer does not speak multistream-select 1.0
  not_supported,        // every protocol we proposed got "na"
};

enum class NoiseErrc {
  malformed = 1,        // frame or handshake message of the wrong size/shape
  decrypt_failed,       // AEAD tag did not verify
  bad_payload,          // handshake payload protobuf invalid or unsupported key type
  bad_signature,        // identity signature over the static key is invalid
  peer_id_mismatch,     // the remote proved a different identity than we dialed
  frame_too_large,
  nonce_exhausted,
  state_violation,      // API misuse (e.g. write before the handshake completes)
};

enum class YamuxErrc {
  malformed = 1,        // bad version, unknown type, bad flags
  protocol_violation,   // data for an unknown stream, SYN for an existing stream, wrong stream id parity
  window_overflow,      // peer sent more than the window allows
  frame_too_large,
  too_many_streams,
  stream_closed,        // write after FIN/RST, or on an unknown stream
  buffer_full,          // a local write exceeds the per-stream buffer cap
  go_away,              // session closing: no new streams
};

enum class HostErrc {
  connection_limit = 1,
  dial_timeout,
  dial_backoff,
  unsupported_address,
  closed,
  message_too_large,
  onion_only,            // onion-only mode refused a clearnet address
};

// One request, one response (request_response.h).
enum class RequestErrc {
  bad_response = 1,      // the response's framing is broken or over the size cap
  timeout,               // no response by the deadline
  closed,                // the stream closed (or was reset) before a response
  refused,               // we refused a request (malformed, over a cap, or the handler's error)
};

// Signed envelopes and peer records (peer_record.h).
enum class RecordErrc {
  malformed = 1,         // not a protobuf of the expected shape, or over a size cap
  bad_key,               // the envelope's key is not an Ed25519 libp2p key
  bad_signature,         // the signature does not verify under the domain
  wrong_type,            // the payload type is not the one expected
  peer_mismatch,         // the record names another peer than the key that signed it
};

const std::error_category& mss_category() noexcept;
const std::error_category& noise_category() noexcept;
const std::error_category& yamux_category() noexcept;
const std::error_category& host_category() noexcept;
const std::error_category& request_category() noexcept;
const std::error_category& record_category() noexcept;

std::error_code make_error_code(MssErrc e) noexcept;
std::error_code make_error_code(NoiseErrc e) noexcept;
std::error_code make_error_code(YamuxErrc e) noexcept;
std::error_code make_error_code(HostErrc e) noexcept;
std::error_code make_error_code(RequestErrc e) noexcept;
std::error_code make_error_code(RecordErrc e) noexcept;

}  // namespace shardnode::net

template <> struct std::is_error_code_enum<shardnode::net::MssErrc> : std::true_type {};
template <> struct std::is_error_code_enum<shardnode::net::NoiseErrc> : std::true_type {};
template <> struct std::is_error_code_enum<shardnode::net::YamuxErrc> : std::true_type {};
template <> struct std::is_error_code_enum<shardnode::net::HostErrc> : std::true_type {};
template <> struct std::is_error_code_enum<shardnode::net::RequestErrc> : std::true_type {};
template <> struct std::is_error_code_enum<shardnode::net::RecordErrc> : std::true_type {};
