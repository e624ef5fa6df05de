// up / status / down: the orchestration of a private Tor network. The pieces live
// beside it: process.h (fork/exec, signals by PID), torrc.h (ports, torrc files),
// keys.h (authority keys), consensus_poll.h (bootstrap and consensus polling),
// state.h (D/testnet.json).
#include "shardnode/testnet/testnet.h"

#include <sys/stat.h>

#include <cerrno>
#include <sstream>
#include <thread>

#include "consensus_poll.h"
#include "keys.h"
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
  if (o.voting_interval < 10 || o.voting_interval > 3600 || 86400 % o.voting_interval != 0)
    return err(TestnetErrc::bad_options,
               "testnet: voting_interval must be 10..3600 s and divide 24 h, not " + std::to_string(o.voting_interval));
  if (o.ready_timeout.count() < 1) return err(TestnetErrc::bad_options, "testnet: ready_timeout must be positive");
  // Paths go into torrc lines (Log "notice file <path>") unquoted.
  const std::string s = dir.string();
  if (s.find_first_of(" \t\r\n#\"'\\") != std::string::npos)
    return err(TestnetErrc::bad_options, "testnet: directory path must not contain spaces, quotes, '#' or '\\': " + s);
  if (s.size() > 200) return err(TestnetErrc::bad_options, "testnet: directory path too long: " + s);
  return {};
}

std::vector<OwnedProcess> owned(const std::vector<TestnetNode>& nodes) {
  std::vector<OwnedProcess> v;
  for (const auto& n : nodes) v.push_back({n.name, n.pid, n.torrc});
  return v;
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
  const int total = opts.authorities + opts.relays;
  for (int i = 0; i < total; ++i) {
    TestnetNode n;
    n.authority = i < opts.authorities;
    n.name = std::string(n.authority ? "a" : "r") + std::to_string(i);
    n.datadir = dir / n.name;
    n.torrc = n.datadir / "torrc";
    nodes.push_back(std::move(n));
  }
  if (fs::exists(dir / kStateFile)) {
    auto old = load_testnet_state(dir);
    if (!old) return old.error();
    for (const auto& n : old->nodes)
      if (runs_with_arg(n.pid, n.torrc))
        return err(TestnetErrc::already_running, "a testnet is running in " + dir.string() + " (node " + n.name +
                                                     ", pid " + std::to_string(n.pid) +
                                                     "); stop it first: shardnode testnet down --dir " + dir.string());
    // Clear what the previous testnet created (only its own node directories).
    for (const auto& n : old->nodes)
      if (n.datadir.parent_path() == dir) fs::remove_all(n.datadir, ec);
    fs::remove(dir / kClientTorrc, ec);
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

  // Ports: ORPorts base..base+total-1, then authority DirPorts.
  auto base = pick_port_block(total + opts.authorities);
  if (!base) return base.error();
  for (int i = 0; i < total; ++i) {
    nodes[static_cast<std::size_t>(i)].or_port = *base + i;
    if (i < opts.authorities) nodes[static_cast<std::size_t>(i)].dir_port = *base + total + i;
  }

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
  for (const auto& n : nodes)
    if (Status st = write_text(n.torrc, node_torrc(n, nodes, opts.voting_interval), 0600); !st) return st.error();
  state.nodes = nodes;
  if (Status st = write_text(state.client_torrc, client_torrc_text(state), 0644); !st) return st.error();
  if (Status st = save_state(state); !st) return st.error();

  // From here on every failure stops what was started.
  auto fail = [&](Error e) -> Error {
    const auto left = stop_processes(owned(state.nodes), std::chrono::seconds(5));
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
    // A tor that exits now is a failure (bad config, port taken, ...).
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
    const bool ready = prog.nodes_bootstrapped == total && cv.relays_with_hsdir == opts.relays;
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
    if (n.fingerprint.empty())
      if (auto f = read_text(n.datadir / "fingerprint", 4096)) {
        const auto t = split_ws(last_lines(*f, 1));
        if (t.size() == 2 && is_hex40(t[1])) n.fingerprint = t[1];
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
    if (!n.authority) ++s.relays;
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
  return s;
}

Status testnet_down(const fs::path& dir, std::chrono::seconds timeout) {
  auto st = load_testnet_state(dir);
  if (!st) return st.error();
  const auto left = stop_processes(owned(st->nodes), timeout);
  if (!left.empty()) {
    std::string names;
    for (const auto& s : left) names += " " + s;
    return err(TestnetErrc::stop_failed, "testnet nodes still running after SIGKILL:" + names);
  }
  if (st->state != "stopped") {
    if (st->stopped == 0) st->stopped = unix_now();
    st->state = "stopped";
    if (Status s = save_state(*st); !s) return s;
  }
  return {};
}

}  // namespace shardnode::testnet
