"""Bus messages carry every product's snapshot and the engine's life exactly, and reject
anything else."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from deltastream.bus.codec import (
    MAGIC,
    BusMessageError,
    decode_ring,
    decode_tick,
    encode_ring,
    encode_tick,
)
from deltastream.core.feed import EngineExit, EngineLife
from deltastream.core.framing import frame
from deltastream.core.snapshot_codec import encode_snapshot
from deltastream.engine.setup import engine_from_settings
from deltastream.settings import Settings


@pytest.fixture(scope="module")
def engine():
    e = engine_from_settings(Settings(hours="always", clock="fixed",
                                      clock_start="2026-11-25T05:00:00Z", strikes_each_side=5))
    e.tick()
    return e


def test_tick_round_trip_is_exact(engine):
    published = engine.tick()
    message = decode_tick(encode_tick("engine-1", engine.sequence, published, 0.25, None))
    assert message.engine_id == "engine-1"
    assert message.sequence == engine.sequence
    assert message.build_seconds == 0.25 and message.error is None
    assert list(message.snapshots) == list(published)
    for product, snap in published.items():
        got = message.snapshots[product]
        assert got.sequence == snap.sequence and got.spot == snap.spot
        for a, b in zip(got.contracts.fields, snap.contracts.fields, strict=True):
            np.testing.assert_array_equal(a, b)
        assert got.chains[0].calls.mid.flags.writeable is False


def test_ring_round_trip(engine):
    ring = {p: engine.ticks.latest(p) for p in engine.ticks.products}
    got = decode_ring(encode_ring(ring))
    for product, ticks in ring.items():
        np.testing.assert_array_equal(got[product].ids, ticks.ids)
        np.testing.assert_array_equal(got[product].prices, ticks.prices)
        np.testing.assert_array_equal(got[product].epoch_seconds, ticks.epoch_seconds)


@pytest.mark.parametrize("data", [b"", b"junk", b"DSBT\x05\x00\x00\x00{}",
                                  b"DSBT\x02\x00\x00\x00{}"])
def test_malformed_messages_are_rejected(data):
    with pytest.raises(BusMessageError):
        decode_tick(data)


def test_truncated_message_is_rejected(engine):
    data = encode_tick("e", 1, engine.tick(), 0.1)
    with pytest.raises(BusMessageError):
        decode_tick(data[:-100])


def test_the_engine_life_travels_with_every_tick(engine):
    life = EngineLife(started_at=1_795_000_000.25, restarts=2,
                      last_exit=EngineExit("killed by signal SIGKILL", 1_794_999_990.5))
    message = decode_tick(encode_tick("e", 7, engine.tick(), 0.1, None, life))
    assert message.life == life
    # An engine nobody supervises says so.
    assert decode_tick(encode_tick("e", 8, engine.tick(), 0.1)).life == EngineLife()


def test_a_message_without_the_engine_life_reads_as_unknown(engine):
    # As an engine of the previous version sends it.
    blob = encode_snapshot(engine.tick()["NIFTY"], 0)
    header = {"engine": "old", "sequence": 9, "build_seconds": 0.1, "error": None,
              "products": ["NIFTY"], "sizes": [len(blob)]}
    message = decode_tick(MAGIC + frame(orjson.dumps(header), [blob]))
    assert message.sequence == 9 and list(message.snapshots) == ["NIFTY"]
    assert message.life == EngineLife(started_at=None, restarts=0, last_exit=None)


@pytest.mark.parametrize("life", [
    [1, 2],
    {"started_at": "soon", "restarts": 0, "last_exit": None},
    {"started_at": None, "restarts": -1, "last_exit": None},
    {"started_at": None, "restarts": 1, "last_exit": "killed"},
    {"started_at": None, "restarts": 1, "last_exit": {"cause": "killed"}},
    {"restarts": 1, "last_exit": None},
])
def test_a_malformed_engine_life_is_rejected(engine, life):
    blob = encode_snapshot(engine.tick()["NIFTY"], 0)
    header = {"engine": "e", "sequence": 9, "build_seconds": 0.1, "error": None, "life": life,
              "products": ["NIFTY"], "sizes": [len(blob)]}
    with pytest.raises(BusMessageError):
        decode_tick(MAGIC + frame(orjson.dumps(header), [blob]))
