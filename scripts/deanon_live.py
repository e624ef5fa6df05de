#!/usr/bin/env python3
"""The live deanonymization experiment (issue 16): real `shardnode run` processes on the
private Tor network, a fraction of them spies, validators publishing collations, and the
adversaries of deanon/ on what the spies recorded - beside the simulator's prediction for
the same graph.

Usage: deanon_live.py [--bin PATH] [--nodes N] [--spies P] [--runs R] [--modes plain,private]
                      [--latency lan|wan] [--window-s S] [--collation-ms MS] [--sim-runs K]
                      [--seed S] [--stem-set pubsub.stem_...=V ...] [--out DIR]

1. `shardnode testnet up` (3 authorities, 4 relays, Debian's tor; `--latency wan` adds the
   inter-region delays of docs/LATENCY.md). Nothing reaches the public Tor network.
2. Per run and mode: N nodes (default 20), each a `shardnode run` process with its own
   embedded tor, all validators on shard 0 of 4 (`shard.validator = true`), each signing a
   collation every --collation-ms. round(P x N) of them (default 10 %, drawn from the seed)
   are spies: they run the same binary as validators without cover shards and with the
   test-only `--test-spy`: they relay stems like any validator, but publish their own
   collations plainly (flooded; an adversary's choice): these are the timing adversary's
   calibration probes. Honest nodes run plain (`pubsub.stem = false`, `shard.cover_shards = 0`) or
   private (a validator's defaults: the stem and cover shards). Every node runs with the
   test-only switch `--test-receipt-log` (and SHARDNODE_TEST_ONLY=1): one JSON line per
   message copy received (time, sending peer, stem or gossip), published and delivered.
   The adversaries read only the spies' logs; the honest nodes' logs are the experimenter's
   truth (who published what, when each node delivered it).
3. When every node has heard at least 90 % of the other validators (the meshes formed), a
   measurement window of --window-s opens: honest collations published inside it count.
   Then a drain (the source's embargo and more), and every node stops (SIGTERM).
4. `shardnode deanon-live` per mode over its runs: first-spy and timing precision and
   recall, posterior entropy, delivery latency p50/p95/p99 with 95 % intervals over runs,
   and the simulator's twin of each run (its graph, spies and validators, and the link
   latency measured in the run) - written to <out>/<mode>.json and <out>/table.md.

Runs by hand (about 6 minutes per run and mode, plus the testnet); not in CI. Exit 0 when
every run completed, 1 otherwise. Ctrl-C stops everything started.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tomllib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import localnet  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARDS = 4
SHARD = 0
TOPIC = f"/shardnode/shard/{SHARD}/collations/1"  # shard/src/topics.cpp
METRICS = ["first-spy precision", "first-spy recall", "first-spy recall on the stem", "timing precision",
           "timing recall", "timing entropy (bits)", "delivery p50 (ms)", "delivery p95 (ms)", "delivery p99 (ms)",
           "delivered"]


def say(text=""):
    print(text, flush=True)


STEM_KEYS = {"stem_fluff_probability", "stem_embargo_ms", "stem_embargo_jitter_ms", "stem_own_embargo_ms"}


def validator_stem(binary, overrides):
    """The stem timers an honest private node runs with: `config --print-defaults
    --validator` with `overrides` ({"pubsub.stem_...": value}) applied."""
    out = subprocess.run([binary, "config", "--print-defaults", "--validator"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    p = tomllib.loads(out)["pubsub"]
    for k, v in overrides.items():
        p[k.split(".", 1)[1]] = float(v)
    return {"fluff": p["stem_fluff_probability"], "embargo_ms": p["stem_embargo_ms"],
            "embargo_jitter_ms": p["stem_embargo_jitter_ms"], "own_embargo_ms": p["stem_own_embargo_ms"]}


class Run:
    def __init__(self, args, testnet, mode, index, base):
        self.args, self.testnet, self.mode, self.index = args, testnet, mode, index
        self.dir = base
        self.nodes = []
        self.spies = set()

    def create(self):
        a = self.args
        self.nodes = localnet.create_nodes(a.bin, self.dir, a.nodes, prefix="n")
        k = min(a.nodes - 1, round(a.spies * a.nodes))
        self.spies = set(random.Random(f"{a.seed}/{self.index}").sample(range(a.nodes), k))
        common = {"shard.count": str(SHARDS), "shard.validator": "true", "shard.shards": f'["{SHARD}"]',
                  "shard.collation_interval_ms": str(a.collation_ms), "shard.period_s": "6",
                  "shard.announce_interval_s": "30", "shard.record_ttl_s": "120", "node.redial_interval_s": "5"}
        for i, nd in enumerate(self.nodes):
            extra = dict(common)
            if i in self.spies:
                # A validator's stem (they relay honestly), no cover shards; --test-spy
                # publishes their own collations plainly (flooded): the probes.
                extra.update({"shard.cover_shards": "0"})
            elif self.mode == "plain":
                extra.update({"pubsub.stem": "false", "shard.cover_shards": "0"})
            else:
                extra.update(a.stem_set)  # a point of the frontier other than the defaults
            with open(nd.config, "w") as f:
                f.write(localnet.node_config(nd, [self.nodes[(i + 1) % a.nodes].addr], [],
                                             self.testnet.client_torrc_for(i), 0, 5, extra=extra))
            nd.run_args = ["--test-receipt-log", os.path.join(nd.datadir, "receipts.jsonl")] \
                + (["--test-spy"] if i in self.spies else [])
            nd.env = {"SHARDNODE_TEST_ONLY": "1"}

    def wait_formed(self, deadline_s):
        """Until every node heard >= 90 % of the other validators' collations."""
        tails = [localnet.EventTail(n.events_file) for n in self.nodes]
        heard = [set() for _ in self.nodes]
        t0 = time.monotonic()
        last = -1e9
        while time.monotonic() - t0 < deadline_s:
            for i, t in enumerate(tails):
                for e in t.poll():
                    if e.get("event") == "collation" and e.get("shard") == SHARD:
                        heard[i].add(e.get("proposer"))
                    elif e.get("event") == "fatal":
                        raise RuntimeError(f"{self.nodes[i].name}: {e.get('error')}")
            dead = [n.name for n in self.nodes if not n.running()]
            if dead:
                raise RuntimeError(f"nodes exited: {', '.join(dead)} (see their .out files)")
            need = 0.9 * (len(self.nodes) - 1)
            low = min(len(h) for h in heard)
            if low >= need:
                return time.monotonic() - t0
            if time.monotonic() - last >= 15:
                say(f"   t+{time.monotonic() - t0:4.0f} s  fewest validators heard by a node: {low}/{len(self.nodes) - 1}")
                last = time.monotonic()
            time.sleep(1.0)
        raise RuntimeError(f"the network did not form within {deadline_s} s")

    def run(self, stem):
        a = self.args
        say(f"== {self.mode} run {self.index + 1}: {a.nodes} nodes, spies {sorted(self.spies)}, in {self.dir}")
        localnet.start_nodes(a.bin, self.nodes)
        try:
            took = self.wait_formed(a.form_deadline_s)
            say(f"   formed after {took:.0f} s; measuring for {a.window_s} s")
            t0 = time.time()
            end = time.monotonic() + a.window_s
            while time.monotonic() < end:
                dead = [n.name for n in self.nodes if not n.running()]
                if dead:
                    raise RuntimeError(f"nodes exited during the window: {', '.join(dead)}")
                time.sleep(1.0)
            t1 = time.time()
            drain = max(30.0, (stem["own_embargo_ms"] + 10 * stem["embargo_jitter_ms"]) / 1000.0)
            say(f"   window closed; draining {drain:.0f} s")
            time.sleep(drain)  # the experiment's drain: messages of the window still spreading
        finally:
            rcs = localnet.stop_nodes(self.nodes)
        honest = a.nodes - len(self.spies)
        manifest = {
            "mode": self.mode, "topic": TOPIC, "window": [t0, t1], "stem": stem,
            "flood_publish": self.mode == "plain",
            "message_interval_ms": a.collation_ms / max(1, honest),
            "nodes": [{"name": n.name, "peer_id": n.peer_id, "spy": i in self.spies,
                       "receipts": os.path.relpath(os.path.join(n.datadir, "receipts.jsonl"), self.dir),
                       "events": os.path.relpath(n.events_file, self.dir)} for i, n in enumerate(self.nodes)],
            "exit_codes": rcs,
        }
        with open(os.path.join(self.dir, "run.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        bad = [n.name for n, rc in zip(self.nodes, rcs) if rc != 0]
        if bad:
            say(f"   nodes that did not exit cleanly: {', '.join(bad)}")
        return not bad


def cell(s):
    if s is None or s.get("mean") is None:
        return "-"
    if s.get("ci95_low") is None:
        return f"{s['mean']:.3g}"
    return f"{s['mean']:.3g} [{s['ci95_low']:.3g}, {s['ci95_high']:.3g}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, os.environ.get("BUILD_DIR", "build"), "src/cli/shardnode"))
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--spies", type=float, default=0.1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="plain,private")
    ap.add_argument("--latency", choices=["lan", "wan"], default="lan")
    ap.add_argument("--window-s", type=int, default=150)
    ap.add_argument("--collation-ms", type=int, default=4000)
    ap.add_argument("--form-deadline-s", type=int, default=360)
    ap.add_argument("--sim-runs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stem-set", action="append", default=[], metavar="pubsub.stem_...=V",
                    help="private mode: a stem setting for the honest nodes (repeatable; q and the embargoes"
                         " of a frontier point)")
    ap.add_argument("--out", default=None, help="results and logs (default: a new /tmp/sn-live-* directory)")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    modes = args.modes.split(",")
    if not 3 <= args.nodes <= 60 or not 0 < args.spies < 1 or any(m not in ("plain", "private") for m in modes):
        ap.error("--nodes in 3..60, --spies in (0, 1), --modes of plain and private")
    out = os.path.abspath(args.out) if args.out else tempfile.mkdtemp(prefix="sn-live-", dir="/tmp")
    os.makedirs(out, exist_ok=True)
    try:
        args.stem_set = dict(kv.split("=", 1) for kv in args.stem_set)
        if any(k.split(".", 1)[-1] not in STEM_KEYS or not k.startswith("pubsub.") for k in args.stem_set):
            raise ValueError
    except ValueError:
        ap.error(f"--stem-set takes pubsub.KEY=VALUE, KEY one of {sorted(STEM_KEYS)}")
    stem = validator_stem(args.bin, args.stem_set)
    testnet = localnet.Testnet(args.bin, os.path.join(out, "net"))
    ok = True
    dirs = {m: [] for m in modes}
    started = time.time()
    try:
        say(f"== private Tor network ({args.latency}): shardnode testnet up --dir {testnet.dir}")
        up = testnet.up(timeout_s=300, latency=args.latency)
        if not up.ok:
            say(f"testnet up failed: {up.stdout[-1500:]}{up.stderr[-1500:]}")
            return 1
        say(f"   ready in {up.seconds:.0f} s")
        for r in range(args.runs):
            for m in modes:
                run = Run(args, testnet, m, r, os.path.join(out, f"{m}-{r + 1}"))
                run.create()
                try:
                    ok = run.run(stem) and ok
                    dirs[m].append(run.dir)
                except RuntimeError as e:
                    say(f"   run failed: {e}")
                    ok = False
    except KeyboardInterrupt:
        say("interrupted")
        ok = False
    finally:
        testnet.down()
    results = {}
    for m in modes:
        if not dirs[m]:
            continue
        cmd = [args.bin, "deanon-live", "--sim-runs", str(args.sim_runs), "--seed", str(args.seed),
               "--json", os.path.join(out, f"{m}.json")] + dirs[m]
        say(f"== {' '.join(cmd)}")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        say(r.stdout + r.stderr)
        if r.returncode != 0:
            ok = False
            continue
        with open(os.path.join(out, f"{m}.json")) as f:
            results[m] = json.load(f)
    lines = [f"{args.nodes} nodes, {round(args.spies * args.nodes)} spies, latency {args.latency}, "
             f"window {args.window_s} s, a collation per validator every {args.collation_ms} ms; "
             f"mean [95 % CI] over runs; simulated: {args.sim_runs} runs on each live run's twin", "",
             "| metric | " + " | ".join(f"{m} live ({len(dirs[m])} runs) | {m} simulated" for m in results) + " |",
             "|---|" + "---|---|" * len(results)]
    for k in METRICS:
        lines.append(f"| {k} | " + " | ".join(f"{cell(results[m]['live'].get(k))} | {cell(results[m]['simulated'].get(k))}"
                                            for m in results) + " |")
    for m in results:
        hop = results[m]["one_hop_ms"]
        lines.append("")
        lines.append(f"{m}: one-hop delay p05/p50/p95 {hop['p05']:.0f}/{hop['p50']:.0f}/{hop['p95']:.0f} ms; runs: "
                     + "; ".join(f"{x['run']} {x['edges']} edges, {x['messages']} messages, "
                                 f"{x['calibration_samples']} calibration samples" for x in results[m]["runs"]))
    table = "\n".join(lines) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table)
    say(table)
    say(f"results in {out} ({time.time() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
