"""Python client for the shardnode control API (docs/CONTROL.md); needs Debian's
python3-protobuf and protoc (protobuf-compiler)."""
from ._proto import pb
from .client import Client, CollationStream, ControlError, ProtocolError, encode_uvarint, frame

__all__ = ["Client", "CollationStream", "ControlError", "ProtocolError", "pb", "encode_uvarint", "frame"]
