// Noise XX for libp2p (libp2p/specs noise/README.md), sans-IO.
//
//   Noise_XX_25519_ChaChaPoly_SHA256, empty prologue.
//   -> e
//   <- e, ee, s, es      payload: NoiseHandshakePayload (identity key + signature)
//   -> s, se             payload: NoiseHandshakePayload
// Every handshake and transport message travels in a frame: 2-byte big-endian
// length, then that many bytes (max 65535). The identity signature is an Ed25519
// signature by the node key over "noise-libp2p-static-key:" || static X25519 key.
//
// Shape (after Bitcoin Core's Transport): bytes in via received_bytes(), bytes out via
// take_bytes_to_send(). No sockets, no clocks. Randomness (ephemeral and static
// X25519 keys) comes from libsodium unless fixed keys are supplied for tests.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shardnode/core/bytes.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/result.h"

namespace shardnode::net {

inline constexpr const char* kNoiseProtocolId = "/noise";
inline constexpr std::size_t kNoiseMaxFrame = 65535;       // bytes after the 2-byte length
inline constexpr std::size_t kNoiseTagSize = 16;
inline constexpr std::size_t kNoiseMaxPlaintext = kNoiseMaxFrame - kNoiseTagSize;

// One direction's cipher state (k, n). Nonce: 4 zero bytes || n as 64-bit little endian.
struct NoiseCipherState {
  std::array<std::uint8_t, 32> key{};
  std::uint64_t nonce = 0;
};

// The transport phase: encrypts writes into frames, decrypts received frames.
class NoiseSession {
 public:
  NoiseSession(NoiseCipherState send, NoiseCipherState recv, PeerId remote, Ed25519PublicKey remote_key);
  ~NoiseSession();
  NoiseSession(NoiseSession&&) noexcept;
  NoiseSession& operator=(NoiseSession&&) noexcept;

  const PeerId& remote_peer() const { return remote_; }
  const Ed25519PublicKey& remote_key() const { return remote_key_; }

  // Encrypts plaintext of any length, split into frames of at most kNoiseMaxPlaintext.
  Status write(ByteView plaintext);
  Bytes take_bytes_to_send();
  bool has_bytes_to_send() const { return !out_.empty(); }

  // Decrypts every complete frame; partial frames wait for more bytes. After an
  // error the session is failed and every later call fails.
  Status received_bytes(ByteView ciphertext);
  Bytes take_plaintext();
  bool has_plaintext() const { return !plain_.empty(); }

 private:
  NoiseCipherState send_, recv_;
  PeerId remote_;
  Ed25519PublicKey remote_key_;
  Bytes in_;     // undecoded framed input
  Bytes out_;    // framed ciphertext to send
  Bytes plain_;  // decrypted, not yet taken
  bool failed_ = false;
};

// The libp2p handshake payload (NoiseHandshakePayload protobuf), decoded. Exposed so
// payload parsing and signature checks can be tested directly.
struct NoisePayload {
  Ed25519PublicKey identity_key;
  Bytes identity_sig;                       // as received; verify before trusting
  std::vector<std::string> stream_muxers;   // extensions.stream_muxers
};

// The signature over "noise-libp2p-static-key:" || static_pub, made with the node key.
std::array<std::uint8_t, 64> sign_noise_static_key(const NodeKey& identity, ByteView static_pub);
bool verify_noise_identity_sig(const Ed25519PublicKey& key, ByteView static_pub, ByteView sig);

// Serializes the payload (extensions only when stream_muxers is non-empty).
Bytes encode_noise_payload(const NoisePayload& payload);
// Fails with NoiseErrc::bad_payload on unparsable protobuf, a missing key or
// signature, or an identity key that is not Ed25519. Does not verify the signature.
Result<NoisePayload> decode_noise_payload(ByteView bytes);

struct NoiseHandshakeOptions {
  // When set (the dialer knows whom it dials), the remote must prove this identity.
  std::optional<PeerId> expected_remote;
  // Test hooks: fixed X25519 private keys instead of random ones.
  std::optional<std::array<std::uint8_t, 32>> static_private;
  std::optional<std::array<std::uint8_t, 32>> ephemeral_private;
  // Stream muxers advertised in the payload extensions (may be empty).
  std::vector<std::string> stream_muxers;
};

class NoiseHandshake {
 public:
  enum class Role { initiator, responder };

  // The identity key must outlive the handshake.
  NoiseHandshake(Role role, const NodeKey& identity, NoiseHandshakeOptions opts = {});
  NoiseHandshake(Role, const NodeKey&&, NoiseHandshakeOptions = {}) = delete;  // would dangle
  ~NoiseHandshake();
  NoiseHandshake(const NoiseHandshake&) = delete;
  NoiseHandshake& operator=(const NoiseHandshake&) = delete;

  // The initiator queues message 1 here; the responder queues nothing.
  void start();

  // Feeds framed bytes. Bytes past the last handshake frame are kept and handed to
  // the session by finish(). An error fails the handshake for good.
  Status received_bytes(ByteView bytes);
  Bytes take_bytes_to_send();
  bool has_bytes_to_send() const { return !out_.empty(); }

  bool done() const { return done_; }
  bool failed() const { return failed_; }

  // After done(): the transport session (remote identity verified) and any bytes
  // that arrived after the handshake (feed them to the session's received_bytes()).
  struct Finished {
    NoiseSession session;
    Bytes leftover;
    std::vector<std::string> remote_stream_muxers;
  };
  Result<Finished> finish();

 private:
  Status process(ByteView msg);            // one complete handshake frame
  Status read_message_1(ByteView msg);     // responder
  Status read_message_2(ByteView msg);     // initiator
  Status read_message_3(ByteView msg);     // responder
  Status accept_remote_payload(ByteView plaintext);
  Status queue_message(const Bytes& msg);
  Bytes local_payload() const;
  void split();
  Status fail(Error e);

  struct State;
  State* st_;  // owned; symmetric state, keys (wiped on destruction)
  Role role_;
  const NodeKey& identity_;
  NoiseHandshakeOptions opts_;
  Bytes in_;
  Bytes out_;
  int step_ = 0;  // messages processed so far (0..3)
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace shardnode::net
