#include "keys.h"

#include <sys/stat.h>

#include <cerrno>
#include <random>
#include <sstream>

#include "process.h"
#include "util.h"
#include "shardnode/onion/errors.h"

namespace shardnode::testnet::detail {
namespace fs = std::filesystem;

Status make_authority_keys(TestnetNode& n, const std::string& tor, const std::string& gencert, const fs::path& empty) {
  std::random_device rd;
  const fs::path keys = n.datadir / "keys";
  if (::mkdir(keys.c_str(), 0700) != 0)
    return err(TestnetErrc::io, "cannot create " + keys.string() + ": " + errno_text(errno));
  char pass[33];
  for (int i = 0; i < 32; ++i) pass[i] = "0123456789abcdef"[rd() & 15u];
  pass[32] = '\0';
  auto g = run_tool(gencert,
                    {"--create-identity-key", "--passphrase-fd", "0", "-m", "12", "-a",
                     n.address + ":" + std::to_string(n.dir_port), "-i", (keys / "authority_identity_key").string(), "-s",
                     (keys / "authority_signing_key").string(), "-c", (keys / "authority_certificate").string()},
                    std::string(pass) + "\n", std::chrono::seconds(60));
  if (!g) return g.error();
  if (g->exit_code != 0)
    return err(TestnetErrc::tool_failed, gencert + " failed for " + n.name + " (exit " + std::to_string(g->exit_code) +
                                             "): " + last_lines(g->output, 5));
  auto cert = read_text(keys / "authority_certificate");
  if (cert) {
    std::istringstream in(*cert);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("fingerprint ", 0) == 0) n.v3ident = line.substr(12);
  }
  if (!is_hex40(n.v3ident))
    return err(TestnetErrc::tool_failed, "no v3 identity fingerprint in " + (keys / "authority_certificate").string());

  auto f =
      run_tool(tor,
               {"--ignore-missing-torrc", "-f", empty.string(), "--defaults-torrc", empty.string(), "--DataDirectory",
                n.datadir.string(), "--Nickname", n.name, "--ORPort", "127.0.0.1:" + std::to_string(n.or_port),
                "--DisableNetwork", "1", "--SocksPort", "0", "--quiet", "--list-fingerprint"},
               "", std::chrono::seconds(60));
  if (!f) return f.error();
  std::string fpr;
  {
    std::istringstream in(f->output);
    std::string line;
    while (std::getline(in, line)) {
      const auto t = split_ws(line);
      if (t.size() == 11 && t[0] == n.name) {
        std::string joined;
        for (std::size_t i = 1; i < t.size(); ++i) joined += t[i];
        if (is_hex40(joined)) fpr = joined;
      }
    }
  }
  if (f->exit_code != 0 || fpr.empty())
    return err(TestnetErrc::tool_failed, tor + " --list-fingerprint failed for " + n.name + " (exit " +
                                             std::to_string(f->exit_code) + "): " + last_lines(f->output, 5));
  n.fingerprint = fpr;
  return {};
}

}  // namespace shardnode::testnet::detail
