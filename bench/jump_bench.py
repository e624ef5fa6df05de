#!/usr/bin/env python3
"""Shard jumps over the private Tor network: warm (the target shard's peers are
already connected) and cold (they are not: new onion dials), p50/p95.

Usage: /usr/bin/python3 bench/jump_bench.py --bin build-rel/src/cli/shardnode [--members 6] [--rounds 2] [--warm 3]
(Debian's python3: the control client needs python3-protobuf.)

Per round, fresh identities: a hub on shard 0, a jumper J on shard 0, and one member
on each shard 1..members. Everyone's bootnode is the hub, so J learns every member's
shard record by gossip but is connected to none of them. Then, for each member shard
k: J jumps 0 -> k (cold: J dials the member's onion service), k -> 0 (warm: the hub),
and `--warm` more round trips 0 -> k -> 0 (warm both ways). Each jump goes through the
control API (python/shardnode_client) and gives two figures:
  mesh   - the node's own measure (JumpResult.took_ms): subscribe -> the shard's mesh
           reaches its target (one peer here: the member), i.e. peers dialled and grafted;
  first  - from sending the jump request to the first collation of the new shard
           arriving on a collation stream; every node proposes one every 250 ms, so this
           is the time until the node actually receives the shard's gossip (+<=250 ms).
One testnet serves every round. Prints a table and JSON (--json FILE).
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import localnet  # noqa: E402
from shardnode_client import Client, pb  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def timed_jump(c, frm, to, timeout=120):
    """Jump through the control API with a collation stream open: (JumpResult, ms to the
    first collation of shard `to` proposed by another node; the jumper's own collations
    on its new shard reach its stream at once and do not count)."""
    own = c.identity().validator_key
    with c.stream_collations([]) as stream:  # every shard we are on, as it changes
        req = pb.Request()
        req.jump.to = to
        req.jump.wait = True
        setattr(req.jump, "from", frm)
        t0 = time.monotonic()
        rid = c._send(req)
        first = None
        deadline = t0 + timeout
        while first is None:
            ev = stream.next(timeout=max(0.1, deadline - time.monotonic()))
            if ev.shard == to and ev.proposer != own:
                first = (time.monotonic() - t0) * 1000
        result = c.next_response(rid, timeout=max(1.0, deadline - time.monotonic())).jump
    return result, first


def wait_for(what, fn, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.5)  # polling other processes, bounded by the deadline
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def one_round(args, binary, base, testnet, rnd, samples):
    nodes = localnet.create_nodes(binary, base, args.members + 2, prefix=f"r{rnd}n")
    hub, jumper, members = nodes[0], nodes[1], nodes[2:]
    shard_count = args.members + 1
    try:
        for i, n in enumerate(nodes):
            shard = 0 if i < 2 else i - 1
            extra = {"shard.count": str(shard_count), "shard.shards": f'["{shard}"]', "shard.validator": "true",
                     "shard.collation_interval_ms": "250", "shard.jump_timeout_s": "60", "net.dial_timeout_s": "60"}
            with open(n.config, "w") as f:
                f.write(localnet.node_config(n, [] if n is hub else [hub.addr], [], testnet.client_torrc_for(i), 0, 5,
                                             extra=extra))
        localnet.start_nodes(binary, nodes)
        t0 = time.monotonic()
        for n in nodes:
            wait_for(f"{n.name} published", lambda: any(e.get("event") == "published"
                                                         for e in localnet.read_events(n.events_file)), 180)
        want = {m.peer_id for m in members}
        c = Client(os.path.join(jumper.datadir, "control.sock"), timeout=120)

        def connected():
            return {p.peer_id for p in c.peers()}
        wait_for("the jumper's table to list every member",
                 lambda: want <= {e.peer_id for e in c.table().entries}, 120)
        print(f"round {rnd}: {len(nodes)} nodes up in {time.monotonic() - t0:.0f} s; jumper connected to "
              f"{len(connected() & want)}/{len(want)} members before the first jump", flush=True)
        for k, m in enumerate(members, start=1):
            kind = "warm" if m.peer_id in connected() else "cold"
            r, first = timed_jump(c, 0, k)
            if not r.completed:
                raise RuntimeError(f"jump 0 -> {k} did not complete: {r}")
            samples[kind].append(r.took_ms)
            samples[kind + "_first"].append(first)
            print(f"  0 -> {k}: mesh {r.took_ms} ms, first collation {first:.0f} ms ({kind}, dialled {r.dialled})",
                  flush=True)
            for frm, to in [(k, 0)] + [(0, k), (k, 0)] * args.warm:  # warm legs, ending on shard 0
                r, first = timed_jump(c, frm, to)
                if not r.completed:
                    raise RuntimeError(f"jump {frm} -> {to} did not complete: {r}")
                samples["warm"].append(r.took_ms)
                samples["warm_first"].append(first)
            print(f"  warm jumps so far: {len(samples['warm'])}, last mesh {samples['warm'][-1]} ms, first "
                  f"collation {samples['warm_first'][-1]:.0f} ms", flush=True)
        c.close()
    finally:
        localnet.stop_nodes(nodes, timeout_s=20)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--members", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warm", type=int, default=3, help="extra warm round trips per member shard")
    ap.add_argument("--json", help="write the samples and figures here")
    ap.add_argument("--latency", choices=["lan", "wan"], default="lan", help="the private network's latency profile")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    base = tempfile.mkdtemp(prefix="sn-jb-", dir="/tmp")
    testnet = localnet.Testnet(binary, os.path.join(base, "net"))
    samples = {"warm": [], "cold": [], "warm_first": [], "cold_first": []}
    rc = 0
    try:
        up = testnet.up(timeout_s=300, latency=args.latency)
        if not up.ok:
            raise RuntimeError(f"testnet up failed: {up.stdout[-1000:]}")
        print(f"testnet ready in {up.seconds:.0f} s", flush=True)
        for rnd in range(args.rounds):
            one_round(args, binary, base, testnet, rnd, samples)
    except Exception as e:
        print(f"error: {e}", file=sys.stderr)
        rc = 1
    finally:
        testnet.down(timeout_s=60)
        shutil.rmtree(base, ignore_errors=True)
    figures = {}
    print(f"\n{'jump, measure':<22}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'min':>8}{'max':>8}{'mean':>8}")
    for kind in ("warm", "warm_first", "cold", "cold_first"):
        xs = samples[kind]
        if not xs:
            continue
        figures[kind] = {"n": len(xs), "p50_ms": pct(xs, 50), "p95_ms": pct(xs, 95), "min_ms": min(xs),
                         "max_ms": max(xs), "mean_ms": statistics.mean(xs)}
        f = figures[kind]
        label = kind.replace("_first", ", first collation") if "_first" in kind else kind + ", mesh ready"
        print(f"{label:<22}{f['n']:>4}{f['p50_ms']:>9.0f}{f['p95_ms']:>9.0f}{f['min_ms']:>8.0f}{f['max_ms']:>8.0f}"
              f"{f['mean_ms']:>8.0f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"samples": samples, "figures": figures}, fh, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())
