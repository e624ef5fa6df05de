"""A local network of shardnode processes on a private Tor network (stdlib only).

Shared by the demo (scripts/demo.py) and the integration test
(tests/onion_net_test.py), so the mechanics are written once:

    net = Testnet(binary, "/tmp/x/net")
    up = net.up(timeout_s=200)                   # `shardnode testnet up`, bounded
    nodes = create_nodes(binary, "/tmp/x", 4)    # `shardnode keygen --json` each
    write_configs(nodes, up.client_torrc, topics=["/t/1"], probe_interval_ms=2000)
    for n in nodes: n.start(binary)              # `shardnode --config C run`
    read_events(nodes[0].events_file)            # the node's JSON-lines events
    stop_nodes(nodes)                            # SIGTERM, SIGKILL after a deadline
    net.down()                                   # `shardnode testnet down`

plus the /proc helpers the leak checks use: socket_inodes(), proc_sockets(),
proc_unix_sockets(), is_loopback() and socket_report().

Every wait here has a deadline; processes are signalled by PID only. Keep the base
directory short (a mktemp dir under /tmp): the onion service's unix socket lives in
each node's datadir and unix socket paths are limited to 107 bytes.
"""
from __future__ import annotations

import ctypes
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

ONION_PORT = 4001          # net.onion_port's default


class LocalnetError(Exception):
    """A shardnode command failed or answered something unexpected."""


def run_cli(binary: str, args: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `binary args...` with captured text output; raises TimeoutExpired after `timeout` s."""
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)


def ctl(binary: str, datadir: str, *args: str, timeout: float = 60) -> tuple:
    """`shardnode ctl -d <datadir> --json <args>`: (exit code, results, stderr).

    Each response line {"id": "N", "<kind>": {...}} becomes ("<kind>", {...}); a
    timeout is reported as exit code 1. The lines are protobuf's canonical JSON
    (docs/CONTROL.md): every field is present (defaults too), names as in
    control.proto, 64-bit integers as strings (int(v)) and bytes as base64
    (base64.b64decode(v).hex() for hex)."""
    try:
        r = run_cli(binary, ["ctl", "-d", datadir, "--json", "--timeout", str(int(timeout)), *args],
                    timeout=timeout + 10)
    except subprocess.TimeoutExpired as e:
        return 1, [], f"ctl {' '.join(args)}: no answer in {timeout:.0f} s ({e})"
    results = []
    for line in r.stdout.splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        kinds = [k for k in obj if k != "id"]
        if kinds:
            results.append((kinds[0], obj[kinds[0]]))
    return r.returncode, results, r.stderr.strip()


def ctl_result(binary: str, datadir: str, *args: str, timeout: float = 60) -> dict:
    """The last result of a ctl call whose answer is one object; raises LocalnetError
    with the node's message otherwise."""
    rc, results, err = ctl(binary, datadir, *args, timeout=timeout)
    if rc != 0 or not results:
        raise LocalnetError(f"ctl {' '.join(args)} ({datadir}): exit {rc}: {err[:300]}")
    return results[-1][1]


# ------------------------------------------------------------------ the testnet

@dataclass
class TestnetUp:
    """What `Testnet.up()` returned.

    ok: `testnet up` exited 0.  returncode: its exit code, None when it overran the
    deadline and had to be stopped.  stdout/stderr: its output (stderr empty when the
    progress went to the terminal).  seconds: wall time of the call.  state: the
    parsed `--json` state (client_torrc, ready_seconds, nodes...) when ok.
    """
    ok: bool
    returncode: Optional[int]
    stdout: str
    stderr: str
    seconds: float
    state: Optional[dict] = None

    @property
    def client_torrc(self) -> Optional[str]:
        return self.state.get("client_torrc") if self.state else None

    @property
    def ready_seconds(self) -> Optional[float]:
        return self.state.get("ready_seconds") if self.state else None


class Testnet:
    """A private Tor network of Debian tor processes on 127.0.0.1, kept in `directory`
    by `shardnode testnet up|down`."""

    def __init__(self, binary: str, directory: str):
        self.binary = os.path.abspath(binary)
        self.dir = os.path.abspath(directory)

    @property
    def client_torrc(self) -> str:
        """The client.torrc nodes use as `tor.testnet`."""
        return os.path.join(self.dir, "client.torrc")

    def client_torrc_for(self, i: int) -> str:
        """The client torrc for the i-th node: with `--latency wan` the network writes one
        per region (client-<region>.torrc, its own outbound address), and nodes are
        dealt round-robin over them; otherwise client.torrc."""
        per_region = sorted(f for f in os.listdir(self.dir) if f.startswith("client-") and f.endswith(".torrc")) \
            if os.path.isdir(self.dir) else []
        return os.path.join(self.dir, per_region[i % len(per_region)]) if per_region else self.client_torrc

    @property
    def exists(self) -> bool:
        """True once `testnet up` has recorded processes (testnet.json): `down()` then has work."""
        return os.path.exists(os.path.join(self.dir, "testnet.json"))

    def up(self, timeout_s: int = 200, relays: Optional[int] = None, show_progress: bool = False,
           grace_s: float = 40, latency: Optional[str] = None, bridges: int = 0) -> TestnetUp:
        """Start the network and wait until onion services can use it.

        `testnet up` itself gives up after `timeout_s`; this call waits at most
        `timeout_s + grace_s`, then cancels it (SIGINT, which makes it stop the tors it
        started) and, 30 s later, kills it.  With `show_progress` its progress lines
        (stderr) go straight to our stderr, else they are captured.  On
        KeyboardInterrupt the command is cancelled the same way before re-raising; call
        `down()` afterwards in any case.
        """
        args = [self.binary, "testnet", "up", "--dir", self.dir, "--timeout", str(timeout_s), "--json"]
        if relays is not None:
            args += ["--relays", str(relays)]
        if latency is not None and latency != "lan":
            args += ["--latency", latency]
        if bridges:
            args += ["--bridges", str(bridges)]  # obfs4 bridges: <dir>/bridges.txt
        t0 = time.monotonic()
        # Own session: a terminal's Ctrl-C reaches us only, and we cancel it in order.
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=None if show_progress else subprocess.PIPE,
                             text=True, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout_s + grace_s)
        except BaseException as e:  # deadline overrun or KeyboardInterrupt: cancel, then kill
            _cancel(p, signal.SIGINT, 30)
            if not isinstance(e, subprocess.TimeoutExpired):
                raise
            out, err = _drain(p)
            return TestnetUp(False, None, out or "", (err or "") + f"\n(testnet up overran {timeout_s + grace_s} s)",
                             time.monotonic() - t0)
        seconds = time.monotonic() - t0
        state = None
        if p.returncode == 0:
            try:
                state = json.loads(out)
            except json.JSONDecodeError:
                pass
        return TestnetUp(p.returncode == 0 and state is not None, p.returncode, out or "", err or "", seconds, state)

    def down(self, timeout_s: int = 60) -> Optional[subprocess.CompletedProcess]:
        """`shardnode testnet down` when the network left state behind (None otherwise).
        Bounded by `timeout_s` (tor's SIGTERM-to-SIGKILL wait inside is 10 s)."""
        if not self.exists:
            return None
        return run_cli(self.binary, ["testnet", "down", "--dir", self.dir], timeout=timeout_s)


def _cancel(p: subprocess.Popen, sig: int, timeout_s: float) -> Optional[int]:
    """Send `sig` to `p` (by PID) unless it ended; SIGKILL it if it outlives `timeout_s`."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
            return p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(timeout=10)
    return p.returncode


def _drain(p: subprocess.Popen) -> tuple:
    try:
        return p.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        return "", ""


# ------------------------------------------------------------------ nodes

@dataclass
class Node:
    """One shardnode process and its files under `base/n<i>`."""
    index: int
    name: str
    datadir: str
    peer_id: str
    onion: str                       # the 56-character v3 address, without ".onion"
    config: str                      # the TOML file written by write_configs()
    topics: list = field(default_factory=list)
    proc: Optional[subprocess.Popen] = None
    run_args: list = field(default_factory=list)   # after `run` (e.g. --test-receipt-log F)
    env: dict = field(default_factory=dict)        # added to the environment

    @property
    def events_file(self) -> str:
        return self.datadir + "/events.jsonl"

    @property
    def log_file(self) -> str:
        return self.datadir + "/node.log"

    @property
    def out_file(self) -> str:
        """stdout and stderr of the process."""
        return self.datadir + ".out"

    @property
    def addr(self) -> str:
        """Our onion multiaddr, as bootnodes name us."""
        return f"/onion3/{self.onion}:{ONION_PORT}"

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def short_onion(self, head: int = 12) -> str:
        """The first `head` characters of the onion address, for display."""
        return f"{self.onion[:head]}...onion"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, binary: str, new_session: bool = True) -> subprocess.Popen:
        """`shardnode --config <config> run`, output to `out_file`.

        With `new_session` (the default) the node gets its own session, so a
        terminal's Ctrl-C reaches only the caller, which stops nodes in order; on
        Linux the node is also sent SIGTERM should the caller die without stopping it.
        """
        with open(self.out_file, "w") as out:
            self.proc = subprocess.Popen([os.path.abspath(binary), "--config", self.config, "run"] + self.run_args,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=dict(os.environ, **self.env) if self.env else None,
                                         start_new_session=new_session, preexec_fn=_die_with_parent)
        return self.proc

    def stop(self, timeout_s: float = 30) -> Optional[int]:
        """SIGTERM, wait up to `timeout_s`; see stop_nodes()."""
        return stop_nodes([self], timeout_s)[0]


try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here, not in a forked child
except OSError:
    _LIBC = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # In the child, before exec: SIGTERM when the parent dies. Best effort (Linux).
    if _LIBC is not None:
        try:
            _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except Exception:
            pass


def create_identity(binary: str, datadir: str, timeout: float = 60) -> dict:
    """`shardnode keygen --datadir D --json`: {"peer_id", "onion_address", "key_file"}."""
    r = run_cli(binary, ["keygen", "--datadir", datadir, "--json"], timeout=timeout)
    if r.returncode != 0:
        raise LocalnetError(f"keygen --datadir {datadir} exited {r.returncode}: {r.stderr.strip()[-500:]}")
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError as e:
        raise LocalnetError(f"keygen --json printed no JSON: {r.stdout[:200]!r}") from e


def create_nodes(binary: str, base: str, n: int, prefix: str = "n") -> list:
    """New identities for nodes `<base>/<prefix>0 .. <prefix>{n-1}` (keygen refuses to
    overwrite an existing key, so use a fresh base). Configs: write_configs()."""
    nodes = []
    for i in range(n):
        d = os.path.join(base, f"{prefix}{i}")
        ident = create_identity(binary, d)
        onion = ident["onion_address"]
        if onion.endswith(".onion"):
            onion = onion[:-len(".onion")]
        nodes.append(Node(index=i, name=f"{prefix}{i}", datadir=d, peer_id=ident["peer_id"], onion=onion,
                          config=os.path.join(base, f"{prefix}{i}.toml")))
    return nodes


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def node_config(node: Node, bootnodes: Iterable[str], topics: Iterable[str], client_torrc: str,
                probe_interval_ms: int = 2000, redial_interval_s: int = 5, extra: Optional[dict] = None) -> str:
    """The TOML for one node: datadir, bootnodes, topics, probes, events file, tor.testnet,
    log file.  `extra` maps "section.key" to a TOML literal (e.g. {"log.level": '"debug"'})."""
    sections = {
        "node": {
            "datadir": _toml_str(node.datadir),
            "bootnodes": "[" + ", ".join(_toml_str(b) for b in bootnodes) + "]",
            "redial_interval_s": str(redial_interval_s),
            "topics": "[" + ", ".join(_toml_str(t) for t in topics) + "]",
            "probe_interval_ms": str(probe_interval_ms),
            "events_file": _toml_str(node.events_file),
        },
        "tor": {"testnet": _toml_str(client_torrc)},
        "log": {"file": _toml_str(node.log_file)},
    }
    for k, v in (extra or {}).items():
        sec, key = k.split(".", 1)
        sections.setdefault(sec, {})[key] = v
    return "".join(f"[{sec}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items()) for sec, kv in sections.items())


def write_configs(nodes: Sequence[Node], client_torrc: str, topics, probe_interval_ms: int = 2000,
                  redial_interval_s: int = 5, bootnode_offsets: Sequence[int] = (1,),
                  extra: Optional[dict] = None) -> None:
    """Write every node's config. Node i's bootnodes are nodes i+k (mod n) for k in
    `bootnode_offsets`, by /onion3/ address only: (1,) makes a ring.  `topics` is
    either one list for every node or one list per node."""
    n = len(nodes)
    per_node = topics and not isinstance(topics[0], str)
    for i, node in enumerate(nodes):
        node.topics = list(topics[i] if per_node else topics)
        boots = [nodes[(i + k) % n].addr for k in bootnode_offsets if (i + k) % n != i]
        with open(node.config, "w") as f:
            f.write(node_config(node, boots, node.topics, client_torrc, probe_interval_ms, redial_interval_s, extra))


def start_nodes(binary: str, nodes: Sequence[Node], new_session: bool = True) -> None:
    for n in nodes:
        n.start(binary, new_session=new_session)


def stop_nodes(nodes: Sequence[Node], timeout_s: float = 30, kill_wait_s: float = 10) -> list:
    """SIGTERM every running node, then wait for all until one shared deadline of
    `timeout_s`. Returns each node's exit code, or None for a node that did not exit in
    time (it is then SIGKILLed and reaped, waiting at most `kill_wait_s`) or never ran.
    A node that had already exited reports its exit code."""
    for n in nodes:
        if n.running():
            try:
                n.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout_s
    rcs = []
    for n in nodes:
        if n.proc is None:
            rcs.append(None)
            continue
        try:
            rcs.append(n.proc.wait(timeout=max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            n.proc.kill()
            try:
                n.proc.wait(timeout=kill_wait_s)
            except subprocess.TimeoutExpired:
                pass
            rcs.append(None)
    return rcs


# ------------------------------------------------------------------ events

def read_events(path: str) -> list:
    """Every event (a dict) in a node's events file; [] while it does not exist.
    Lines that are not JSON - a last line still being written - are skipped."""
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


class EventTail:
    """Reads a node's events file incrementally: `poll()` returns the events appended
    since the last call; a partially written last line waits for its newline."""

    def __init__(self, path: str):
        self.path = path
        self._pos = 0
        self._partial = b""

    def poll(self) -> list:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self._pos += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" after a complete line
        out = []
        for line in lines:
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    pass
        return out


def probe_sender(event: dict) -> Optional[str]:
    """The sender's peer id of a probe message event ("probe <peer id> <n>"), else None."""
    if event.get("event") != "message":
        return None
    parts = event.get("data", "").split()
    return parts[1] if len(parts) == 3 and parts[0] == "probe" else None


# ------------------------------------------------------------------ /proc checks

def socket_inodes(pid: int) -> set:
    """Inodes (strings) of the sockets process `pid` holds open."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def hex_to_ip(h: str) -> str:
    """An address as /proc/net/{tcp,udp}[6] writes it, as text."""
    if len(h) == 8:  # IPv4, little-endian
        return ".".join(str(int(h[i:i + 2], 16)) for i in (6, 4, 2, 0))
    # IPv6: four little-endian 32-bit words
    words = [h[i:i + 8] for i in range(0, 32, 8)]
    raw = b"".join(bytes.fromhex(w)[::-1] for w in words)
    return str(ipaddress.IPv6Address(raw))


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or an IPv4-mapped loopback address."""
    a = ipaddress.ip_address(ip)
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped:
        a = a.ipv4_mapped
    return a.is_loopback


TCP_LISTEN = "0A"  # the state column of a listening TCP socket


def proc_sockets(pid: int) -> list:
    """(proto, state, local ip, remote ip) for every inet socket the process holds;
    proto is tcp, tcp6, udp or udp6, state the hex state column ("0A": listening)."""
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


def proc_tcp_peers(pid: int) -> list:
    """(remote ip, remote port) of every connected TCP socket the process holds."""
    mine = socket_inodes(pid)
    found = []
    for proto in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{proto}") as f:
            next(f)
            for line in f:
                p = line.split()
                if p[9] in mine and p[3] != TCP_LISTEN:
                    ip, port = p[2].split(":")
                    if int(port, 16):
                        found.append((hex_to_ip(ip), int(port, 16)))
    return found


def proc_children(pid: int) -> list:
    """PIDs of the process's children (its threads' too), from /proc."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def proc_unix_sockets(pid: int) -> list:
    """(listening, path) for every unix socket the process holds; path "" when unnamed."""
    mine = socket_inodes(pid)
    found = []
    with open(f"/proc/{pid}/net/unix") as f:
        next(f)
        for line in f:
            p = line.split()
            if len(p) >= 7 and p[6] in mine:
                listening = bool(int(p[3], 16) & 0x10000)  # __SO_ACCEPTCON
                found.append((listening, p[7] if len(p) > 7 else ""))
    return found


@dataclass
class SocketReport:
    """The sockets of one process, from /proc."""
    tcp_listeners: list
    tcp_connections: list
    udp: list
    unix_listeners: list

    @property
    def listeners_local(self) -> bool:
        """Every listening socket is loopback TCP or unix."""
        return all(is_loopback(s[2]) for s in self.tcp_listeners)

    @property
    def connections_local(self) -> bool:
        """Every TCP connection goes to loopback (or is not connected yet)."""
        return all(is_loopback(s[3]) or s[3] in ("0.0.0.0", "::") for s in self.tcp_connections)

    @property
    def ok(self) -> bool:
        """No listener off loopback/unix, no connection off loopback, no UDP (no DNS)."""
        return self.listeners_local and self.connections_local and not self.udp


def socket_report(pid: int) -> SocketReport:
    socks = proc_sockets(pid)
    return SocketReport(
        tcp_listeners=[s for s in socks if s[0].startswith("tcp") and s[1] == TCP_LISTEN],
        tcp_connections=[s for s in socks if s[0].startswith("tcp") and s[1] != TCP_LISTEN],
        udp=[s for s in socks if s[0].startswith("udp")],
        unix_listeners=[path for listening, path in proc_unix_sockets(pid) if listening],
    )


# ------------------------------------------------------------------ test scripts

class NetworkTest:
    """The frame of a test script on a private Tor network (tests/*_net_test.py):
    counted checks, a short temporary directory with the network's directory in it,
    the nodes to stop, and run(main) which always stops the nodes (by PID), takes the
    network down and removes the directory (kept with KEEP_TMP=1), then prints the
    summary line and exits 0 only if some check ran and none failed."""

    def __init__(self, name: str, binary: str, prefix: str):
        self.name = name
        self.start = time.monotonic()
        self.results = {"pass": 0, "fail": 0}
        self.tmp = tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: unix socket paths
        self.testnet = Testnet(binary, os.path.join(self.tmp, "net"))
        self.nodes: list = []

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def check(self, cond, msg: str):
        self.results["pass" if cond else "fail"] += 1
        print(f"{'ok  ' if cond else 'FAIL'} - {msg}", flush=True)
        return cond

    def run(self, main) -> None:
        try:
            main()
        finally:
            stop_nodes(self.nodes, timeout_s=15)
            r = self.testnet.down(timeout_s=60)
            if r is not None and r.returncode != 0:
                print("testnet down:", r.stdout, r.stderr)
            if os.environ.get("KEEP_TMP"):
                print("kept", self.tmp)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        print(f"\n{self.name}: {self.results['pass']} passed, {self.results['fail']} failed ({self.elapsed():.0f} s)")
        sys.exit(0 if self.results["fail"] == 0 and self.results["pass"] > 0 else 1)
