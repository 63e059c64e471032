"""The tick ring: bounded, oldest first, and a tick it already holds is not held twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from deltastream.core.ticks import TickRing, UnderlyingTicks

T0 = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def test_keeps_the_last_capacity_ticks_oldest_first():
    ring = TickRing(4)
    for i in range(1, 7):
        ring.append("IDX", i, 100.0 + i, 10.0, T0 + timedelta(seconds=i))
    got = ring.latest("IDX")
    assert got.ids.tolist() == [3, 4, 5, 6]
    assert got.prices.tolist() == [103.0, 104.0, 105.0, 106.0]
    assert ring.latest("IDX", 2).ids.tolist() == [5, 6]


def test_a_tick_already_held_is_not_appended_again():
    # A reader starts from history that already ends with tick 3, then tick 3 arrives.
    ring = TickRing(10)
    ids = np.array([1, 2, 3])
    ring.replace("IDX", UnderlyingTicks(ids, np.array([1.0, 2.0, 3.0]), np.ones(3),
                                        np.array([1.0, 2.0, 3.0])))
    ring.append("IDX", 3, 3.0, 1.0, T0)
    ring.append("IDX", 4, 4.0, 1.0, T0)
    assert ring.latest("IDX").ids.tolist() == [1, 2, 3, 4]
