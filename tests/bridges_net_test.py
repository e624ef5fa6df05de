#!/usr/bin/env python3
"""A node that may use only obfs4 bridges joins the private Tor network and gossips.

Usage: bridges_net_test.py <shardnode binary>

- `shardnode testnet up --bridges 1`: the private network (Debian tor, 127.0.0.1) plus
  one obfs4 bridge (BridgeRelay 1, Debian's obfs4proxy, descriptor not published); its
  Bridge line is in <dir>/bridges.txt;
- node B runs with tor.bridges = that line and tor.transport_plugins = ["obfs4 exec
  /usr/bin/obfs4proxy"]; node A is an ordinary node whose only bootnode is B, by
  onion address, and B has no bootnode: A reaches B only through B's onion service, so
  B must have joined through the bridge and published its descriptor;
- both gossip probes on one topic: each must receive the other's;
- B's process never holds a TCP connection to an authority's or a relay's port (its
  tor speaks only to the obfs4proxy it started), and that obfs4proxy (B's child)
  connects to the bridge's obfs4 port;
- a bridge line off loopback is refused with tor.testnet, and a bridge without a
  plugin for its transport, before anything starts;
- SIGTERM stops both nodes cleanly; `testnet down` stops the network.
Every wait has a deadline; every process started is stopped by PID.
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import localnet  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
TOPIC = "/shardnode/test/bridges/1"
DEADLINE_S = 420
OBFS4PROXY = "/usr/bin/obfs4proxy"


T = localnet.NetworkTest("bridges_network", BIN, "sn-bridge-")
check, elapsed, tmp, testnet, nodes = T.check, T.elapsed, T.tmp, T.testnet, T.nodes


def toml_list(items):
    return "[" + ", ".join(localnet._toml_str(x) for x in items) + "]"


def main():
    r = testnet.up(timeout_s=240, bridges=1)
    if not check(r.ok, f"testnet up --bridges 1 ({elapsed():.0f} s)"):
        print(r.stdout[-3000:], r.stderr[-3000:])
        return
    bridge_node = next(n for n in r.state["nodes"] if n["role"] == "bridge")
    with open(r.state["bridges_file"]) as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    check(len(lines) == 1 and lines[0].startswith("obfs4 127.0.0.1:") and " cert=" in lines[0],
          f"bridges.txt holds the bridge's obfs4 line: {lines[0][:60] if lines else None}...")
    pt_port = int(lines[0].split()[1].rsplit(":", 1)[1])
    network_ports = {n["or_port"] for n in r.state["nodes"] if n["role"] != "bridge"} | \
        {n["dir_port"] for n in r.state["nodes"] if n.get("dir_port")}
    client_torrc = testnet.client_torrc

    a, b = localnet.create_nodes(BIN, tmp, 2)
    nodes.extend([a, b])
    bridged = {"tor.bridges": toml_list(lines), "tor.transport_plugins": toml_list([f"obfs4 exec {OBFS4PROXY}"])}
    with open(a.config, "w") as f:
        f.write(localnet.node_config(a, [b.addr], [TOPIC], client_torrc, 2000, 5))
    with open(b.config, "w") as f:
        f.write(localnet.node_config(b, [], [TOPIC], client_torrc, 2000, 5, extra=bridged))

    # Refused before anything starts: a bridge off loopback on a test network, and a
    # bridge whose transport no plugin provides.
    off = lines[0].replace("127.0.0.1:", "192.0.2.1:", 1)
    rc = localnet.run_cli(BIN, ["--config", b.config, "--set", f"tor.bridges={toml_list([off])}", "run"], timeout=30)
    check(rc.returncode == 2 and "not on loopback" in rc.stderr, f"a bridge off loopback is refused: {rc.stderr.strip()[:160]}")
    rc = localnet.run_cli(BIN, ["--config", b.config, "--set", "tor.transport_plugins=[]", "run"], timeout=30)
    check(rc.returncode == 2 and "provides 'obfs4'" in rc.stderr,
          f"a bridge without its transport plugin is refused: {rc.stderr.strip()[:160]}")
    rc = localnet.run_cli(BIN, ["config", "--check", b.config], timeout=30)
    check(rc.returncode == 0, f"config --check accepts the bridged node's config: {rc.stdout.strip()}{rc.stderr.strip()}")

    localnet.start_nodes(BIN, [b, a])
    got = {a.peer_id: False, b.peer_id: False}
    published_b = False
    obfs_ok = False
    leaks = []
    tails = {n.peer_id: localnet.EventTail(n.events_file) for n in nodes}
    while elapsed() < DEADLINE_S - 40:
        for n in nodes:
            for e in tails[n.peer_id].poll():
                if e.get("event") == "message" and e.get("topic") == TOPIC:
                    sender = localnet.probe_sender(e)
                    if sender and sender != n.peer_id:
                        got[n.peer_id] = True
                if n is b and e.get("event") == "published":
                    published_b = True
                if e.get("event") == "fatal":
                    check(False, f"{n.name} fatal: {e.get('error')}")
                    return
        if b.running():
            leaks += [p for p in localnet.proc_tcp_peers(b.pid) if p[1] in network_ports or p[1] == pt_port]
            for child in localnet.proc_children(b.pid):
                try:
                    with open(f"/proc/{child}/cmdline", "rb") as f:
                        cmd = f.read().split(b"\0")[0].decode(errors="replace")
                except OSError:
                    continue
                if os.path.basename(cmd) == "obfs4proxy":
                    try:
                        obfs_ok = obfs_ok or any(p[1] == pt_port for p in localnet.proc_tcp_peers(child))
                    except OSError:
                        pass
        if all(got.values()) and published_b and obfs_ok:
            break
        if not all(n.running() for n in nodes):
            check(False, "a node exited early: " + ", ".join(f"{n.name} rc={n.proc.returncode}" for n in nodes))
            return
        time.sleep(0.5)  # polling files and /proc of other processes, bounded by the deadline
    check(published_b, f"the bridged node published its onion service ({elapsed():.0f} s)")
    check(got[a.peer_id], "node A, which knows B only by onion address, received B's probes")
    check(got[b.peer_id], "the bridged node B received A's probes")
    check(obfs_ok, f"B's obfs4proxy (started by its tor) connected to the bridge's obfs4 port {pt_port}")
    check(not leaks, "B's own process never connected to an authority, a relay or the bridge directly"
          + (f": {sorted(set(leaks))}" if leaks else ""))

    rcs = localnet.stop_nodes(nodes, timeout_s=30)
    check(rcs == [0, 0], f"both nodes stop cleanly on SIGTERM (exit codes {rcs})")


T.run(main)
