// A private Tor network of Debian `tor` processes on 127.0.0.1 (`shardnode testnet`):
// a tool (shardnode_testnet), never linked into the node, which only reads the
// client.torrc it writes (onion/testnet_client.h).
// directory authorities and relays configured per shared/reference/tor.md §3.3, run
// detached from the caller so the network outlives `testnet up`.
//
// Layout of the testnet directory D:
//   D/testnet.json     state: nodes, pids, ports, datadirs, created/ready/stopped times
//   D/client.torrc     the torrc lines an embedded client tor adds to use this network
//   D/empty.torrc      the (empty) --defaults-torrc of every node
//   D/<name>/          each node's DataDirectory (0700): torrc, notice.log, tor.out
// With --latency wan also (docs/LATENCY.md):
//   D/client-<region>.torrc  client.torrc plus the OutboundBindAddress of that region
//                      (D/client.torrc is the default region's)
//   D/forward.json     the delaying forwarder's routes, regions and matrix
//   D/forward.out      its output; its PID is in testnet.json
// With --bridges N (lan only):
//   D/bridges.txt      one obfs4 Bridge line per bridge ("obfs4 127.0.0.1:PORT FPR
//                      cert=... iat-mode=0"), for a node's tor.bridges
// Node names: a0..a{A-1} for authorities, then r{A}..r{A+R-1} for relays, then
// b{A+R}.. for bridges (BridgeRelay 1, obfs4 through Debian's obfs4proxy, descriptors
// not published: a client reaches a bridge only through its Bridge line).
//
// Safety: every torrc has TestingTorNetwork 1 and the private DirAuthority lines;
// every ORPort/DirPort is bound to 127.0.0.1 (lan) or to the node's own 127.0.1.N (wan); SocksPort 0, ControlPort 0. Helper tor
// invocations (--list-fingerprint) run with DisableNetwork 1. Signals go only to the
// recorded PIDs, and only after /proc/<pid>/cmdline shows that node's torrc path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "shardnode/core/result.h"
#include "shardnode/onion/errors.h"

namespace shardnode::testnet {

struct TestnetOptions {
  std::filesystem::path dir;
  int authorities = 3;             // 1..9
  int relays = 4;                  // >= 3
  int bridges = 0;                 // obfs4 bridges, 0..8 (lan only)
  std::string obfs4proxy_binary = "obfs4proxy";  // for bridges; looked up in PATH unless it contains '/'
  std::string tor_binary = "tor";  // looked up in PATH unless it contains '/'
  std::string gencert_binary = "tor-gencert";
  std::chrono::seconds ready_timeout{180};  // from the start of testnet_up
  int voting_interval = 20;                 // seconds; 10..3600, divides 24 h
  // "lan": every node on 127.0.0.1, no delay (the torrcs of before). "wan": every
  // node on its own loopback address in a region, connections delayed by the
  // forwarder (docs/LATENCY.md).
  std::string latency = "lan";
  // wan: seeds the placement of nodes in regions and the jitter; 0 = from the
  // directory's path.
  std::uint64_t seed = 0;
  // wan: the executable run as `<it> testnet forward --config D/forward.json`
  // (the CLI passes its own path). Empty: /proc/self/exe.
  std::string forwarder_binary;
  // Optional: testnet_up stops the nodes it started and fails with
  // TestnetErrc::cancelled soon after this becomes true (e.g. set from SIGINT).
  const std::atomic<bool>* cancel = nullptr;
};

struct TestnetNode {
  std::string name;  // "a0", "r3", ...; also the tor Nickname
  bool authority = false;
  bool bridge = false;            // an obfs4 bridge (not in the consensus)
  std::filesystem::path datadir;  // absolute
  std::filesystem::path torrc;    // absolute; appears in the process's cmdline
  int or_port = 0;                // the advertised ORPort (wan: the forwarder listens there)
  int dir_port = 0;               // authorities only (0 for relays)
  std::string address = "127.0.0.1";  // wan: 127.0.1.N, the node's own
  int real_or_port = 0;           // wan: tor's real listener (NoAdvertise); 0 on lan
  std::string region;             // wan: the node's region; empty on lan
  int pid = 0;                    // 0: never started
  std::string fingerprint;        // relay identity, 40 hex (empty until known)
  std::string v3ident;            // authorities: v3 identity, 40 hex
  int pt_port = 0;                // bridges: obfs4's listener on 127.0.0.1
  std::string bridge_line;        // bridges: "obfs4 127.0.0.1:PT FPR cert=... iat-mode=0", once known
};

struct TestnetState {
  std::filesystem::path dir;  // absolute
  std::string state;          // "starting", "running", "failed", "stopped"
  std::int64_t created = 0;   // unix seconds
  std::int64_t stopped = 0;   // unix seconds; 0 unless stopped/failed
  double ready_seconds = 0;   // testnet_up start -> usable (0 if never)
  int voting_interval = 0;
  std::vector<TestnetNode> nodes;
  std::filesystem::path client_torrc;  // D/client.torrc
  std::filesystem::path bridges_file;  // D/bridges.txt (empty without bridges)
  std::string latency = "lan";         // "lan" or "wan"
  std::uint64_t seed = 0;              // wan
  int forwarder_pid = 0;               // wan: the delaying forwarder (0: none)
  std::filesystem::path forward_config;  // wan: D/forward.json (in the forwarder's cmdline)
};

struct TestnetNodeProgress {
  std::string name;
  bool started = false;
  bool exited = false;
  int bootstrap = 0;  // last "Bootstrapped N%" in its notice.log
};

struct TestnetProgress {
  std::string phase;                     // "keys", "starting", "bootstrapping", "ready"
  std::chrono::milliseconds elapsed{0};  // since testnet_up started
  int nodes_total = 0;
  int nodes_started = 0;
  int nodes_bootstrapped = 0;  // at 100 %
  std::vector<TestnetNodeProgress> nodes;
  bool consensus = false;  // an authority serves a consensus
  int hsdirs = 0;          // routers with the HSDir flag in it
  int relays = 0;
  int relays_with_hsdir = 0;  // of our relays
};

// Creates, starts and waits for the network (see the file comment). On any failure
// (deadline, a tor exiting, cancel) it stops every process it started, marks the
// state "failed" and returns an error naming the node and the tail of its logs.
// Refuses (TestnetErrc::already_running) if D holds a testnet with a live node.
Result<TestnetState> testnet_up(const TestnetOptions& opts,
                                std::function<void(const TestnetProgress&)> on_progress = {});

// Reads D/testnet.json.
Result<TestnetState> load_testnet_state(const std::filesystem::path& dir);

struct TestnetNodeStatus {
  std::string name;
  bool authority = false;
  int pid = 0;
  bool alive = false;  // /proc/<pid> exists, not a zombie, cmdline has its torrc
  int bootstrap = 0;
  int or_port = 0;
  int dir_port = 0;
  std::filesystem::path datadir;
};

struct TestnetStatus {
  std::filesystem::path dir;
  std::string state;  // as recorded in testnet.json
  std::int64_t created = 0;
  double ready_seconds = 0;
  std::vector<TestnetNodeStatus> nodes;
  bool all_alive = false;
  bool consensus = false;  // a live authority serves (or has cached) one
  std::string consensus_valid_after;
  int hsdirs = 0;
  int relays = 0;
  int relays_with_hsdir = 0;
  bool ready = false;            // all alive, all 100 %, every relay an HSDir
  bool client_torrc_ok = false;  // onion::load_testnet_client_options accepts D/client.torrc
  std::string client_torrc_error;
  std::string latency = "lan";
  int forwarder_pid = 0;          // wan
  bool forwarder_alive = false;   // wan: running with D/forward.json
};

Result<TestnetStatus> testnet_status(const std::filesystem::path& dir);

// SIGTERM to the recorded PIDs that still run that node's torrc (and the forwarder
// while it runs with D/forward.json), wait up to timeout, SIGKILL the rest, then mark
// the state "stopped". Idempotent.
Status testnet_down(const std::filesystem::path& dir, std::chrono::seconds timeout = std::chrono::seconds(10));

struct RestartOptions {
  bool kill = false;  // true: SIGKILL (a crash); false: SIGTERM, then SIGKILL after 10 s
  std::chrono::milliseconds down_for{0};       // between the process gone and the restart
  std::chrono::seconds bootstrap_timeout{120};  // wait for "Bootstrapped 100%"; 0: do not wait
};

struct RestartResult {
  TestnetNode node;          // with its new pid
  int old_pid = 0;
  bool was_alive = false;
  double down_seconds = 0;       // old process gone -> new one exec'd
  double bootstrap_seconds = 0;  // new one exec'd -> Bootstrapped 100% (0 if not waited)
};

// Stops one node of a running testnet (by recorded PID, as down does) and starts it
// again with the same torrc, keys and data directory, records its new PID in
// D/testnet.json and waits until it has bootstrapped. For churn experiments
// (scripts/soak.py --relay-kill). Errors: unknown node, a testnet not running, the
// node not restarting or exiting, the bootstrap deadline.
Result<RestartResult> testnet_restart_node(const std::filesystem::path& dir, const std::string& name,
                                           const RestartOptions& opts = {});

// The wan forwarder (`shardnode testnet forward --config D/forward.json`): runs in
// the calling process until SIGTERM or SIGINT; errors if the config is bad or a port
// cannot be bound.
Status testnet_forward(const std::filesystem::path& config);

}  // namespace shardnode::testnet
