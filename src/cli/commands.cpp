#include "commands.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "shardnode/core/errors.h"
#include "shardnode/core/key_file.h"
#include "shardnode/core/keys.h"
#include "shardnode/core/log.h"
#include "shardnode/node/node.h"
#include "shardnode/onion/embedded_tor.h"
#include "shardnode/onion/onion_service.h"
#include "shardnode/version.h"

namespace shardnode::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "shardnode: %s\n", msg.c_str());
  return code;
}

fs::path datadir_for(const Context& ctx, const IdOptions& o) {
  return o.datadir.empty() ? ctx.datadir : node::expand_home(o.datadir);
}

void print_identity(const NodeKey& key, const fs::path& key_path, bool as_json) {
  const auto peer = PeerId::from_public_key(key.public_key()).to_string();
  const auto onion = onion_address(key.public_key()) + ".onion";
  if (as_json) {
    std::cout << json{{"peer_id", peer}, {"onion_address", onion}, {"key_file", key_path.string()}}.dump(2) << "\n";
  } else {
    std::cout << "peer id:       " << peer << "\n"
              << "onion address: " << onion << "\n"
              << "key file:      " << key_path.string() << "\n";
  }
}

}  // namespace

Result<Context> load_context(const GlobalOptions& g) {
  Context ctx{node::Settings::defaults(), {}};
  if (!g.config_file.empty()) {
    auto s = node::Settings::load_file(g.config_file);
    if (!s) return s.error();
    ctx.settings = std::move(*s);
  }
  for (const auto& o : g.overrides)
    if (Status st = ctx.settings.set_from_text(o); !st) return st.error();
  if (!g.log_level.empty())
    if (Status st = ctx.settings.set_from_text("log.level=" + g.log_level); !st) return st.error();
  if (Status st = logging::configure(ctx.settings.config().log); !st) return st.error();
  ctx.datadir = node::expand_home(ctx.settings.config().node.datadir);
  return ctx;
}

int cmd_version(bool as_json) {
  const std::string tor = onion::EmbeddedTor::provider_version();
  if (as_json)
    std::cout << json{{"shardnode", kVersion}, {"tor", tor}}.dump(2) << "\n";
  else
    std::cout << "shardnode " << kVersion << "\n" << tor << " (embedded, built from Debian's source package)\n";
  return 0;
}

int cmd_config(const ConfigOptions& o) {
  if (o.print_defaults) {
    std::cout << node::print_defaults_toml(o.validator);
    return 0;
  }
  if (o.reference) {
    std::cout << node::config_reference_markdown();
    return 0;
  }
  auto s = node::Settings::load_file(o.check_file);
  if (!s) return fail(s.error().what(), 2);
  // Every check `run` makes before it starts tor (conflicts between settings, the
  // testnet torrc, tor.options), so "ok" means `run` will not refuse the file.
  if (auto n = node::node_options_from(*s, node::expand_home(s->config().node.datadir)); !n)
    return fail(o.check_file + ": " + n.error().what(), 2);
  const auto warnings = node::settings_warnings(*s);
  for (const auto& w : warnings) std::cerr << o.check_file << ": warning: " << w << "\n";
  std::cout << o.check_file << (warnings.empty() ? ": ok\n" : ": ok, with warnings\n");
  return 0;
}

int cmd_keygen(const Context& ctx, const IdOptions& o) {
  const fs::path path = identity_key_path(datadir_for(ctx, o));
  NodeKey key = NodeKey::generate();
  if (Status st = write_new_key_file(path, key); !st) return fail(st.error().what());
  logging::get("cli")->info("wrote a new node key to {}", path.string());
  print_identity(key, path, o.json);
  return 0;
}

int cmd_id(const Context& ctx, const IdOptions& o) {
  const fs::path path = identity_key_path(datadir_for(ctx, o));
  auto key = load_key_file(path);
  if (!key) return fail(key.error().what());
  print_identity(*key, path, o.json);
  return 0;
}

int cmd_selfcheck(const Context& ctx, const IdOptions& o) {
  const fs::path datadir = datadir_for(ctx, o);
  auto key = load_key_file(identity_key_path(datadir));
  if (!key) return fail(key.error().what());

  const auto& tor_settings = ctx.settings.config().tor;
  onion::EmbeddedTorOptions to;
  to.data_dir = tor_settings.data_dir.empty() ? datadir / "tor" : node::expand_home(tor_settings.data_dir);
  to.disable_network = true;  // selfcheck never touches any network
  to.log_level = tor_settings.log_level;
  to.start_timeout = tor_settings.start_timeout;
  const auto stop_timeout = tor_settings.stop_timeout;

  auto tor = onion::EmbeddedTor::start(to);
  if (!tor) return fail(tor.error().what());
  auto version = (*tor)->control().getinfo("version", std::chrono::seconds(5));

  onion::OnionServiceOptions so;
  so.target = "unix:" + (to.data_dir / "selfcheck.sock").string();
  auto sid = onion::add_onion_service((*tor)->control(), *key, so);
  if (sid) (void)onion::del_onion_service((*tor)->control(), *sid, std::chrono::seconds(5));
  Status stopped = (*tor)->stop(stop_timeout);

  const std::string expected = onion_address(key->public_key());
  json report{{"tor_provider", onion::EmbeddedTor::provider_version()},
              {"tor_getinfo_version", version ? *version : "error: " + version.error().message},
              {"onion_address_ours", expected + ".onion"},
              {"onion_address_tor", sid ? *sid + ".onion" : "error: " + sid.error().message},
              {"tor_stopped", stopped ? "cleanly" : stopped.error().message}};
  const bool ok = version && sid && *sid == expected && stopped;
  report["ok"] = ok;
  if (o.json) {
    std::cout << report.dump(2) << "\n";
  } else {
    std::cout << "linked tor:         " << report["tor_provider"].get<std::string>() << "\n"
              << "tor reports:        " << report["tor_getinfo_version"].get<std::string>() << "\n"
              << "our onion address:  " << report["onion_address_ours"].get<std::string>() << "\n"
              << "tor's onion address:" << " " << report["onion_address_tor"].get<std::string>() << "\n"
              << "tor stopped:        " << report["tor_stopped"].get<std::string>() << "\n"
              << (ok ? "selfcheck passed\n" : "selfcheck FAILED\n");
  }
  return ok ? 0 : 1;
}

}  // namespace shardnode::cli
