#!/usr/bin/env python3
"""Identity rotation on the private Tor network: `shardnode rotate-identity`.

Usage: rotation_net_test.py <shardnode binary>

- `shardnode testnet up`: the private network (Debian tor, 127.0.0.1);
- node A (a validator) and node B, whose only bootnode is A's onion address, gossip
  probes on one topic; B's embedded tor answers a SOCKS connect to A's onion service
  (the positive control for the check below);
- `shardnode rotate-identity -d A --wait-published`: the answer names the retired and
  the new peer id; identity.key now holds the new key, the old one is in
  retired/<old peer id>.key (0600, directory 0700); the validator key is unchanged;
- peers reach A at its new address: B is connected to A's new identity and receives
  its probes, A receives B's; a SOCKS connect to the new onion service succeeds;
- the old address stops answering: every SOCKS connect to it fails;
- the retirement reached B: B's peer store no longer holds A's old identity; no row of
  B's peer store and no message B received carries both identities (or A's
  validator key);
- SIGTERM stops both nodes cleanly; `testnet down` stops the network.
Every wait has a deadline; every process started is stopped by PID.
"""
import base64
import glob
import json
import os
import socket
import sqlite3
import stat
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import localnet  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
TOPIC = "/shardnode/test/rotation/1"
DEADLINE_S = 540
PORT = 4001
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def peer_key(peer_id):
    """The 32-byte Ed25519 key inside an identity-multihash peer id (12D3KooW...)."""
    n = 0
    for ch in peer_id:
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")  # the leading 0x00 (identity hash) is lost: fine
    if raw[:5] != bytes([0x24, 0x08, 0x01, 0x12, 0x20]):
        raise ValueError(f"not an Ed25519 identity peer id: {peer_id}")
    return raw[-32:]


def socks_connect(sock_path, onion, port, timeout_s):
    """SOCKS5 CONNECT to onion:port through tor's unix SOCKS socket: the reply code
    (0 = connected), or None when tor gave no answer in time."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(sock_path)
        s.sendall(b"\x05\x01\x00")
        if s.recv(2) != b"\x05\x00":
            return -1
        host = onion.encode()
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(host)]) + host + port.to_bytes(2, "big"))
        reply = s.recv(4)
        return reply[1] if len(reply) >= 2 else -1
    except socket.timeout:
        return None
    finally:
        s.close()


def reach(sock_path, onion, attempts, timeout_s=60):
    """The reply codes of up to `attempts` connects, stopping at the first success (a
    first connect to a new onion service may fail with code 4 and must be retried)."""
    codes = []
    for _ in range(attempts):
        codes.append(socks_connect(sock_path, onion, PORT, timeout_s))
        if codes[-1] == 0:
            break
    return codes


T = localnet.NetworkTest("rotation_network", BIN, "sn-rot-")
check, elapsed, tmp, testnet, nodes = T.check, T.elapsed, T.tmp, T.testnet, T.nodes


def onion_of(addr):
    """/onion3/<56 chars>:<port>/p2p/... -> <56 chars>.onion"""
    return addr.split("/")[2].split(":")[0] + ".onion"


def main():
    r = testnet.up(timeout_s=240)
    if not check(r.ok, f"testnet up ({elapsed():.0f} s)"):
        print(r.stdout[-3000:], r.stderr[-3000:])
        return
    a, b = localnet.create_nodes(BIN, tmp, 2)
    nodes.extend([a, b])
    with open(a.config, "w") as f:
        f.write(localnet.node_config(a, [], [TOPIC], testnet.client_torrc, 2000, 5,
                                     extra={"shard.validator": "true"}))
    with open(b.config, "w") as f:
        f.write(localnet.node_config(b, [a.addr], [TOPIC], testnet.client_torrc, 2000, 5))
    old_id, old_addr = a.peer_id, a.addr
    old_onion = onion_of(old_addr)
    localnet.start_nodes(BIN, [a, b])

    # 1. Both gossip; B's tor reaches A's onion service.
    got = {a.peer_id: False, b.peer_id: False}
    tails = {n.name: localnet.EventTail(n.events_file) for n in nodes}
    while elapsed() < 300 and not all(got.values()):
        for n in nodes:
            for e in tails[n.name].poll():
                sender = localnet.probe_sender(e)
                if sender and sender != n.peer_id and e.get("topic") == TOPIC:
                    got[n.peer_id] = True
                if e.get("event") == "fatal":
                    check(False, f"{n.name} fatal: {e.get('error')}")
                    return
        if not all(n.running() for n in nodes):
            check(False, "a node exited early")
            return
        time.sleep(0.5)  # polling other processes' files, bounded by the deadline
    if not check(all(got.values()), f"A and B receive each other's probes ({elapsed():.0f} s)"):
        return
    socks = glob.glob(os.path.join(b.datadir, "tor", "socks.sock"))
    if not check(len(socks) == 1, f"B's embedded tor has a SOCKS socket ({socks})"):
        return
    codes = reach(socks[0], old_onion, 3)
    check(codes[-1] == 0, f"before the rotation A's onion service answers a SOCKS connect (codes {codes})")
    rc, res, err = localnet.ctl(BIN, a.datadir, "identity", timeout=30)
    vkey_before = res[0][1].get("validator_key") if rc == 0 and res else None
    check(bool(vkey_before), "A reports its validator key")

    # 2. Rotate.
    t0 = time.monotonic()
    rr = localnet.run_cli(BIN, ["rotate-identity", "-d", a.datadir, "--json", "--wait-published", "--timeout", "400"],
                          timeout=420)
    lines = [l for l in rr.stdout.splitlines() if l.strip().startswith("{")]
    rot = json.loads(lines[0]).get("rotated", {}) if lines else {}
    if not check(rr.returncode == 0 and rot.get("retired_peer_id") == old_id and rot.get("peer_id")
                 and rot["peer_id"] != old_id,
                 f"rotate-identity answers: retired {rot.get('retired_peer_id')}, now {rot.get('peer_id')}, "
                 f"published in {time.monotonic() - t0:.1f} s (rc {rr.returncode} {rr.stderr.strip()[:200]})"):
        return
    new_id = rot["peer_id"]
    new_onion = onion_of(rot["addr"])
    check(new_onion != old_onion and rot["addr"].endswith("/p2p/" + new_id), f"the new address {rot['addr'][:40]}...")
    check(int(rot.get("pushed", 0)) >= 1, f"the retirement was pushed to the connected peer ({rot.get('pushed')})")
    idr = localnet.run_cli(BIN, ["id", "-d", a.datadir, "--json"], timeout=30)
    check(idr.returncode == 0 and json.loads(idr.stdout).get("peer_id") == new_id, "identity.key holds the new key")
    retired = os.path.join(a.datadir, "retired", old_id + ".key")
    check(os.path.exists(retired) and stat.S_IMODE(os.stat(retired).st_mode) == 0o600
          and stat.S_IMODE(os.stat(os.path.dirname(retired)).st_mode) == 0o700,
          "the old key is in retired/<old peer id>.key (0600, directory 0700)")
    rc, res, err = localnet.ctl(BIN, a.datadir, "identity", timeout=30)
    ident = res[0][1] if rc == 0 and res else {}
    check(ident.get("peer_id") == new_id and ident.get("validator_key") == vkey_before,
          "A's identity is the new peer id with the same validator key")

    # 3. Peers reach A at its new address.
    rot_at = {n.name: len(localnet.read_events(n.events_file)) for n in nodes}
    seen = {"b_conn": False, "b_got": False, "a_got": False}
    tails = {n.name: localnet.EventTail(n.events_file) for n in nodes}
    messages_b = []
    while elapsed() < DEADLINE_S - 120 and not all(seen.values()):
        for e in tails[b.name].poll():
            if e.get("event") in ("connected", "identified") and e.get("peer") == new_id:
                seen["b_conn"] = True
            if e.get("event") == "message":
                messages_b.append(e.get("data", ""))
                if localnet.probe_sender(e) == new_id:
                    seen["b_got"] = True
        for e in tails[a.name].poll():
            if localnet.probe_sender(e) == b.peer_id:
                seen["a_got"] = True
        if not all(n.running() for n in nodes):
            check(False, "a node exited after the rotation")
            return
        time.sleep(0.5)  # polling other processes' files, bounded by the deadline
    check(seen["b_conn"], f"B is connected to A's new identity ({time.monotonic() - t0:.1f} s after rotate-identity)")
    check(seen["b_got"], "B receives probes from A's new identity")
    check(seen["a_got"], "A, under its new identity, receives B's probes")
    codes = reach(socks[0], new_onion, 3)
    check(codes[-1] == 0, f"a SOCKS connect to the new onion service succeeds (codes {codes})")

    # 4. The old address stops answering.
    codes = [socks_connect(socks[0], old_onion, PORT, 60) for _ in range(3)]
    check(all(c != 0 for c in codes), f"every SOCKS connect to the old onion service fails (codes {codes})")

    # 5. Nothing carries both identities.
    old_k, new_k = peer_key(old_id), peer_key(new_id)
    vkey = base64.b64decode(vkey_before)
    con = sqlite3.connect(f"file:{os.path.join(b.datadir, 'peers.db')}?mode=ro", uri=True)
    rows = [bytes(r[0]) for r in con.execute("SELECT envelope FROM peers")]
    con.close()
    check(not any(old_k in r for r in rows), f"B's peer store no longer holds A's old identity ({len(rows)} rows)")
    check(any(new_k in r for r in rows), "B's peer store holds A's new identity")
    check(not any(old_k in r and new_k in r for r in rows) and not any(vkey in r for r in rows),
          "no record in B's peer store carries both identities, or the validator key")
    messages_b += [e.get("data", "") for e in localnet.read_events(b.events_file)[rot_at[b.name]:]
                   if e.get("event") == "message"]
    check(messages_b and not any(old_id in m and new_id in m for m in messages_b),
          f"no message B received names both identities ({len(messages_b)} messages)")

    rcs = localnet.stop_nodes(nodes, timeout_s=30)
    check(rcs == [0, 0], f"both nodes stop cleanly on SIGTERM (exit codes {rcs})")


T.run(main)
