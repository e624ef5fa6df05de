#!/usr/bin/env python3
"""Soak with churn: validators on a private Tor network for a long run, killed and restarted.

Usage: soak.py [--bin PATH] [--validators 12] [--shards 4] [--minutes 30]
               [--kill-every-s 180] [--latency lan|wan] [--collation-ms 4000] [--seed 1]
               [--relay-kill] [--out DIR] [--keep]

Run by hand (not in CI): 12 validators for 30 minutes take the machine's 2 cores.

1. `shardnode testnet up` (with `--latency` when given), then N validators (`shardnode
   run`, each with its own embedded tor), each on two of the shards, proposing a
   collation on each every --collation-ms; bootnodes form a ring (i+1, i+2).
2. Every --kill-every-s a random validator (seeded) is killed with SIGKILL and started
   again at once; its stored collations (`<datadir>/collations.db`, read only) are
   counted before the kill, after it and after the restart. With --relay-kill, once,
   half way, a relay is killed and restarted (`shardnode testnet restart-node`).
3. Every 10 s: each node's RSS and open descriptors (/proc/<pid>; the embedded tor is
   in the node's process); every 2 s, for a restarted node, whether each of its shards'
   mesh holds a peer again (`ctl peers`).
4. The report (printed, and <out>/soak.json, <out>/soak.svg): collation delivery ratio
   per proposer (deliveries to the shard's other validators that were up when it was
   proposed and stayed up 30 s after), recovery time after each restart (to a mesh
   peer on every shard, and to the first collation from another validator on each),
   RSS and descriptors over time with a least-squares slope per node, stored
   collations around every kill (lost = fewer after than before), and who flagged
   whom (`ctl scores`; every node here is honest).
Ctrl-C stops everything started. Exit 0 when no collation was lost and no honest node
was flagged, 1 otherwise.
"""
import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import localnet  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_S = 10
RECOVERY_POLL_S = 2
DELIVERY_GRACE_S = 30


def collation_topic(k):
    return f"/shardnode/shard/{k}/collations/1"


def stored_collations(datadir):
    """Rows in the node's collation store, read only (None while it does not exist)."""
    path = os.path.join(datadir, "collations.db")
    if not os.path.exists(path):
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM collations").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error as e:
        return f"error: {e}"


def proc_sample(pid):
    """(RSS in MiB, open descriptors) of a live process, else None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss_kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return rss_kib / 1024.0, fds
    except (OSError, StopIteration, ValueError):
        return None


def slope_per_hour(points):
    """Least-squares slope of (t seconds, value) points, per hour."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return 0.0 if den == 0 else sum((t - mt) * (v - mv) for t, v in points) / den * 3600


class Soak:
    def __init__(self, args):
        self.a = args
        self.bin = os.path.abspath(args.bin)
        self.rng = random.Random(args.seed)
        self.base = args.out or tempfile.mkdtemp(prefix="sn-soak-")
        os.makedirs(self.base, exist_ok=True)
        self.net = localnet.Testnet(self.bin, os.path.join(self.base, "net"))
        self.nodes = []
        self.shards = {}        # node name -> [shards]
        self.vkey = {}          # node name -> validator public key (hex), once known
        self.tails = {}
        self.proposed = []      # (t, proposer name, shard, hash)
        self.received = {}      # node name -> {hash: t}
        self.up_since = {}      # node name -> t of its current start
        self.down = {}          # node name -> [(t_down, t_up)]
        self.samples = {}       # node name -> [(t, rss MiB, fds)]
        self.kills = []         # dicts
        self.pending_recovery = {}  # node name -> kill record still recovering
        self.relay_event = None
        self.t0 = None

    def say(self, msg):
        print(f"[{time.time() - (self.t0 or time.time()):7.0f} s] {msg}", flush=True)

    # ---- setup
    def start(self):
        self.say(f"testnet up in {self.net.dir} (latency {self.a.latency})")
        up = self.net.up(timeout_s=300, latency=self.a.latency)
        if not up.ok:
            raise localnet.LocalnetError(f"testnet up failed (exit {up.returncode}): {up.stderr[-1500:]}")
        self.nodes = localnet.create_nodes(self.bin, self.base, self.a.validators, prefix="v")
        k = self.a.shards
        for i, n in enumerate(self.nodes):
            # Two shards each, pairs varying with i // k so shards overlap differently.
            second = (i + 1 + i // k) % k
            self.shards[n.name] = sorted({i % k, second if second != i % k else (i + 2) % k})
        topics = []
        for i, n in enumerate(self.nodes):
            n.topics = []
            boots = [self.nodes[(i + o) % len(self.nodes)].addr for o in (1, 2)]
            extra_cfg = {
                "shard.count": str(k),
                "shard.validator": "true",
                "shard.shards": "[" + ", ".join(f'"{s}"' for s in self.shards[n.name]) + "]",
                "shard.collation_interval_ms": str(self.a.collation_ms),
                "log.level": '"info"',
            }
            with open(n.config, "w") as f:
                f.write(localnet.node_config(n, boots, topics, self.net.client_torrc_for(i), probe_interval_ms=0,
                                             redial_interval_s=5, extra=extra_cfg))
            self.tails[n.name] = localnet.EventTail(n.events_file)
            self.received[n.name] = {}
            self.samples[n.name] = []
            self.down[n.name] = []
        self.t0 = time.time()
        for n in self.nodes:
            n.start(self.bin)
            self.up_since[n.name] = time.time()
        self.say(f"{len(self.nodes)} validators started on {k} shards: "
                 + ", ".join(f"{n.name}{self.shards[n.name]}" for n in self.nodes))

    # ---- observation
    def poll_events(self):
        for n in self.nodes:
            for ev in self.tails[n.name].poll():
                kind = ev.get("event")
                t = ev.get("t", time.time())
                if kind == "proposed":
                    self.proposed.append((t, n.name, ev["shard"], ev["hash"]))
                elif kind == "collation":
                    self.received[n.name].setdefault(ev["hash"], t)
                    rec = self.pending_recovery.get(n.name)
                    if rec and t >= rec["t_restart"] and ev.get("proposer") != self.vkey.get(n.name):
                        rec["first_collation"].setdefault(ev["shard"], t - rec["t_restart"])
                elif kind == "fatal":
                    self.say(f"{n.name}: fatal: {ev.get('error')}")
            if n.name not in self.vkey:
                raw = None
                try:
                    raw = open(os.path.join(n.datadir, "validator.key"), "rb").read()
                except OSError:
                    pass
                if raw and len(raw) >= 68:
                    self.vkey[n.name] = raw[36:68].hex()

    def sample(self):
        now = time.time()
        for n in self.nodes:
            if n.running():
                s = proc_sample(n.pid)
                if s:
                    self.samples[n.name].append((now - self.t0, s[0], s[1]))

    def check_recovery(self):
        """Restarted nodes: is every shard's mesh holding a peer again (`ctl peers`)?"""
        now = time.time()
        for name, rec in list(self.pending_recovery.items()):
            node = next(x for x in self.nodes if x.name == name)
            if rec.get("mesh_s") is None and node.running():
                rc, results, _ = localnet.ctl(self.bin, node.datadir, "peers", timeout=10)
                if rc == 0 and results:
                    mesh = set()
                    for p in results[-1][1].get("peers", []):
                        mesh.update(p.get("mesh_topics", []))
                    if all(collation_topic(k) in mesh for k in self.shards[name]):
                        rec["mesh_s"] = now - rec["t_restart"]
            if rec.get("mesh_s") is not None and len(rec["first_collation"]) == len(self.shards[name]):
                del self.pending_recovery[name]

    # ---- churn
    def kill_one(self):
        candidates = [n for n in self.nodes if n.running() and n.name not in self.pending_recovery]
        if not candidates:
            return
        n = self.rng.choice(candidates)
        before = stored_collations(n.datadir)
        n.proc.send_signal(signal.SIGKILL)
        n.proc.wait(timeout=30)
        t_down = time.time()
        after_kill = stored_collations(n.datadir)
        n.start(self.bin)
        t_up = time.time()
        self.down[n.name].append((t_down, t_up))
        self.up_since[n.name] = t_up
        rec = {"node": n.name, "t": t_down - self.t0, "t_restart": t_up, "stored_before": before,
               "stored_after_kill": after_kill, "stored_after_restart": None, "mesh_s": None,
               "first_collation": {}}
        self.kills.append(rec)
        self.pending_recovery[n.name] = rec
        self.say(f"killed {n.name} (SIGKILL) and restarted it: stored collations {before} -> {after_kill}")

    def kill_relay(self):
        r = subprocess.run([self.bin, "testnet", "restart-node", "--dir", self.net.dir, "--kill", "--node", "r3"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
        self.relay_event = {"t": time.time() - self.t0, "rc": r.returncode, "output": (r.stdout + r.stderr)[-300:]}
        self.say(f"relay r3 killed and restarted: exit {r.returncode} {r.stderr.strip()[-200:]}")

    # ---- the run
    def run(self):
        end = self.t0 + self.a.minutes * 60
        next_kill = self.t0 + self.a.kill_every_s
        next_sample = self.t0
        next_recovery = self.t0
        relay_at = self.t0 + self.a.minutes * 30 if self.a.relay_kill else None
        last_line = 0
        while time.time() < end:
            self.poll_events()
            now = time.time()
            if now >= next_sample:
                self.sample()
                next_sample = now + SAMPLE_S
            if now >= next_recovery:
                self.check_recovery()
                next_recovery = time.time() + RECOVERY_POLL_S
            if now >= next_kill:
                self.kill_one()
                next_kill = now + self.a.kill_every_s
            if relay_at and now >= relay_at:
                self.kill_relay()
                relay_at = None
            for rec in self.kills:
                if rec["stored_after_restart"] is None and now - rec["t_restart"] > 20:
                    node = next(x for x in self.nodes if x.name == rec["node"])
                    rec["stored_after_restart"] = stored_collations(node.datadir)
            if now - last_line >= 60:
                last_line = now
                rss = [s[-1][1] for s in self.samples.values() if s]
                self.say(f"proposed {len(self.proposed)}, received {sum(len(r) for r in self.received.values())}, "
                         f"RSS {min(rss or [0]):.0f}-{max(rss or [0]):.0f} MiB, kills {len(self.kills)}")
            time.sleep(1)
        self.poll_events()

    # ---- report
    def was_up(self, name, t0, t1):
        if self.up_since.get(name) is None:
            return False
        for d, u in self.down[name]:
            if d <= t1 and u + 60 >= t0:  # down in the window, or still rejoining
                return False
        return True

    def report(self):
        end_t = time.time()
        flagged = {}
        for n in self.nodes:
            if n.running():
                rc, results, _ = localnet.ctl(self.bin, n.datadir, "scores", timeout=20)
                if rc == 0 and results:
                    f = [x.get("peer_id") for x in results[-1][1].get("flagged", [])]
                    if f:
                        flagged[n.name] = f
        per_proposer = {}
        for t, who, shard, h in self.proposed:
            if t > end_t - DELIVERY_GRACE_S:
                continue
            members = [n.name for n in self.nodes if shard in self.shards[n.name] and n.name != who]
            for m in members:
                if not self.was_up(m, t - 5, t + DELIVERY_GRACE_S):
                    continue
                d = per_proposer.setdefault(who, [0, 0])
                d[1] += 1
                if h in self.received[m]:
                    d[0] += 1
        growth = {name: {"rss_mib_per_h": slope_per_hour([(t, r) for t, r, _ in s if t > 300]),
                         "fds_per_h": slope_per_hour([(t, f) for t, _, f in s if t > 300]),
                         "rss_last_mib": s[-1][1] if s else None, "fds_last": s[-1][2] if s else None}
                  for name, s in self.samples.items()}
        lost = [k for k in self.kills
                if isinstance(k["stored_before"], int) and isinstance(k["stored_after_kill"], int)
                and k["stored_after_kill"] < k["stored_before"]]
        out = {
            "validators": len(self.nodes), "shards": self.a.shards, "minutes": self.a.minutes,
            "latency": self.a.latency, "collation_ms": self.a.collation_ms,
            "delivery": {w: {"delivered": d[0], "expected": d[1], "ratio": d[0] / d[1] if d[1] else None}
                         for w, d in sorted(per_proposer.items())},
            "kills": self.kills, "relay": self.relay_event, "lost_collations": len(lost),
            "flagged": flagged, "growth": growth, "samples": self.samples,
        }
        with open(os.path.join(self.base, "soak.json"), "w") as f:
            json.dump(out, f, indent=1)
        self.write_svg(os.path.join(self.base, "soak.svg"))
        print("\n== soak report ==")
        print(f"{len(self.nodes)} validators, {self.a.shards} shards, {self.a.minutes} min, latency {self.a.latency}")
        print("delivery per proposer (to the shard's other validators that were up):")
        for w, d in out["delivery"].items():
            print(f"  {w}: {d['delivered']}/{d['expected']} = {100 * (d['ratio'] or 0):.2f} %")
        print("restarts:")
        for k in self.kills:
            fc = k["first_collation"]
            mesh = "-" if k["mesh_s"] is None else f"{k['mesh_s']:.0f} s"
            first = ", ".join(f"{s}: {v:.0f} s" for s, v in sorted(fc.items())) or "-"
            print(f"  {k['node']} at {k['t']:.0f} s: stored {k['stored_before']} -> {k['stored_after_kill']} -> "
                  f"{k['stored_after_restart']}; mesh on every shard after {mesh}; first collation per shard {first}")
        print("RSS and descriptors (slope after the first 5 minutes):")
        for name, g in sorted(growth.items()):
            print(f"  {name}: RSS {g['rss_last_mib'] or 0:.0f} MiB ({g['rss_mib_per_h']:+.1f} MiB/h), "
                  f"fds {g['fds_last']} ({g['fds_per_h']:+.1f}/h)")
        print(f"collations lost in a kill: {len(lost)}")
        print(f"honest nodes flagged: {flagged or 'none'}")
        print(f"files: {self.base}/soak.json, {self.base}/soak.svg")
        return 0 if not lost and not flagged else 1

    def write_svg(self, path):
        """RSS per node over time (top) and deliveries per minute (bottom), plain SVG."""
        w, h, pad = 900, 560, 50
        dur = max([s[-1][0] for s in self.samples.values() if s] + [60])
        rss_max = max([r for s in self.samples.values() for _, r, _ in s] + [1]) * 1.1

        def x(t):
            return pad + (w - 2 * pad) * t / dur

        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
                 f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
                 f'<text x="{pad}" y="20" font-size="13">RSS per node (MiB, embedded tor included), '
                 f'{len(self.nodes)} validators, latency {self.a.latency}</text>']
        top, bot = 30, 280
        for i in range(5):
            v = rss_max * i / 4
            y = bot - (bot - top) * i / 4
            parts.append(f'<text x="5" y="{y:.0f}">{v:.0f}</text><line x1="{pad}" x2="{w - pad}" y1="{y:.0f}" '
                         f'y2="{y:.0f}" stroke="#ddd"/>')
        for i, (name, s) in enumerate(sorted(self.samples.items())):
            if not s:
                continue
            color = f"hsl({int(360 * i / max(1, len(self.samples)))},70%,40%)"
            pts = " ".join(f"{x(t):.1f},{bot - (bot - top) * r / rss_max:.1f}" for t, r, _ in s)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{pts}"/>')
        for k in self.kills:
            parts.append(f'<line x1="{x(k["t"]):.1f}" x2="{x(k["t"]):.1f}" y1="{top}" y2="{h - 30}" '
                         f'stroke="red" stroke-dasharray="3,3"/>')
        # Deliveries per minute (all nodes).
        top2, bot2 = 320, h - 30
        per_min = {}
        for recv in self.received.values():
            for t in recv.values():
                m = int((t - self.t0) // 60)
                per_min[m] = per_min.get(m, 0) + 1
        mx = max(list(per_min.values()) + [1]) * 1.1
        parts.append(f'<text x="{pad}" y="{top2 - 5}" font-size="13">collations received per minute '
                     f'(all nodes; red: a node killed and restarted)</text>')
        pts = " ".join(f"{x(m * 60 + 30):.1f},{bot2 - (bot2 - top2) * c / mx:.1f}" for m, c in sorted(per_min.items()))
        parts.append(f'<polyline fill="none" stroke="black" stroke-width="1.5" points="{pts}"/>')
        parts.append(f'<text x="5" y="{top2 + 10}">{mx:.0f}</text><text x="5" y="{bot2}">0</text>')
        parts.append(f'<text x="{w - pad - 60}" y="{h - 8}">{dur / 60:.0f} min</text></svg>')
        with open(path, "w") as f:
            f.write("\n".join(parts))

    def stop(self):
        rcs = localnet.stop_nodes(self.nodes)
        d = self.net.down()
        return rcs, d


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "src", "cli", "shardnode"))
    ap.add_argument("--validators", type=int, default=12)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--kill-every-s", type=float, default=180)
    ap.add_argument("--latency", choices=["lan", "wan"], default="lan")
    ap.add_argument("--collation-ms", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--relay-kill", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--keep", action="store_true", help="keep the run's directory")
    a = ap.parse_args()
    if a.validators < 3 or a.shards < 2:
        ap.error("need at least 3 validators and 2 shards")
    s = Soak(a)
    rc = 1
    try:
        s.start()
        s.run()
        rc = s.report()
    except KeyboardInterrupt:
        print("interrupted; stopping", flush=True)
    finally:
        s.stop()
        if not a.keep and not a.out:
            shutil.rmtree(s.base, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
