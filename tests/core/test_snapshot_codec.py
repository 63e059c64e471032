"""Chain archives: exact round trips (every field, NaN included), read-only arrays, no code
run on load, and garbage refused."""

from __future__ import annotations

import dataclasses
import math
import pickle
import zlib

import numpy as np
import pytest

from deltastream.core.snapshot import ChainSnapshot
from deltastream.core.snapshot_codec import ArchiveError, decode_snapshot, encode_snapshot
from tests.support.snapshots import assert_same, assert_same_chains


def test_round_trip_is_exact_for_every_field(idx_snapshots):
    for snap in (idx_snapshots[0], idx_snapshots[-1]):
        data = encode_snapshot(snap)
        back = decode_snapshot(data)
        assert_same(snap, back)
        assert_same_chains(snap, back)
        assert back.timestamp == snap.timestamp and back.timestamp.utcoffset().seconds == 0
        # The chains of a decoded snapshot share one set of contract arrays, as the engine's.
        assert all(c.contracts is back.chains[0].contracts for c in back.chains)
        assert len(data) < sum(a.nbytes for a in snap.chains[0].contracts.fields)


def _with_nan(snap: ChainSnapshot) -> ChainSnapshot:
    """A copy of ``snap`` with NaN and infinities in its floats and arrays."""
    def poisoned(value):
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
            a = value.copy()
            a.reshape(-1)[0] = np.nan
            a.reshape(-1)[-1] = -np.inf
            a.setflags(write=False)
            return a
        return value

    def rebuild(obj):
        changes = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                changes[f.name] = rebuild(value)
            elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
                changes[f.name] = tuple(rebuild(v) for v in value)
            elif isinstance(value, tuple) and value and isinstance(value[0], np.ndarray):
                changes[f.name] = tuple(poisoned(v) for v in value)
            elif isinstance(value, np.ndarray):
                changes[f.name] = poisoned(value)
            elif isinstance(value, float):
                changes[f.name] = float("nan")
        return dataclasses.replace(obj, **changes)

    out = rebuild(snap)
    return dataclasses.replace(out, spot=float("nan"), tick_volume=float("inf"))


def test_round_trip_keeps_nan_and_infinities(idx_snapshots):
    snap = _with_nan(idx_snapshots[3])
    back = decode_snapshot(encode_snapshot(snap))
    assert math.isnan(back.spot) and back.tick_volume == math.inf
    assert_same(snap, back)


def _archive(header_and_body: bytes) -> bytes:
    end = header_and_body.rindex(b"}") + 1
    header = header_and_body[:end]
    return b"DSCA\x01" + zlib.compress(len(header).to_bytes(4, "little") + header_and_body)


def test_garbage_and_pickles_are_refused(idx_snapshots):
    good = encode_snapshot(idx_snapshots[0])
    bad = [b"", b"DSCA", pickle.dumps(idx_snapshots[0]), good[:5] + b"\x00" * 20,
           good[:-10], b"DSCA\x02" + good[5:],
           b"DSCA\x01" + zlib.compress(b"\xff\xff\xff\x7f{}"),
           b"DSCA\x01" + zlib.compress(b"\x02\x00\x00\x00{}"),
           _archive(b'{"root":{"$c":"Popen","$i":0,"f":{}},"arrays":[]}'),
           _archive(b'{"root":{"$a":0,"$i":0},"arrays":[{"dtype":"|O","shape":[1],'
                    b'"nbytes":8}]}' + bytes(8)),
           _archive(b'{"root":{"$a":0,"$i":0},"arrays":[{"dtype":"<f8","shape":[4],'
                    b'"nbytes":8}]}' + bytes(8))]
    for data in bad:
        with pytest.raises(ArchiveError):
            decode_snapshot(data)


def test_round_trip_keeps_the_market_status(idx_snapshots):
    from datetime import UTC, datetime

    from deltastream.core.types import MarketStatus

    until = datetime(2026, 12, 7, 3, 45, tzinfo=UTC)
    snap = dataclasses.replace(idx_snapshots[0], market_status=MarketStatus.CLOSED,
                               market_status_until=until)
    back = decode_snapshot(encode_snapshot(snap))
    assert back.market_status is MarketStatus.CLOSED
    assert back.market_status_until == until and back.market_status_until.utcoffset() == \
        until.utcoffset()
    stored = dataclasses.replace(snap, market_status=None, market_status_until=None)
    back = decode_snapshot(encode_snapshot(stored))
    assert back.market_status is None and back.market_status_until is None
    bad = encode_snapshot(dataclasses.replace(snap, market_status="halted"))  # type: ignore
    with pytest.raises(ArchiveError):
        decode_snapshot(bad)
