#include "testnet.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include "shardnode/core/errors.h"
#include "shardnode/testnet/testnet.h"
#include "shardnode/onion/errors.h"

namespace shardnode::cli {
namespace {
using nlohmann::json;
namespace fs = std::filesystem;

std::atomic<bool> g_cancel{false};
extern "C" void on_interrupt(int) { g_cancel.store(true); }

int fail(const Error& e) {
  std::fprintf(stderr, "shardnode: %s\n", e.what().c_str());
  return e.code == make_error_code(TestnetErrc::bad_options) ? 2 : 1;
}

std::string format_time(std::int64_t t) {
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// One status line; `with_time` false gives the part that matters for "changed".
std::string progress_line(const testnet::TestnetProgress& p, bool with_time) {
  std::ostringstream o;
  o << "testnet:";
  if (with_time) o << " " << p.elapsed.count() / 1000 << " s ";
  if (p.phase == "keys") {
    o << " generating authority keys";
    return o.str();
  }
  o << " consensus: " << (p.consensus ? "yes" : "no") << "  HSDir relays " << p.relays_with_hsdir << "/" << p.relays
    << "  bootstrapped " << p.nodes_bootstrapped << "/" << p.nodes_total << " [";
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    const auto& n = p.nodes[i];
    o << (i ? " " : "") << n.name << " ";
    if (n.exited)
      o << "exited";
    else if (!n.started)
      o << "-";
    else
      o << n.bootstrap << "%";
  }
  o << "]";
  if (p.phase == "ready") o << "  ready";
  return o.str();
}

json state_json(const testnet::TestnetState& s) {
  json nodes = json::array();
  for (const auto& n : s.nodes)
    nodes.push_back({{"name", n.name},
                     {"role", n.authority ? "authority" : n.bridge ? "bridge" : "relay"},
                     {"pid", n.pid},
                     {"or_port", n.or_port},
                     {"dir_port", n.dir_port},
                     {"datadir", n.datadir.string()},
                     {"fingerprint", n.fingerprint},
                     {"address", n.address},
                     {"region", n.region},
                     {"bridge_line", n.bridge_line}});
  return {{"dir", s.dir.string()},         {"state", s.state},
          {"bridges_file", s.bridges_file.string()},
          {"created", s.created},          {"ready_seconds", s.ready_seconds},
          {"client_torrc", s.client_torrc.string()}, {"latency", s.latency},
          {"forwarder_pid", s.forwarder_pid},      {"nodes", nodes}};
}

int do_up(const TestnetCliOptions& o) {
  testnet::TestnetOptions to;
  to.dir = o.dir;
  to.relays = o.relays;
  to.bridges = o.bridges;
  to.ready_timeout = std::chrono::seconds(o.timeout);
  to.cancel = &g_cancel;
  to.latency = o.latency;
  to.seed = o.seed;

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::string last;
  bool open_line = false;
  auto on_progress = [&](const testnet::TestnetProgress& p) {
    const std::string key = progress_line(p, false);
    if (tty) {
      std::fprintf(stderr, "\r%s\033[K", progress_line(p, true).c_str());
      open_line = true;
    } else if (key != last) {
      std::fprintf(stderr, "%s\n", progress_line(p, true).c_str());
    }
    std::fflush(stderr);
    last = key;
  };

  struct sigaction sa {};
  struct sigaction old_int {};
  struct sigaction old_term {};
  sa.sa_handler = on_interrupt;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  auto st = testnet::testnet_up(to, on_progress);
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (open_line) std::fputc('\n', stderr);

  if (!st) return fail(st.error());
  if (o.json) {
    std::cout << state_json(*st).dump(2) << "\n";
  } else {
    int auths = 0;
    int bridges = 0;
    for (const auto& n : st->nodes) {
      auths += n.authority ? 1 : 0;
      bridges += n.bridge ? 1 : 0;
    }
    std::printf("testnet ready in %.1f s: %d authorities + %d relays%s on %s\n", st->ready_seconds, auths,
                static_cast<int>(st->nodes.size()) - auths - bridges,
                bridges ? (" + " + std::to_string(bridges) + " obfs4 bridges").c_str() : "",
                st->latency == "wan" ? "loopback, latency wan (docs/LATENCY.md)" : "127.0.0.1");
    if (st->latency == "wan") {
      std::printf("  regions:     ");
      for (const auto& n : st->nodes) std::printf(" %s=%s", n.name.c_str(), n.region.c_str());
      std::printf("\n  forwarder:    pid %d; per-region client torrcs: %s/client-<region>.torrc\n", st->forwarder_pid,
                  st->dir.c_str());
    }
    std::printf("  directory:    %s\n  client torrc: %s\n", st->dir.c_str(), st->client_torrc.c_str());
    if (bridges) std::printf("  bridges:      %s (tor.bridges lines)\n", st->bridges_file.c_str());
    std::printf("  stop with:    shardnode testnet down --dir %s\n", st->dir.c_str());
  }
  return 0;
}

int do_status(const TestnetCliOptions& o) {
  auto s = testnet::testnet_status(o.dir);
  if (!s) return fail(s.error());
  if (o.json) {
    json nodes = json::array();
    for (const auto& n : s->nodes)
      nodes.push_back({{"name", n.name},
                       {"role", n.authority ? "authority" : "relay"},
                       {"pid", n.pid},
                       {"alive", n.alive},
                       {"bootstrap", n.bootstrap},
                       {"or_port", n.or_port},
                       {"dir_port", n.dir_port},
                       {"datadir", n.datadir.string()}});
    json j{{"dir", s->dir.string()},
           {"state", s->state},
           {"created", s->created},
           {"ready_seconds", s->ready_seconds},
           {"ready", s->ready},
           {"all_alive", s->all_alive},
           {"consensus",
            {{"present", s->consensus},
             {"valid_after", s->consensus_valid_after},
             {"hsdirs", s->hsdirs},
             {"relays", s->relays},
             {"relays_with_hsdir", s->relays_with_hsdir}}},
           {"client_torrc", {{"ok", s->client_torrc_ok}, {"error", s->client_torrc_error}}},
           {"latency", s->latency},
           {"forwarder", {{"pid", s->forwarder_pid}, {"alive", s->forwarder_alive}}},
           {"nodes", nodes}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("testnet %s: %s (created %s", s->dir.c_str(), s->state.c_str(), format_time(s->created).c_str());
  if (s->ready_seconds > 0) std::printf(", ready after %.1f s", s->ready_seconds);
  std::printf(")\n");
  if (s->consensus)
    std::printf("  consensus: valid-after %s, %d HSDirs, relays with HSDir %d/%d\n", s->consensus_valid_after.c_str(),
                s->hsdirs, s->relays_with_hsdir, s->relays);
  else
    std::printf("  consensus: none served\n");
  std::printf("  %-4s %-9s %8s %-5s %9s %6s %7s\n", "node", "role", "pid", "alive", "bootstrap", "orport", "dirport");
  for (const auto& n : s->nodes)
    std::printf("  %-4s %-9s %8d %-5s %8d%% %6d %7s\n", n.name.c_str(), n.authority ? "authority" : "relay", n.pid,
                n.alive ? "yes" : "no", n.bootstrap, n.or_port,
                n.dir_port ? std::to_string(n.dir_port).c_str() : "-");
  if (s->latency == "wan")
    std::printf("  latency wan: forwarder pid %d %s\n", s->forwarder_pid, s->forwarder_alive ? "alive" : "not running");
  std::printf("  client torrc: %s\n", s->client_torrc_ok ? "valid" : s->client_torrc_error.c_str());
  std::printf("  ready: %s\n", s->ready ? "yes" : "no");
  return 0;
}

int do_forward(const TestnetCliOptions& o) {
  Status st = testnet::testnet_forward(o.config);
  if (!st) return fail(st.error());
  return 0;
}

int do_down(const TestnetCliOptions& o) {
  Status st = testnet::testnet_down(o.dir, std::chrono::seconds(o.stop_timeout));
  if (!st) return fail(st.error());
  std::printf("testnet %s stopped\n", fs::absolute(o.dir).lexically_normal().c_str());
  return 0;
}

int do_restart_node(const TestnetCliOptions& o) {
  testnet::RestartOptions ro;
  ro.kill = o.kill;
  ro.down_for = std::chrono::milliseconds(o.down_for_ms);
  ro.bootstrap_timeout = std::chrono::seconds(o.timeout);
  auto r = testnet::testnet_restart_node(o.dir, o.node, ro);
  if (!r) return fail(r.error());
  if (o.json) {
    std::printf("{\"node\":\"%s\",\"old_pid\":%d,\"was_alive\":%s,\"pid\":%d,\"down_s\":%.3f,\"bootstrap_s\":%.3f}\n",
                r->node.name.c_str(), r->old_pid, r->was_alive ? "true" : "false", r->node.pid, r->down_seconds,
                r->bootstrap_seconds);
    return 0;
  }
  std::printf("testnet node %s: %s pid %d, restarted as pid %d after %.1f s down, bootstrapped in %.1f s\n",
              r->node.name.c_str(), r->was_alive ? (o.kill ? "killed (SIGKILL)" : "stopped (SIGTERM)") : "was not running:",
              r->old_pid, r->node.pid, r->down_seconds, r->bootstrap_seconds);
  return 0;
}

}  // namespace

CLI::App* add_testnet_command(CLI::App& app, TestnetCliOptions& o) {
  auto* t = app.add_subcommand("testnet", "A private Tor network of Debian tor processes on 127.0.0.1, for tests");
  t->require_subcommand(1);
  auto* up = t->add_subcommand("up", "Create and start the network in --dir; wait until onion services can use it");
  up->add_option("--dir", o.dir, "Directory for keys, torrcs, logs and testnet.json")->required();
  up->add_option("--relays", o.relays, "Number of relays (besides 3 authorities)")->check(CLI::Range(3, 64));
  up->add_option("--bridges", o.bridges,
                 "obfs4 bridges to add (Debian's obfs4proxy; lan only): their Bridge lines go to <dir>/bridges.txt")
      ->check(CLI::Range(0, 8));
  up->add_option("--timeout", o.timeout, "Seconds to wait until ready")->check(CLI::Range(10, 3600));
  up->add_option("--latency", o.latency,
                 "lan: every node on 127.0.0.1, no delay; wan: nodes in regions, connections delayed by a "
                 "forwarder (docs/LATENCY.md)")
      ->check(CLI::IsMember({"lan", "wan"}));
  up->add_option("--seed", o.seed, "wan: seed of the placement in regions and of the jitter (default: from --dir)");
  up->add_flag("--json", o.json, "Print the state as JSON");
  auto* status = t->add_subcommand("status", "Show each node's process, bootstrap and the consensus");
  status->add_option("--dir", o.dir, "The testnet directory")->required();
  status->add_flag("--json", o.json, "Print JSON");
  auto* down = t->add_subcommand("down", "Stop the network's tor processes (SIGTERM, then SIGKILL)");
  down->add_option("--dir", o.dir, "The testnet directory")->required();
  down->add_option("--timeout", o.stop_timeout, "Seconds between SIGTERM and SIGKILL")->check(CLI::Range(1, 600));
  auto* restart = t->add_subcommand("restart-node", "Stop one node (tor) of a running network and start it again");
  restart->add_option("--dir", o.dir, "The testnet directory")->required();
  restart->add_option("--node", o.node, "The node's name (a0.., r3..: see testnet status)")->required();
  restart->add_flag("--kill", o.kill, "SIGKILL, as in a crash (default: SIGTERM)");
  restart->add_option("--down-for-ms", o.down_for_ms, "Milliseconds between the stop and the start")
      ->check(CLI::Range(0, 3600000));
  restart->add_option("--timeout", o.timeout, "Seconds to wait for the node to bootstrap again (0: do not wait)")
      ->check(CLI::Range(0, 3600));
  restart->add_flag("--json", o.json, "Print the result as JSON");
  restart->callback([&o] { o.action = "restart-node"; });
  // Hidden: the wan forwarder, started detached by `up`, stopped by `down`.
  auto* forward = t->add_subcommand("forward", "");
  forward->group("");
  forward->add_option("--config", o.config, "D/forward.json")->required();
  forward->callback([&o] { o.action = "forward"; });
  up->callback([&o] { o.action = "up"; });
  status->callback([&o] { o.action = "status"; });
  down->callback([&o] { o.action = "down"; });
  return t;
}

int cmd_testnet(const TestnetCliOptions& o) {
  if (o.action == "up") return do_up(o);
  if (o.action == "status") return do_status(o);
  if (o.action == "down") return do_down(o);
  if (o.action == "restart-node") return do_restart_node(o);
  if (o.action == "forward") return do_forward(o);
  std::fprintf(stderr, "shardnode: testnet needs one of up, status, down, restart-node\n");
  return 2;
}

}  // namespace shardnode::cli
