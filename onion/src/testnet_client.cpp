#include "shardnode/onion/testnet_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include "shardnode/core/errors.h"
#include "shardnode/onion/detail/torrc_text.h"
#include "shardnode/onion/errors.h"

namespace shardnode::onion {
namespace fs = std::filesystem;

namespace detail {

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    const std::size_t b = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') ++i;
    if (i > b) out.emplace_back(s.substr(b, i - b));
  }
  return out;
}

bool is_hex40(std::string_view s) {
  return s.size() == 40 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

std::optional<std::string> read_text(const fs::path& p, std::size_t max_bytes) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s;
  char buf[65536];
  while (in && s.size() < max_bytes) {
    in.read(buf, sizeof buf);
    s.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  return s;
}

}  // namespace detail

using detail::is_hex40;
using detail::read_text;
using detail::split_ws;

namespace {

Error err(TestnetErrc c, std::string msg) {
  return Error{make_error_code(c), std::move(msg)};
}


}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> load_testnet_client_options(const fs::path& file) {
  auto text = read_text(file, 1u << 20);
  if (!text) return err(TestnetErrc::bad_client_config, "cannot read testnet client torrc " + file.string());
  std::vector<std::pair<std::string, std::string>> out;
  bool testing = false;
  int authorities = 0;
  int lineno = 0;
  std::istringstream in(*text);
  std::string raw;
  auto bad = [&](const std::string& why) {
    return err(TestnetErrc::bad_client_config, file.string() + ":" + std::to_string(lineno) + ": " + why);
  };
  while (std::getline(in, raw)) {
    ++lineno;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::string_view line = raw;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (std::any_of(line.begin(), line.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 && c != '\t'; }))
      return bad("control character");
    const std::size_t ks = line.find_first_of(" \t");
    const std::string key(line.substr(0, ks));
    std::string value;
    if (ks != std::string_view::npos) {
      std::string_view v = line.substr(ks);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      value = std::string(v);
    }
    if (value.empty()) return bad("'" + key + "' has no value");
    if (value.find_first_of("#\"\\") != std::string::npos)
      return bad("'" + key + "': quotes, backslashes and inline comments are not allowed");

    if (key == "TestingTorNetwork") {
      if (value != "1") return bad("TestingTorNetwork must be 1, not '" + value + "'");
      testing = true;
    } else if (key == "PathsNeededToBuildCircuits") {
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(v > 0.0 && v <= 1.0))
        return bad("PathsNeededToBuildCircuits must be a number in (0, 1], not '" + value + "'");
    } else if (key == "DirAuthority") {
      // DirAuthority <nickname> [orport=N] [no-v2] v3ident=HEX40 <ipv4>:<port> <fingerprint>
      const auto t = split_ws(value);
      std::size_t addr = t.size();
      for (std::size_t i = 1; i < t.size(); ++i)
        if (t[i].find('=') == std::string::npos && t[i].find(':') != std::string::npos) {
          addr = i;
          break;
        }
      if (t.size() < 3 || addr == t.size()) return bad("DirAuthority without an address:port");
      bool v3 = false;
      for (std::size_t i = 1; i < addr; ++i) {
        const std::string& f = t[i];
        if (f == "no-v2") continue;
        if (f.rfind("orport=", 0) == 0) {
          const std::string p = f.substr(7);
          if (p.empty() || p.size() > 5 ||
              !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return bad("DirAuthority: bad orport '" + p + "'");
          continue;
        }
        if (f.rfind("v3ident=", 0) == 0) {
          if (!is_hex40(f.substr(8))) return bad("DirAuthority: v3ident must be 40 hex digits");
          v3 = true;
          continue;
        }
        return bad("DirAuthority: unsupported flag '" + f + "' (allowed: orport=, no-v2, v3ident=)");
      }
      if (!v3) return bad("DirAuthority without v3ident=");
      const std::string& a = t[addr];
      const std::size_t colon = a.rfind(':');
      const std::string host = a.substr(0, colon);
      const std::string port = a.substr(colon + 1);
      in_addr ia{};
      if (::inet_pton(AF_INET, host.c_str(), &ia) != 1)
        return bad("DirAuthority address '" + a + "' is not an IPv4 address:port");
      if ((ntohl(ia.s_addr) >> 24) != 127u)
        return bad("DirAuthority address '" + a + "' is not on loopback (127.0.0.0/8): refusing a non-local network");
      const long pn = port.empty() || port.size() > 5 ? -1 : std::strtol(port.c_str(), nullptr, 10);
      if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) || pn < 1 || pn > 65535)
        return bad("DirAuthority: bad port in '" + a + "'");
      std::string fpr;
      for (std::size_t i = addr + 1; i < t.size(); ++i) fpr += t[i];
      if (!is_hex40(fpr)) return bad("DirAuthority: fingerprint must be 40 hex digits");
      ++authorities;
    } else if (key == "OutboundBindAddress") {
      // `testnet up --latency wan`: the client's region, known to the forwarder by
      // the source address of the client's connections. Loopback IPv4 only.
      in_addr ia{};
      if (::inet_pton(AF_INET, value.c_str(), &ia) != 1)
        return bad("OutboundBindAddress '" + value + "' is not an IPv4 address");
      if ((ntohl(ia.s_addr) >> 24) != 127u)
        return bad("OutboundBindAddress '" + value + "' is not on loopback (127.0.0.0/8): refusing a non-local network");
    } else {
      return bad("option '" + key +
                 "' is not allowed in a testnet client torrc (allowed: TestingTorNetwork, DirAuthority, "
                 "PathsNeededToBuildCircuits, OutboundBindAddress)");
    }
    out.emplace_back(key, value);
  }
  if (!testing) return err(TestnetErrc::bad_client_config, file.string() + ": missing 'TestingTorNetwork 1'");
  if (authorities == 0) return err(TestnetErrc::bad_client_config, file.string() + ": no DirAuthority line");
  return out;
}

}  // namespace shardnode::onion
