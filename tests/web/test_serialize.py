"""Vectorized timestamps are exactly the scalar ones; served numbers are rounded to the
significant digits they are served with; a snapshot's market status as served."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from deltastream.core.types import MarketStatus
from deltastream.web.serialize import (
    NO_MARKET_STATUS,
    iso,
    iso_many,
    market_fields,
    significant,
)
from tests.web.market_sessions import session_engine

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_iso_many_equals_iso_to_the_truncated_millisecond():
    rng = random.Random(4)
    times = [rng.randrange(0, 4_000_000_000_000_000) for _ in range(2000)]
    times += [1_764_000_000_999_999, 1_764_000_000_000_000, 0]
    assert iso_many(times) == [iso(EPOCH + timedelta(microseconds=t)) for t in times]
    assert iso_many([]) == []


def test_significant_rounds_to_the_decimal_it_prints_as():
    values = np.array([0.1409431222865173, -24.910880472594677, 6.794036794913498e-05,
                       24512.349, 123456789.0, 0.0, -0.0, np.nan, np.inf, 1e-310, 1.7e308])
    got = significant(values, 5)
    assert [repr(v) for v in got[:5].tolist()] == [
        "0.14094", "-24.911", "6.794e-05", "24512.0", "123460000.0"]
    # Nothing to round, or beyond where a power of ten is exact: unchanged.
    assert got[5] == 0.0 and np.signbit(got[6]) and np.isnan(got[7])
    assert got[8] == np.inf and got[9] == 1e-310 and got[10] == 1.7e308
    # Within half a unit of the last digit kept, for any magnitude.
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, 10_000) * 10.0 ** rng.integers(-12, 12, 10_000)
    assert np.all(np.abs(significant(x, 6) - x) <= 5e-6 * np.abs(x) * (1 + 1e-12))


def test_market_fields_serve_the_status_value_and_its_time_in_utc_with_z():
    snap = session_engine(MarketStatus.OPEN, None).tick()["IDX"]
    # 15:30 IST on Friday 4 December 2026 is 10:00 UTC.
    close = datetime(2026, 12, 4, 15, 30, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert market_fields(dataclasses.replace(snap, market_status_until=close)) == {
        "market_status": "open", "market_status_until": "2026-12-04T10:00:00.000Z"}
    monday = datetime(2026, 12, 7, 3, 45, tzinfo=UTC)
    assert market_fields(dataclasses.replace(snap, market_status=MarketStatus.CLOSED,
                                             market_status_until=monday)) == {
        "market_status": "closed", "market_status_until": "2026-12-07T03:45:00.000Z"}
    # Through the bus a snapshot's status arrives as its plain string.
    assert market_fields(dataclasses.replace(snap, market_status="closed",
                                             market_status_until=monday))["market_status"] \
        == "closed"
    # A stored snapshot has no session: both null, as every stored chain serves them.
    stored = dataclasses.replace(snap, market_status=None, market_status_until=None)
    assert market_fields(stored) == NO_MARKET_STATUS == {
        "market_status": None, "market_status_until": None}
