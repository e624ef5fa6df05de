#!/usr/bin/env python3
"""Read an onion service's v3 descriptor the way a client does, to check what it
publishes (rend-spec-v3 section 2.5): the outer layer's signing-key certificate gives
the blinded key; the onion address gives the identity key; both give the
subcredential; each of the two encrypted layers is SALT | AES-256-CTR data | MAC, its
key, IV and MAC key from SHAKE-256(blinded key | subcredential | revision counter |
salt | constant). Both MACs are checked, so a wrong key is an error, not garbage.

    python3 scripts/onion_desc.py --control unix:SOCK [--cookie FILE] ADDR.onion

asks that tor (GETINFO hs/client/desc/id/ADDR, else hs/service/desc/id/ADDR) and
prints the second layer's `pow-params` line; exit 1 if the descriptor has none.
The onion_network test uses `pow_params()` on every node's descriptor."""

import argparse
import base64
import hashlib
import os
import re
import socket
import sys
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class DescriptorError(ValueError):
    pass


def identity_key(onion: str) -> bytes:
    """The ed25519 identity key an onion address (with or without .onion) names."""
    label = onion.lower().removesuffix(".onion")
    if len(label) != 56:
        raise DescriptorError(f"not a v3 onion address: {onion!r}")
    try:
        raw = base64.b32decode(label.upper())
    except ValueError as e:
        raise DescriptorError(f"not base32: {onion!r}") from e
    pub, checksum, version = raw[:32], raw[32:34], raw[34]
    if version != 3 or hashlib.sha3_256(b".onion checksum" + pub + bytes([3])).digest()[:2] != checksum:
        raise DescriptorError(f"bad checksum or version in {onion!r}")
    return pub


def _pem_block(text: str, keyword: str, label: str) -> bytes:
    m = re.search(rf"(?m)^{keyword}\n-----BEGIN {label}-----\n(.*?)\n-----END {label}-----", text, re.S)
    if not m:
        raise DescriptorError(f"no {keyword} block")
    try:
        return base64.b64decode("".join(m.group(1).split()), validate=True)
    except ValueError as e:
        raise DescriptorError(f"{keyword}: bad base64") from e


def blinded_key(outer: str) -> bytes:
    """The key that signed descriptor-signing-key-cert: its extension 4 (cert-spec)."""
    cert = _pem_block(outer, "descriptor-signing-key-cert", "ED25519 CERT")
    if len(cert) < 40 or cert[0] != 1:
        raise DescriptorError("descriptor-signing-key-cert: not a version 1 cert")
    pos, n_ext = 40, cert[39]
    for _ in range(n_ext):
        if pos + 4 > len(cert):
            break
        length, ext_type = int.from_bytes(cert[pos:pos + 2], "big"), cert[pos + 2]
        data = cert[pos + 4:pos + 4 + length]
        if ext_type == 4 and len(data) == 32:
            return data
        pos += 4 + length
    raise DescriptorError("descriptor-signing-key-cert: no signing key extension")


def _decrypt_layer(blob: bytes, secret: bytes, constant: bytes) -> str:
    if len(blob) < 16 + 32:
        raise DescriptorError("encrypted layer shorter than salt and MAC")
    salt, data, mac = blob[:16], blob[16:-32], blob[-32:]
    keys = hashlib.shake_256(secret + salt + constant).digest(32 + 16 + 32)
    key, iv, mac_key = keys[:32], keys[32:48], keys[48:]
    want = hashlib.sha3_256(len(mac_key).to_bytes(8, "big") + mac_key + len(salt).to_bytes(8, "big") + salt +
                            data).digest()
    if want != mac:
        raise DescriptorError(f"{constant.decode()}: MAC mismatch (wrong address or damaged descriptor)")
    dec = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
    return (dec.update(data) + dec.finalize()).rstrip(b"\0").decode("ascii", errors="replace")


def decrypt(outer: str, onion: str) -> str:
    """The second layer's plaintext (introduction points, pow-params, ...)."""
    if not outer.startswith("hs-descriptor 3\n"):
        raise DescriptorError("not an hs-descriptor 3")
    m = re.search(r"(?m)^revision-counter (\d+)$", outer)
    if not m:
        raise DescriptorError("no revision-counter")
    revision = int(m.group(1)).to_bytes(8, "big")
    blinded = blinded_key(outer)
    credential = hashlib.sha3_256(b"credential" + identity_key(onion)).digest()
    subcredential = hashlib.sha3_256(b"subcredential" + credential + blinded).digest()
    secret = blinded + subcredential + revision
    first = _decrypt_layer(_pem_block(outer, "superencrypted", "MESSAGE"), secret, b"hsdir-superencrypted-data")
    # Without client authorization the descriptor cookie is empty.
    return _decrypt_layer(_pem_block(first, "encrypted", "MESSAGE"), secret, b"hsdir-encrypted-data")


def pow_params(outer: str, onion: str):
    """The second layer's pow-params fields (type, seed, suggested effort, expiration),
    or None when the service publishes none."""
    m = re.search(r"(?m)^pow-params (.*)$", decrypt(outer, onion))
    return m.group(1).split() if m else None


# ------------------------------------------------------------------ tor control

class Control:
    """The few control-port commands this needs, on a unix socket with cookie auth."""

    def __init__(self, path: str, cookie_file: str, timeout_s: float = 20):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)
        self.sock.connect(path)
        self.buf = b""
        with open(cookie_file, "rb") as f:
            code, lines = self.command("AUTHENTICATE " + f.read().hex())
        if code != "250":
            raise ConnectionError(f"tor refused AUTHENTICATE: {lines}")

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("tor closed the control socket")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def command(self, line: str):
        """Send one command; (status code, list of reply lines with data blocks joined)."""
        self.sock.sendall(line.encode() + b"\r\n")
        out = []
        while True:
            raw = self._line().decode("ascii", errors="replace")
            code, sep, rest = raw[:3], raw[3:4], raw[4:]
            if raw.startswith("650"):
                continue  # an async event: not ours
            if sep == "+":
                block = []
                while (data := self._line().decode("ascii", errors="replace")) != ".":
                    block.append(data[1:] if data.startswith("..") else data)
                out.append(rest + "\n" + "\n".join(block) + "\n")
            else:
                out.append(rest)
            if sep == " ":
                return code, out

    def descriptor(self, onion: str):
        """The encoded descriptor this tor holds for `onion` (client cache, else its own
        service), or None."""
        label = onion.removesuffix(".onion")
        for key in (f"hs/client/desc/id/{label}", f"hs/service/desc/id/{label}"):
            code, lines = self.command("GETINFO " + key)
            if code == "250" and lines and lines[0].startswith(key + "="):
                return lines[0].split("\n", 1)[1]
        return None

    def close(self):
        self.sock.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--control", required=True, help="unix:PATH of a tor control socket")
    ap.add_argument("--cookie", help="control_auth_cookie (default: beside the socket)")
    ap.add_argument("--timeout", type=float, default=60, help="seconds to wait for a descriptor (HSFETCH)")
    ap.add_argument("onion")
    a = ap.parse_args()
    path = a.control.removeprefix("unix:")
    cookie = a.cookie or os.path.join(os.path.dirname(path), "control_auth_cookie")
    ctl = Control(path, cookie)
    try:
        desc = ctl.descriptor(a.onion)
        end = time.monotonic() + a.timeout
        if desc is None:
            ctl.command("HSFETCH " + a.onion.removesuffix(".onion"))
        while desc is None and time.monotonic() < end:
            time.sleep(0.5)  # polling another process (tor) for the fetch, bounded by --timeout
            desc = ctl.descriptor(a.onion)
        if desc is None:
            print(f"no descriptor for {a.onion} within {a.timeout:.0f} s", file=sys.stderr)
            return 2
        params = pow_params(desc, a.onion)
    except DescriptorError as e:
        print(f"descriptor: {e}", file=sys.stderr)
        return 2
    finally:
        ctl.close()
    if params is None:
        print(f"{a.onion}: no pow-params in the descriptor")
        return 1
    print(f"{a.onion}: pow-params {' '.join(params)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
