"""Bus messages carry every product's snapshot exactly, and reject anything else."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.bus.codec import (
    BusMessageError,
    decode_ring,
    decode_tick,
    encode_ring,
    encode_tick,
)
from deltastream.engine.setup import engine_from_settings
from deltastream.settings import Settings


@pytest.fixture(scope="module")
def engine():
    e = engine_from_settings(Settings(clock="fixed", clock_start="2026-11-25T05:00:00Z",
                                      strikes_each_side=5))
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
