"""Vectorized timestamps are exactly the scalar ones."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from deltastream.web.serialize import iso, iso_many

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_iso_many_equals_iso_to_the_truncated_millisecond():
    rng = random.Random(4)
    times = [rng.randrange(0, 4_000_000_000_000_000) for _ in range(2000)]
    times += [1_764_000_000_999_999, 1_764_000_000_000_000, 0]
    assert iso_many(times) == [iso(EPOCH + timedelta(microseconds=t)) for t in times]
    assert iso_many([]) == []
