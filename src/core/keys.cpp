#include "shardnode/core/keys.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <stdexcept>

#include "shardnode/core/errors.h"

namespace shardnode {
namespace {

constexpr std::uint8_t kKeyTypeEd25519 = 1;

void ensure_sodium() {
  static const int rc = sodium_init();
  if (rc < 0) throw std::runtime_error("libsodium failed to initialise");
}

Error bad_key(std::string msg) { return {CoreErrc::bad_key, std::move(msg)}; }

// Both key protobufs for Ed25519 are a fixed 4-byte prefix + payload:
//   08 01 (field 1 varint = Ed25519) 12 <len> (field 2 bytes).
Result<ByteView> decode_key_pb(ByteView pb, std::size_t data_len, const char* what) {
  const std::uint8_t prefix[4] = {0x08, kKeyTypeEd25519, 0x12, static_cast<std::uint8_t>(data_len)};
  if (pb.size() != 4 + data_len)
    return bad_key(std::string(what) + ": expected " + std::to_string(4 + data_len) +
                   " bytes, got " + std::to_string(pb.size()));
  if (std::memcmp(pb.data(), prefix, 2) != 0)
    return bad_key(std::string(what) + ": not an Ed25519 libp2p key (type field)");
  if (std::memcmp(pb.data() + 2, prefix + 2, 2) != 0)
    return bad_key(std::string(what) + ": malformed libp2p key protobuf (data field)");
  return pb.subspan(4);
}

}  // namespace

bool Ed25519PublicKey::verify(ByteView message, ByteView signature) const {
  ensure_sodium();
  if (signature.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     bytes.data()) == 0;
}

namespace {
// prefix || payload in one allocation (GCC 12 mis-warns on initializer-list + insert).
Bytes concat(std::initializer_list<std::uint8_t> prefix, ByteView payload) {
  Bytes out(prefix.size() + payload.size());
  std::copy(prefix.begin(), prefix.end(), out.begin());
  std::copy(payload.begin(), payload.end(), out.begin() + static_cast<std::ptrdiff_t>(prefix.size()));
  return out;
}
}  // namespace

Bytes encode_libp2p_public_key(const Ed25519PublicKey& pk) {
  return concat({0x08, kKeyTypeEd25519, 0x12, 32}, pk.bytes);
}

Result<Ed25519PublicKey> decode_libp2p_public_key(ByteView pb) {
  auto data = decode_key_pb(pb, 32, "public key");
  if (!data) return data.error();
  Ed25519PublicKey pk;
  std::memcpy(pk.bytes.data(), data->data(), 32);
  return pk;
}

NodeKey NodeKey::generate() {
  ensure_sodium();
  NodeKey k;
  crypto_sign_keypair(k.pk_.bytes.data(), k.sk_.data());
  return k;
}

Result<NodeKey> NodeKey::from_seed(ByteView seed) {
  ensure_sodium();
  if (seed.size() != crypto_sign_SEEDBYTES)
    return bad_key("Ed25519 seed must be 32 bytes, got " + std::to_string(seed.size()));
  NodeKey k;
  crypto_sign_seed_keypair(k.pk_.bytes.data(), k.sk_.data(), seed.data());
  return k;
}

Result<NodeKey> NodeKey::from_libp2p_private_key(ByteView pb) {
  auto data = decode_key_pb(pb, 64, "private key");
  if (!data) return data.error();
  auto k = from_seed(data->first(32));
  if (!k) return k.error();
  if (sodium_memcmp(k->pk_.bytes.data(), data->data() + 32, 32) != 0)
    return bad_key("private key: stored public key does not match the seed (corrupt key file?)");
  return k;
}

Bytes NodeKey::to_libp2p_private_key() const {
  return concat({0x08, kKeyTypeEd25519, 0x12, 64}, sk_);
}

NodeKey::NodeKey(NodeKey&& o) noexcept : sk_(o.sk_), pk_(o.pk_) { secure_wipe(o.sk_.data(), o.sk_.size()); }

NodeKey& NodeKey::operator=(NodeKey&& o) noexcept {
  if (this != &o) {
    sk_ = o.sk_;
    pk_ = o.pk_;
    secure_wipe(o.sk_.data(), o.sk_.size());
  }
  return *this;
}

NodeKey::~NodeKey() { secure_wipe(sk_.data(), sk_.size()); }

std::array<std::uint8_t, 64> NodeKey::sign(ByteView message) const {
  std::array<std::uint8_t, 64> sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), sk_.data());
  return sig;
}

std::string NodeKey::tor_expanded_key_base64() const {
  std::array<std::uint8_t, 64> expanded{};
  crypto_hash_sha512(expanded.data(), sk_.data(), 32);
  expanded[0] &= 248;
  expanded[31] &= 127;
  expanded[31] |= 64;
  std::string out = base64_encode(expanded);
  secure_wipe(expanded.data(), expanded.size());
  return out;
}

PeerId PeerId::from_public_key(const Ed25519PublicKey& pk) {
  Bytes pb = encode_libp2p_public_key(pk);
  PeerId id;
  id.mh_ = concat({0x00, static_cast<std::uint8_t>(pb.size())}, pb);  // identity multihash
  return id;
}

Result<PeerId> PeerId::from_bytes(ByteView mh) {
  // Multihash: varint code, varint length, digest. Codes we accept: identity (0x00)
  // with a digest <= 42 bytes and sha2-256 (0x12) with 32 bytes. Both fit in one-byte varints.
  if (mh.size() < 2) return Error{CoreErrc::bad_encoding, "peer id: multihash too short"};
  const std::uint8_t code = mh[0], len = mh[1];
  if ((code & 0x80) || (len & 0x80))
    return Error{CoreErrc::bad_encoding, "peer id: unsupported multihash code or length"};
  if (mh.size() != 2u + len)
    return Error{CoreErrc::bad_encoding, "peer id: multihash length field does not match its size"};
  if (code == 0x00) {
    if (len > 42) return Error{CoreErrc::bad_encoding, "peer id: identity multihash over 42 bytes"};
  } else if (code == 0x12) {
    if (len != 32) return Error{CoreErrc::bad_encoding, "peer id: sha2-256 digest must be 32 bytes"};
  } else {
    return Error{CoreErrc::bad_encoding, "peer id: multihash code must be identity or sha2-256"};
  }
  PeerId id;
  id.mh_.assign(mh.begin(), mh.end());
  return id;
}

Result<PeerId> PeerId::parse(std::string_view text) {
  if (text.empty() || text.size() > 128) return Error{CoreErrc::bad_encoding, "peer id: bad length"};
  auto raw = base58_decode(text);
  if (!raw) return Error{CoreErrc::bad_encoding, "peer id: not base58btc"};
  return from_bytes(*raw);
}

std::string PeerId::to_string() const { return base58_encode(mh_); }

Result<Ed25519PublicKey> PeerId::public_key() const {
  if (mh_.size() < 2 || mh_[0] != 0x00)
    return Error{CoreErrc::bad_key, "peer id does not inline its public key"};
  return decode_libp2p_public_key(ByteView(mh_).subspan(2));
}

std::array<std::uint8_t, 32> sha3_256(ByteView data) {
  std::array<std::uint8_t, 32> out{};
  unsigned len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha3_256(), nullptr) != 1 || len != 32)
    throw std::runtime_error("OpenSSL SHA3-256 failed");
  return out;
}

namespace {
std::array<std::uint8_t, 2> onion_checksum(const Ed25519PublicKey& pk) {
  static constexpr std::string_view kPrefix = ".onion checksum";
  Bytes buf(kPrefix.begin(), kPrefix.end());
  buf.insert(buf.end(), pk.bytes.begin(), pk.bytes.end());
  buf.push_back(0x03);
  auto h = sha3_256(buf);
  return {h[0], h[1]};
}
}  // namespace

std::string onion_address(const Ed25519PublicKey& pk) {
  auto chk = onion_checksum(pk);
  std::array<std::uint8_t, 35> raw{};
  std::copy(pk.bytes.begin(), pk.bytes.end(), raw.begin());
  raw[32] = chk[0];
  raw[33] = chk[1];
  raw[34] = 0x03;
  return base32_encode(raw);
}

Result<Ed25519PublicKey> parse_onion_address(std::string_view text) {
  if (text.size() > 6 && (text.substr(text.size() - 6) == ".onion" || text.substr(text.size() - 6) == ".ONION"))
    text.remove_suffix(6);
  if (text.size() != 56)
    return Error{CoreErrc::bad_encoding, "onion address: expected 56 base32 characters, got " +
                                             std::to_string(text.size())};
  auto raw = base32_decode(text);
  if (!raw || raw->size() != 35) return Error{CoreErrc::bad_encoding, "onion address: not base32"};
  if ((*raw)[34] != 0x03) return Error{CoreErrc::bad_encoding, "onion address: version is not 3"};
  Ed25519PublicKey pk;
  std::memcpy(pk.bytes.data(), raw->data(), 32);
  auto chk = onion_checksum(pk);
  if ((*raw)[32] != chk[0] || (*raw)[33] != chk[1])
    return Error{CoreErrc::bad_encoding, "onion address: checksum mismatch"};
  return pk;
}

}  // namespace shardnode
