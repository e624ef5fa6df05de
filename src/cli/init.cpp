// shardnode init --network testnet|public DIR: a data directory with the node's keys,
// a commented config (configs/validator.toml with DIR and the network filled in) and
// the next command to run.
#include <sys/stat.h>

#include <fstream>
#include <iostream>

#include "commands.h"
#include "init_template.h"
#include "shardnode/core/key_file.h"
#include "shardnode/core/keys.h"
#include "shardnode/node/node.h"

namespace shardnode::cli {
namespace fs = std::filesystem;

namespace {

int init_fail(const std::string& msg, int code = 1) {
  std::cerr << "shardnode init: " << msg << "\n";
  return code;
}

// Replaces the first line that starts with `prefix` by `line`; false if there is none.
bool replace_line(std::string& text, std::string_view prefix, const std::string& line) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view l(text.data() + pos, end - pos);
    if (l.substr(0, prefix.size()) == prefix) {
      text.replace(pos, end - pos, line);
      return true;
    }
    pos = end + 1;
  }
  return false;
}

// A TOML basic string ("..."), as configs/validator.toml writes paths.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int cmd_init(const InitOptions& o) {
  if (o.network != "testnet" && o.network != "public") return init_fail("--network is testnet or public", 2);
  std::error_code ec;
  const fs::path dir = fs::absolute(o.dir, ec).lexically_normal();
  if (ec) return init_fail("bad directory " + o.dir + ": " + ec.message(), 2);
  const fs::path config = dir / "shardnode.toml";
  if (fs::exists(config, ec))
    return init_fail(config.string() + " exists: this directory is initialised already (nothing changed)", 1);

  std::string text = kValidatorTomlTemplate;
  bool ok = replace_line(text, "# shardnode configuration for a validator.",
                         "# shardnode configuration for a validator, written by `shardnode init --network " + o.network +
                             "`.") &&
            replace_line(text, "datadir = ", "datadir = " + toml_string(dir.string())) &&
            replace_line(text, "# Check a file with:",
                         "# Check it with:  shardnode config --check " + config.string());
  const fs::path torrc = dir / "testnet" / "client.torrc";
  if (o.network == "public")
    ok = ok && replace_line(text, "# public_network = true",
                            "# You chose the public Tor network (shardnode init --network public).\npublic_network = true");
  else
    ok = ok && replace_line(text, "# testnet = ",
                            "# A private Tor network: `shardnode testnet up --dir " + (dir / "testnet").string() +
                                "` writes it.\ntestnet = " + toml_string(torrc.string()));
  if (!ok) return init_fail("internal: configs/validator.toml no longer has the lines init fills in", 1);
  auto settings = node::Settings::parse(text, config.string());
  if (!settings) return init_fail("internal: the config init writes does not parse: " + settings.error().what(), 1);
  if (o.network == "public") {
    if (auto n = node::node_options_from(*settings, dir); !n)
      return init_fail("internal: the config init writes is refused: " + n.error().what(), 1);
  }

  fs::create_directories(dir, ec);
  if (ec) return init_fail("cannot create " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) return init_fail("cannot chmod 0700 " + dir.string());
  bool new_identity = false, new_validator = false;
  auto identity = load_or_create_key_file(identity_key_path(dir), new_identity);
  if (!identity) return init_fail(identity.error().what());
  auto validator = load_or_create_key_file(dir / "validator.key", new_validator);
  if (!validator) return init_fail(validator.error().what());
  {
    // The config holds no secret, but tor.control_password may be added later: 0600.
    const fs::path tmp = dir / ".shardnode.toml.tmp";
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    f.close();
    if (!f || ::chmod(tmp.c_str(), 0600) != 0) return init_fail("cannot write " + tmp.string());
    fs::rename(tmp, config, ec);
    if (ec) return init_fail("cannot write " + config.string() + ": " + ec.message());
  }

  const auto onion = onion_address(identity->public_key());
  std::cout << "initialised " << dir.string() << " for the " << (o.network == "public" ? "public" : "private test")
            << " Tor network\n"
            << "  node identity   " << identity_key_path(dir).string() << (new_identity ? " (new)" : " (kept)")
            << "\n"
            << "                  peer id " << PeerId::from_public_key(identity->public_key()).to_string() << "\n"
            << "                  onion   " << onion << ".onion\n"
            << "  validator key   " << (dir / "validator.key").string() << (new_validator ? " (new)" : " (kept)")
            << "; never tied to the node identity on the wire\n"
            << "  config          " << config.string() << " (commented; every key: docs/CONFIG.md)\n"
            << "Back up both keys (docs/OPERATIONS.md); they are never printed or logged.\n"
            << "Add bootnodes ([node] bootnodes, /onion3/ addresses) and the shards to join ([shard] shards).\n"
            << "Next:\n";
  if (o.network == "testnet")
    std::cout << "  shardnode testnet up --dir " << (dir / "testnet").string() << "\n";
  std::cout << "  shardnode --config " << config.string() << " run\n";
  return 0;
}

}  // namespace shardnode::cli
