"""Checkpoint and restore one product's simulated market, so a restarted server continues the
market where it stopped (spot, variance, session volume, every contract's open interest,
volume and last print, the previous session's closes, and the random generator), not from
the catalogue's base prices.

:func:`capture` runs on the engine thread right after a tick and only copies the state (a
few small arrays); :meth:`MarketCheckpoint.encode` (compression) can run anywhere later. The
bytes are ``b"DSMK" | zlib(u32 header length | JSON header | raw little-endian arrays)``:
decoding parses JSON and copies numbers, so a stored checkpoint can never make the reader
run code. A market restored from a checkpoint
produces exactly the ticks the uninterrupted market would have produced.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from ..core.framing import frame, inflate, read_header
from .simulator import ProductMarket
from .spot import SpotState

MAGIC = b"DSMK"
VERSION = 1
MAX_DECODED_BYTES = 64 * 1024 * 1024
_BOOK_ARRAYS = ("strikes", "offsets", "oi", "volume", "last", "prev_oi", "prev_last")
# Stored little-endian whatever the machine.
_DTYPES = {name: "<f8" for name in _BOOK_ARRAYS} | {"offsets": "<i8"}


class CheckpointError(ValueError):
    """The bytes are not a checkpoint this version can restore into this product."""


@dataclass(frozen=True)
class MarketCheckpoint:
    """One product's market state after a tick."""

    symbol: str
    time: datetime
    session_day: date
    spot: float
    variance: float
    session_volume: float
    rng_state: dict[str, Any]
    expiries: tuple[date, ...]
    has_unknown: bool
    arrays: dict[str, np.ndarray]   # the book: see _BOOK_ARRAYS
    # The order flow's reference log spot (ProductMarket.spot_anchor); None in checkpoints
    # written before it existed (the flow then starts from the spot, as a fresh market does).
    spot_anchor: float | None = None

    def encode(self) -> bytes:
        header = {"version": VERSION, "symbol": self.symbol, "time": self.time.isoformat(),
                  "session_day": self.session_day.isoformat(), "spot": self.spot,
                  "variance": self.variance, "session_volume": self.session_volume,
                  "rng_state": self.rng_state,
                  "expiries": [e.isoformat() for e in self.expiries],
                  "has_unknown": self.has_unknown, "spot_anchor": self.spot_anchor,
                  "arrays": [[name, list(self.arrays[name].shape)] for name in _BOOK_ARRAYS]}
        head = json.dumps(header).encode()
        body = frame(head, (np.ascontiguousarray(self.arrays[name], dtype=_DTYPES[name])
                            .tobytes() for name in _BOOK_ARRAYS))
        # Level 1: a checkpoint is written every tick; speed matters more than size.
        return MAGIC + zlib.compress(body, 1)


def capture(market: ProductMarket) -> MarketCheckpoint:
    """The state of ``market`` now (copies: later ticks never change it)."""
    if market.time is None or market.session_day is None:
        raise CheckpointError(f"{market.spec.symbol}: the market has not ticked yet")
    book = market.book
    return MarketCheckpoint(
        symbol=market.spec.symbol, time=market.time, session_day=market.session_day,
        spot=float(market.state.spot), variance=float(market.state.variance),
        session_volume=float(market.session_volume),
        # A fresh dict of plain ints: the generator's 128-bit state round-trips exactly.
        rng_state=dict(market.rng.bit_generator.state), expiries=tuple(book.expiries),
        has_unknown=bool(book.has_unknown),
        arrays={name: np.array(getattr(book, name), copy=True) for name in _BOOK_ARRAYS},
        spot_anchor=market.spot_anchor)


def decode(data: bytes) -> MarketCheckpoint:
    """The checkpoint encoded by :meth:`MarketCheckpoint.encode`."""
    data = bytes(data)
    if data[:len(MAGIC)] != MAGIC:
        raise CheckpointError("not a market checkpoint")
    try:
        body = inflate(data[len(MAGIC):], MAX_DECODED_BYTES)
        if body is None:
            raise CheckpointError("market checkpoint truncated or too large")
        # json, not orjson: the generator's state holds integers wider than 64 bits.
        header, offset = read_header(body, loads=json.loads)
        if header.get("version") != VERSION:
            raise CheckpointError(f"unsupported checkpoint version {header.get('version')!r}")
        arrays = {}
        for (name, shape), expected in zip(header["arrays"], _BOOK_ARRAYS, strict=True):
            if name != expected:
                raise CheckpointError(f"unexpected array {name!r} in the checkpoint")
            dtype = np.dtype(_DTYPES[name])
            count = math.prod(int(x) for x in shape)
            end = offset + count * dtype.itemsize
            if count < 0 or end > len(body):
                raise CheckpointError("market checkpoint truncated")
            arrays[name] = np.frombuffer(body, dtype, count, offset).reshape(
                tuple(int(x) for x in shape)).copy()
            offset = end
        return MarketCheckpoint(
            symbol=str(header["symbol"]), time=datetime.fromisoformat(header["time"]),
            session_day=date.fromisoformat(header["session_day"]),
            spot=float(header["spot"]), variance=float(header["variance"]),
            session_volume=float(header["session_volume"]), rng_state=header["rng_state"],
            expiries=tuple(date.fromisoformat(e) for e in header["expiries"]),
            has_unknown=bool(header["has_unknown"]), arrays=arrays,
            spot_anchor=(None if header.get("spot_anchor") is None
                         else float(header["spot_anchor"])))
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, struct.error, zlib.error) as error:
        raise CheckpointError(f"malformed market checkpoint: {error}") from error


def restore(market: ProductMarket, checkpoint: MarketCheckpoint) -> None:
    """Put ``market`` (freshly built from the same product spec) in the checkpoint's state."""
    if checkpoint.symbol != market.spec.symbol:
        raise CheckpointError(f"checkpoint of {checkpoint.symbol} cannot restore "
                              f"{market.spec.symbol}")
    a = checkpoint.arrays
    offsets = a["offsets"].astype(np.int64)
    n = a["strikes"].shape[0]
    if (offsets.shape[0] != len(checkpoint.expiries) + 1 or int(offsets[-1]) != n
            or any(a[name].shape != (2, n) for name in _BOOK_ARRAYS[2:])):
        raise CheckpointError(f"{checkpoint.symbol}: inconsistent book in the checkpoint")
    rng = np.random.default_rng()
    try:
        rng.bit_generator.state = checkpoint.rng_state
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{checkpoint.symbol}: bad generator state: {error}") from error
    market.rng = rng
    market.state = SpotState(checkpoint.spot, checkpoint.variance)
    market.time = checkpoint.time
    market.session_day = checkpoint.session_day
    market.session_volume = checkpoint.session_volume
    market.spot_anchor = checkpoint.spot_anchor
    book = market.book
    parts = [(a["strikes"][lo:hi], *(a[name][:, lo:hi] for name in _BOOK_ARRAYS[2:]))
             for lo, hi in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    book.expiries = list(checkpoint.expiries)
    book._set_layout(parts)
    book.has_unknown = checkpoint.has_unknown


def set_previous_closes(market: ProductMarket,
                        closes: list[tuple[date, float, str, float, float | None]]) -> int:
    """Make the previous-session close of each listed contract in ``closes`` (expiry, strike,
    right "C"/"P", open interest, last premium or None) the given one, e.g. the stored session
    close; contracts not listed are skipped. Returns how many were set."""
    book = market.book
    # New arrays, never written in place: published snapshots may share the old ones.
    prev_oi, prev_last = book.prev_oi.copy(), book.prev_last.copy()
    where = {e: (int(book.offsets[j]), int(book.offsets[j + 1]))
             for j, e in enumerate(book.expiries)}
    count = 0
    for expiry, strike, right, close_oi, close_last in closes:
        span = where.get(expiry)
        if span is None:
            continue
        lo, hi = span
        i = lo + int(np.searchsorted(book.strikes[lo:hi], strike))
        if i >= hi or abs(book.strikes[i] - strike) > 1e-9 * max(1.0, abs(strike)):
            continue
        row = 0 if right == "C" else 1
        prev_oi[row, i] = close_oi
        if close_last is not None:
            prev_last[row, i] = close_last
        count += 1
    book.prev_oi, book.prev_last = prev_oi, prev_last
    return count
