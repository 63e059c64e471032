"""A compact, safe binary form of a whole :class:`ChainSnapshot` for the chain archive.

No pickle: decoding parses JSON, copies numbers and builds only the snapshot's own
dataclasses (a fixed allow-list), so a database (or a file) can never make the reader run
code. Layout::

    b"DSCA" | version (1 byte) | zlib( u32 header length | header JSON | array bytes )

The header (orjson) is the snapshot's dataclass tree, field by field: JSON numbers, strings,
booleans and null as themselves (floats round-trip exactly), non-finite floats as
``{"$f": "nan" | "inf" | "-inf"}``, dates ``{"$d": ISO}``, times ``{"$t": ISO}``, tuples
``{"$tu": [...]}``, arrays ``{"$a": index}`` into the array table (dtype, shape, byte
length) and dataclasses ``{"$c": name, "$i": id, "f": {...}}``; an object met again (e.g. the
per-contract arrays every chain shares) is ``{"$r": id}`` and is shared again on decode.
Arrays are little-endian and byte-shuffled (all first bytes of the elements, then all second
bytes, ...) so similar numbers compress well. Round trips are exact, NaN included; decoded
arrays are read-only.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import zlib
from datetime import date, datetime
from typing import Any

import numpy as np
import orjson

from . import snapshot as snapshot_module
from .framing import frame, inflate, read_header
from .snapshot import ChainSnapshot, read_only
from .types import MarketStatus

MAGIC = b"DSCA"
VERSION = 1
MAX_DECODED_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 16
_ALLOWED_KINDS = frozenset("biuf")
# The dataclasses an archive may contain (those of the snapshot module that exist).
_CLASSES: dict[str, type] = {
    name: cls for name in ("ChainSnapshot", "ExpiryChain", "ContractArrays", "ContractTerms",
                           "OptionSide", "ContractQuality")
    if isinstance(cls := getattr(snapshot_module, name, None), type)
    and dataclasses.is_dataclass(cls)
}


class ArchiveError(ValueError):
    """The bytes are not a chain archive this version can read."""


def _shuffled(a: np.ndarray) -> bytes:
    le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    size = le.dtype.itemsize
    if size == 1 or le.size == 0:
        return le.tobytes()
    return np.ascontiguousarray(le.reshape(-1).view(np.uint8).reshape(-1, size).T).tobytes()


def _unshuffled(raw: memoryview, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    size = dtype.itemsize
    count = math.prod(shape)
    if len(raw) != count * size:
        raise ArchiveError("array length does not match its shape")
    if size == 1 or count == 0:
        flat = np.frombuffer(raw, dtype=dtype, count=count).copy()
    else:
        planes = np.frombuffer(raw, dtype=np.uint8).reshape(size, count)
        flat = np.ascontiguousarray(planes.T).view(dtype).reshape(-1)
    return read_only(flat.astype(dtype.newbyteorder("="), copy=False).reshape(shape))


class _Encoder:
    def __init__(self) -> None:
        self.arrays: list[dict[str, Any]] = []
        self.blobs: list[bytes] = []
        self.seen: dict[int, int] = {}      # id(object) -> reference number
        self.keep: list[Any] = []           # keeps ids unique while encoding

    def value(self, v: Any) -> Any:
        if v is None or isinstance(v, bool | int | str):
            return v
        if isinstance(v, float):
            if math.isfinite(v):
                return v
            return {"$f": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
        if isinstance(v, np.generic):
            return self.value(v.item())
        if isinstance(v, datetime):
            return {"$t": v.isoformat()}
        if isinstance(v, date):
            return {"$d": v.isoformat()}
        if isinstance(v, tuple):
            return {"$tu": [self.value(x) for x in v]}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, np.ndarray):
            return self._shared(v, self._array)
        if dataclasses.is_dataclass(v) and type(v).__name__ in _CLASSES:
            return self._shared(v, self._dataclass)
        raise TypeError(f"cannot archive a value of type {type(v).__name__}")

    def _shared(self, v: Any, make: Any) -> Any:
        ref = self.seen.get(id(v))
        if ref is not None:
            return {"$r": ref}
        ref = self.seen[id(v)] = len(self.seen)
        self.keep.append(v)
        return make(v, ref)

    def _array(self, a: np.ndarray, ref: int) -> Any:
        if a.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"cannot archive an array of dtype {a.dtype}")
        blob = _shuffled(a)
        self.arrays.append({"dtype": a.dtype.newbyteorder("<").str, "shape": list(a.shape),
                            "nbytes": len(blob)})
        self.blobs.append(blob)
        return {"$a": len(self.arrays) - 1, "$i": ref}

    def _dataclass(self, obj: Any, ref: int) -> Any:
        return {"$c": type(obj).__name__, "$i": ref,
                "f": {f.name: self.value(getattr(obj, f.name))
                      for f in dataclasses.fields(obj)}}


def encode_snapshot(snap: ChainSnapshot, level: int = 6) -> bytes:
    """The archive bytes of ``snap`` (zlib compression ``level``, 0-9)."""
    enc = _Encoder()
    tree = enc.value(snap)
    header = orjson.dumps({"root": tree, "arrays": enc.arrays})
    return MAGIC + bytes([VERSION]) + zlib.compress(frame(header, enc.blobs), level)


def _decompress(data: bytes) -> bytes:
    if data[:4] != MAGIC:
        raise ArchiveError("not a DeltaStream chain archive")
    if len(data) < 5 or data[4] != VERSION:
        raise ArchiveError(f"unsupported chain archive version {data[4:5]!r}")
    try:
        body = inflate(data[5:], MAX_DECODED_BYTES)
    except zlib.error as error:
        raise ArchiveError(f"corrupt chain archive: {error}") from error
    if body is None:
        raise ArchiveError("chain archive truncated or larger than the decode limit")
    return body


class _Decoder:
    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays
        self.refs: dict[int, Any] = {}

    def value(self, v: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ArchiveError("chain archive nested too deeply")
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if isinstance(v, list):
            return [self.value(x, depth + 1) for x in v]
        if not isinstance(v, dict):
            raise ArchiveError(f"unexpected value {type(v).__name__}")
        if "$f" in v:
            if v["$f"] not in ("nan", "inf", "-inf"):
                raise ArchiveError(f"bad float {v['$f']!r}")
            return float(v["$f"])
        if "$t" in v:
            return datetime.fromisoformat(v["$t"])
        if "$d" in v:
            return date.fromisoformat(v["$d"])
        if "$tu" in v:
            return tuple(self.value(x, depth + 1) for x in v["$tu"])
        if "$r" in v:
            return self.refs[int(v["$r"])]
        if "$a" in v:
            out = self.refs[int(v["$i"])] = self.arrays[int(v["$a"])]
            return out
        if "$c" in v:
            cls = _CLASSES.get(v["$c"])
            if cls is None:
                raise ArchiveError(f"unknown class {v['$c']!r}")
            fields = {str(k): self.value(x, depth + 1) for k, x in v["f"].items()}
            if cls is ChainSnapshot and fields.get("market_status") is not None:
                # Encoded as its string value; the snapshot holds the enum.
                fields["market_status"] = MarketStatus(fields["market_status"])
            out = self.refs[int(v["$i"])] = cls(**fields)
            return out
        raise ArchiveError("unexpected object in chain archive")


def decode_snapshot(data: bytes | memoryview) -> ChainSnapshot:
    """The snapshot encoded by :func:`encode_snapshot`; raises :class:`ArchiveError` for
    anything else (wrong magic or version, corrupt or truncated data, unknown content)."""
    body = memoryview(_decompress(bytes(data)))
    try:
        head, offset = read_header(body)
        arrays = []
        for spec in head["arrays"]:
            dtype = np.dtype(str(spec["dtype"]))
            if dtype.kind not in _ALLOWED_KINDS:
                raise ArchiveError(f"dtype {dtype} not allowed")
            end = offset + int(spec["nbytes"])
            if end > len(body):
                raise ArchiveError("chain archive truncated")
            arrays.append(_unshuffled(body[offset:end], dtype,
                                      tuple(int(s) for s in spec["shape"])))
            offset = end
        snap = _Decoder(arrays).value(head["root"])
    except ArchiveError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, struct.error,
            orjson.JSONDecodeError) as error:
        raise ArchiveError(f"malformed chain archive: {error}") from error
    if not isinstance(snap, ChainSnapshot):
        raise ArchiveError("chain archive does not hold a snapshot")
    return snap
