"""OI build-up classification from the signs of premium and OI changes."""

from __future__ import annotations

from deltastream.analytics.buildup import classify


def test_the_four_quadrants_and_no_change():
    premium = [1.5, -2.0, 0.5, -0.1, 0.0, 1.0]
    oi = [100, 50, -20, -5, 10, 0]
    assert classify(premium, oi) == ["long_buildup", "short_buildup", "short_covering",
                                     "long_unwinding", None, None]
