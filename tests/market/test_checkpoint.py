"""A market restored from a checkpoint continues exactly as the uninterrupted one."""

from __future__ import annotations

import json
import struct
import zlib
from datetime import timedelta

import numpy as np
import pytest

from deltastream.catalog import load_catalog
from deltastream.catalog.loader import Catalog
from deltastream.engine.setup import build_engine
from deltastream.market.checkpoint import (
    CheckpointError,
    capture,
    decode,
    restore,
    set_previous_closes,
)
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from tests.support.market import START
from tests.support.snapshots import serialized


def engine(catalog: Catalog, start=START):
    # Around the clock: the 30-minute steps must move both markets at any hour.
    return build_engine(catalog, Settings(seed=5, strikes_each_side=10, hours="always"),
                        FixedClock(start))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    # One European and one American product: both exercise styles and timezones.
    return Catalog([p for p in load_catalog() if p.symbol in ("NIFTY", "SPY")])


def test_restored_market_produces_exactly_the_uninterrupted_ticks(catalog):
    # 30 ticks of 30 minutes: sessions roll, so closes and session volume are exercised.
    straight = engine(catalog)
    resumed_from = engine(catalog)
    for _ in range(30):
        straight.tick()
        resumed_from.tick()
        straight.clock.advance(1800.0)
        resumed_from.clock.advance(1800.0)
    saved = {s: capture(m).encode() for s, m in resumed_from.market.products.items()}

    later = straight.clock.now()
    fresh = engine(catalog, later)
    for symbol, payload in saved.items():
        restore(fresh.market.products[symbol], decode(payload))
    fresh.resume_sequence(resumed_from.sequence)
    for _ in range(20):
        a, b = straight.tick(), fresh.tick()
        assert serialized(a, 41) == serialized(b, 41)
        assert {s: x.sequence for s, x in a.items()} == {s: x.sequence for s, x in b.items()}
        straight.clock.advance(1800.0)
        fresh.clock.advance(1800.0)


def test_a_fresh_market_differs_so_the_check_above_can_fail(catalog):
    a, b = engine(catalog), engine(catalog)
    for _ in range(3):
        a.tick()
        a.clock.advance(60.0)
    b.clock.set(a.clock.now())
    assert serialized(a.tick(), 41) != serialized(b.tick(), 41)


def test_checkpoint_keeps_spot_variance_volume_book_and_generator(catalog):
    e = engine(catalog)
    for _ in range(5):
        e.tick()
        e.clock.advance(600.0)
    m = e.market.products["NIFTY"]
    cp = decode(capture(m).encode())
    assert cp.spot == m.state.spot and cp.variance == m.state.variance
    assert cp.session_volume == m.session_volume and cp.time == m.time
    assert cp.session_day == m.session_day and list(cp.expiries) == m.book.expiries
    np.testing.assert_array_equal(cp.arrays["oi"], m.book.oi)
    np.testing.assert_array_equal(cp.arrays["prev_last"], m.book.prev_last)
    assert cp.rng_state == m.rng.bit_generator.state


def test_captured_state_does_not_change_with_later_ticks(catalog):
    e = engine(catalog)
    e.tick()
    cp = capture(e.market.products["NIFTY"])
    oi = cp.arrays["oi"].copy()
    e.clock.advance(3600.0)
    e.tick()
    np.testing.assert_array_equal(cp.arrays["oi"], oi)
    assert cp.spot != e.market.products["NIFTY"].state.spot


def test_previous_closes_replace_the_reference_of_listed_contracts(catalog):
    e = engine(catalog)
    e.tick()
    m = e.market.products["NIFTY"]
    expiry, strike = m.book.expiries[0], float(m.book.strikes[3])
    before = m.book.prev_oi
    n = set_previous_closes(m, [(expiry, strike, "P", 1234.0, 9.5),
                                (expiry, strike + 0.5, "C", 1.0, None),     # not listed
                                (expiry + timedelta(days=400), strike, "C", 1.0, None)])
    assert n == 1
    assert m.book.prev_oi[1, 3] == 1234.0 and m.book.prev_last[1, 3] == 9.5
    assert before[1, 3] != 1234.0    # the old array (shared with snapshots) is untouched
    e.clock.advance(1.0)
    snap = e.tick()["NIFTY"]
    assert snap.chains[0].puts.oi_change[3] == snap.chains[0].puts.open_interest[3] - 1234.0


def test_garbage_and_mismatched_checkpoints_are_refused(catalog):
    e = engine(catalog)
    e.tick()
    payload = capture(e.market.products["NIFTY"]).encode()
    with pytest.raises(CheckpointError):
        decode(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        restore(e.market.products["SPY"], decode(payload))
    for broken in (payload[:-7], payload[:4] + b"\x00" + payload[5:], payload[:4]):
        with pytest.raises(CheckpointError):
            decode(broken)
    body = zlib.decompress(payload[4:])
    (n,) = struct.unpack_from("<I", body)
    header = json.loads(body[4:4 + n])
    header["arrays"][2][1] = [2, 10**9]     # claims far more data than there is
    forged = json.dumps(header).encode()
    with pytest.raises(CheckpointError, match="truncated"):
        decode(b"DSMK" + zlib.compress(struct.pack("<I", len(forged)) + forged
                                       + body[4 + n:]))
