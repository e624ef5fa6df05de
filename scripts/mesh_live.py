#!/usr/bin/env python3
"""Dissemination over a private Tor network: the same validators gossiping under several
pubsub settings in turn (issue 19) - plain gossipsub, the latency-aware mesh, choking -
with delivery latency and duplicates per delivery for each.

Usage: mesh_live.py [--bin PATH] [--nodes N] [--latency lan|wan] [--rounds R]
                    [--variant NAME[:KEY=VALUE,...]] ... [--warmup-s S] [--window-s S]
                    [--collation-ms MS] [--out DIR] [--keep]

1. `shardnode testnet up` (3 authorities, 4 relays, Debian's tor; `--latency wan` puts
   every relay, authority and node in a region with the live network's inter-region
   delays, docs/LATENCY.md). Nothing reaches the public Tor network.
2. N identities (default 12), made once: every variant runs with the same node keys and
   onion addresses, each from a fresh copy of the keys (no peer store or collations
   carried over). All nodes are validators on shard 0 of 1, without the stem or cover
   shards (the stem's embargo would hide what the mesh does), each signing a collation
   every --collation-ms; node.target_peers is N - 2, so a mesh of D = 6 has peers to
   choose from.
3. Per round (--rounds, 1) each variant in turn (default: `plain`, and `latency` with
   pubsub.latency_aware = true): the nodes start; once every node heard 90 % of the
   other validators, --warmup-s (120: pings every 30 s and a latency swap at most every
   10 heartbeats need time), then a --window-s (180) window. Collations proposed in the
   window count: delivery p50/p95/p99 from each `proposed` event to the first
   `collation` event at every other node (one machine, one clock), and the share
   delivered by the end of a 30 s drain. From each node's metrics (scraped at the
   window's start and end): duplicates per delivered message (node-wide counters:
   the collations and the few preference records), latency swaps, CHOKEs, mesh size.
4. A table per variant (mean over rounds when R > 1) to stdout and <out>/table.md,
   every figure to <out>/results.json.

Runs by hand (about 8 minutes per variant and round on `wan`, plus the testnet); not in
CI. Exit 0 when every run completed. Ctrl-C stops everything started.
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import localnet  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARD = 0
TOPIC = f"/shardnode/shard/{SHARD}/collations/1"  # shard/src/topics.cpp
DEFAULT_VARIANTS = ["plain", "latency:pubsub.latency_aware=true"]
METRICS_PORT0 = 19460


def say(text=""):
    print(text, flush=True)


def parse_variant(text):
    name, _, rest = text.partition(":")
    kv = {}
    for item in filter(None, rest.split(",")):
        k, sep, v = item.partition("=")
        if not sep or "." not in k:
            raise ValueError(f"variant {name!r}: {item!r} is not section.key=value")
        kv[k.strip()] = v.strip()
    return name, kv


def scrape(port):
    """{(name, labels): value} of one node's /metrics; {} if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})?\s+([-0-9.e+]+)$", line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def metric(snap, name, labels=""):
    return snap.get((name, labels), 0.0)


def quantile(xs, f):
    return xs[min(len(xs) - 1, int(f * len(xs)))] if xs else None


class Run:
    def __init__(self, args, testnet, keys, ids, name, settings, out):
        self.args, self.testnet, self.name, self.settings = args, testnet, name, settings
        self.dir = out
        # a fresh copy of the keys made once: same identities, nothing else carried over
        shutil.copytree(keys, self.dir)
        self.nodes = [localnet.Node(index=x.index, name=x.name, datadir=os.path.join(self.dir, x.name),
                                    peer_id=x.peer_id, onion=x.onion, config=os.path.join(self.dir, f"{x.name}.toml"))
                      for x in ids]
        n = args.nodes
        for i, nd in enumerate(self.nodes):
            extra = {"shard.count": "1", "shard.validator": "true", "shard.shards": f'["{SHARD}"]',
                     "shard.collation_interval_ms": str(args.collation_ms), "shard.period_s": "6",
                     "shard.announce_interval_s": "120", "shard.record_ttl_s": "600",
                     "shard.cover_shards": "0", "pubsub.stem": "false",
                     "node.redial_interval_s": "5", "node.target_peers": str(max(2, n - 2)),
                     "metrics.listen": f'"127.0.0.1:{METRICS_PORT0 + i}"'}
            extra.update({k: v if re.match(r'^(true|false|-?[0-9.]+|".*"|\[.*\])$', v) else json.dumps(v)
                          for k, v in settings.items()})
            with open(nd.config, "w") as f:
                f.write(localnet.node_config(nd, [self.nodes[(i + 1) % n].addr, self.nodes[(i + 5) % n].addr], [],
                                             self.testnet.client_torrc_for(i), 0, 5, extra=extra))

    def wait_formed(self, tails, deadline_s):
        heard = [set() for _ in self.nodes]
        t0 = time.monotonic()
        last = -1e9
        while time.monotonic() - t0 < deadline_s:
            self.poll(tails, heard)
            need = 0.9 * (len(self.nodes) - 1)
            low = min(len(h) for h in heard)
            if low >= need:
                return time.monotonic() - t0
            if time.monotonic() - last >= 15:
                say(f"   t+{time.monotonic() - t0:4.0f} s  fewest validators heard by a node: {low}/{len(self.nodes) - 1}")
                last = time.monotonic()
            time.sleep(1.0)
        raise RuntimeError(f"the network did not form within {deadline_s} s")

    def poll(self, tails, heard=None):
        for i, t in enumerate(tails):
            for e in t.poll():
                ev = e.get("event")
                if ev == "collation" and e.get("shard") == SHARD:
                    self.received[i].setdefault(e.get("hash"), e.get("t"))
                    if heard is not None:
                        heard[i].add(e.get("proposer"))
                elif ev == "proposed":
                    self.proposed[e.get("hash")] = (i, e.get("t"))
                elif ev == "fatal":
                    raise RuntimeError(f"{self.nodes[i].name}: {e.get('error')}")
        dead = [n.name for n in self.nodes if not n.running()]
        if dead:
            raise RuntimeError(f"nodes exited: {', '.join(dead)} (see their .out files)")

    def poll_for(self, tails, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll(tails)
            time.sleep(1.0)

    def snapshot(self):
        return [scrape(METRICS_PORT0 + i) for i in range(len(self.nodes))]

    def run(self):
        a = self.args
        say(f"== {self.name} {self.settings or '(defaults)'}: {a.nodes} nodes in {self.dir}")
        self.received = [dict() for _ in self.nodes]
        self.proposed = {}
        tails = [localnet.EventTail(n.events_file) for n in self.nodes]
        localnet.start_nodes(a.bin, self.nodes)
        try:
            took = self.wait_formed(tails, a.form_deadline_s)
            say(f"   formed after {took:.0f} s; warm-up {a.warmup_s} s, then a {a.window_s} s window")
            self.poll_for(tails, a.warmup_s)
            before, t0 = self.snapshot(), time.time()
            self.poll_for(tails, a.window_s)
            after, t1 = self.snapshot(), time.time()
            self.poll_for(tails, 30)  # drain: collations of the window still spreading
            self.poll(tails)
        finally:
            rcs = localnet.stop_nodes(self.nodes)
        return self.figures(before, after, t0, t1, rcs)

    def figures(self, before, after, t0, t1, rcs):
        lat, expected, got = [], 0, 0
        for h, (src, tp) in self.proposed.items():
            if not t0 <= tp < t1:
                continue
            for i in range(len(self.nodes)):
                if i == src:
                    continue
                expected += 1
                tr = self.received[i].get(h)
                if tr is not None:
                    got += 1
                    lat.append(tr - tp)
        lat.sort()
        d = lambda s0, s1, name, labels="": metric(s1, name, labels) - metric(s0, name, labels)
        kinds = lambda k: sum(d(b, x, "shardnode_pubsub_messages_total", f'{{kind="{k}"}}') for b, x in zip(before, after))
        delivered, dup = kinds("delivered"), kinds("duplicate")
        mesh = [metric(x, "shardnode_mesh_peers", f'{{topic="{TOPIC}"}}') for x in after]
        fig = {
            "variant": self.name, "settings": self.settings, "window_s": t1 - t0,
            "collations": sum(1 for _, tp in self.proposed.values() if t0 <= tp < t1),
            "delivered_share": got / expected if expected else None,
            "p50_ms": 1000 * quantile(lat, 0.5) if lat else None,
            "p95_ms": 1000 * quantile(lat, 0.95) if lat else None,
            "p99_ms": 1000 * quantile(lat, 0.99) if lat else None,
            "duplicates_per_delivery": dup / delivered if delivered else None,
            "forwarded": sum(d(b, x, "shardnode_pubsub_messages_total", '{kind="forwarded"}') for b, x in zip(before, after)),
            "latency_swaps": sum(d(b, x, "shardnode_pubsub_latency_swaps_total") for b, x in zip(before, after)),
            "chokes_sent": sum(d(b, x, "shardnode_pubsub_choke_total", '{kind="choke_sent"}') for b, x in zip(before, after)),
            "mesh_mean": sum(mesh) / len(mesh) if mesh else None,
            "mesh_per_node": mesh,
            "peers_mean": sum(metric(x, "shardnode_pubsub_peers") for x in after) / max(1, len(after)),
            "metrics_answered": sum(1 for x in after if x),
            "exit_codes": rcs,
        }
        say("   " + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in fig.items()
                                 if k not in ("settings", "exit_codes", "mesh_per_node")}))
        say(f"   mesh per node: {mesh}")
        return fig


def fmt(v, f="{:.0f}"):
    return "-" if v is None else f.format(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, os.environ.get("BUILD_DIR", "build"), "src/cli/shardnode"))
    ap.add_argument("--nodes", type=int, default=12)
    ap.add_argument("--latency", choices=["lan", "wan"], default="wan")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME[:KEY=VALUE,...]")
    ap.add_argument("--warmup-s", type=int, default=120)
    ap.add_argument("--window-s", type=int, default=180)
    ap.add_argument("--collation-ms", type=int, default=4000)
    ap.add_argument("--form-deadline-s", type=int, default=360)
    ap.add_argument("--out", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the nodes' directories (logs, events)")
    args = ap.parse_args()
    if not 4 <= args.nodes <= 40:
        ap.error("--nodes in 4..40")
    try:
        variants = [parse_variant(v) for v in (args.variant or DEFAULT_VARIANTS)]
    except ValueError as e:
        ap.error(str(e))
    out = args.out or tempfile.mkdtemp(prefix="sn-mesh-")
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sn-mesh-run-")
    keys = os.path.join(work, "keys")
    ids = localnet.create_nodes(args.bin, keys, args.nodes, prefix="n")
    testnet = localnet.Testnet(args.bin, os.path.join(work, "testnet"))
    results, ok = [], True
    try:
        say(f"== private Tor network ({args.latency}): shardnode testnet up --dir {testnet.dir}")
        up = testnet.up(timeout_s=300, latency=args.latency)
        if not up.ok:
            say(f"testnet up failed: {up.stdout[-1500:]}{up.stderr[-1500:]}")
            return 1
        say(f"   ready in {up.seconds:.0f} s")
        for r in range(args.rounds):
            for name, settings in variants:
                run_dir = os.path.join(work, f"{name}-{r + 1}")
                try:
                    fig = Run(args, testnet, keys, ids, name, settings, run_dir).run()
                    fig["round"] = r + 1
                    results.append(fig)
                    ok = ok and all(rc == 0 for rc in fig["exit_codes"])
                except RuntimeError as e:
                    say(f"   run failed: {e}")
                    ok = False
                if not args.keep:
                    shutil.rmtree(run_dir, ignore_errors=True)
    except KeyboardInterrupt:
        say("interrupted")
        ok = False
    finally:
        testnet.down()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    lines = [f"{args.nodes} validators on one shard, latency {args.latency}, a collation per validator every "
             f"{args.collation_ms} ms, {args.warmup_s} s warm-up, {args.window_s} s window; one row per variant and round", "",
             "| variant | round | collations | delivered | p50 ms | p95 ms | p99 ms | duplicates per delivery | forwarded "
             "| latency swaps | CHOKEs sent | mean mesh | mean peers |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in results:
        lines.append(f"| {x['variant']} | {x['round']} | {x['collations']} | {fmt(x['delivered_share'], '{:.1%}')} "
                     f"| {fmt(x['p50_ms'])} | {fmt(x['p95_ms'])} | {fmt(x['p99_ms'])} "
                     f"| {fmt(x['duplicates_per_delivery'], '{:.2f}')} | {fmt(x['forwarded'])} | {fmt(x['latency_swaps'])} "
                     f"| {fmt(x['chokes_sent'])} | {fmt(x['mesh_mean'], '{:.1f}')} | {fmt(x['peers_mean'], '{:.1f}')} |")
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    say("\n".join(lines))
    say(f"results: {out}")
    return 0 if ok and results else 1


if __name__ == "__main__":
    sys.exit(main())
