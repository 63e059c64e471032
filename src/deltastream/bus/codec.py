"""The bytes of one bus message: one engine tick (every product's snapshot) and its status.

Snapshots travel in the chain archive's safe form (:mod:`deltastream.core.snapshot_codec`,
uncompressed): a reader never unpickles, so a bus (a socket, a Redis server) can never make a
web process run code. Layout::

    b"DSBT" | u32 header length | header JSON | snapshot bytes, one after the other

The header holds the engine's identity, the tick's sequence, how long it took to build, the
last error, the engine's life (when it started, how many times its server process restarted
it and how the previous one ended: ``{"started_at", "restarts", "last_exit": {"cause", "at"}
| null}``, times in epoch seconds; absent from an older engine's messages, read as unknown) and
the byte length of each product's snapshot.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import orjson

from ..core.feed import UNKNOWN_LIFE, EngineExit, EngineLife
from ..core.framing import frame, read_header
from ..core.snapshot import ChainSnapshot
from ..core.snapshot_codec import ArchiveError, decode_snapshot, encode_snapshot
from ..core.ticks import UnderlyingTicks

MAGIC = b"DSBT"
RING_MAGIC = b"DSBR"


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
    life: EngineLife = UNKNOWN_LIFE


def _pack(magic: bytes, header: dict, parts: list[bytes]) -> bytes:
    return magic + frame(orjson.dumps(header), parts)


def _unpack(data: bytes | memoryview, magic: bytes, what: str
            ) -> tuple[memoryview, dict, list[tuple[str, memoryview]]]:
    """The header and the per-product payloads of a message made by :func:`_pack` whose
    header lists ``products`` and their byte ``sizes``."""
    view = memoryview(data)
    if bytes(view[:4]) != magic:
        raise BusMessageError(f"not a DeltaStream {what}")
    head, offset = read_header(view, len(magic))
    parts = []
    for product, size in zip(head["products"], head["sizes"], strict=True):
        end = offset + int(size)
        if end > len(view):
            raise BusMessageError(f"{what} truncated")
        parts.append((str(product), view[offset:end]))
        offset = end
    return view, head, parts


def _life_header(life: EngineLife) -> dict:
    last = life.last_exit
    return {"started_at": life.started_at, "restarts": life.restarts,
            "last_exit": None if last is None else {"cause": last.cause, "at": last.at}}


def _life_of(head: dict) -> EngineLife:
    raw = head.get("life")
    if raw is None:
        return UNKNOWN_LIFE
    last = raw["last_exit"]
    started = raw["started_at"]
    restarts = int(raw["restarts"])
    if restarts < 0:
        raise ValueError(f"restarts {restarts} < 0")
    return EngineLife(None if started is None else float(started), restarts,
                      None if last is None else EngineExit(str(last["cause"]),
                                                           float(last["at"])))


def encode_tick(engine_id: str, sequence: int, snapshots: dict[str, ChainSnapshot],
                build_seconds: float, error: str | None = None,
                life: EngineLife = UNKNOWN_LIFE) -> bytes:
    blobs = [encode_snapshot(s, 0) for s in snapshots.values()]
    return _pack(MAGIC, {"engine": engine_id, "sequence": sequence,
                         "build_seconds": build_seconds, "error": error,
                         "life": _life_header(life),
                         "products": list(snapshots), "sizes": [len(b) for b in blobs]}, blobs)


def decode_tick(data: bytes | memoryview) -> TickMessage:
    """The message encoded by :func:`encode_tick`; :class:`BusMessageError` for anything else."""
    try:
        _, head, parts = _unpack(data, MAGIC, "bus message")
        snapshots = {}
        for product, payload in parts:
            snap = decode_snapshot(payload)
            if snap.product != product:
                raise BusMessageError(f"snapshot of {snap.product!r} filed under {product!r}")
            snapshots[product] = snap
        return TickMessage(str(head["engine"]), int(head["sequence"]),
                           float(head["build_seconds"]),
                           None if head["error"] is None else str(head["error"]), snapshots,
                           _life_of(head))
    except BusMessageError:
        raise
    except (ArchiveError, KeyError, TypeError, ValueError, struct.error) as exc:
        raise BusMessageError(f"malformed bus message: {exc}") from exc


def encode_ring(ticks: dict[str, UnderlyingTicks]) -> bytes:
    """The underlying's kept ticks per product (what a new reader starts its history from)."""
    arrays = [np.stack([t.ids.astype(np.float64), t.prices, t.volumes, t.epoch_seconds])
              .astype("<f8").tobytes() for t in ticks.values()]
    return _pack(RING_MAGIC, {"products": list(ticks), "sizes": [len(a) for a in arrays]},
                 arrays)


def decode_ring(data: bytes | memoryview) -> dict[str, UnderlyingTicks]:
    try:
        _, _, parts = _unpack(data, RING_MAGIC, "tick history")
        out = {}
        for product, payload in parts:
            rows = np.frombuffer(payload, dtype="<f8").reshape(4, -1)
            out[product] = UnderlyingTicks(rows[0].astype(np.int64), rows[1].copy(),
                                           rows[2].copy(), rows[3].copy())
        return out
    except BusMessageError:
        raise
    except (KeyError, TypeError, ValueError, struct.error) as exc:
        raise BusMessageError(f"malformed tick history: {exc}") from exc
