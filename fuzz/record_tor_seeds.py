#!/usr/bin/env python3
"""Records a real tor's control-port replies as seeds for the tor_control target.

Run by hand (the recorded files are committed in fuzz/corpus/tor_control/):

    python3 fuzz/record_tor_seeds.py [OUT_DIR]     # default fuzz/corpus/tor_control

Starts Debian's tor binary with `DisableNetwork 1` (it never reaches any network),
a control socket in a temporary directory and cookie authentication; speaks to it the
way the node's control client does (PROTOCOLINFO, AUTHENTICATE, SETEVENTS, GETINFO,
ADD_ONION, DEL_ONION, a refused command, QUIT), and writes what tor answered as one
seed per exchange plus one for the whole session, cut into the target's chunks (a
length byte, then that many bytes). Stops tor by its PID and removes the directory.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "tor_control")
DEADLINE_S = 60


def chunks(data: bytes, size: int = 200) -> bytes:
    out = bytearray()
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out.append(len(piece))
        out += piece
    return bytes(out)


def read_reply(sock: socket.socket, buf: bytearray) -> bytes:
    """Reads one complete reply (up to a line 'NNN ' ending it); returns its bytes."""
    end = time.monotonic() + 20
    while True:
        text = bytes(buf)
        pos = 0
        in_data = False
        while True:
            nl = text.find(b"\r\n", pos)
            if nl < 0:
                break
            line = text[pos:nl]
            pos = nl + 2
            if in_data:
                if line == b".":
                    in_data = False
                continue
            if len(line) >= 4 and line[3:4] == b"+":
                in_data = True
            elif len(line) >= 4 and line[3:4] == b" ":
                reply = text[:pos]
                del buf[:pos]
                return reply
        if time.monotonic() > end:
            raise TimeoutError("no complete reply from tor")
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("tor closed the control socket")
        buf += data


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="sn-torseeds-")
    ctl = os.path.join(tmp, "control")
    torrc = os.path.join(tmp, "torrc")
    with open(torrc, "w") as f:
        f.write(f"DataDirectory {tmp}/data\nDisableNetwork 1\nSocksPort 0\nControlSocket {ctl}\n"
                f"CookieAuthentication 1\nCookieAuthFile {tmp}/cookie\nLog notice file {tmp}/tor.log\n")
    proc = subprocess.Popen(["tor", "-f", torrc, "--defaults-torrc", "/dev/null"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + DEADLINE_S
        while not (os.path.exists(ctl) and os.path.exists(os.path.join(tmp, "cookie"))):
            if proc.poll() is not None or time.monotonic() > end:
                print("tor did not start; see", os.path.join(tmp, "tor.log"), file=sys.stderr)
                return 1
            time.sleep(0.1)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(20)
        sock.connect(ctl)
        buf = bytearray()
        with open(os.path.join(tmp, "cookie"), "rb") as f:
            cookie = f.read().hex()
        commands = [
            ("protocolinfo", "PROTOCOLINFO 1"),
            ("authenticate", "AUTHENTICATE " + cookie),
            ("setevents", "SETEVENTS STATUS_CLIENT HS_DESC"),
            ("getinfo", "GETINFO version status/bootstrap-phase net/listeners/socks config-file"),
            ("add-onion", "ADD_ONION NEW:ED25519-V3 Flags=DiscardPK Port=4001,127.0.0.1:9"),
            ("onions-current", "GETINFO onions/current"),
            ("config-text", "GETINFO config-text"),
            ("refused", "NOSUCHCOMMAND x"),
            ("bad-getinfo", "GETINFO no/such/key"),
        ]
        session = bytearray()
        os.makedirs(OUT, exist_ok=True)
        onion = None
        for name, line in commands:
            sock.sendall(line.encode() + b"\r\n")
            reply = read_reply(sock, buf)
            session += reply
            if name == "add-onion":
                for l in reply.split(b"\r\n"):
                    if l.startswith(b"250-ServiceID="):
                        onion = l.split(b"=", 1)[1].decode()
            if name != "authenticate":
                with open(os.path.join(OUT, f"recorded-{name}"), "wb") as f:
                    f.write(chunks(reply))
        if onion:
            sock.sendall(f"DEL_ONION {onion}\r\n".encode())
            session += read_reply(sock, buf)
        sock.sendall(b"QUIT\r\n")
        session += read_reply(sock, buf)
        sock.close()
        # The whole session as tor sent it (the cookie is in our command, never in a reply).
        with open(os.path.join(OUT, "recorded-session"), "wb") as f:
            f.write(chunks(bytes(session)))
        print(f"recorded {len(commands) + 2} replies ({len(session)} bytes) into {OUT}")
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
