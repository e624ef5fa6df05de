#include "shardnode/net/noise.h"

#include <sodium.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "noise_payload.pb.h"
#include "shardnode/net/errors.h"

namespace shardnode::net {
namespace {

using Key32 = std::array<std::uint8_t, 32>;

// Exactly HASHLEN (32) bytes, so h starts as the name itself (no hashing, no padding).
constexpr std::string_view kProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";
static_assert(kProtocolName.size() == 32);
constexpr std::string_view kStaticKeyPrefix = "noise-libp2p-static-key:";
constexpr std::size_t kKeyLen = 32;
constexpr std::size_t kEncryptedKeyLen = kKeyLen + kNoiseTagSize;  // s in messages 2 and 3
// Noise reserves nonce 2^64-1: a cipher state whose nonce reaches it is exhausted.
constexpr std::uint64_t kMaxNonce = std::numeric_limits<std::uint64_t>::max();

Error noise_error(NoiseErrc code, const std::string& msg) { return Error{code, "noise: " + msg}; }

void wipe(Key32& k) { sodium_memzero(k.data(), k.size()); }

std::array<std::uint8_t, 12> nonce_bytes(std::uint64_t n) {
  std::array<std::uint8_t, 12> out{};  // 4 zero bytes || n little endian
  for (std::size_t i = 0; i < 8; ++i) out[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return out;
}

// Appends ciphertext || tag to out.
void aead_encrypt(const Key32& k, std::uint64_t n, ByteView ad, ByteView pt, Bytes& out) {
  const auto nonce = nonce_bytes(n);
  const std::size_t off = out.size();
  out.resize(off + pt.size() + kNoiseTagSize);
  unsigned long long clen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data() + off, &clen, pt.data(), pt.size(), ad.data(),
                                            ad.size(), nullptr, nonce.data(), k.data());
}

// Appends the plaintext to out; false (out unchanged) when the tag does not verify.
bool aead_decrypt(const Key32& k, std::uint64_t n, ByteView ad, ByteView ct, Bytes& out) {
  if (ct.size() < kNoiseTagSize) return false;
  const auto nonce = nonce_bytes(n);
  const std::size_t off = out.size();
  out.resize(off + ct.size() - kNoiseTagSize + 1);  // +1: never hand libsodium a null pointer
  unsigned long long mlen = 0;
  const int rc = crypto_aead_chacha20poly1305_ietf_decrypt(out.data() + off, &mlen, nullptr, ct.data(),
                                                           ct.size(), ad.data(), ad.size(),
                                                           nonce.data(), k.data());
  out.resize(rc == 0 ? off + ct.size() - kNoiseTagSize : off);
  return rc == 0;
}

Key32 hmac(const Key32& key, ByteView a, ByteView b = {}) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, a.data(), a.size());
  crypto_auth_hmacsha256_update(&st, b.data(), b.size());
  Key32 out{};
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof st);
  return out;
}

// Noise HKDF with two outputs.
void hkdf2(const Key32& ck, ByteView ikm, Key32& out1, Key32& out2) {
  Key32 temp = hmac(ck, ikm);
  const std::uint8_t one = 0x01, two = 0x02;
  Key32 o1 = hmac(temp, ByteView(&one, 1));
  Key32 o2 = hmac(temp, o1, ByteView(&two, 1));
  out1 = o1;
  out2 = o2;
  wipe(temp);
  wipe(o1);
  wipe(o2);
}

void append_frame(Bytes& out, ByteView msg) {
  out.push_back(static_cast<std::uint8_t>(msg.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(msg.size() & 0xff));
  out.insert(out.end(), msg.begin(), msg.end());
}

// The next complete frame's body starting at pos (advanced past it), or nullopt.
std::optional<ByteView> next_frame(const Bytes& in, std::size_t& pos) {
  if (in.size() - pos < 2) return std::nullopt;
  const std::size_t len = (static_cast<std::size_t>(in[pos]) << 8) | in[pos + 1];
  if (in.size() - pos - 2 < len) return std::nullopt;
  ByteView frame(in.data() + pos + 2, len);
  pos += 2 + len;
  return frame;
}

Bytes static_key_message(ByteView static_pub) {
  Bytes m(kStaticKeyPrefix.begin(), kStaticKeyPrefix.end());
  m.insert(m.end(), static_pub.begin(), static_pub.end());
  return m;
}

}  // namespace

// ---- payload -----------------------------------------------------------------

std::array<std::uint8_t, 64> sign_noise_static_key(const NodeKey& identity, ByteView static_pub) {
  return identity.sign(static_key_message(static_pub));
}

bool verify_noise_identity_sig(const Ed25519PublicKey& key, ByteView static_pub, ByteView sig) {
  return key.verify(static_key_message(static_pub), sig);
}

Bytes encode_noise_payload(const NoisePayload& payload) {
  pb::NoiseHandshakePayload msg;
  const Bytes key = encode_libp2p_public_key(payload.identity_key);
  msg.set_identity_key(std::string(key.begin(), key.end()));
  msg.set_identity_sig(std::string(payload.identity_sig.begin(), payload.identity_sig.end()));
  for (const auto& m : payload.stream_muxers) msg.mutable_extensions()->add_stream_muxers(m);
  std::string out;
  if (!msg.SerializeToString(&out)) return {};
  return Bytes(out.begin(), out.end());
}

Result<NoisePayload> decode_noise_payload(ByteView bytes) {
  pb::NoiseHandshakePayload msg;
  if (bytes.size() > static_cast<std::size_t>(INT_MAX) ||
      !msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return noise_error(NoiseErrc::bad_payload, "handshake payload is not a valid protobuf");
  if (!msg.has_identity_key() || !msg.has_identity_sig())
    return noise_error(NoiseErrc::bad_payload, "handshake payload lacks the identity key or signature");
  const std::string& key_pb = msg.identity_key();
  auto key = decode_libp2p_public_key(ByteView(reinterpret_cast<const std::uint8_t*>(key_pb.data()), key_pb.size()));
  if (!key) return noise_error(NoiseErrc::bad_payload, "unsupported identity key (" + key.error().what() + ")");
  NoisePayload out;
  out.identity_key = *key;
  out.identity_sig.assign(msg.identity_sig().begin(), msg.identity_sig().end());
  if (msg.has_extensions())
    out.stream_muxers.assign(msg.extensions().stream_muxers().begin(), msg.extensions().stream_muxers().end());
  return out;
}

// ---- session -------------------------------------------------------------------

NoiseSession::NoiseSession(NoiseCipherState send, NoiseCipherState recv, PeerId remote,
                           Ed25519PublicKey remote_key)
    : send_(send), recv_(recv), remote_(std::move(remote)), remote_key_(remote_key) {
  sodium_memzero(send.key.data(), send.key.size());
  sodium_memzero(recv.key.data(), recv.key.size());
}

NoiseSession::~NoiseSession() {
  wipe(send_.key);
  wipe(recv_.key);
  if (!plain_.empty()) sodium_memzero(plain_.data(), plain_.size());
}

NoiseSession::NoiseSession(NoiseSession&& o) noexcept
    : send_(o.send_), recv_(o.recv_), remote_(std::move(o.remote_)), remote_key_(o.remote_key_),
      in_(std::move(o.in_)), out_(std::move(o.out_)), plain_(std::move(o.plain_)), failed_(o.failed_) {
  wipe(o.send_.key);
  wipe(o.recv_.key);
  o.failed_ = true;  // a moved-from session is unusable
}

NoiseSession& NoiseSession::operator=(NoiseSession&& o) noexcept {
  if (this != &o) {
    send_ = o.send_;
    recv_ = o.recv_;
    remote_ = std::move(o.remote_);
    remote_key_ = o.remote_key_;
    in_ = std::move(o.in_);
    out_ = std::move(o.out_);
    plain_ = std::move(o.plain_);
    failed_ = o.failed_;
    wipe(o.send_.key);
    wipe(o.recv_.key);
    o.failed_ = true;
  }
  return *this;
}

Status NoiseSession::write(ByteView plaintext) {
  if (failed_) return noise_error(NoiseErrc::state_violation, "write on a failed session");
  const std::size_t frames = (plaintext.size() + kNoiseMaxPlaintext - 1) / kNoiseMaxPlaintext;
  if (kMaxNonce - send_.nonce < frames) {  // all or nothing
    failed_ = true;
    return noise_error(NoiseErrc::nonce_exhausted, "send nonce exhausted; the connection must close");
  }
  out_.reserve(out_.size() + plaintext.size() + frames * (2 + kNoiseTagSize));
  for (std::size_t off = 0; off < plaintext.size(); off += kNoiseMaxPlaintext) {
    const ByteView chunk = plaintext.subspan(off, std::min(kNoiseMaxPlaintext, plaintext.size() - off));
    const std::size_t len = chunk.size() + kNoiseTagSize;
    out_.push_back(static_cast<std::uint8_t>(len >> 8));
    out_.push_back(static_cast<std::uint8_t>(len & 0xff));
    aead_encrypt(send_.key, send_.nonce++, {}, chunk, out_);
  }
  return {};
}

Bytes NoiseSession::take_bytes_to_send() { return std::exchange(out_, {}); }

Status NoiseSession::received_bytes(ByteView ciphertext) {
  if (failed_) return noise_error(NoiseErrc::state_violation, "received bytes on a failed session");
  in_.insert(in_.end(), ciphertext.begin(), ciphertext.end());
  std::size_t pos = 0;
  Status st;
  while (auto frame = next_frame(in_, pos)) {
    if (recv_.nonce == kMaxNonce) {
      st = noise_error(NoiseErrc::nonce_exhausted, "receive nonce exhausted; the connection must close");
      break;
    }
    if (frame->size() < kNoiseTagSize) {
      st = noise_error(NoiseErrc::malformed, "transport frame of " + std::to_string(frame->size()) +
                                                 " bytes is shorter than the 16-byte tag");
      break;
    }
    if (!aead_decrypt(recv_.key, recv_.nonce, {}, *frame, plain_)) {
      st = noise_error(NoiseErrc::decrypt_failed, "transport frame failed authentication");
      break;
    }
    ++recv_.nonce;
  }
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(pos));
  if (!st) {
    failed_ = true;
    in_.clear();
  }
  return st;
}

Bytes NoiseSession::take_plaintext() { return std::exchange(plain_, {}); }

// ---- handshake -----------------------------------------------------------------

struct NoiseHandshake::State {
  Key32 h{}, ck{}, k{};
  bool has_key = false;
  std::uint64_t n = 0;
  Key32 s_priv{}, s_pub{}, e_priv{}, e_pub{}, re{}, rs{};
  NoiseCipherState send, recv;
  std::optional<NoisePayload> remote;
  std::optional<Error> error;  // the first failure, repeated by later calls
  bool finished = false;

  ~State() {
    for (Key32* key : {&h, &ck, &k, &s_priv, &s_pub, &e_priv, &e_pub, &re, &rs, &send.key, &recv.key})
      wipe(*key);
  }

  void mix_hash(ByteView data) {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, h.data(), h.size());
    crypto_hash_sha256_update(&st, data.data(), data.size());
    crypto_hash_sha256_final(&st, h.data());
  }

  void mix_key(ByteView ikm) {
    hkdf2(ck, ikm, ck, k);
    has_key = true;
    n = 0;
  }

  // ee/es/se: fails on a low-order remote point (all-zero shared secret).
  Status mix_dh(const Key32& priv, const Key32& pub) {
    Key32 shared{};
    const bool ok = crypto_scalarmult_curve25519(shared.data(), priv.data(), pub.data()) == 0;
    if (ok) mix_key(shared);
    wipe(shared);
    if (!ok) return noise_error(NoiseErrc::malformed, "remote X25519 key is a low-order point");
    return {};
  }

  void encrypt_and_hash(ByteView pt, Bytes& out) {
    const std::size_t off = out.size();
    if (has_key) {
      aead_encrypt(k, n++, h, pt, out);
    } else {
      out.insert(out.end(), pt.begin(), pt.end());
    }
    mix_hash(ByteView(out).subspan(off));
  }

  bool decrypt_and_hash(ByteView ct, Bytes& out) {
    if (has_key) {
      if (!aead_decrypt(k, n, h, ct, out)) return false;
      ++n;
    } else {
      out.insert(out.end(), ct.begin(), ct.end());
    }
    mix_hash(ct);
    return true;
  }
};

namespace {
bool make_keypair(const std::optional<Key32>& fixed, Key32& priv, Key32& pub) {
  if (fixed) {
    priv = *fixed;
  } else {
    randombytes_buf(priv.data(), priv.size());
  }
  return crypto_scalarmult_curve25519_base(pub.data(), priv.data()) == 0;
}
}  // namespace

NoiseHandshake::NoiseHandshake(Role role, const NodeKey& identity, NoiseHandshakeOptions opts)
    : st_(new State), role_(role), identity_(identity), opts_(std::move(opts)) {
  if (sodium_init() < 0) {
    failed_ = true;
    st_->error = noise_error(NoiseErrc::state_violation, "libsodium failed to initialise");
    return;
  }
  std::memcpy(st_->h.data(), kProtocolName.data(), kProtocolName.size());
  st_->ck = st_->h;
  st_->mix_hash({});  // empty prologue
  const bool ok = make_keypair(opts_.static_private, st_->s_priv, st_->s_pub) &&
                  make_keypair(opts_.ephemeral_private, st_->e_priv, st_->e_pub);
  for (auto* fixed : {&opts_.static_private, &opts_.ephemeral_private})
    if (*fixed) wipe(**fixed);
  if (!ok) {
    failed_ = true;
    st_->error = noise_error(NoiseErrc::state_violation, "unusable fixed X25519 private key");
  }
}

NoiseHandshake::~NoiseHandshake() { delete st_; }

void NoiseHandshake::start() {
  if (role_ != Role::initiator || step_ != 0 || failed_) return;
  Bytes msg(st_->e_pub.begin(), st_->e_pub.end());  // -> e
  st_->mix_hash(st_->e_pub);
  st_->encrypt_and_hash({}, msg);  // empty payload, sent in the clear (no key yet)
  append_frame(out_, msg);
  step_ = 1;
}

Status NoiseHandshake::fail(Error e) {
  failed_ = true;
  st_->error = e;
  in_.clear();
  out_.clear();
  return e;
}

Status NoiseHandshake::received_bytes(ByteView bytes) {
  if (failed_) return *st_->error;
  if (st_->finished) return noise_error(NoiseErrc::state_violation, "handshake bytes after finish()");
  if (role_ == Role::initiator && step_ == 0)
    return fail(noise_error(NoiseErrc::state_violation, "initiator received bytes before start()"));
  in_.insert(in_.end(), bytes.begin(), bytes.end());
  std::size_t pos = 0;
  Status st;
  while (!done_) {
    auto frame = next_frame(in_, pos);
    if (!frame) break;
    st = process(*frame);
    if (!st) return fail(st.error());
  }
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(pos));  // the rest waits or is leftover
  return st;
}

Bytes NoiseHandshake::take_bytes_to_send() { return std::exchange(out_, {}); }

Status NoiseHandshake::process(ByteView msg) {
  if (role_ == Role::responder && step_ == 0) return read_message_1(msg);
  if (role_ == Role::initiator && step_ == 1) return read_message_2(msg);
  if (role_ == Role::responder && step_ == 2) return read_message_3(msg);
  return noise_error(NoiseErrc::state_violation, "unexpected handshake message");
}

// <- e. The libp2p spec says the payload is empty; like go-libp2p and js-libp2p we
// hash and ignore any plaintext payload rather than rejecting it.
Status NoiseHandshake::read_message_1(ByteView msg) {
  if (msg.size() < kKeyLen)
    return noise_error(NoiseErrc::malformed, "handshake message 1 is " + std::to_string(msg.size()) +
                                                 " bytes, need at least 32");
  State& s = *st_;
  std::copy_n(msg.begin(), kKeyLen, s.re.begin());
  s.mix_hash(s.re);
  Bytes ignored;
  s.decrypt_and_hash(msg.subspan(kKeyLen), ignored);  // no key yet: plaintext
  step_ = 1;

  // -> e, ee, s, es, payload
  Bytes out(s.e_pub.begin(), s.e_pub.end());
  s.mix_hash(s.e_pub);
  if (Status st = s.mix_dh(s.e_priv, s.re); !st) return st;
  s.encrypt_and_hash(s.s_pub, out);
  if (Status st = s.mix_dh(s.s_priv, s.re); !st) return st;
  s.encrypt_and_hash(local_payload(), out);
  if (Status st = queue_message(out); !st) return st;
  step_ = 2;
  return {};
}

// <- e, ee, s, es, payload; then -> s, se, payload.
Status NoiseHandshake::read_message_2(ByteView msg) {
  if (msg.size() < kKeyLen + kEncryptedKeyLen + kNoiseTagSize)
    return noise_error(NoiseErrc::malformed, "handshake message 2 is " + std::to_string(msg.size()) +
                                                 " bytes, need at least 96");
  State& s = *st_;
  std::copy_n(msg.begin(), kKeyLen, s.re.begin());
  s.mix_hash(s.re);
  if (Status st = s.mix_dh(s.e_priv, s.re); !st) return st;
  Bytes rs;
  if (!s.decrypt_and_hash(msg.subspan(kKeyLen, kEncryptedKeyLen), rs))
    return noise_error(NoiseErrc::decrypt_failed, "cannot decrypt the responder's static key");
  std::copy_n(rs.begin(), kKeyLen, s.rs.begin());
  if (Status st = s.mix_dh(s.e_priv, s.rs); !st) return st;
  Bytes payload;
  if (!s.decrypt_and_hash(msg.subspan(kKeyLen + kEncryptedKeyLen), payload))
    return noise_error(NoiseErrc::decrypt_failed, "cannot decrypt the responder's payload");
  if (Status st = accept_remote_payload(payload); !st) return st;
  step_ = 2;

  Bytes out;
  s.encrypt_and_hash(s.s_pub, out);
  if (Status st = s.mix_dh(s.s_priv, s.re); !st) return st;
  s.encrypt_and_hash(local_payload(), out);
  if (Status st = queue_message(out); !st) return st;
  split();
  return {};
}

// <- s, se, payload.
Status NoiseHandshake::read_message_3(ByteView msg) {
  if (msg.size() < kEncryptedKeyLen + kNoiseTagSize)
    return noise_error(NoiseErrc::malformed, "handshake message 3 is " + std::to_string(msg.size()) +
                                                 " bytes, need at least 64");
  State& s = *st_;
  Bytes rs;
  if (!s.decrypt_and_hash(msg.first(kEncryptedKeyLen), rs))
    return noise_error(NoiseErrc::decrypt_failed, "cannot decrypt the initiator's static key");
  std::copy_n(rs.begin(), kKeyLen, s.rs.begin());
  if (Status st = s.mix_dh(s.e_priv, s.rs); !st) return st;
  Bytes payload;
  if (!s.decrypt_and_hash(msg.subspan(kEncryptedKeyLen), payload))
    return noise_error(NoiseErrc::decrypt_failed, "cannot decrypt the initiator's payload");
  if (Status st = accept_remote_payload(payload); !st) return st;
  split();
  return {};
}

Status NoiseHandshake::accept_remote_payload(ByteView plaintext) {
  auto p = decode_noise_payload(plaintext);
  if (!p) return p.error();
  if (!verify_noise_identity_sig(p->identity_key, st_->rs, p->identity_sig))
    return noise_error(NoiseErrc::bad_signature, "identity signature over the static key does not verify");
  if (opts_.expected_remote) {
    const PeerId got = PeerId::from_public_key(p->identity_key);
    if (got != *opts_.expected_remote)
      return noise_error(NoiseErrc::peer_id_mismatch, "dialed " + opts_.expected_remote->to_string() +
                                                          " but the remote is " + got.to_string());
  }
  st_->remote = std::move(p.value());
  return {};
}

Status NoiseHandshake::queue_message(const Bytes& msg) {
  if (msg.size() > kNoiseMaxFrame)
    return noise_error(NoiseErrc::frame_too_large, "handshake message of " + std::to_string(msg.size()) +
                                                       " bytes exceeds 65535 (too many stream muxers?)");
  append_frame(out_, msg);
  return {};
}

Bytes NoiseHandshake::local_payload() const {
  NoisePayload p;
  p.identity_key = identity_.public_key();
  const auto sig = sign_noise_static_key(identity_, st_->s_pub);
  p.identity_sig.assign(sig.begin(), sig.end());
  p.stream_muxers = opts_.stream_muxers;
  return encode_noise_payload(p);
}

// Split(): k1 encrypts initiator -> responder, k2 responder -> initiator.
void NoiseHandshake::split() {
  State& s = *st_;
  Key32 k1{}, k2{};
  hkdf2(s.ck, {}, k1, k2);
  const bool initiator = role_ == Role::initiator;
  s.send = NoiseCipherState{initiator ? k1 : k2, 0};
  s.recv = NoiseCipherState{initiator ? k2 : k1, 0};
  wipe(k1);
  wipe(k2);
  wipe(s.k);
  wipe(s.e_priv);
  wipe(s.s_priv);
  step_ = 3;
  done_ = true;
}

Result<NoiseHandshake::Finished> NoiseHandshake::finish() {
  if (failed_) return *st_->error;
  if (!done_) return noise_error(NoiseErrc::state_violation, "finish() before the handshake completed");
  if (st_->finished) return noise_error(NoiseErrc::state_violation, "finish() called twice");
  st_->finished = true;
  NoisePayload& remote = *st_->remote;
  Finished f{NoiseSession(st_->send, st_->recv, PeerId::from_public_key(remote.identity_key), remote.identity_key),
             std::exchange(in_, {}), std::move(remote.stream_muxers)};
  wipe(st_->send.key);
  wipe(st_->recv.key);
  return Result<Finished>(std::move(f));
}

}  // namespace shardnode::net
