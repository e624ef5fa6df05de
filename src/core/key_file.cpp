#include "shardnode/core/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "shardnode/core/errors.h"

namespace shardnode {
namespace fs = std::filesystem;

namespace {

Error io_error(const std::string& what, const fs::path& p, int err) {
  return {CoreErrc::io, what + " " + p.string() + ": " + std::strerror(err)};
}

// RAII fd.
struct Fd {
  int fd = -1;
  ~Fd() { if (fd >= 0) ::close(fd); }
};

Status write_all(int fd, const Bytes& b, const fs::path& p) {
  std::size_t off = 0;
  while (off < b.size()) {
    ssize_t n = ::write(fd, b.data() + off, b.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", p, errno);
    }
    off += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

fs::path identity_key_path(const fs::path& datadir) { return datadir / kIdentityKeyFile; }

Status write_new_key_file(const fs::path& path, const NodeKey& key) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Error{CoreErrc::io, "cannot create " + dir.string() + ": " + ec.message()};
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  if (fs::exists(path, ec) || fs::is_symlink(path, ec))
    return Error{CoreErrc::key_exists, path.string() + " already exists; refusing to overwrite a node key"};

  std::string tmp = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  Fd f;
  f.fd = ::mkstemp(tmp.data());  // creates with mode 0600
  if (f.fd < 0) return io_error("cannot create temporary key file in", dir, errno);
  struct Unlink { const std::string& p; ~Unlink() { ::unlink(p.c_str()); } } unlink_tmp{tmp};
  if (::fchmod(f.fd, S_IRUSR | S_IWUSR) != 0) return io_error("cannot chmod", tmp, errno);

  Bytes blob = key.to_libp2p_private_key();
  Status w = write_all(f.fd, blob, tmp);
  secure_wipe(blob.data(), blob.size());
  if (!w) return w;
  if (::fsync(f.fd) != 0) return io_error("cannot fsync", tmp, errno);

  // link(2) fails with EEXIST instead of replacing: atomic and never overwrites.
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST)
      return Error{CoreErrc::key_exists, path.string() + " already exists; refusing to overwrite a node key"};
    return io_error("cannot create", path, errno);
  }
  Fd d;
  d.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd >= 0) ::fsync(d.fd);
  return {};
}

Result<NodeKey> load_key_file(const fs::path& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (f.fd < 0) {
    if (errno == ENOENT)
      return Error{CoreErrc::key_missing, "no node key at " + path.string() + " (run `shardnode keygen` first)"};
    return io_error("cannot open", path, errno);
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return io_error("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Error{CoreErrc::bad_key, path.string() + " is not a regular file"};
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error{CoreErrc::bad_key, path.string() + " has permissions " + mode +
                                        "; a node key must be readable by its owner only (chmod 600)"};
  }
  constexpr std::size_t kExpected = 68;
  if (st.st_size != static_cast<off_t>(kExpected))
    return Error{CoreErrc::bad_key, path.string() + " is " + std::to_string(st.st_size) +
                                        " bytes; a node key file is " + std::to_string(kExpected) +
                                        " bytes (corrupt or not a shardnode key?)"};
  Bytes blob(kExpected);
  std::size_t off = 0;
  while (off < blob.size()) {
    ssize_t n = ::read(f.fd, blob.data() + off, blob.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      secure_wipe(blob.data(), blob.size());
      return n == 0 ? Error{CoreErrc::bad_key, path.string() + ": file shrank while reading"}
                    : io_error("cannot read", path, errno);
    }
    off += static_cast<std::size_t>(n);
  }
  auto key = NodeKey::from_libp2p_private_key(blob);
  secure_wipe(blob.data(), blob.size());
  if (!key) return Error{CoreErrc::bad_key, path.string() + ": " + key.error().message};
  return key;
}

Result<NodeKey> load_or_create_key_file(const fs::path& path, bool& created) {
  created = false;
  auto key = load_key_file(path);
  if (key || key.error().code != CoreErrc::key_missing) return key;
  if (Status w = write_new_key_file(path, NodeKey::generate()); !w) return w.error();
  created = true;
  return load_key_file(path);
}

}  // namespace shardnode
