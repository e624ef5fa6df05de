#include "state.h"

#include <nlohmann/json.hpp>

#include "util.h"
#include "shardnode/onion/errors.h"

namespace shardnode::testnet {
namespace fs = std::filesystem;
using nlohmann::json;

namespace detail {
namespace {

json state_to_json(const TestnetState& s) {
  json nodes = json::array();
  for (const auto& n : s.nodes)
    nodes.push_back({{"name", n.name},
                     {"role", n.authority ? "authority" : n.bridge ? "bridge" : "relay"},
                     {"datadir", n.datadir.string()},
                     {"torrc", n.torrc.string()},
                     {"or_port", n.or_port},
                     {"dir_port", n.dir_port},
                     {"pid", n.pid},
                     {"fingerprint", n.fingerprint},
                     {"v3ident", n.v3ident},
                     {"address", n.address},
                     {"real_or_port", n.real_or_port},
                     {"region", n.region},
                     {"pt_port", n.pt_port},
                     {"bridge_line", n.bridge_line}});
  return {{"version", 1},
          {"dir", s.dir.string()},
          {"state", s.state},
          {"created", s.created},
          {"stopped", s.stopped},
          {"ready_seconds", s.ready_seconds},
          {"voting_interval", s.voting_interval},
          {"client_torrc", s.client_torrc.string()},
          {"bridges_file", s.bridges_file.string()},
          {"latency", s.latency},
          {"seed", s.seed},
          {"forwarder_pid", s.forwarder_pid},
          {"forward_config", s.forward_config.string()},
          {"nodes", nodes}};
}

}  // namespace

Status save_state(const TestnetState& s) {
  return write_text(s.dir / kStateFile, state_to_json(s).dump(2) + "\n", 0644);
}

fs::path normalize_dir(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  return p;
}

}  // namespace detail

Result<TestnetState> load_testnet_state(const fs::path& dir_in) {
  using namespace detail;
  const fs::path dir = normalize_dir(dir_in);
  const fs::path file = dir / kStateFile;
  auto text = read_text(file);
  if (!text) return err(TestnetErrc::no_state, "no testnet in " + dir.string() + " (" + file.string() + " missing)");
  try {
    const json j = json::parse(*text);
    TestnetState s;
    s.dir = j.at("dir").get<std::string>();
    s.state = j.at("state").get<std::string>();
    s.created = j.at("created").get<std::int64_t>();
    s.stopped = j.value("stopped", std::int64_t{0});
    s.ready_seconds = j.value("ready_seconds", 0.0);
    s.voting_interval = j.value("voting_interval", 0);
    s.client_torrc = j.value("client_torrc", std::string());
    s.bridges_file = j.value("bridges_file", std::string());
    s.latency = j.value("latency", std::string("lan"));
    s.seed = j.value("seed", std::uint64_t{0});
    s.forwarder_pid = j.value("forwarder_pid", 0);
    s.forward_config = j.value("forward_config", std::string());
    if (s.forwarder_pid != 0 && s.forward_config.is_relative())
      return err(TestnetErrc::bad_state, file.string() + ": forward_config must be an absolute path");
    for (const auto& jn : j.at("nodes")) {
      TestnetNode n;
      n.name = jn.at("name").get<std::string>();
      const auto role = jn.at("role").get<std::string>();
      n.authority = role == "authority";
      n.bridge = role == "bridge";
      n.datadir = jn.at("datadir").get<std::string>();
      n.torrc = jn.at("torrc").get<std::string>();
      n.or_port = jn.at("or_port").get<int>();
      n.dir_port = jn.value("dir_port", 0);
      n.pid = jn.at("pid").get<int>();
      n.fingerprint = jn.value("fingerprint", std::string());
      n.v3ident = jn.value("v3ident", std::string());
      n.address = jn.value("address", std::string("127.0.0.1"));
      n.real_or_port = jn.value("real_or_port", 0);
      n.region = jn.value("region", std::string());
      n.pt_port = jn.value("pt_port", 0);
      n.bridge_line = jn.value("bridge_line", std::string());
      if (n.torrc.is_relative() || n.datadir.is_relative())
        return err(TestnetErrc::bad_state, file.string() + ": node " + n.name + " has a relative path");
      s.nodes.push_back(std::move(n));
    }
    return s;
  } catch (const json::exception& e) {
    return err(TestnetErrc::bad_state, file.string() + ": malformed testnet state: " + e.what());
  }
}

}  // namespace shardnode::testnet
