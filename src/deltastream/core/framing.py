"""The framing DeltaStream's binary formats share (chain archives, market checkpoints, bus
messages): a JSON header behind its length (u32, little-endian), then raw parts; and zlib
decompression bounded in its output, so no stored or received bytes can make a reader
allocate without limit."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson

HEADER_LENGTH = struct.Struct("<I")


def frame(header: bytes, parts: Iterable[bytes] = ()) -> bytes:
    """``u32 len(header) | header | parts``."""
    return b"".join([HEADER_LENGTH.pack(len(header)), header, *parts])


def read_header(body: bytes | memoryview, offset: int = 0,
                loads: Callable[[Any], Any] = orjson.loads) -> tuple[Any, int]:
    """The JSON header framed at ``offset`` of ``body`` and the offset of the parts after it
    (``struct.error`` or the parser's ``ValueError`` on malformed bytes)."""
    (n,) = HEADER_LENGTH.unpack_from(body, offset)
    start = offset + HEADER_LENGTH.size
    return loads(body[start:start + n]), start + n


def inflate(data: bytes, limit: int) -> bytes | None:
    """``data`` decompressed; None when it is truncated or would be larger than ``limit``
    bytes (``zlib.error`` when it is corrupt)."""
    inflater = zlib.decompressobj()
    body = inflater.decompress(data, limit)
    if inflater.unconsumed_tail or not inflater.eof:
        return None
    return body
