// Core decoders: multiaddr (binary and text), uvarint and its length-prefixed
// framing, peer ids and onion addresses, the node key file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "../fuzz.h"
#include "shardnode/core/key_file.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/multiaddr.h"
#include "shardnode/core/varint.h"
#include "shardnode/net/framing.h"

namespace shardnode::fuzz {
namespace {

std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

void exercise(const Multiaddr& ma) {
  (void)ma.peer_id();
  (void)ma.tcp_endpoint();
  (void)ma.onion_endpoint();
  (void)ma.is_onion();
  (void)ma.without_peer_id();
  // What we print we must read back as the same address, and its bytes too.
  const std::string text = ma.to_string();
  auto again = Multiaddr::parse(text);
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(again));
  SHARDNODE_FUZZ_CHECK(again->to_string() == text);
  auto from_bytes = Multiaddr::from_bytes(ma.to_bytes());
  SHARDNODE_FUZZ_CHECK(static_cast<bool>(from_bytes));
  SHARDNODE_FUZZ_CHECK(from_bytes->components() == ma.components());
}

}  // namespace

SHARDNODE_FUZZ_TARGET(multiaddr) {
  if (auto ma = Multiaddr::from_bytes(ByteView(data, size))) exercise(*ma);
  if (auto ma = Multiaddr::parse(as_text(data, size))) exercise(*ma);
}

SHARDNODE_FUZZ_TARGET(uvarint) {
  Input in(data, size);
  const ByteView whole(data, size);
  const VarintResult r = decode_uvarint(whole);
  if (r.status == VarintStatus::ok) {
    SHARDNODE_FUZZ_CHECK(r.length >= 1 && r.length <= kMaxVarintBytes && r.length <= size);
    Bytes again;
    append_uvarint(again, r.value);
    SHARDNODE_FUZZ_CHECK(again.size() == r.length && std::equal(again.begin(), again.end(), data));
  }
  // The same bytes as a length-prefixed stream, in fuzzer-chosen pieces, with a
  // fuzzer-chosen cap.
  net::LengthPrefixedReader reader(static_cast<std::size_t>(in.u16()));
  std::size_t out = 0;
  while (!in.empty()) {
    if (!reader.received_bytes(in.chunk())) break;
    while (auto m = reader.next()) out += m->size();
  }
  (void)out;
}

SHARDNODE_FUZZ_TARGET(peer_id) {
  if (auto id = PeerId::from_bytes(ByteView(data, size))) {
    const std::string text = id->to_string();
    auto again = PeerId::parse(text);
    SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *id);
    (void)id->public_key();
  }
  (void)PeerId::parse(as_text(data, size));
  if (auto pk = parse_onion_address(as_text(data, size))) {
    auto again = parse_onion_address(onion_address(*pk));
    SHARDNODE_FUZZ_CHECK(static_cast<bool>(again) && *again == *pk);
  }
  (void)decode_libp2p_public_key(ByteView(data, size));
}

// The key file loader itself (open, mode and size checks, protobuf, public-key
// match) on a 0600 file holding the input.
SHARDNODE_FUZZ_TARGET(key_file) {
  (void)NodeKey::from_libp2p_private_key(ByteView(data, size));
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return (std::filesystem::path(dir ? dir : "/tmp") / ("shardnode-fuzz-key-" + std::to_string(::getpid()))).string();
  }();
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return;
  std::size_t off = 0;
  while (off < size) {
    const ssize_t n = ::write(fd, data + off, size - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  auto key = load_key_file(path);
  if (key) SHARDNODE_FUZZ_CHECK(size == 68 && key->to_libp2p_private_key() == Bytes(data, data + size));
  ::unlink(path.c_str());
}

}  // namespace shardnode::fuzz
