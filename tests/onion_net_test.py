#!/usr/bin/env python3
"""Four shardnode processes, each with its embedded tor, on a private Tor network.

Usage: onion_net_test.py <shardnode binary>

- `shardnode testnet up` starts the private network (Debian tor, 127.0.0.1 only);
- four nodes (`shardnode run`) know each other only by /onion3/ address (a ring of
  bootnodes), publish probes, and every probe of every node must reach every node;
- leak checks on every node process: each listening socket is loopback or unix, no
  TCP connection goes anywhere but loopback, no UDP socket exists (no DNS), identify
  carries only /onion3/ addresses and no observed address; a clearnet bootnode is
  refused in onion-only mode;
- SIGTERM stops every node cleanly; `testnet down` stops the network.
Every wait has a deadline; every process started is stopped by PID.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
N = 4
TOPIC = "/shardnode/test/onion/1"
DEADLINE_S = 330          # whole test, well inside ctest's timeout
start = time.monotonic()
results = {"pass": 0, "fail": 0}


def elapsed():
    return time.monotonic() - start


def ok(msg):
    results["pass"] += 1
    print(f"ok   - {msg}", flush=True)


def bad(msg):
    results["fail"] += 1
    print(f"FAIL - {msg}", flush=True)


def check(cond, msg):
    (ok if cond else bad)(msg)
    return cond


def run(args, timeout=60):
    return subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout)


def read_events(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a line still being written
    except FileNotFoundError:
        pass
    return out


# ---------------------------------------------------------------- /proc checks

def socket_inodes(pid):
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def hex_to_ip(h):
    if len(h) == 8:  # IPv4, little-endian
        return ".".join(str(int(h[i:i + 2], 16)) for i in (6, 4, 2, 0))
    # IPv6: four little-endian 32-bit words
    words = [h[i:i + 8] for i in range(0, 32, 8)]
    raw = b"".join(bytes.fromhex(w)[::-1] for w in words)
    import ipaddress
    return str(ipaddress.IPv6Address(raw))


def is_loopback(ip):
    import ipaddress
    a = ipaddress.ip_address(ip)
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped:
        a = a.ipv4_mapped
    return a.is_loopback


def proc_sockets(pid):
    """(proto, state, local ip, remote ip) for every inet socket the process holds."""
    mine = socket_inodes(pid)
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        with open(f"/proc/{pid}/net/{proto}") as f:
            next(f)
            for line in f:
                p = line.split()
                if p[9] in mine:
                    lip = hex_to_ip(p[1].split(":")[0])
                    rip = hex_to_ip(p[2].split(":")[0])
                    found.append((proto, p[3], lip, rip))
    return found


# ---------------------------------------------------------------- the test

tmp = tempfile.mkdtemp(prefix="sn-onet-", dir="/tmp")  # short: unix socket paths
net_dir = os.path.join(tmp, "net")
procs = []
testnet_started = False


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if testnet_started:
        r = run(["testnet", "down", "--dir", net_dir], timeout=60)
        if r.returncode != 0:
            print("testnet down:", r.stdout, r.stderr)
    if os.environ.get("KEEP_TMP"):
        print("kept", tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    global testnet_started
    # 1. The private Tor network.
    testnet_started = True
    r = run(["testnet", "up", "--dir", net_dir, "--timeout", "200"], timeout=240)
    if not check(r.returncode == 0, f"testnet up ({elapsed():.0f} s)"):
        print(r.stdout[-3000:], r.stderr[-3000:])
        return
    client_torrc = os.path.join(net_dir, "client.torrc")

    # 2. Identities and configs: node i's bootnode is node i+1 (a ring), by onion address only.
    nodes = []
    for i in range(N):
        d = os.path.join(tmp, f"n{i}")
        r = run(["keygen", "--datadir", d, "--json"])
        ident = json.loads(r.stdout)
        nodes.append({"dir": d, "peer": ident["peer_id"], "onion": ident["onion_address"][:-6],
                      "events": os.path.join(d, "events.jsonl"), "config": os.path.join(tmp, f"n{i}.toml")})
    for i, n in enumerate(nodes):
        nxt = nodes[(i + 1) % N]
        with open(n["config"], "w") as f:
            f.write(f"""[node]
datadir = "{n['dir']}"
bootnodes = ["/onion3/{nxt['onion']}:4001"]
redial_interval_s = 5
topics = ["{TOPIC}"]
probe_interval_ms = 2000
events_file = "{n['events']}"
[tor]
testnet = "{client_torrc}"
[log]
file = "{n['dir']}/node.log"
""")

    # A clearnet bootnode is refused before anything starts.
    bad_cfg = os.path.join(tmp, "clearnet.toml")
    with open(bad_cfg, "w") as f:
        f.write(f'[node]\ndatadir = "{tmp}/bad"\nbootnodes = ["/ip4/127.0.0.1/tcp/4001"]\n'
                f'[tor]\ntestnet = "{client_torrc}"\n')
    r = run(["--config", bad_cfg, "run"], timeout=30)
    check(r.returncode == 2 and "onion_only" in r.stderr,
          f"onion-only mode refuses a clearnet bootnode: {r.stderr.strip()[:200]}")

    # 3. Start the nodes.
    for n in nodes:
        log = open(os.path.join(n["dir"] + ".out"), "w")
        p = subprocess.Popen([BIN, "--config", n["config"], "run"], stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        n["pid"] = p.pid

    # 4. Every node receives at least one probe from every other node.
    want = {n["peer"] for n in nodes}
    got = [set() for _ in nodes]
    while elapsed() < DEADLINE_S - 60:
        for i, n in enumerate(nodes):
            for e in read_events(n["events"]):
                if e.get("event") == "message" and e.get("topic") == TOPIC:
                    parts = e.get("data", "").split()
                    if len(parts) == 3 and parts[0] == "probe":
                        got[i].add(parts[1])
                if e.get("event") == "fatal":
                    bad(f"node {i} fatal: {e.get('error')}")
                    return
        if all((want - {n["peer"]}) <= got[i] for i, n in enumerate(nodes)):
            break
        if any(p.poll() is not None for p in procs):
            bad("a node exited early: " + ", ".join(f"n{i} rc={p.returncode}" for i, p in enumerate(procs)))
            return
        time.sleep(0.5)  # polling files written by other processes, bounded by the deadline
    for i, n in enumerate(nodes):
        missing = want - {n["peer"]} - got[i]
        check(not missing, f"node {i} received probes from all {N - 1} other nodes"
                           + (f" (missing {len(missing)})" if missing else "") + f" by {elapsed():.0f} s")

    # 5. Leak checks on every running node process.
    for i, n in enumerate(nodes):
        socks = proc_sockets(n["pid"])
        listeners = [s for s in socks if s[0].startswith("tcp") and s[1] == "0A"]
        check(all(is_loopback(s[2]) for s in listeners),
              f"node {i}: every TCP listener is loopback ({len(listeners)} listeners)")
        conns = [s for s in socks if s[0].startswith("tcp") and s[1] != "0A"]
        check(all(is_loopback(s[3]) or s[3] in ("0.0.0.0", "::") for s in conns),
              f"node {i}: every TCP connection goes to loopback ({len(conns)} connections)")
        udp = [s for s in socks if s[0].startswith("udp")]
        check(not udp, f"node {i}: no UDP socket (no DNS): {udp}")
        events = read_events(n["events"])
        idents = [e for e in events if e.get("event") == "identified"]
        addrs = [a for e in idents for a in e.get("listen_addrs", [])]
        check(idents and addrs and all(a.startswith("/onion3/") for a in addrs),
              f"node {i}: identify from {len(idents)} peer(s) carried only /onion3/ addresses ({len(addrs)})")
        check(all(e.get("observed_addr") is None for e in idents), f"node {i}: no observed address in identify")
        published = [e for e in events if e.get("event") == "published"]
        check(published and published[0]["addr"].startswith("/onion3/" + n["onion"]),
              f"node {i}: its onion service is its identity ({n['onion'][:12]}...)")

    # 6. Clean shutdown on SIGTERM.
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for i, p in enumerate(procs):
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"node {i} exits 0 on SIGTERM (rc={rc})")
    for i, n in enumerate(nodes):
        try:
            key = open(os.path.join(n["dir"], "identity.key"), "rb").read()
        except OSError:
            continue
        for logname in ("node.log", "tor/tor.log"):
            path = os.path.join(n["dir"], logname)
            if os.path.exists(path):
                text = open(path, "rb").read()
                seed = key[4:36]  # PrivateKey protobuf: 08 01 12 40 <seed 32><public key 32>
                check(seed not in text and seed.hex().encode() not in text,
                      f"node {i}: {logname} holds no key material")


try:
    main()
except Exception as e:  # report, then clean up
    import traceback
    traceback.print_exc()
    bad(f"exception: {e}")
finally:
    cleanup()
print(f"{results['pass']} passed, {results['fail']} failed in {elapsed():.0f} s")
sys.exit(1 if results["fail"] or not results["pass"] else 0)
