"""Vectorized timestamps are exactly the scalar ones; served numbers are rounded to the
significant digits they are served with."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np

from deltastream.web.serialize import iso, iso_many, significant

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
