#include "util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include "shardnode/onion/errors.h"

namespace shardnode::testnet::detail {
namespace fs = std::filesystem;

std::int64_t unix_now() { return static_cast<std::int64_t>(SystemWallClock().unix_ms() / 1000); }

TimePoint steady_now() { return SteadyClock().now(); }

std::string errno_text(int e) {
  return std::strerror(e);
}

Status write_text(const fs::path& p, const std::string& text, mode_t mode) {
  const fs::path tmp = p.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return err(TestnetErrc::io, "cannot write " + tmp.string() + ": " + errno_text(errno));
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return err(TestnetErrc::io, "cannot write " + tmp.string() + ": " + errno_text(e));
    }
    off += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, mode);
  ::close(fd);
  if (::rename(tmp.c_str(), p.c_str()) != 0)
    return err(TestnetErrc::io, "cannot rename " + tmp.string() + ": " + errno_text(errno));
  return {};
}

std::string last_lines(const std::string& text, int n) {
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  int count = 0;
  while (pos > 0) {
    const std::size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    if (++count == n) return text.substr(nl + 1);
    pos = nl;
  }
  return text;
}

}  // namespace shardnode::testnet::detail
