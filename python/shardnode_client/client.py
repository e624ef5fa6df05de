"""A synchronous client for the shardnode control API (docs/CONTROL.md).

    from shardnode_client import Client
    with Client("/var/lib/shardnode/control.sock") as c:
        print(c.identity().peer_id)
        c.jump(0, 3, wait=True)
        with c.stream_collations([3]) as stream:
            for ev in stream:            # CollationEvent messages
                print(ev.shard, ev.period, ev.hash.hex())

Each frame is a uvarint length followed by a protobuf (Request out, Response in).
Responses are matched to requests by id, so a stream may stay open while other
calls are made on the same connection. Not thread-safe: one client per thread.
"""
import collections
import socket
import time

from ._proto import pb

MAX_FRAME = 1 << 20  # the node's limit


class ControlError(Exception):
    """The node answered with an Error (code is the Error.Code name, e.g. BAD_REQUEST)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ProtocolError(Exception):
    """The connection broke or carried something that is not a valid frame."""


def encode_uvarint(n: int) -> bytes:
    if n < 0:
        raise ValueError("uvarint of a negative number")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def frame(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


class Client:
    def __init__(self, path: str, timeout: float = 30.0):
        self.path = str(path)
        self.timeout = timeout
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
        except OSError as e:
            self._sock.close()
            raise ProtocolError(f"cannot connect to the control socket {self.path}: {e.strerror or e}") from e
        self._buf = bytearray()
        self._next_id = 1
        self._inbox = collections.defaultdict(collections.deque)  # id -> Responses not yet taken
        self._closed = False

    # ---- connection ----
    def close(self):
        if not self._closed:
            self._closed = True
            self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data: bytes):
        """Writes bytes as they are (tests use this for malformed frames)."""
        self._sock.sendall(data)

    def _send(self, req) -> int:
        if req.id == 0:
            req.id = self._next_id
            self._next_id += 1
        self._sock.sendall(frame(req.SerializeToString()))
        return req.id

    def _take_frame(self):
        """A complete frame's payload from the buffer, or None if more bytes are needed."""
        n = shift = 0
        for i, b in enumerate(self._buf):
            if i >= 10:
                raise ProtocolError("malformed length prefix from the node")
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if n > MAX_FRAME:
                    raise ProtocolError(f"frame of {n} bytes from the node exceeds {MAX_FRAME}")
                if len(self._buf) < i + 1 + n:
                    return None
                payload = bytes(self._buf[i + 1:i + 1 + n])
                del self._buf[:i + 1 + n]
                return payload
        return None

    def _read_frame(self, deadline: float) -> bytes:
        while True:
            payload = self._take_frame()
            if payload is not None:
                return payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the node in time")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout as e:
                raise TimeoutError("no answer from the node in time") from e
            if not chunk:
                raise ProtocolError("the node closed the control connection")
            self._buf += chunk

    def _receive(self, deadline: float):
        resp = pb.Response()
        try:
            resp.ParseFromString(self._read_frame(deadline))
        except Exception as e:  # DecodeError and friends
            if isinstance(e, (TimeoutError, ProtocolError)):
                raise
            raise ProtocolError(f"unparsable response: {e}") from e
        self._inbox[resp.id].append(resp)

    def next_response(self, rid: int, timeout: float = None):
        """The next Response for request `rid`, raising ControlError on an Error."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._inbox[rid]:
            self._receive(deadline)
        resp = self._inbox[rid].popleft()
        if not self._inbox[rid]:
            del self._inbox[rid]
        if resp.WhichOneof("result") == "error":
            raise ControlError(pb.Error.Code.Name(resp.error.code), resp.error.message)
        return resp

    def call(self, op: str, msg=None, timeout: float = None):
        """Sends one request (op is the Request oneof field name) and returns the
        Response's result message."""
        req = pb.Request()
        getattr(req, op).CopyFrom(msg if msg is not None else getattr(req, op).__class__())
        rid = self._send(req)
        resp = self.next_response(rid, timeout)
        return getattr(resp, resp.WhichOneof("result"))

    # ---- operations ----
    def identity(self):
        return self.call("identity")

    def peers(self):
        return list(self.call("peers").peers)

    def table(self):
        return self.call("table")

    def subscribe(self, shard: int):
        return list(self.call("subscribe", pb.ShardRequest(shard=shard)).shards)

    def unsubscribe(self, shard: int):
        return list(self.call("unsubscribe", pb.ShardRequest(shard=shard)).shards)

    def jump(self, from_shard: int, to_shard: int, wait: bool = True, timeout: float = None):
        req = pb.JumpRequest(to=to_shard, wait=wait)
        setattr(req, "from", from_shard)  # `from` is a Python keyword
        return self.call("jump", req, timeout)

    def publish_collation(self, shard: int, body: bytes):
        return self.call("publish_collation", pb.PublishCollationRequest(shard=shard, body=body))

    def request_collations(self, shard: int, from_period: int = 0, to_period: int = 0, hash: bytes = b"",
                           peer_id: str = "", timeout: float = None):
        req = pb.RequestCollationsRequest(peer_id=peer_id, shard=shard, from_period=from_period,
                                          to_period=to_period, hash=hash)
        return self.call("request_collations", req, timeout)

    def scores(self):
        return self.call("scores")

    def rotate_identity(self, timeout: float = 120):
        """A new node identity (docs/PRIVACY.md): the `Rotated` answer, once the new
        stack listens; poll identity().onion_published for its onion service."""
        return self.call("rotate_identity", timeout=timeout)

    def stream_collations(self, shards=(), include_body: bool = False):
        """Opens a stream; iterate it for CollationEvents, close it to cancel."""
        req = pb.Request()
        req.stream_collations.CopyFrom(pb.StreamCollationsRequest(shards=list(shards), include_body=include_body))
        rid = self._send(req)
        self.next_response(rid)  # `subscribed`, or ControlError
        return CollationStream(self, rid)

    def cancel(self, stream_id: int):
        return self.call("cancel", pb.CancelRequest(stream_id=stream_id))


class CollationStream:
    def __init__(self, client: Client, rid: int):
        self.client = client
        self.id = rid
        self.open = True

    def next(self, timeout: float = None):
        """The next CollationEvent; TimeoutError if none arrives in time."""
        return self.client.next_response(self.id, timeout).event

    def __iter__(self):
        while self.open:
            yield self.next()

    def close(self):
        if self.open:
            self.open = False
            # Events already in flight may still arrive before `cancelled`.
            req = pb.Request()
            req.cancel.CopyFrom(pb.CancelRequest(stream_id=self.id))
            rid = self.client._send(req)
            self.client.next_response(rid)
            self.client._inbox.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.client._closed:
            self.close()
