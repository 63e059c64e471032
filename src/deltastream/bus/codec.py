"""The bytes of one bus message: one engine tick (every product's snapshot) and its status.

Snapshots travel in the chain archive's safe form (:mod:`deltastream.store.archive`,
uncompressed): a reader never unpickles, so a bus (a socket, a Redis server) can never make a
web process run code. Layout::

    b"DSBT" | u32 header length | header JSON | snapshot bytes, one after the other

The header holds the engine's identity, the tick's sequence, how long it took to build, the
last error and the byte length of each product's snapshot.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import orjson

from ..engine.snapshot import ChainSnapshot
from ..engine.ticks import UnderlyingTicks
from ..store.archive import ArchiveError, decode_snapshot, encode_snapshot

MAGIC = b"DSBT"
RING_MAGIC = b"DSBR"
_LEN = struct.Struct("<I")


class BusMessageError(ValueError):
    """The bytes are not a bus message this version can read."""


@dataclass(frozen=True)
class TickMessage:
    """One engine tick as the readers receive it."""

    engine_id: str
    sequence: int
    build_seconds: float
    error: str | None
    snapshots: dict[str, ChainSnapshot]


def encode_tick(engine_id: str, sequence: int, snapshots: dict[str, ChainSnapshot],
                build_seconds: float, error: str | None = None) -> bytes:
    blobs = [encode_snapshot(s, 0) for s in snapshots.values()]
    header = orjson.dumps({"engine": engine_id, "sequence": sequence,
                           "build_seconds": build_seconds, "error": error,
                           "products": list(snapshots), "sizes": [len(b) for b in blobs]})
    return b"".join([MAGIC, _LEN.pack(len(header)), header, *blobs])


def decode_tick(data: bytes | memoryview) -> TickMessage:
    """The message encoded by :func:`encode_tick`; :class:`BusMessageError` for anything else."""
    view = memoryview(data)
    if bytes(view[:4]) != MAGIC:
        raise BusMessageError("not a DeltaStream bus message")
    try:
        (n,) = _LEN.unpack_from(view, 4)
        head = orjson.loads(view[8:8 + n])
        offset = 8 + n
        snapshots = {}
        for product, size in zip(head["products"], head["sizes"], strict=True):
            end = offset + int(size)
            if end > len(view):
                raise BusMessageError("bus message truncated")
            snap = decode_snapshot(view[offset:end])
            if snap.product != product:
                raise BusMessageError(f"snapshot of {snap.product!r} filed under {product!r}")
            snapshots[str(product)] = snap
            offset = end
        return TickMessage(str(head["engine"]), int(head["sequence"]),
                           float(head["build_seconds"]),
                           None if head["error"] is None else str(head["error"]), snapshots)
    except BusMessageError:
        raise
    except (ArchiveError, KeyError, TypeError, ValueError, struct.error) as exc:
        raise BusMessageError(f"malformed bus message: {exc}") from exc


def encode_ring(ticks: dict[str, UnderlyingTicks]) -> bytes:
    """The underlying's kept ticks per product (what a new reader starts its history from)."""
    header = orjson.dumps({"products": list(ticks), "counts": [t.ids.size for t in ticks.values()]})
    arrays = [np.stack([t.ids.astype(np.float64), t.prices, t.volumes, t.epoch_seconds])
              .astype("<f8").tobytes() for t in ticks.values()]
    return b"".join([RING_MAGIC, _LEN.pack(len(header)), header, *arrays])


def decode_ring(data: bytes | memoryview) -> dict[str, UnderlyingTicks]:
    view = memoryview(data)
    if bytes(view[:4]) != RING_MAGIC:
        raise BusMessageError("not a DeltaStream tick history")
    try:
        (n,) = _LEN.unpack_from(view, 4)
        head = orjson.loads(view[8:8 + n])
        offset = 8 + n
        out = {}
        for product, count in zip(head["products"], head["counts"], strict=True):
            end = offset + 4 * 8 * int(count)
            if end > len(view):
                raise BusMessageError("tick history truncated")
            rows = np.frombuffer(view[offset:end], dtype="<f8").reshape(4, int(count))
            out[str(product)] = UnderlyingTicks(rows[0].astype(np.int64), rows[1].copy(),
                                                rows[2].copy(), rows[3].copy())
            offset = end
        return out
    except BusMessageError:
        raise
    except (KeyError, TypeError, ValueError, struct.error) as exc:
        raise BusMessageError(f"malformed tick history: {exc}") from exc
