#!/usr/bin/env python3
"""Records what a real js-libp2p peer (tests/interop/wire-peer.mjs: libp2p 2.10,
Noise, yamux) sends in multistream-select, as seeds for the multistream target.

Run by hand after `npm ci` in tests/interop (the recorded files are committed in
fuzz/corpus/multistream/):

    python3 fuzz/record_js_seeds.py [OUT_DIR]     # default fuzz/corpus/multistream

Two exchanges on 127.0.0.1, each bounded by a deadline, each js process stopped by
its PID:
- js dials us: we listen, answer its header and its `/noise` proposal as a listener
  would, and record every byte js sends until its Noise handshake starts
  (`recorded-js-dialer`, replayed against our listener: first byte 0);
- we dial js: we propose `/yamux/1.0.0` then `/mplex/6.7.0` where js offers only
  `/noise`, and record its answers (header, then `na` twice:
  `recorded-js-listener`, replayed against our dialer with the same proposals: first
  byte 1).
Past multistream the connection is encrypted, so Noise, yamux and the pubsub RPC get
no recorded seed from here: their seeds come from our own encoders (fuzz_seeds).
Each file is the role byte, then what arrived, as the target's chunks (a length
byte, then that many bytes), cut where the socket's reads cut it.
"""
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.join(HERE, "..", "tests", "interop")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "multistream")
DEADLINE_S = 30
# A peer id for the dial address: js checks it only after Noise, which never completes.
SOME_PEER = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ms(line: str) -> bytes:
    """One multistream message: uvarint length, the text, a newline."""
    data = line.encode() + b"\n"
    return uvarint(len(data)) + data


def messages(buf: bytes):
    """The complete multistream messages at the start of buf, and the bytes after them."""
    out, pos = [], 0
    while pos < len(buf):
        n, shift, p = 0, 0, pos
        while p < len(buf):
            b = buf[p]
            p += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        else:
            break
        if p + n > len(buf):
            break
        out.append(buf[p:p + n].decode(errors="replace").rstrip("\n"))
        pos = p + n
    return out, buf[pos:]


def seed(role: int, reads) -> bytes:
    out = bytearray([role])
    for r in reads:
        for i in range(0, len(r), 255):
            piece = r[i:i + 255]
            out.append(len(piece))
            out += piece
    return bytes(out)


def recv_until(sock, reads, done, deadline):
    """Reads into `reads` until done(all bytes so far) or the deadline."""
    while not done(b"".join(reads)):
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        if time.monotonic() > deadline:
            raise TimeoutError("js-libp2p did not send what multistream expects")
        data = sock.recv(65536)
        if not data:
            break
        reads.append(data)


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def js_dials_us():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    proc = subprocess.Popen(["node", "wire-peer.mjs", "dial", f"/ip4/127.0.0.1/tcp/{port}/p2p/{SOME_PEER}"],
                            cwd=INTEROP, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + DEADLINE_S
        srv.settimeout(DEADLINE_S)
        conn, _ = srv.accept()
        reads = []
        # Its header and its proposal (js may send both in one write, before our header).
        recv_until(conn, reads, lambda b: len(messages(b)[0]) >= 2, deadline)
        so_far = b"".join(reads)
        msgs, rest = messages(so_far)
        if msgs[:2] != ["/multistream/1.0.0", "/noise"]:
            raise RuntimeError(f"unexpected js dialer messages: {msgs}")
        negotiated = len(so_far) - len(rest)
        conn.sendall(ms("/multistream/1.0.0") + ms("/noise"))
        # Then Noise's first message (a 2-byte length and an ephemeral key): stop there.
        recv_until(conn, reads, lambda b: len(b) >= negotiated + 2 + 32, deadline)
        conn.close()
        # Our listener gets everything up to the Noise bytes (they are leftover to it).
        return seed(0, reads)
    finally:
        stop(proc)
        srv.close()


def we_dial_js():
    proc = subprocess.Popen(["node", "wire-peer.mjs", "listen"], cwd=INTEROP, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # js prints its listening event first (bounded by its own startup)
        addr = next(a for a in json.loads(line)["addrs"] if a.startswith("/ip4/127.0.0.1/tcp/"))
        port = int(addr.split("/")[4])
        deadline = time.monotonic() + DEADLINE_S
        sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
        reads = []
        sock.sendall(ms("/multistream/1.0.0") + ms("/yamux/1.0.0"))
        recv_until(sock, reads, lambda b: len(messages(b)[0]) >= 2, deadline)
        sock.sendall(ms("/mplex/6.7.0"))
        recv_until(sock, reads, lambda b: len(messages(b)[0]) >= 3, deadline)
        msgs, _ = messages(b"".join(reads))
        if msgs != ["/multistream/1.0.0", "na", "na"]:
            raise RuntimeError(f"unexpected js listener answers: {msgs}")
        sock.close()
        return seed(1, reads)
    finally:
        proc.stdin.close()
        stop(proc)


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    for name, record in (("recorded-js-dialer", js_dials_us), ("recorded-js-listener", we_dial_js)):
        data = record()
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
