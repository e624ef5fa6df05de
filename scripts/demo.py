#!/usr/bin/env python3
"""The demo: anonymous nodes gossiping over onion services on a private Tor network.

Usage: demo.py [--bin PATH] [--nodes N] [--deadline S] [--keep]

1. `shardnode testnet up`: a private Tor network (3 directory authorities and 4
   relays, Debian's tor, 127.0.0.1 only); nothing reaches the public Tor network.
2. N nodes (default 6), each a `shardnode run` process with its own embedded tor,
   reachable only at its onion service; each knows the next one by /onion3/ address
   (a ring of bootnodes), subscribes to 2-3 of 4 topics named like shard topics and
   publishes connectivity probes on them.
3. A live view until every node has heard probes from every node it shares a topic
   with (or the deadline), then a summary with leak checks (/proc: listening sockets
   loopback or unix, no UDP; identify carries only /onion3/ addresses).
4. Every node is stopped (SIGTERM, exit codes checked), then the testnet.
Ctrl-C at any point stops everything started. Exit 0 on success, 1 otherwise.
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import localnet  # noqa: E402

TOPICS = 4
TOPIC_FMT = "/shardnode/demo/shard/{}/1"
PROBE_MS = 2000
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def topic_arcs(n, topics=TOPICS):
    """Each topic's subscribers form a contiguous arc of the bootnode ring, so every
    topic's nodes are connected through nodes on that topic (gossip is only relayed by
    subscribers, and there is no peer discovery beyond bootnodes yet).
    Returns each node's topic list."""
    length = max(2, min(n, round(n * 2.5 / topics)))
    per_node = [[] for _ in range(n)]
    for k in range(topics):
        first = round(k * n / topics)
        for j in range(length):
            per_node[(first + j) % n].append(TOPIC_FMT.format(k))
    return [sorted(t) for t in per_node]


def short_topic(t):
    return "shard/" + t.split("/")[4]


class View:
    """What one node's events file says so far."""

    def __init__(self, node, expected):
        self.node = node
        self.tail = localnet.EventTail(node.events_file)
        self.expected = expected              # topic -> {peer id}
        self.bootstrap = 0
        self.published_t = None
        self.peers = set()
        self.msgs = {t: 0 for t in node.topics}
        self.heard = {t: set() for t in node.topics}
        self.identified = []
        self.first_msg_t = None
        self.fatal = None

    def update(self):
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
            elif ev == "message":
                t = e.get("topic")
                sender = localnet.probe_sender(e)
                if sender == self.node.peer_id:
                    continue  # our own probe, delivered locally
                if t in self.msgs:
                    self.msgs[t] += 1
                if sender and t in self.heard:
                    self.heard[t].add(sender)
                    if self.first_msg_t is None:
                        self.first_msg_t = e.get("t")
            elif ev == "fatal":
                self.fatal = e.get("error", "?")

    def pairs(self):
        want = sum(len(s) for s in self.expected.values())
        got = sum(len(self.heard[t] & s) for t, s in self.expected.items())
        return got, want

    def missing(self):
        return {t: s - self.heard[t] for t, s in self.expected.items() if s - self.heard[t]}


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
        self.facts = []   # (label, text) for the summary

    # ------------------------------------------------------------ output

    def say(self, text=""):
        print(text, flush=True)

    def fact(self, label, text, good=True):
        self.facts.append((label, text, good))
        if not good:
            self.ok = False

    def frame(self, t_nodes, deadline):
        done = sum(v.pairs()[0] for v in self.views)
        want = sum(v.pairs()[1] for v in self.views)
        topics = [TOPIC_FMT.format(k) for k in range(TOPICS)]
        lines = [f"t+{t_nodes:4.0f} s since the nodes started (deadline {deadline} s);"
                 f" probe pairs heard {done}/{want}",
                 f"{'node':<5}{'onion address':<22}{'tor':>5}  {'published':<10}{'peers':>5}  "
                 + "".join(f"{short_topic(t):>9}" for t in topics) + "  heard"]
        for v in self.views:
            got, want_n = v.pairs()
            state = "fatal" if v.fatal else ("exited" if not v.node.running() else
                                             ("all" if got == want_n else ""))
            lines.append(f"{v.node.name:<5}{v.node.short_onion():<22}{v.bootstrap:>4}%  "
                         f"{'yes' if v.published_t else 'no':<10}{len(v.peers):>5}  "
                         + "".join(f"{(v.msgs[t] if t in v.msgs else '.'):>9}" for t in topics)
                         + f"  {got}/{want_n} {state}".rstrip())
        lines.append("(messages received per topic; '.': not subscribed; heard: (topic, sender) pairs)")
        return lines

    def draw(self, t_nodes, deadline):
        lines = self.frame(t_nodes, deadline)
        if self.frame_lines:
            sys.stdout.write(f"\033[{self.frame_lines}F")  # back to the first line of the last frame
        sys.stdout.write("".join(line + "\033[K\n" for line in lines) + "\033[J")
        sys.stdout.flush()
        self.frame_lines = len(lines)

    def log_line(self, t_nodes):
        done = sum(v.pairs()[0] for v in self.views)
        want = sum(v.pairs()[1] for v in self.views)
        per = "  ".join(f"{v.node.name} {v.bootstrap}%/{'pub' if v.published_t else '-'}/"
                        f"{len(v.peers)}p/{sum(v.msgs.values())}m" for v in self.views)
        self.say(f"t+{t_nodes:3.0f} s  pairs heard {done}/{want}  [{per}]")

    # ------------------------------------------------------------ steps

    def start_testnet(self):
        self.say(f"== 1. private Tor network: shardnode testnet up --dir {self.testnet.dir}")
        self.say("   (3 directory authorities + 4 relays, Debian's tor on 127.0.0.1; the public Tor network is never used)")
        up = self.testnet.up(timeout_s=200, show_progress=True)
        if not up.ok:
            self.say(f"testnet up failed (exit {up.returncode}) after {up.seconds:.0f} s")
            if up.stdout.strip():
                self.say(up.stdout[-2000:])
            self.fact("testnet", f"failed after {up.seconds:.0f} s", False)
            return False
        n_relays = sum(1 for x in up.state.get("nodes", []) if x.get("role") == "relay")
        n_auth = len(up.state.get("nodes", [])) - n_relays
        self.fact("testnet ready", f"{up.seconds:.1f} s ({n_auth} authorities + {n_relays} relays on 127.0.0.1;"
                                   f" {up.ready_seconds:.1f} s inside `testnet up`)")
        self.say(f"   testnet ready in {up.seconds:.1f} s")
        return True

    def create_nodes(self):
        n = self.args.nodes
        self.say(f"\n== 2. {n} nodes: one `shardnode run` process each, with its own embedded tor;"
                 " reachable only at its onion service")
        self.nodes = localnet.create_nodes(self.bin, self.tmp, n)
        topics = topic_arcs(n)
        localnet.write_configs(self.nodes, self.testnet.client_torrc, topics, probe_interval_ms=PROBE_MS,
                               redial_interval_s=5, bootnode_offsets=(1,))
        for nd in self.nodes:
            nxt = self.nodes[(nd.index + 1) % n]
            self.say(f"   {nd.name}  {nd.onion}.onion  bootnode {nxt.name}  topics "
                     + " ".join(short_topic(t) for t in nd.topics))
        self.say(f"   Topics are named like shard topics ({TOPIC_FMT.format('<k>')}); the shard layer itself comes"
                 " in a later issue.")
        self.say(f"   Each node publishes a probe \"probe <peer id> <n>\" on its topics every {PROBE_MS // 1000} s"
                 " (probes name their sender: a test/demo feature, off by default).")
        self.say("   Bootnodes form a ring by /onion3/ address; each topic's nodes are a contiguous arc of it,"
                 " since only subscribers relay a topic.")
        for v in self.nodes:
            exp = {t: {o.peer_id for o in self.nodes if o is not v and t in o.topics} for t in v.topics}
            self.views.append(View(v, exp))

    def run_nodes(self):
        deadline = self.args.deadline
        self.say(f"\n== 3. starting {len(self.nodes)} nodes; waiting until every node has heard every node it shares"
                 f" a topic with (at most {deadline} s)" + ("" if self.tty else "; a status line every 5 s"))
        self.t_nodes_wall = time.time()
        t0 = time.monotonic()
        localnet.start_nodes(self.bin, self.nodes)
        last_line = -1e9
        complete = False
        while True:
            now = time.monotonic() - t0
            for v in self.views:
                v.update()
            complete = all(v.pairs()[0] == v.pairs()[1] for v in self.views)
            failed = [v for v in self.views if v.fatal or not v.node.running()]
            if self.tty:
                self.draw(now, deadline)
            elif complete or failed or now - last_line >= 5:
                self.log_line(now)
                last_line = now
            if complete or failed or now >= deadline:
                break
            time.sleep(1.0)  # ~1 refresh per second; bounded by the deadline above
        self.t_done = time.monotonic() - t0
        for v in failed:
            msg = f"fatal: {v.fatal}" if v.fatal else f"exited with {v.node.proc.returncode}"
            self.say(f"   {v.node.name} {msg} (see {v.node.out_file}, {v.node.log_file})")
        return complete, failed

    def report_deliveries(self, complete):
        firsts = [v.first_msg_t for v in self.views if v.first_msg_t]
        pubs = [v.published_t for v in self.views if v.published_t]
        if len(pubs) == len(self.views):
            self.fact("onion services", f"all {len(pubs)} published by {max(pubs) - self.t_nodes_wall:.1f} s"
                                        " after the nodes started")
        else:
            self.fact("onion services", f"{len(pubs)}/{len(self.views)} published", False)
        if firsts:
            self.fact("first delivery", f"{min(firsts) - self.t_nodes_wall:.1f} s after the nodes started")
        else:
            self.fact("first delivery", "none", False)
        done = sum(v.pairs()[0] for v in self.views)
        want = sum(v.pairs()[1] for v in self.views)
        total = sum(sum(v.msgs.values()) for v in self.views)
        if complete:
            self.fact("deliveries", f"every node heard every node sharing a topic: {done}/{want} (topic, sender)"
                                    f" pairs by {self.t_done:.0f} s; {total} messages received")
        else:
            self.fact("deliveries", f"{done}/{want} (topic, sender) pairs after {self.t_done:.0f} s;"
                                    f" {total} messages received", False)
            names = {nd.peer_id: nd.name for nd in self.nodes}
            for v in self.views:
                for t, miss in v.missing().items():
                    self.say(f"   missing: {v.node.name} has not heard {', '.join(sorted(names[p] for p in miss))}"
                             f" on {short_topic(t)}")

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
        if any(n.running() for n in self.nodes):
            self.say(f"\n== stopping {sum(n.running() for n in self.nodes)} nodes (SIGTERM)")
        rcs = localnet.stop_nodes(self.nodes, timeout_s=20)
        return rcs

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
            self.say("RESULT: " + ("PASS - anonymous nodes gossiped over onion services on a private Tor network"
                                   if self.ok else "FAIL"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, os.environ.get("BUILD_DIR", "build"), "src/cli/shardnode"))
    ap.add_argument("--nodes", type=int, default=6, help="nodes to run (4..12, default 6)")
    ap.add_argument("--deadline", type=int, default=240, help="seconds to wait for deliveries (default 240)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs, events)")
    args = ap.parse_args()
    if not 4 <= args.nodes <= 12:
        ap.error("--nodes must be 4..12")
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
            complete, failed = demo.run_nodes()
            demo.report_deliveries(complete)
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
