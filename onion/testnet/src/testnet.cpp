// up / status / down: the orchestration of a private Tor network. The pieces live
// beside it: process.h (fork/exec, signals by PID), torrc.h (ports, torrc files),
// keys.h (authority keys), consensus_poll.h (bootstrap and consensus polling),
// state.h (D/testnet.json).
#include "shardnode/testnet/testnet.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <sstream>
#include <thread>

#include <csignal>
#include <fcntl.h>
#include <unistd.h>

#include "consensus_poll.h"
#include "forwarder.h"
#include "keys.h"
#include "latency.h"
#include "process.h"
#include "shardnode/onion/testnet_client.h"
#include "shardnode/onion/errors.h"
#include "state.h"
#include "torrc.h"
#include "util.h"

namespace shardnode::testnet {
namespace fs = std::filesystem;
using namespace detail;

namespace {

Status check_options(const TestnetOptions& o, const fs::path& dir) {
  if (o.dir.empty()) return err(TestnetErrc::bad_options, "testnet: no directory given");
  if (o.authorities < 1 || o.authorities > 9)
    return err(TestnetErrc::bad_options, "testnet: authorities must be 1..9, not " + std::to_string(o.authorities));
  if (o.relays < 3 || o.relays > 64)
    return err(TestnetErrc::bad_options, "testnet: relays must be 3..64, not " + std::to_string(o.relays));
  if (o.bridges < 0 || o.bridges > 8)
    return err(TestnetErrc::bad_options, "testnet: bridges must be 0..8, not " + std::to_string(o.bridges));
  if (o.bridges > 0 && o.latency != "lan")
    return err(TestnetErrc::bad_options, "testnet: bridges run on the lan profile only (--latency lan)");
  if (o.voting_interval < 10 || o.voting_interval > 3600 || 86400 % o.voting_interval != 0)
    return err(TestnetErrc::bad_options,
               "testnet: voting_interval must be 10..3600 s and divide 24 h, not " + std::to_string(o.voting_interval));
  if (o.ready_timeout.count() < 1) return err(TestnetErrc::bad_options, "testnet: ready_timeout must be positive");
  if (o.latency != "lan" && o.latency != "wan")
    return err(TestnetErrc::bad_options, "testnet: latency must be lan or wan, not '" + o.latency + "'");
  // Paths go into torrc lines (Log "notice file <path>") unquoted.
  const std::string s = dir.string();
  if (s.find_first_of(" \t\r\n#\"'\\") != std::string::npos)
    return err(TestnetErrc::bad_options, "testnet: directory path must not contain spaces, quotes, '#' or '\\': " + s);
  if (s.size() > 200) return err(TestnetErrc::bad_options, "testnet: directory path too long: " + s);
  return {};
}

constexpr const char* kForwardConfig = "forward.json";
constexpr const char* kForwardOut = "forward.out";
constexpr const char* kBridgesFile = "bridges.txt";

// A node's relay fingerprint from <datadir>/fingerprint ("<nickname> <40 hex>"), once
// tor wrote it; empty before.
std::string fingerprint_of(const TestnetNode& n) {
  auto f = read_text(n.datadir / "fingerprint", 4096);
  if (!f) return {};
  const auto t = split_ws(last_lines(*f, 1));
  return t.size() == 2 && is_hex40(t[1]) ? t[1] : std::string();
}

// A bridge's client Bridge line once obfs4proxy wrote its parameters (cert, iat-mode)
// and tor its fingerprint: "obfs4 127.0.0.1:<pt_port> <fingerprint> cert=... iat-mode=N".
std::string bridge_line_of(const TestnetNode& n) {
  const std::string fpr = fingerprint_of(n);
  auto b = read_text(n.datadir / "pt_state" / "obfs4_bridgeline.txt", 16384);
  if (fpr.empty() || !b) return {};
  std::string params;
  std::istringstream in(*b);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    for (const auto& w : split_ws(line))
      if (w.rfind("cert=", 0) == 0 || w.rfind("iat-mode=", 0) == 0) params += " " + w;
  }
  if (params.find("cert=") == std::string::npos) return {};
  return "obfs4 127.0.0.1:" + std::to_string(n.pt_port) + " " + fpr + params;
}

// The tors, and the forwarder (known by D/forward.json in its command line).
std::vector<OwnedProcess> owned(const TestnetState& st) {
  std::vector<OwnedProcess> v;
  for (const auto& n : st.nodes) v.push_back({n.name, n.pid, n.torrc});
  if (st.forwarder_pid > 0) v.push_back({"forwarder", st.forwarder_pid, st.forward_config});
  return v;
}

std::string forwarder_executable(const TestnetOptions& o) {
  if (!o.forwarder_binary.empty()) return o.forwarder_binary;
  std::error_code ec;
  const auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

// D/forward.json for a wan network: one route per node (advertised ORPort -> real one).
ForwardConfig forward_config_of(const TestnetState& st) {
  ForwardConfig c;
  c.profile = wan_profile();
  c.seed = st.seed;
  c.default_region = default_client_region();
  for (int r = 0; r < static_cast<int>(c.profile.regions.size()); ++r) c.sources.push_back({client_address(r), r});
  for (const auto& n : st.nodes) {
    const int region = wan_region_index(n.region);
    c.sources.push_back({n.address, region});
    c.routes.push_back({n.name, n.address, n.or_port, n.address, n.real_or_port, region});
  }
  return c;
}

}  // namespace

Result<TestnetState> testnet_up(const TestnetOptions& opts, std::function<void(const TestnetProgress&)> on_progress) {
  const auto t0 = steady_now();
  const fs::path dir = normalize_dir(opts.dir.empty() ? fs::path(".") : opts.dir);
  if (Status st = check_options(opts, dir); !st) return st.error();

  const auto tor = find_executable(opts.tor_binary);
  if (!tor)
    return err(TestnetErrc::bad_options,
               "testnet: '" + opts.tor_binary + "' not found (install Debian's tor package: scripts/install-deps.sh)");
  std::string obfs4proxy;
  if (opts.bridges > 0) {
    const auto p = find_executable(opts.obfs4proxy_binary);
    if (!p)
      return err(TestnetErrc::bad_options, "testnet: '" + opts.obfs4proxy_binary +
                                               "' not found (install Debian's obfs4proxy package: scripts/install-deps.sh)");
    obfs4proxy = *p;
  }
  const auto gencert = find_executable(opts.gencert_binary);
  if (!gencert)
    return err(TestnetErrc::bad_options, "testnet: '" + opts.gencert_binary +
                                             "' not found (install Debian's tor package: scripts/install-deps.sh)");

  // The directory: new, or holding a previous testnet with no live node.
  std::error_code ec;
  const bool existed = fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return err(TestnetErrc::io, "cannot create " + dir.string() + ": " + ec.message());
  if (!existed) fs::permissions(dir, fs::perms::owner_all, ec);

  std::vector<TestnetNode> nodes;
  const int total = opts.authorities + opts.relays + opts.bridges;
  for (int i = 0; i < total; ++i) {
    TestnetNode n;
    n.authority = i < opts.authorities;
    n.bridge = i >= opts.authorities + opts.relays;
    n.name = std::string(n.authority ? "a" : n.bridge ? "b" : "r") + std::to_string(i);
    n.datadir = dir / n.name;
    n.torrc = n.datadir / "torrc";
    nodes.push_back(std::move(n));
  }
  if (fs::exists(dir / kStateFile)) {
    auto old = load_testnet_state(dir);
    if (!old) return old.error();
    for (const auto& p : owned(*old))
      if (runs_with_arg(p.pid, p.marker))
        return err(TestnetErrc::already_running, "a testnet is running in " + dir.string() + " (" + p.name +
                                                     ", pid " + std::to_string(p.pid) +
                                                     "); stop it first: shardnode testnet down --dir " + dir.string());
    // Clear what the previous testnet created (only its own node directories).
    for (const auto& n : old->nodes)
      if (n.datadir.parent_path() == dir) fs::remove_all(n.datadir, ec);
    fs::remove(dir / kClientTorrc, ec);
    fs::remove(dir / kBridgesFile, ec);
    fs::remove(dir / kForwardConfig, ec);
    fs::remove(dir / kForwardOut, ec);
    for (const auto& r : wan_profile().regions) fs::remove(dir / ("client-" + r + ".torrc"), ec);
    fs::remove(dir / kStateFile, ec);
  }
  for (const auto& n : nodes)
    if (fs::exists(n.datadir))
      return err(TestnetErrc::bad_options, n.datadir.string() + " exists but " + dir.string() +
                                               " holds no testnet.json: use an empty or new directory");

  TestnetProgress prog;
  prog.nodes_total = total;
  prog.relays = opts.relays;
  for (const auto& n : nodes) prog.nodes.push_back({n.name, false, false, 0});
  auto report = [&](const std::string& phase) {
    prog.phase = phase;
    prog.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady_now() - t0);
    if (on_progress) on_progress(prog);
  };
  report("keys");

  // Ports: ORPorts base..base+total-1, then authority DirPorts; wan: then the real
  // (NoAdvertise) ORPorts. wan: each node on its own address, in a region.
  const bool wan = opts.latency == "wan";
  const std::uint64_t seed = opts.seed != 0 ? opts.seed : seed_from_dir(dir);
  // Bridges (lan only): their obfs4 listeners last.
  auto base = pick_port_block(total + opts.authorities + (wan ? total : 0) + opts.bridges);
  if (!base) return base.error();
  const std::vector<int> regions = wan ? place_nodes(opts.authorities, opts.relays, seed) : std::vector<int>{};
  for (int i = 0; i < total; ++i) {
    auto& n = nodes[static_cast<std::size_t>(i)];
    n.or_port = *base + i;
    if (i < opts.authorities) n.dir_port = *base + total + i;
    if (n.bridge) n.pt_port = *base + total + opts.authorities + (i - opts.authorities - opts.relays);
    if (wan) {
      n.address = node_address(i);
      n.real_or_port = *base + total + opts.authorities + i;
      n.region = wan_profile().regions[static_cast<std::size_t>(regions[static_cast<std::size_t>(i)])];
    }
  }
  const std::string forwarder = wan ? forwarder_executable(opts) : std::string();
  if (wan && forwarder.empty())
    return err(TestnetErrc::bad_options, "testnet: cannot find the shardnode executable to run the forwarder");

  const fs::path empty = dir / kEmptyTorrc;
  if (Status st = write_text(empty, "", 0644); !st) return st.error();
  for (auto& n : nodes) {
    if (::mkdir(n.datadir.c_str(), 0700) != 0)
      return err(TestnetErrc::io, "cannot create " + n.datadir.string() + ": " + errno_text(errno));
    ::chmod(n.datadir.c_str(), 0700);
  }

  // Authority keys: tor-gencert (v3 identity + signing key), then the relay identity
  // fingerprint from `tor --list-fingerprint` (network disabled).
  for (auto& n : nodes) {
    if (opts.cancel && opts.cancel->load()) return err(TestnetErrc::cancelled, "testnet up cancelled");
    if (!n.authority) continue;
    if (Status st = make_authority_keys(n, *tor, *gencert, empty); !st) return st.error();
  }

  TestnetState state;
  state.dir = dir;
  state.state = "starting";
  state.created = unix_now();
  state.voting_interval = opts.voting_interval;
  state.client_torrc = dir / kClientTorrc;
  state.latency = opts.latency;
  if (wan) {
    state.seed = seed;
    state.forward_config = dir / kForwardConfig;
  }
  for (const auto& n : nodes)
    if (Status st = write_text(n.torrc, node_torrc(n, nodes, opts.voting_interval, obfs4proxy), 0600); !st)
      return st.error();
  state.nodes = nodes;
  if (!wan) {
    if (Status st = write_text(state.client_torrc, client_torrc_text(state), 0644); !st) return st.error();
  } else {
    const auto& names = wan_profile().regions;
    for (int r = 0; r < static_cast<int>(names.size()); ++r) {
      const std::string text = client_torrc_text(state, names[static_cast<std::size_t>(r)], client_address(r));
      if (Status st = write_text(dir / ("client-" + names[static_cast<std::size_t>(r)] + ".torrc"), text, 0644); !st)
        return st.error();
      if (r == default_client_region())
        if (Status st = write_text(state.client_torrc, text, 0644); !st) return st.error();
    }
    if (Status st = write_text(state.forward_config, forward_config_json(forward_config_of(state)), 0644); !st)
      return st.error();
  }
  if (Status st = save_state(state); !st) return st.error();

  // From here on every failure stops what was started.
  auto fail = [&](Error e) -> Error {
    const auto left = stop_processes(owned(state), std::chrono::seconds(5));
    state.state = "failed";
    state.stopped = unix_now();
    (void)save_state(state);
    if (!left.empty()) {
      e.message += "\n(could not stop:";
      for (const auto& s : left) e.message += " " + s;
      e.message += ")";
    }
    return e;
  };
  auto node_logs = [&](const TestnetNode& n) {
    std::string out;
    for (const char* f : {kNoticeLog, kConsoleLog}) {
      auto t = read_text(n.datadir / f);
      if (t && !t->empty()) out += "\n--- last lines of " + (n.datadir / f).string() + ":\n" + last_lines(*t, 12);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  };

  report("starting");
  // wan: the forwarder first, so the advertised ORPorts listen when the tors start.
  if (wan) {
    auto pid = spawn_detached(forwarder, {"testnet", "forward", "--config", state.forward_config.string()},
                              dir / kForwardOut);
    if (!pid) return fail(pid.error());
    state.forwarder_pid = *pid;
    if (Status st = save_state(state); !st) return fail(st.error());
  }
  for (std::size_t i = 0; i < state.nodes.size(); ++i) {
    auto& n = state.nodes[i];
    auto pid =
        spawn_detached(*tor, {"-f", n.torrc.string(), "--defaults-torrc", empty.string()}, n.datadir / kConsoleLog);
    if (!pid) return fail(pid.error());
    n.pid = *pid;
    prog.nodes[i].started = true;
    ++prog.nodes_started;
  }
  if (Status st = save_state(state); !st) return fail(st.error());

  const auto deadline = t0 + opts.ready_timeout;
  for (;;) {
    // A tor (or the forwarder) that exits now is a failure (bad config, port taken, ...).
    if (wan) {
      int st = 0;
      if (reap(state.forwarder_pid, &st) || !runs_with_arg(state.forwarder_pid, state.forward_config)) {
        report("failed");
        std::string log;
        if (auto t = read_text(dir / kForwardOut); t && !t->empty())
          log = "\n--- last lines of " + (dir / kForwardOut).string() + ":\n" + last_lines(*t, 12);
        return fail(err(TestnetErrc::node_exited, "the testnet forwarder (pid " + std::to_string(state.forwarder_pid) +
                                                      ") exited (" + describe_wait_status(st) +
                                                      ") while the network was starting" + log));
      }
    }
    for (std::size_t i = 0; i < state.nodes.size(); ++i) {
      const auto& n = state.nodes[i];
      int st = 0;
      if (reap(n.pid, &st) || !runs_with_arg(n.pid, n.torrc)) {
        prog.nodes[i].exited = true;
        report("failed");
        return fail(err(TestnetErrc::node_exited, "testnet node " + n.name + " (pid " + std::to_string(n.pid) +
                                                      ") exited (" + describe_wait_status(st) +
                                                      ") while the network was starting" + node_logs(n)));
      }
    }
    prog.nodes_bootstrapped = 0;
    for (std::size_t i = 0; i < state.nodes.size(); ++i) {
      prog.nodes[i].bootstrap = bootstrap_of(state.nodes[i].datadir / kNoticeLog);
      if (prog.nodes[i].bootstrap == 100) ++prog.nodes_bootstrapped;
    }
    const ConsensusView cv = fetch_consensus(state.nodes, std::chrono::milliseconds(1500));
    prog.consensus = cv.summary.present;
    prog.hsdirs = cv.summary.hsdirs;
    prog.relays_with_hsdir = cv.relays_with_hsdir;
    bool bridges_ready = true;  // each bridge's line is read once, when it is complete
    for (auto& n : state.nodes)
      if (n.bridge) {
        if (n.bridge_line.empty()) n.bridge_line = bridge_line_of(n);
        bridges_ready = bridges_ready && !n.bridge_line.empty();
      }
    const bool ready = prog.nodes_bootstrapped == total && cv.relays_with_hsdir == opts.relays && bridges_ready;
    if (ready) break;
    report("bootstrapping");

    if (opts.cancel && opts.cancel->load()) return fail(err(TestnetErrc::cancelled, "testnet up cancelled"));
    if (steady_now() >= deadline) {
      std::ostringstream m;
      m << "testnet not ready after " << opts.ready_timeout.count() << " s: consensus "
        << (prog.consensus ? "present" : "missing") << ", relays with HSDir " << prog.relays_with_hsdir << "/"
        << opts.relays << ", bootstrapped " << prog.nodes_bootstrapped << "/" << total << " [";
      const TestnetNode* worst = &state.nodes[0];
      int worst_pct = 101;
      for (std::size_t i = 0; i < state.nodes.size(); ++i) {
        m << (i ? " " : "") << prog.nodes[i].name << " " << prog.nodes[i].bootstrap << "%";
        if (prog.nodes[i].bootstrap < worst_pct) {
          worst_pct = prog.nodes[i].bootstrap;
          worst = &state.nodes[i];
        }
      }
      m << "]";
      // All at 100 % yet no HSDirs: the authorities are the ones to look at.
      if (worst_pct == 100) worst = &state.nodes[0];
      m << "; node " << worst->name << ":" << node_logs(*worst);
      return fail(err(TestnetErrc::timeout, m.str()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }

  for (auto& n : state.nodes)
    if (n.fingerprint.empty()) n.fingerprint = fingerprint_of(n);
  if (opts.bridges > 0) {
    std::string lines = "# obfs4 bridges of the private Tor network in " + dir.string() +
                        " (shardnode testnet up --bridges " + std::to_string(opts.bridges) +
                        "): one tor.bridges entry each,\n# with tor.transport_plugins = [\"obfs4 exec " + obfs4proxy +
                        "\"].\n";
    for (const auto& n : state.nodes)
      if (n.bridge) lines += n.bridge_line + "\n";
    state.bridges_file = dir / kBridgesFile;
    if (Status st = write_text(state.bridges_file, lines, 0644); !st) return fail(st.error());
  }
  state.state = "running";
  state.ready_seconds = std::chrono::duration<double>(steady_now() - t0).count();
  if (Status st = save_state(state); !st) return fail(st.error());
  report("ready");
  return state;
}

Result<TestnetStatus> testnet_status(const fs::path& dir) {
  auto st = load_testnet_state(dir);
  if (!st) return st.error();
  TestnetStatus s;
  s.dir = st->dir;
  s.state = st->state;
  s.created = st->created;
  s.ready_seconds = st->ready_seconds;
  s.all_alive = !st->nodes.empty();
  bool all_bootstrapped = true;
  for (const auto& n : st->nodes) {
    reap(n.pid);
    TestnetNodeStatus ns;
    ns.name = n.name;
    ns.authority = n.authority;
    ns.pid = n.pid;
    ns.alive = runs_with_arg(n.pid, n.torrc);
    ns.bootstrap = bootstrap_of(n.datadir / kNoticeLog);
    ns.or_port = n.or_port;
    ns.dir_port = n.dir_port;
    ns.datadir = n.datadir;
    s.all_alive = s.all_alive && ns.alive;
    all_bootstrapped = all_bootstrapped && ns.bootstrap == 100;
    if (!n.authority && !n.bridge) ++s.relays;
    s.nodes.push_back(std::move(ns));
  }
  const ConsensusView cv = fetch_consensus(st->nodes, std::chrono::seconds(3));
  s.consensus = cv.summary.present;
  s.consensus_valid_after = cv.summary.valid_after;
  s.hsdirs = cv.summary.hsdirs;
  s.relays_with_hsdir = cv.relays_with_hsdir;
  s.ready = s.all_alive && all_bootstrapped && s.relays > 0 && s.relays_with_hsdir == s.relays;
  auto client =
      onion::load_testnet_client_options(st->client_torrc.empty() ? st->dir / kClientTorrc : st->client_torrc);
  s.client_torrc_ok = client.ok();
  if (!client) s.client_torrc_error = client.error().what();
  s.latency = st->latency;
  s.forwarder_pid = st->forwarder_pid;
  if (st->forwarder_pid > 0) {
    reap(st->forwarder_pid);
    s.forwarder_alive = runs_with_arg(st->forwarder_pid, st->forward_config);
    s.all_alive = s.all_alive && s.forwarder_alive;
    s.ready = s.ready && s.forwarder_alive;
  }
  return s;
}

Status testnet_down(const fs::path& dir, std::chrono::seconds timeout) {
  auto st = load_testnet_state(dir);
  if (!st) return st.error();
  const auto left = stop_processes(owned(*st), timeout);
  if (!left.empty()) {
    std::string names;
    for (const auto& s : left) names += " " + s;
    return err(TestnetErrc::stop_failed, "testnet processes still running after SIGKILL:" + names);
  }
  if (st->state != "stopped") {
    if (st->stopped == 0) st->stopped = unix_now();
    st->state = "stopped";
    if (Status s = save_state(*st); !s) return s;
  }
  return {};
}

Result<RestartResult> testnet_restart_node(const fs::path& dir, const std::string& name, const RestartOptions& opts) {
  auto st = load_testnet_state(dir);
  if (!st) return st.error();
  if (st->state != "running")
    return err(TestnetErrc::bad_options,
               "testnet in " + st->dir.string() + " is " + st->state + ", not running: nothing to restart");
  auto it = std::find_if(st->nodes.begin(), st->nodes.end(), [&](const TestnetNode& n) { return n.name == name; });
  if (it == st->nodes.end()) {
    std::string names;
    for (const auto& n : st->nodes) names += " " + n.name;
    return err(TestnetErrc::bad_options, "testnet has no node '" + name + "' (nodes:" + names + ")");
  }
  const auto tor = find_executable("tor");
  if (!tor) return err(TestnetErrc::bad_options, "testnet: 'tor' not found");

  RestartResult r;
  r.old_pid = it->pid;
  reap(it->pid);
  r.was_alive = runs_with_arg(it->pid, it->torrc);
  const auto left = stop_processes({{it->name, it->pid, it->torrc}},
                                   opts.kill ? std::chrono::milliseconds(0) : std::chrono::milliseconds(10000),
                                   opts.kill ? SIGKILL : SIGTERM);
  if (!left.empty()) return err(TestnetErrc::stop_failed, "testnet node still running after SIGKILL: " + left[0]);
  const auto gone = steady_now();
  if (opts.down_for.count() > 0) std::this_thread::sleep_for(opts.down_for);

  // The new process appends to the same notice log: only what it writes counts.
  std::error_code ec;
  const fs::path log = it->datadir / kNoticeLog;
  const std::uintmax_t log_from = fs::exists(log, ec) ? fs::file_size(log, ec) : 0;
  auto pid = spawn_detached(*tor, {"-f", it->torrc.string(), "--defaults-torrc", (st->dir / kEmptyTorrc).string()},
                            it->datadir / kConsoleLog);
  if (!pid) return pid.error();
  const auto started = steady_now();
  r.down_seconds = std::chrono::duration<double>(started - gone).count();
  it->pid = *pid;
  if (Status s = save_state(*st); !s) return s.error();

  if (opts.bootstrap_timeout.count() > 0) {
    const auto deadline = started + opts.bootstrap_timeout;
    for (;;) {
      int ws = 0;
      if (reap(it->pid, &ws) || !runs_with_arg(it->pid, it->torrc)) {
        std::string tail;
        if (auto t = read_text(log); t && !t->empty()) tail = "\n--- last lines of " + log.string() + ":\n" + last_lines(*t, 12);
        return err(TestnetErrc::node_exited, "testnet node " + name + " (pid " + std::to_string(it->pid) +
                                                 ") exited after its restart (" + describe_wait_status(ws) + ")" + tail);
      }
      if (bootstrap_of(log, log_from) == 100) break;
      if (steady_now() >= deadline)
        return err(TestnetErrc::timeout, "testnet node " + name + " restarted (pid " + std::to_string(it->pid) +
                                             ") but did not bootstrap within " +
                                             std::to_string(opts.bootstrap_timeout.count()) + " s (at " +
                                             std::to_string(bootstrap_of(log, log_from)) + "%)");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    r.bootstrap_seconds = std::chrono::duration<double>(steady_now() - started).count();
  }
  r.node = *it;
  return r;
}

namespace {
int g_stop_pipe = -1;
extern "C" void on_forward_signal(int) {
  const char c = 1;
  [[maybe_unused]] const ssize_t w = ::write(g_stop_pipe, &c, 1);
}
}  // namespace

Status testnet_forward(const fs::path& config) {
  auto text = read_text(config, 1u << 20);
  if (!text) return err(TestnetErrc::bad_options, "testnet forward: cannot read " + config.string());
  auto cfg = parse_forward_config(*text);
  if (!cfg) return Error{cfg.error().code, config.string() + ": " + cfg.error().message};
  static const SteadyClock clock;
  auto fwd = Forwarder::open(std::move(*cfg), clock);
  if (!fwd) return fwd.error();
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return err(TestnetErrc::io, "pipe: " + errno_text(errno));
  g_stop_pipe = p[1];
  struct sigaction sa {};
  sa.sa_handler = on_forward_signal;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  Status st = (*fwd)->run(p[0]);
  sa.sa_handler = SIG_DFL;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::close(p[0]);
  ::close(p[1]);
  return st;
}

}  // namespace shardnode::testnet
