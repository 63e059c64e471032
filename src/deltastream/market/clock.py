"""Market clocks: where the simulated market takes "now" from.

Real time by default; a fixed clock (advanced explicitly) for reproducible runs and tests; an
accelerated clock for demos and benchmarks. All return timezone-aware UTC datetimes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class MarketClock(Protocol):
    def now(self) -> datetime:
        """The current market time, timezone-aware UTC."""
        ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to: the same calls give the same times."""

    def __init__(self, start: datetime) -> None:
        self._now = _as_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = _as_utc(when)


class AcceleratedClock:
    """Market time running ``speed`` times faster than the wall clock from ``start``."""

    def __init__(self, start: datetime, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._start = _as_utc(start)
        self._speed = speed
        self._wall0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._wall0) * self._speed)


def _as_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("market times must be timezone-aware")
    return when.astimezone(UTC)
