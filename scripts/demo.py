#!/usr/bin/env python3
"""The demo: anonymous validators on many shards, over onion services on a private Tor network.

Usage: demo.py [--bin PATH] [--validators N] [--deadline S] [--min-seconds S] [--keep]

1. `shardnode testnet up`: a private Tor network (3 directory authorities and 4
   relays, Debian's tor, 127.0.0.1 only); nothing reaches the public Tor network.
2. N validators (default 6) and one spam source, each a `shardnode run` process with
   its own embedded tor, reachable only at its onion service. Each validator is on two
   of 4 shards and publishes a signed collation on each every few seconds; the nodes
   find their shards' peers in the shard-preference table and dial them by onion
   address. The spam source floods shard 0 with collations whose signatures are broken.
3. A live view: tor bootstrap, peers, shards, collations received per shard, and the
   peers each node has flagged as spam sources (`shardnode ctl scores`). Once every
   validator hears every other validator of its shards, one validator jumps to a new
   shard (`shardnode ctl jump`), receives its collations and syncs its past ones.
4. A summary (collation coverage, the jump, who flagged the spam source, leak checks:
   listening sockets loopback or unix, no UDP, identify carries only /onion3/), then
   every node is stopped (SIGTERM, exit codes checked), then the testnet.
Ctrl-C at any point stops everything started. Exit 0 on success, 1 otherwise.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import localnet  # noqa: E402

SHARDS = 4
SPAM_SHARD = 0
COLLATION_MS = 4000
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assign_shards(n):
    """Validator i is on shards i and i+1 (mod 4), then the next pairs, so every shard
    has at least two validators and shards overlap."""
    pairs = [(k, (k + 1) % SHARDS) for k in range(SHARDS)] + [(0, 2), (1, 3), (0, 3), (1, 2)]
    return [sorted(pairs[i % len(pairs)]) for i in range(n)]


def validator_pubkey(datadir):
    """The validator's public key (hex) from <datadir>/validator.key, once the node wrote it.
    Key file: a libp2p PrivateKey protobuf, 08 01 12 40 <seed 32> <public key 32>."""
    try:
        raw = open(os.path.join(datadir, "validator.key"), "rb").read()
    except OSError:
        return None
    return raw[36:68].hex() if len(raw) >= 68 else None


class View:
    """What one node's events file (and control API) says so far."""

    def __init__(self, node, shards, spam=False):
        self.node = node
        self.shards = list(shards)
        # The shards it works on (its duties: the assignment, then the demo's jump),
        # not the cover shards it also joins: delivery is timed to these only.
        self.duty = list(shards)
        self.spam = spam
        self.tail = localnet.EventTail(node.events_file)
        self.bootstrap = 0
        self.published_t = None
        self.peers = set()
        self.collations = {k: 0 for k in range(SHARDS)}
        self.proposers = {k: set() for k in range(SHARDS)}   # shard -> proposer keys heard
        self.first = {}                                       # (shard, proposer) -> t
        self.proposed = {}                                    # our collations: hash -> (shard, t)
        self.received = {}                                    # hash -> t of its first `collation` event
        self.synced = {}                                      # shard -> collations fetched
        self.jumps = []
        self.identified = []
        self.flagged = set()                                  # peer ids flagged by this node
        self.fatal = None
        self.vkey = None
        self.beacon_slot = None
        self.beacons = 0

    def update(self):
        if self.vkey is None:
            self.vkey = validator_pubkey(self.node.datadir)
        for e in self.tail.poll():
            ev = e.get("event")
            if ev == "tor_bootstrap":
                self.bootstrap = max(self.bootstrap, int(e.get("progress", 0)))
            elif ev == "published" and self.published_t is None:
                self.published_t = e.get("t")
            elif ev == "connected":
                self.peers.add(e.get("peer"))
            elif ev == "disconnected":
                self.peers.discard(e.get("peer"))
            elif ev == "identified":
                self.identified.append(e)
            elif ev == "collation":
                k, p = e.get("shard"), e.get("proposer")
                if k in self.collations:
                    self.collations[k] += 1
                    self.proposers[k].add(p)
                    self.first.setdefault((k, p), e.get("t"))
                self.received.setdefault(e.get("hash"), e.get("t"))
            elif ev == "proposed":
                self.proposed[e.get("hash")] = (e.get("shard"), e.get("t"))
            elif ev == "synced":
                self.synced[e.get("shard")] = e.get("collations", 0)
            elif ev == "jump":
                self.jumps.append(e)
                k = e.get("shard")
                if e.get("completed") and k not in self.shards:
                    self.shards = sorted(set(self.shards) | {k})
            elif ev == "beacon":
                self.beacon_slot = e.get("slot")
                self.beacons += 1
            elif ev == "fatal":
                self.fatal = e.get("error", "?")


class Demo:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.abspath(args.bin)
        self.tmp = tempfile.mkdtemp(prefix="sn-demo-", dir="/tmp")  # short: unix socket paths
        self.testnet = localnet.Testnet(self.bin, os.path.join(self.tmp, "net"))
        self.nodes = []
        self.views = []
        self.tty = sys.stdout.isatty()
        self.frame_lines = 0
        self.ok = True
        self.facts = []   # (label, text, good) for the summary
        self.jump = None  # dict: who, from, to, started, result, done_t
        self.spam_flag_t = {}

    # ------------------------------------------------------------ output

    def say(self, text=""):
        print(text, flush=True)

    def fact(self, label, text, good=True):
        self.facts.append((label, text, good))
        if not good:
            self.ok = False

    @property
    def validators(self):
        return [v for v in self.views if not v.spam]

    @property
    def spam(self):
        return next(v for v in self.views if v.spam)

    def coverage(self):
        """(heard, wanted) (node, shard, other validator) triples: every validator should
        hear every other validator of each shard it is on."""
        keys = {v.node.name: v.vkey for v in self.validators}
        got = want = 0
        for v in self.validators:
            for k in v.shards:
                for o in self.validators:
                    if o is v or k not in o.shards or not keys[o.node.name]:
                        continue
                    want += 1
                    got += keys[o.node.name] in v.proposers[k]
        return got, want

    def frame(self, t_nodes, deadline):
        got, want = self.coverage()
        lines = [f"t+{t_nodes:4.0f} s since the nodes started (deadline {deadline} s); validators heard on their"
                 f" shards: {got}/{want}",
                 f"{'node':<6}{'onion address':<22}{'tor':>5}  {'pub':<4}{'peers':>5}  {'shards':<8}"
                 + "".join(f"{'s' + str(k):>6}" for k in range(SHARDS)) + "  flagged"]
        names = {v.node.peer_id: v.node.name for v in self.views}
        for v in self.views:
            state = "fatal" if v.fatal else ("exited" if not v.node.running() else "")
            shards = ",".join(str(k) for k in v.shards) + ("*" if v.spam else "")
            flagged = ",".join(sorted(names.get(p, p[:8]) for p in v.flagged)) or "-"
            lines.append(f"{v.node.name:<6}{v.node.short_onion():<22}{v.bootstrap:>4}%  "
                         f"{'yes' if v.published_t else 'no':<4}{len(v.peers):>5}  {shards:<8}"
                         + "".join(f"{(v.collations[k] if k in v.shards else '.'):>6}" for k in range(SHARDS))
                         + f"  {flagged} {state}".rstrip())
        slots = [v.beacon_slot for v in self.views if v.beacon_slot is not None]
        if slots:
            lines.append(f"beacon: head slot {max(slots)} on {slots.count(max(slots))}/{len(self.views)} nodes"
                         f" ({self.validators[0].node.name} signs one header per slot)")
        if self.jump:
            j = self.jump
            status = ("running" if j.get("result") is None else
                      f"done in {int(j['result'].get('took_ms', 0))} ms" if j["result"].get("completed") else
                      f"failed: {j['result']}")
            lines.append(f"jump: {j['who'].node.name} shard {j['from']} -> {j['to']}: {status}")
        lines.append("(collations received per shard; '.': not on it; *: spam source, its collations are invalid)")
        return lines

    def draw(self, t_nodes, deadline):
        lines = self.frame(t_nodes, deadline)
        if self.frame_lines:
            sys.stdout.write(f"\033[{self.frame_lines}F")  # back to the first line of the last frame
        sys.stdout.write("".join(line + "\033[K\n" for line in lines) + "\033[J")
        sys.stdout.flush()
        self.frame_lines = len(lines)

    def log_line(self, t_nodes):
        got, want = self.coverage()
        per = "  ".join(f"{v.node.name} {v.bootstrap}%/{'pub' if v.published_t else '-'}/{len(v.peers)}p/"
                        f"{sum(v.collations.values())}c/{len(v.flagged)}f" for v in self.views)
        self.say(f"t+{t_nodes:3.0f} s  heard {got}/{want}  [{per}]")

    # ------------------------------------------------------------ steps

    def start_testnet(self):
        self.say(f"== 1. private Tor network: shardnode testnet up --dir {self.testnet.dir}")
        self.say("   (3 directory authorities + 4 relays, Debian's tor on 127.0.0.1; the public Tor network is never used)")
        if self.args.latency == "wan":
            self.say("   --latency wan: every relay, authority and node sits in a region; a delaying forwarder adds the")
            self.say("   inter-region latency to every connection (docs/LATENCY.md), as on the live Tor network")
        up = self.testnet.up(timeout_s=300 if self.args.latency == "wan" else 200, show_progress=True,
                             latency=self.args.latency)
        if not up.ok:
            self.say(f"testnet up failed (exit {up.returncode}) after {up.seconds:.0f} s")
            if up.stdout.strip():
                self.say(up.stdout[-2000:])
            self.fact("testnet", f"failed after {up.seconds:.0f} s", False)
            return False
        n_relays = sum(1 for x in up.state.get("nodes", []) if x.get("role") == "relay")
        n_auth = len(up.state.get("nodes", [])) - n_relays
        where = ("in regions on loopback, latency wan: docs/LATENCY.md" if self.args.latency == "wan"
                 else "on 127.0.0.1")
        self.fact("testnet ready", f"{up.seconds:.1f} s ({n_auth} authorities + {n_relays} relays {where})")
        self.say(f"   testnet ready in {up.seconds:.1f} s")
        return True

    def create_nodes(self):
        n = self.args.validators
        self.say(f"\n== 2. {n} validators and 1 spam source: one `shardnode run` process each, with its own"
                 " embedded tor; reachable only at its onion service")
        vals = localnet.create_nodes(self.bin, self.tmp, n, prefix="v")
        spam = localnet.create_nodes(self.bin, self.tmp, 1, prefix="spam")[0]
        self.nodes = vals + [spam]
        shards = assign_shards(n)
        common = {"shard.count": str(SHARDS), "shard.validator": "true", "shard.announce_interval_s": "30",
                  "shard.record_ttl_s": "120", "node.redial_interval_s": "5"}
        for i, nd in enumerate(vals):
            extra = dict(common)
            extra.update({"shard.shards": json.dumps([str(k) for k in shards[i]]),
                          "shard.collation_interval_ms": str(COLLATION_MS),
                          "shard.beacon_proposer": "true" if i == 0 else "false",
                          "shard.period_s": "6"})
            if self.args.plain:
                # Both privacy modes off (a validator runs them by default).
                extra.update({"pubsub.stem": "false", "shard.cover_shards": "0"})
            else:
                # A validator's defaults (the stem with the node's timers, docs/PRIVACY.md),
                # but one cover shard, not 2: with 4 shards, 2 would cover every shard a
                # validator is not on; and a new draw every minute, to show it in minutes.
                extra.update({"shard.cover_shards": "1", "shard.cover_epoch_s": "60"})
            with open(nd.config, "w") as f:
                f.write(localnet.node_config(nd, [vals[(i + 1) % n].addr], [], self.testnet.client_torrc_for(i), 0, 5,
                                             extra=extra))
            self.views.append(View(nd, shards[i]))
            self.say(f"   {nd.name:<5} {nd.onion}.onion  shards {','.join(map(str, shards[i]))}"
                     f"  bootnode {vals[(i + 1) % n].name}")
        extra = dict(common)
        extra.update({"shard.shards": f'["{SPAM_SHARD}"]', "shard.collation_interval_ms": "2000", "shard.period_s": "6",
                      "shard.misbehave_invalid_collations": "true"})
        with open(spam.config, "w") as f:
            f.write(localnet.node_config(spam, [vals[0].addr], [], self.testnet.client_torrc_for(n), 0, 5, extra=extra))
        self.views.append(View(spam, [SPAM_SHARD], spam=True))
        self.say(f"   {spam.name:<5} {spam.onion}.onion  shard {SPAM_SHARD}  bootnode {vals[0].name}"
                 "  (publishes collations with broken signatures every 2 s)")
        self.say(f"   {vals[0].name} also signs a beacon header per 6 s slot on the global beacon topic.")
        self.say(f"   Validators sign a collation on each of their shards every {COLLATION_MS // 1000} s with"
                 " validator.key (not the node key). Bootnodes form a ring; shard peers are found in the")
        self.say("   shard-preference table (signed records on /shardnode/shard-prefs/1) and dialled by onion address.")

    def poll_scores(self):
        """Which honest nodes on the spam shard flag the spam source (`ctl scores`)."""
        for v in self.validators:
            if SPAM_SHARD not in v.shards or not v.node.running():
                continue
            rc, results, _ = localnet.ctl(self.bin, v.node.datadir, "scores", timeout=20)
            if rc == 0 and results:
                v.flagged = {f.get("peer_id") for f in results[-1][1].get("flagged", [])}
                if self.spam.node.peer_id in v.flagged:
                    self.spam_flag_t.setdefault(v.node.name, time.time())

    def start_jump(self):
        """A validator jumps from its first shard to a shard it is not on: the pair whose
        target shard has the fewest validators it is already connected to, so the jump
        dials new onion services if the graph allows it."""
        best = None
        for v in reversed(self.validators):
            for k in range(SHARDS):
                if k in v.shards:
                    continue
                members = {o.node.peer_id for o in self.validators if o is not v and k in o.shards}
                if not members:
                    continue
                key = len(members & v.peers)
                if best is None or key < best[0]:
                    best = (key, v, k)
        _, who, to = best
        frm = who.shards[0]
        self.jump = {"who": who, "from": frm, "to": to, "started": time.time(), "result": None}
        # `ctl jump` waits for the jump; run it in the background and read its answer later.
        import subprocess
        self.jump["proc"] = subprocess.Popen(
            [self.bin, "ctl", "-d", who.node.datadir, "--json", "--timeout", "90", "jump", str(frm), str(to)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def check_jump(self):
        j = self.jump
        if not j or j["result"] is not None or j["proc"].poll() is None:
            return
        out, err = j["proc"].communicate()
        try:
            j["result"] = json.loads(out.strip().splitlines()[-1])["jump"]
        except (IndexError, KeyError, json.JSONDecodeError):
            j["result"] = {"error": (out + err).strip()[:300]}
        j["done_t"] = time.time()
        if j["result"].get("completed"):
            j["who"].shards = sorted((set(j["who"].shards) - {j["from"]}) | {j["to"]})
            j["who"].duty = sorted((set(j["who"].duty) - {j["from"]}) | {j["to"]})

    def jump_received(self):
        """The jumper has collations on its new shard from every validator there, and synced."""
        j = self.jump
        if not j or not (j["result"] or {}).get("completed"):
            return False
        keys = {o.vkey for o in self.validators if o is not j["who"] and j["to"] in o.shards}
        return keys <= j["who"].proposers[j["to"]] and j["to"] in j["who"].synced

    def spam_flagged_enough(self):
        """Every honest node on the spam shard flagged the spam source - or, with
        privacy modes (the default), at least one did: cover shards give each node more peers on a shard,
        so some never dial the spam source before the first one bans it."""
        on_shard = [v for v in self.validators if SPAM_SHARD in v.shards and v is not (self.jump or {}).get("who")]
        got = [self.spam.node.peer_id in v.flagged for v in on_shard]
        return all(got) if self.args.plain else any(got)

    def run_nodes(self):
        deadline = self.args.deadline
        self.say(f"\n== 3. starting {len(self.nodes)} nodes (at most {deadline} s)"
                 + ("" if self.tty else "; a status line every 5 s"))
        self.t_nodes_wall = time.time()
        t0 = time.monotonic()
        localnet.start_nodes(self.bin, self.nodes)
        last_line = last_scores = -1e9
        done = False
        failed = []
        while True:
            now = time.monotonic() - t0
            for v in self.views:
                v.update()
            if now - last_scores >= 3:
                self.poll_scores()
                last_scores = now
            got, want = self.coverage()
            settled = want > 0 and got == want
            if settled and self.jump is None:
                self.t_settled = now
                self.settled_wall = time.time()  # the nodes' event clock (unix seconds)
                self.start_jump()
            self.check_jump()
            flagged_all = self.spam_flagged_enough()
            done = settled and self.jump_received() and flagged_all and now >= self.args.min_seconds
            if self.jump and self.jump["result"] is not None and not self.jump["result"].get("completed"):
                break
            failed = [v for v in self.validators if v.fatal or not v.node.running()]
            if self.tty:
                self.draw(now, deadline)
            elif done or failed or now - last_line >= 5:
                self.log_line(now)
                last_line = now
            if done or failed or now >= deadline:
                break
            time.sleep(1.0)  # ~1 refresh per second; bounded by the deadline above
        self.t_done = time.monotonic() - t0
        for v in failed:
            msg = f"fatal: {v.fatal}" if v.fatal else f"exited with {v.node.proc.returncode}"
            self.say(f"   {v.node.name} {msg} (see {v.node.out_file}, {v.node.log_file})")
        return done, failed

    def report(self):
        pubs = [v.published_t for v in self.views if v.published_t]
        self.fact("onion services", f"{len(pubs)}/{len(self.views)} published"
                  + (f", the last {max(pubs) - self.t_nodes_wall:.1f} s after the nodes started" if pubs else ""),
                  len(pubs) == len(self.views))
        got, want = self.coverage()
        total = sum(sum(v.collations.values()) for v in self.validators)
        self.fact("collations", f"every validator heard every other validator on its shards: {got}/{want}"
                  f" (validator, shard, proposer) triples; {total} valid collations received in all"
                  + (f"; complete {self.t_settled:.0f} s after the nodes started" if hasattr(self, "t_settled") else ""),
                  want > 0 and got == want)
        j = self.jump
        if not j:
            self.fact("jump", "not started (the shards never all heard each other)", False)
        else:
            res = j["result"] or {}
            who = j["who"]
            firsts = [t for (k, p), t in who.first.items()
                      if k == j["to"] and p != who.vkey and t >= j["started"]]  # another validator's
            text = (f"{who.node.name} shard {j['from']} -> {j['to']} via `shardnode ctl jump`: "
                    + ((f"mesh ready in {int(res.get('took_ms', 0))} ms ({res['dialled']} new onion dials)"
                        if res.get("dialled") else
                        f"mesh ready in {int(res.get('took_ms', 0))} ms (warm: it was already connected to that shard's"
                        " validators; `bench/jump_bench.py` measures cold jumps)")
                       if res.get("completed") else f"did not complete: {res}"))
            if firsts:
                text += (f"; first collation from another validator of shard {j['to']}"
                         f" {min(firsts) - j['started']:.1f} s after the jump began")
            if j["to"] in who.synced:
                text += f"; synced {who.synced[j['to']]} past collations by request"
            self.fact("jump", text, self.jump_received())
        spam = self.spam
        by = sorted(self.spam_flag_t)
        honest = [v for v in self.validators if SPAM_SHARD in v.shards]
        first_pub = spam.published_t
        when = (f", the first {min(self.spam_flag_t.values()) - first_pub:.1f} s after its onion service was up"
                if by and first_pub else "")
        self.fact("spam source", f"{spam.node.name} flagged by {len(by)}/{len(honest)} honest nodes on shard"
                  f" {SPAM_SHARD} ({', '.join(by) or 'none'}){when}: each invalid collation costs its forwarder"
                  " P4, and a flagged peer is disconnected and banned"
                  + ("" if self.args.plain else "; with the privacy modes one is enough (nodes with cover shards may never dial it)"),
                  len(by) >= (max(1, len(honest) - 1) if self.args.plain else 1))
        followers = [v for v in self.validators if v.beacons]
        self.fact("beacon", f"{len(followers)}/{len(self.validators)} validators followed {self.validators[0].node.name}'s beacon"
                  f" headers (one per 6 s slot) on /shardnode/beacon/1; heads at slots "
                  f"{sorted({v.beacon_slot for v in followers})}", len(followers) == len(self.validators))
        wrongly = {p for v in self.validators for p in v.flagged} & {v.node.peer_id for v in self.validators}
        self.fact("honest nodes", "none flagged" if not wrongly else f"{len(wrongly)} honest nodes flagged", not wrongly)

    def latencies(self, since=None):
        """Seconds from a collation's `proposed` event at its validator to its first
        `collation` event at each other validator working on that shard (one machine,
        one clock). A jumper's collations of its new shard proposed before the jump
        ended came by sync, not gossip: left out; so are receipts by validators that
        joined the shard as a cover shard, often long after (sync on joining)."""
        j = self.jump or {}
        out = []
        for v in self.validators:
            for h, (k, t0) in v.proposed.items():
                if since is not None and t0 < since:
                    continue
                for o in self.validators:
                    if o is v or h not in o.received or k not in o.duty:
                        continue
                    if o is j.get("who") and k == j.get("to") and t0 < j.get("done_t", float("inf")):
                        continue
                    out.append(o.received[h] - t0)
        return sorted(out)

    def report_latency(self):
        lat = self.latencies()
        mode = "plain gossipsub" if self.args.plain else "stem + 1 cover shard"
        if not lat:
            self.fact("latency", f"no collation delivery timed ({mode})", False)
            return

        def stats(xs):
            q = lambda f: xs[min(len(xs) - 1, int(f * len(xs)))]
            return (f"median {q(0.5):.2f} s, p95 {q(0.95):.2f} s, p99 {q(0.99):.2f} s, max {xs[-1]:.2f} s"
                    f" over {len(xs)} deliveries")

        self.fact("latency", f"collation delivery over Tor ({mode}), proposed -> first receipt at each other"
                  f" validator: {stats(lat)}", True)
        # Once formed: collations proposed after every validator had heard every other
        # on its shards (before, meshes are still forming and some arrive by IHAVE or sync).
        settled = getattr(self, "settled_wall", None)
        steady = self.latencies(since=settled) if settled else []
        if steady:
            self.fact("latency", f"  of which proposed after the network formed: {stats(steady)}", True)

    def report_leaks(self):
        listeners = unix = conns = 0
        bad = []
        for nd in self.nodes:
            if not nd.running():
                bad.append(f"{nd.name} not running")
                continue
            try:
                r = localnet.socket_report(nd.pid)
            except OSError as e:
                bad.append(f"{nd.name}: {e}")
                continue
            listeners += len(r.tcp_listeners)
            unix += len(r.unix_listeners)
            conns += len(r.tcp_connections)
            if not r.listeners_local:
                bad.append(f"{nd.name} listens off loopback: {r.tcp_listeners}")
            if not r.connections_local:
                bad.append(f"{nd.name} connects off loopback: {r.tcp_connections}")
            if r.udp:
                bad.append(f"{nd.name} has UDP sockets: {r.udp}")
        if bad:
            self.fact("sockets", "; ".join(bad), False)
        else:
            self.fact("sockets", f"every listening socket of every node is loopback or unix ({unix} unix,"
                                 f" {listeners} TCP); all {conns} TCP connections go to loopback (tor); no UDP (no DNS)")
        idents = [e for v in self.views for e in v.identified]
        addrs = [a for e in idents for a in e.get("listen_addrs", [])]
        only_onion = bool(idents) and bool(addrs) and all(a.startswith("/onion3/") for a in addrs)
        observed = [e for e in idents if e.get("observed_addr") is not None]
        self.fact("identify", f"{len(idents)} identify exchanges carried {len(addrs)} addresses, "
                  + ("all /onion3/" if only_onion else "NOT all /onion3/")
                  + ("; no observed address" if not observed else f"; {len(observed)} with an observed address"),
                  only_onion and not observed)

    def stop(self):
        """Stop everything this demo started; safe to call at any point, bounded."""
        if self.jump and self.jump.get("proc") and self.jump["proc"].poll() is None:
            self.jump["proc"].kill()
            self.jump["proc"].wait()
        if any(n.running() for n in self.nodes):
            self.say(f"\n== stopping {sum(n.running() for n in self.nodes)} nodes (SIGTERM)")
        return localnet.stop_nodes(self.nodes, timeout_s=20)

    def down(self):
        if not self.testnet.exists:
            return None
        self.say("== shardnode testnet down")
        try:
            return self.testnet.down(timeout_s=60)
        except Exception as e:  # report, never leave without trying the rest of the cleanup
            self.say(f"   testnet down: {e}")
            return None

    def print_summary(self, interrupted=False):
        self.say("\n== summary" + (" (interrupted)" if interrupted else ""))
        w = max(len(label) for label, _, _ in self.facts)
        for label, text, good in self.facts:
            self.say(f"{'  ' if good else '! '}{label + ':':<{w + 1}} {text}")
        if interrupted:
            self.say("RESULT: INTERRUPTED - everything started was stopped")
        else:
            self.say("RESULT: " + ("PASS - anonymous validators gossiped shard collations over onion services,"
                                   " one jumped shards, the spam source was flagged" if self.ok else "FAIL"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, os.environ.get("BUILD_DIR", "build"), "src/cli/shardnode"))
    ap.add_argument("--validators", type=int, default=6, help="validator nodes (4..10, default 6)")
    ap.add_argument("--deadline", type=int, default=300, help="seconds for the whole scenario (default 300)")
    ap.add_argument("--min-seconds", type=int, default=30,
                    help="keep the live view at least this long once the nodes run (default 30)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs, events)")
    ap.add_argument("--latency", choices=["lan", "wan"], default="lan",
                    help="the private network's latency profile: lan (none) or wan (regions, live-Tor-like delays)")
    ap.add_argument("--plain", action="store_true",
                    help="validators turn both privacy modes off (by default they run the stem phase and, in this"
                         " 4-shard demo, one cover shard: docs/PRIVACY.md)")
    args = ap.parse_args()
    if not 4 <= args.validators <= 10:
        ap.error("--validators must be 4..10")
    if not os.access(args.bin, os.X_OK):
        ap.error(f"no shardnode binary at {args.bin} (build it first: bash scripts/demo.sh)")

    def on_signal(signum, _frame):
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # one interrupt is enough: cleanup is bounded
        raise KeyboardInterrupt
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    demo = Demo(args)
    interrupted = False
    t_start = time.monotonic()
    try:
        if demo.start_testnet():
            demo.create_nodes()
            done, failed = demo.run_nodes()
            demo.report()
            demo.report_latency()
            demo.report_leaks()
            if failed:
                demo.fact("nodes", f"{len(failed)} node(s) failed", False)
            rcs = demo.stop()
            clean = sum(1 for rc in rcs if rc == 0)
            demo.fact("shutdown", f"{clean}/{len(rcs)} nodes exited 0 on SIGTERM"
                      + ("" if clean == len(rcs) else f" (exit codes {rcs}; None: killed after 20 s)"),
                      clean == len(rcs))
    except KeyboardInterrupt:
        interrupted = True
        demo.ok = False
        sys.stdout.write("\n")
        demo.say("interrupted: stopping everything this demo started")
    except Exception as e:  # report, then clean up
        import traceback
        traceback.print_exc()
        demo.fact("error", str(e), False)
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        was_running = sum(n.running() for n in demo.nodes)
        rcs = demo.stop()
        if was_running:  # interrupted or failed before the orderly stop above
            demo.fact("shutdown", f"{sum(1 for rc in rcs if rc == 0)}/{len(rcs)} nodes exited 0 (exit codes {rcs})",
                      all(rc == 0 for rc in rcs))
        r = demo.down()
        if r is not None:
            good = r.returncode == 0
            demo.fact("testnet down", (r.stdout.strip() or "done") if good else
                      f"exit {r.returncode}: {r.stderr.strip()[-500:]}", good)
        if args.keep:
            demo.fact("kept", f"{demo.tmp} (configs, node logs, events.jsonl, tor logs)")
        else:
            shutil.rmtree(demo.tmp, ignore_errors=True)
    demo.fact("total", f"{time.monotonic() - t_start:.0f} s")
    demo.print_summary(interrupted)
    return 0 if demo.ok and not interrupted else 1


if __name__ == "__main__":
    sys.exit(main())
