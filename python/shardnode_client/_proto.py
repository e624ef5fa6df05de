"""Loads control_pb2, the Python classes for src/node/proto/control.proto.

Nothing generated is kept in the source tree: the first import runs Debian's protoc
(protobuf-compiler) on the .proto into a cache directory named after the file's hash,
so the classes always match the schema the node was built from. Set
SHARDNODE_CONTROL_PROTO to use another copy of control.proto. An installed client (the
Debian package) carries control_pb2.py beside this file, generated when the package was
built from the same tree as the node it ships with; it is used unless
SHARDNODE_CONTROL_PROTO is set.
"""
import hashlib
import importlib.util
import os
import pathlib
import shutil
import subprocess
import tempfile

_HERE = pathlib.Path(__file__).resolve().parent
_DEFAULT_PROTO = _HERE.parent.parent / "src" / "node" / "proto" / "control.proto"


def _proto_path() -> pathlib.Path:
    p = pathlib.Path(os.environ.get("SHARDNODE_CONTROL_PROTO", str(_DEFAULT_PROTO)))
    if not p.is_file():
        raise ImportError(f"control.proto not found at {p} (set SHARDNODE_CONTROL_PROTO)")
    return p


def _cache_root() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(base) / "shardnode" / "python-proto"


def _generate(proto: pathlib.Path) -> pathlib.Path:
    digest = hashlib.sha256(proto.read_bytes()).hexdigest()[:16]
    out = _cache_root() / digest
    target = out / "control_pb2.py"
    if target.is_file():
        return target
    protoc = shutil.which("protoc")
    if not protoc:
        raise ImportError("protoc not found: install protobuf-compiler (scripts/install-deps.sh does)")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Generate into a fresh directory and rename it into place, so concurrent imports
    # never see a half-written module.
    tmp = pathlib.Path(tempfile.mkdtemp(dir=out.parent, prefix=".gen-"))
    try:
        r = subprocess.run([protoc, f"--proto_path={proto.parent}", f"--python_out={tmp}", proto.name],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise ImportError(f"protoc failed on {proto}: {r.stderr.strip()}")
        try:
            tmp.rename(out)
        except OSError:
            if not target.is_file():  # lost a race only if the winner finished
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load():
    bundled = _HERE / "control_pb2.py"
    if bundled.is_file() and "SHARDNODE_CONTROL_PROTO" not in os.environ:
        target = bundled
    else:
        target = _generate(_proto_path())
    spec = importlib.util.spec_from_file_location("shardnode_control_pb2", target)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pb = load()
