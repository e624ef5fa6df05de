"""The Python control client against real shardnode processes.

Four nodes on loopback TCP with tor.mode = none (the control API is the same with
tor; tests/onion_net_test.py drives it over the private Tor network):
  v0: validator on shards 0 and 1, proposing collations
  v1: validator on shard 0, proposing collations
  w2: validator on shard 2; jumps to shard 0 during the test
  spam: on shard 0, publishing collations with broken signatures (a spam source)

Usage: test_client.py <shardnode binary>   (or SHARDNODE_BIN); needs python3-protobuf.
Every wait has a deadline; every process started is stopped by PID.
"""
import os
import pathlib
import socket
import stat
import sys
import tempfile
import time
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "scripts"))

import localnet  # noqa: E402
from shardnode_client import Client, ControlError, ProtocolError, encode_uvarint, frame, pb  # noqa: E402

BIN = os.environ.get("SHARDNODE_BIN") or (sys.argv[1] if len(sys.argv) > 1 else "")


def wait_for(what, fn, timeout=30.0, interval=0.1):
    """Polls fn() until it returns something truthy; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (ControlError, ProtocolError, OSError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BIN:
            raise unittest.SkipTest("no shardnode binary given")
        cls.tmp = tempfile.TemporaryDirectory(prefix="sn-pyclient-")
        base = cls.tmp.name
        cls.nodes = localnet.create_nodes(BIN, base, 4)
        cls.v0, cls.v1, cls.w2, cls.spam = cls.nodes
        roles = {
            0: {"shard.shards": '["0", "1"]', "shard.collation_interval_ms": "500"},
            1: {"shard.shards": '["0"]', "shard.collation_interval_ms": "500"},
            2: {"shard.shards": '["2"]'},
            3: {"shard.shards": '["0"]', "shard.collation_interval_ms": "300",
                "shard.misbehave_invalid_collations": "true"},
        }
        try:
            boots = []  # every node dials every earlier one: without tor, only met peers have addresses
            for n in cls.nodes:
                extra = {"tor.mode": '"none"', "tor.testnet": '""', "node.onion_only": "false",
                         "net.tcp_listen": '["/ip4/127.0.0.1/tcp/0"]', "shard.count": "4",
                         "shard.validator": "true", "shard.jump_timeout_s": "20", "log.level": '"debug"',
                         # The client and control API, on plain gossip: exact shards and deliveries.
                         "pubsub.stem": "false", "shard.cover_shards": "0"}
                extra.update(roles[n.index])
                with open(n.config, "w") as f:
                    f.write(localnet.node_config(n, boots, [], "", probe_interval_ms=0,
                                                 redial_interval_s=2, extra=extra))
                n.start(BIN)
                ev = wait_for(f"{n.name} listening", lambda: [e for e in localnet.read_events(n.events_file)
                                                             if e.get("event") == "listening"], timeout=20)
                boots.append(ev[0]["addr"])
            cls.sock = {n.name: os.path.join(n.datadir, "control.sock") for n in cls.nodes}
            for n in cls.nodes:
                wait_for(f"{n.name} control socket", lambda: os.path.exists(cls.sock[n.name]), timeout=20)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        rcs = localnet.stop_nodes(cls.nodes, timeout_s=20)
        cls.tmp.cleanup()
        cls.exit_codes = rcs
        # A clean exit on SIGTERM (under ASan: no error, no leak), the rotated node's too.
        if any(rc != 0 for rc in rcs):
            raise AssertionError(f"nodes did not stop cleanly: exit codes {rcs}")

    def client(self, node, timeout=30.0):
        return Client(self.sock[node.name], timeout=timeout)

    # ---- tests (unittest runs them in name order) ----
    def test_01_socket_is_private(self):
        for n in self.nodes:
            mode = stat.S_IMODE(os.stat(self.sock[n.name]).st_mode)
            self.assertEqual(mode, 0o600, f"{n.name}: control.sock mode {oct(mode)}")

    def test_02_identity(self):
        for n in self.nodes:
            with self.client(n) as c:
                ident = c.identity()
            self.assertEqual(ident.peer_id, n.peer_id)
            self.assertEqual(ident.shard_count, 4)
            self.assertEqual(len(ident.validator_key), 32)
            self.assertFalse(ident.onion_only)
            self.assertTrue(any("/tcp/" in a for a in ident.listen_addrs), ident.listen_addrs)
        with self.client(self.v0) as c:
            self.assertEqual(sorted(c.identity().shards), [0, 1])

    def test_03_peers_and_table(self):
        with self.client(self.v0) as c:
            wait_for("v0 connected to v1 and w2",
                     lambda: {self.v1.peer_id, self.w2.peer_id} <= {p.peer_id for p in c.peers()})
            t = wait_for("v0's table lists v1 on shard 0 and w2 on shard 2",
                         lambda: (lambda e: e.get(self.v1.peer_id) == [0] and e.get(self.w2.peer_id) == [2] and e)(
                             {x.peer_id: list(x.shards) for x in c.table().entries}))
            self.assertEqual(c.table().shard_count, 4)
            self.assertTrue(t)

    def test_04_subscribe_unsubscribe(self):
        with self.client(self.w2) as c:
            self.assertIn(3, c.subscribe(3))
            self.assertNotIn(3, c.unsubscribe(3))
            with self.assertRaises(ControlError) as e:
                c.subscribe(99)
            self.assertEqual(e.exception.code, "BAD_REQUEST")
            self.assertIn("99", e.exception.message)

    def test_05_jump_stream_publish_request(self):
        with self.client(self.w2, timeout=40) as c:
            # w2 learns shard 0's members from the table, then jumps there.
            wait_for("w2's table lists v1 on shard 0",
                     lambda: any(e.peer_id == self.v1.peer_id and 0 in e.shards for e in c.table().entries))
            j = c.jump(2, 0, wait=True, timeout=40)
            self.assertTrue(j.completed, j)
            self.assertEqual(j.shard, 0)
            self.assertIn(0, j.shards)
            self.assertNotIn(2, j.shards)
            with c.stream_collations([0], include_body=True) as stream:
                with self.client(self.v1) as pub:
                    body = b"hello from the python client"
                    published = pub.publish_collation(0, body)
                    self.assertEqual(len(published.hash), 32)
                deadline = time.monotonic() + 30
                seen = None
                while time.monotonic() < deadline and seen is None:
                    ev = stream.next(timeout=max(0.1, deadline - time.monotonic()))
                    self.assertEqual(ev.shard, 0)
                    self.assertEqual(len(ev.proposer), 32)
                    if ev.hash == published.hash:
                        seen = ev
                self.assertIsNotNone(seen, "w2's stream never saw v1's collation")
                self.assertEqual(seen.body, body)
                self.assertEqual(seen.period, published.period)
            # The same connection still works after the stream is cancelled.
            fetched = c.request_collations(0, from_period=published.period - 5, to_period=published.period, timeout=40)
            self.assertTrue(fetched.peer_id)
            by_hash = c.request_collations(0, hash=published.hash, timeout=40)
            self.assertEqual(by_hash.new_collations, 0)  # already held

    def test_06_spam_source_flagged(self):
        with self.client(self.v0) as c:
            flagged = wait_for("v0 flags the spam node",
                               lambda: [f for f in c.scores().flagged if f.peer_id == self.spam.peer_id], timeout=40)
            self.assertLess(flagged[0].score, 0)
            self.assertTrue(flagged[0].reason)
            honest = {p.peer_id for p in c.scores().flagged}
            self.assertNotIn(self.v1.peer_id, honest)

    def test_07_errors(self):
        with self.client(self.v0) as c:
            with self.assertRaises(ControlError) as e:
                c.publish_collation(3, b"x")  # not on shard 3
            self.assertEqual(e.exception.code, "UNAVAILABLE")
            with self.assertRaises(ControlError) as e:
                c.request_collations(0, hash=b"short")
            self.assertEqual(e.exception.code, "BAD_REQUEST")
            with self.assertRaises(ControlError) as e:
                c.request_collations(0, from_period=0, to_period=1, peer_id="not-a-peer-id")
            self.assertEqual(e.exception.code, "BAD_REQUEST")
            with self.assertRaises(ControlError) as e:  # an oversized collation request
                c.request_collations(0, from_period=0, to_period=10 ** 12)
            self.assertEqual(e.exception.code, "BAD_REQUEST")
            self.assertIn("cap", e.exception.message)
            with self.assertRaises(ControlError) as e:
                c.cancel(424242)
            self.assertEqual(e.exception.code, "NOT_FOUND")
            with self.assertRaises(ControlError) as e:
                c.next_response(c._send(pb.Request()))  # a request without an op
            self.assertEqual(e.exception.code, "BAD_REQUEST")
            self.assertEqual(c.identity().peer_id, self.v0.peer_id)  # the connection survives

    def test_08_malformed_frames(self):
        # Garbage protobuf: an error, then the node closes this connection only.
        with self.client(self.v0, timeout=10) as c:
            c.send_raw(frame(b"\xff\xff\xff\xff"))
            with self.assertRaises(ControlError) as e:
                c.next_response(0)
            self.assertEqual(e.exception.code, "BAD_REQUEST")
            with self.assertRaises((ProtocolError, ConnectionError)):
                c.identity()
        # A length over the limit.
        with self.client(self.v0, timeout=10) as c:
            c.send_raw(encode_uvarint(1 << 30))
            with self.assertRaises(ControlError) as e:
                c.next_response(0)
            self.assertEqual(e.exception.code, "BAD_REQUEST")
        # A peer that sends half a frame and vanishes.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock[self.v0.name])
        s.sendall(encode_uvarint(100) + b"\x08")
        s.close()
        with self.client(self.v0) as c:
            self.assertEqual(c.identity().peer_id, self.v0.peer_id)

    def test_09_ctl_json_is_canonical(self):
        """`shardnode ctl --json` prints protobuf's canonical JSON: it parses back into the
        Response the node sent (json_format.Parse), bytes base64, 64-bit ints strings."""
        import base64
        import json
        from google.protobuf import json_format

        def lines(*args):
            r = localnet.run_cli(BIN, ["ctl", "-d", self.v0.datadir, "--json", *args], timeout=30)
            return r.returncode, [ln for ln in r.stdout.splitlines() if ln.strip()], r.stderr

        rc, out, err = lines("identity")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out), 1, out)
        obj = json.loads(out[0])
        self.assertEqual(obj["id"], "1")  # uint64: a string
        ident = obj["identity"]
        self.assertEqual(ident["peer_id"], self.v0.peer_id)
        self.assertEqual(ident["onion_only"], False)  # defaults are printed
        self.assertEqual(ident["shard_count"], 4)    # uint32: a number
        parsed = json_format.Parse(out[0], pb.Response())
        with self.client(self.v0) as c:
            want = c.identity()
        self.assertEqual(parsed.identity.validator_key, want.validator_key)
        self.assertEqual(base64.b64decode(ident["validator_key"]), want.validator_key)
        self.assertEqual(list(parsed.identity.shards), list(want.shards))

        rc, out, err = lines("table")
        self.assertEqual(rc, 0, err)
        entries = json.loads(out[0])["table"]["entries"]
        self.assertTrue(entries)
        self.assertTrue(all(isinstance(e["seq"], str) and int(e["expires_at"]) > 0 for e in entries), entries)
        json_format.Parse(out[0], pb.Response())

        # An error response is printed too, then the message on stderr and exit 1.
        rc, out, err = lines("unsubscribe", "3")
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out[0]), {"id": "1", "error": {"code": "UNAVAILABLE", "message": "not on shard 3"}})
        self.assertIn("UNAVAILABLE: not on shard 3", err)

    def test_10_rotate_identity(self):
        # w2 (on shard 0 since test_05) takes a new node identity without a restart;
        # its control connection and collation stream stay, and peers meet the new id.
        old = self.w2.peer_id
        with self.client(self.w2, timeout=40) as c:
            before = c.identity()
            with c.stream_collations([0]) as stream:
                rot = c.rotate_identity(timeout=60)
                self.assertEqual(rot.retired_peer_id, old)
                self.assertNotEqual(rot.peer_id, old)
                self.assertTrue(rot.addr.endswith("/p2p/" + rot.peer_id), rot.addr)
                self.assertGreaterEqual(rot.pushed, 1)  # w2 was connected: the retirement was delivered
                self.assertEqual(rot.retired_key_file, os.path.join(self.w2.datadir, "retired", old + ".key"))
                self.assertEqual(stat.S_IMODE(os.stat(rot.retired_key_file).st_mode), 0o600)
                after = c.identity()
                self.assertEqual(after.peer_id, rot.peer_id)
                self.assertEqual(after.validator_key, before.validator_key)
                self.assertIn(0, after.shards)  # rejoined its shard
                # The stream opened before the rotation goes on with the new stack's collations.
                ev = stream.next(timeout=30)
                self.assertEqual(ev.shard, 0)
            # A second rotation while none runs is accepted too; the op is not one-shot.
            rot2 = c.rotate_identity(timeout=60)
            self.assertEqual(rot2.retired_peer_id, rot.peer_id)
        with self.client(self.v0) as c:
            # v0 forgets the retired ids and meets the new one (w2 dials it from its peer store).
            wait_for("v0 connected to w2's newest identity", lambda: rot2.peer_id in {p.peer_id for p in c.peers()})
            ids = {p.peer_id for p in c.peers()}
            self.assertNotIn(old, ids)
            self.assertNotIn(rot.peer_id, ids)
        self.w2.peer_id = rot2.peer_id

    def test_11_rotate_identity_fails_cleanly(self):
        # The key files cannot be swapped (retired/ is a file): FAILED, and the node
        # keeps its identity, its key file and its peers; no identity.key.new is left.
        blocker = os.path.join(self.v1.datadir, "retired")
        key = os.path.join(self.v1.datadir, "identity.key")
        with open(key, "rb") as f:
            key_before = f.read()
        open(blocker, "w").close()
        try:
            with self.client(self.v1) as c:
                with self.assertRaises(ControlError) as e:
                    c.rotate_identity(timeout=30)
                self.assertEqual(e.exception.code, "FAILED")
                self.assertIn("retired", e.exception.message)
                self.assertEqual(c.identity().peer_id, self.v1.peer_id)
                self.assertTrue(c.peers())
        finally:
            os.remove(blocker)
        with open(key, "rb") as f:
            self.assertEqual(f.read(), key_before)
        self.assertFalse(os.path.exists(key + ".new"))

    def test_99_nodes_still_running(self):
        for n in self.nodes:
            self.assertTrue(n.running(), f"{n.name} exited: see {n.out_file}")


if __name__ == "__main__":
    argv = [sys.argv[0]] + [a for a in sys.argv[1:] if a.startswith("-")]
    unittest.main(argv=argv, verbosity=2)
