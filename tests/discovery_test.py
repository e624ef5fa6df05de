#!/usr/bin/env python3
"""Discovery that outlives its bootnodes, over loopback TCP (tor.mode = none, the
development mode): three `shardnode run` processes.

- A (a bootnode) and C start; B starts with both as bootnodes, connects, and keeps
  their signed peer records (from identify) in <datadir>/peers.db (mode 0600);
- B and A stop; B restarts with only A (now down) as its bootnode and
  node.bootnode_threshold = 1: B dials C from its peer store, and never dials the
  bootnode (its store holds enough reachable peers);
- the DHT: B's bootstrap lookup is answered by its bootnodes, which keep B's signed
  peer record (PUT_VALUE), and C (on shard 1)
  announces itself as the shard's provider to a DHT peer at its next refresh;
- a peers.db that is not a peer store makes `run` refuse to start, naming the file,
  and the file is left as it was.
Every wait has a deadline; every process started is stopped by PID.

Usage: discovery_test.py <shardnode binary>
"""
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import localnet  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
results = {"pass": 0, "fail": 0}
tmp = tempfile.mkdtemp(prefix="sn-disc-", dir="/tmp")
nodes = []


def check(cond, msg):
    results["pass" if cond else "fail"] += 1
    print(f"{'ok  ' if cond else 'FAIL'} - {msg}", flush=True)
    return cond


def write_config(node, bootnodes, extra=None):
    kv = {
        "node.datadir": localnet._toml_str(node.datadir),
        "node.onion_only": "false",
        "node.bootnodes": "[" + ", ".join(localnet._toml_str(b) for b in bootnodes) + "]",
        "node.redial_interval_s": "1",
        "node.dht_refresh_s": "10",
        "node.events_file": localnet._toml_str(node.events_file),
        "tor.mode": '"none"',
        "net.tcp_listen": '["/ip4/127.0.0.1/tcp/0"]',
        "log.file": localnet._toml_str(node.log_file),
        "log.level": '"debug"',
        "pubsub.stem": "false",
        "shard.cover_shards": "0",
    }
    kv.update(extra or {})
    sections = {}
    for k, v in kv.items():
        sec, key = k.split(".", 1)
        sections.setdefault(sec, {})[key] = v
    with open(node.config, "w") as f:
        f.write("".join(f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()) for s, kv in sections.items()))


def wait_event(node, pred, timeout_s, since=0):
    """The first event of `node` (at index >= since) matching `pred`, or None at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not node.running():
            return None
        for e in localnet.read_events(node.events_file)[since:]:
            if pred(e):
                return e
        time.sleep(0.1)  # polling another process's file, bounded by the deadline
    return None


def listening_addr(node):
    e = wait_event(node, lambda e: e.get("event") == "listening", 20)
    return e["addr"] if e else None


def connected_to(peer):
    return lambda e: e.get("event") == "connected" and e.get("peer") == peer


def identified(peer):
    return lambda e: e.get("event") == "identified" and e.get("peer") == peer


def main():
    a, b, c = localnet.create_nodes(BIN, tmp, 3)
    nodes.extend([a, b, c])
    write_config(a, [])
    write_config(c, [], {"shard.shards": '["1"]'})
    a.start(BIN)
    c.start(BIN)
    a_addr, c_addr = listening_addr(a), listening_addr(c)
    if not check(a_addr and c_addr, f"A and C listen ({a_addr}, {c_addr})"):
        return

    # 1. B meets both through its bootnodes and stores their signed records.
    write_config(b, [a_addr, c_addr], {"node.bootnode_threshold": "1"})
    b.start(BIN)
    ok_a = wait_event(b, identified(a.peer_id), 20)
    ok_c = wait_event(b, identified(c.peer_id), 20)
    if not check(ok_a and ok_c, "B connects to and identifies A and C"):
        return
    boot = wait_event(b, lambda e: e.get("event") == "dht_lookup" and e.get("kind") == "bootstrap", 20)
    check(boot is not None and boot["found"] >= 1, f"B's DHT bootstrap lookup is answered ({boot})")
    put = wait_event(b, lambda e: e.get("event") == "dht_put_record", 20)
    check(put is not None and put["accepted"] >= 1, f"B's signed record is stored in the DHT ({put})")
    prov = wait_event(c, lambda e: e.get("event") == "dht_provide" and e.get("shard") == 1 and e.get("accepted", 0) >= 1, 30)
    check(prov is not None, f"C announces itself as shard 1's provider to a DHT peer ({prov})")
    rcs = localnet.stop_nodes([b, a])
    check(rcs == [0, 0], f"B and A stop cleanly ({rcs})")
    db = os.path.join(b.datadir, "peers.db")
    check(os.path.exists(db) and stat.S_IMODE(os.stat(db).st_mode) == 0o600, "B's peers.db exists, mode 0600")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute("SELECT count(*), min(last_reachable_ms) FROM peers").fetchone()
    con.close()
    check(rows[0] == 2 and rows[1] > 0, f"B's store holds A and C, both reachable ({rows})")

    # 2. B restarts; its only bootnode (A) is down. C is dialled from the store.
    write_config(b, [a_addr], {"node.bootnode_threshold": "1"})
    log_size = os.path.getsize(b.log_file)
    events_before = len(localnet.read_events(b.events_file))
    t0 = time.monotonic()
    b.start(BIN)
    back = wait_event(b, connected_to(c.peer_id), 30, since=events_before)
    check(back is not None, f"restarted B reconnects to C from its peer store ({time.monotonic() - t0:.1f} s)")
    e = wait_event(b, lambda e: e.get("event") == "connected" and e.get("direction") == "outbound",
                   5, since=events_before)
    check(e is not None and e.get("peer") == c.peer_id, "the connection to C is B's own dial")
    # A few discovery rounds (1 s each) pass; the bootnode is never dialled.
    time.sleep(3)  # negative check: rounds must pass for a bootnode dial to show up
    localnet.stop_nodes([b])  # and its log is complete
    with open(b.log_file, errors="replace") as f:
        f.seek(log_size)
        after = f.read()
    check("bootnode " + a_addr not in after and "connected to bootnode" not in after,
          "no bootnode dial: the store holds enough reachable peers")
    check(("stored peer " + a.peer_id) in after, "A (down) was dialled from the store and failed")

    # 3. A peers.db that is not a peer store: refused by name, left untouched.
    junk = b"this is not a database" * 100
    with open(db, "wb") as f:
        f.write(junk)
    r = subprocess.run([BIN, "--config", b.config, "run"], capture_output=True, text=True, timeout=60)
    check(r.returncode != 0 and "peer store " + db in r.stderr, f"a junk peers.db is refused (rc {r.returncode})")
    with open(db, "rb") as f:
        check(f.read() == junk, "the junk peers.db is left as it was")


try:
    main()
finally:
    localnet.stop_nodes(nodes, timeout_s=15)
    if os.environ.get("KEEP_TMP"):
        print("kept", tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
print(f"{results['pass']} passed, {results['fail']} failed")
sys.exit(1 if results["fail"] or not results["pass"] else 0)
