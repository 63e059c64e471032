"""Market clocks: where the simulated market takes "now" from.

Real time by default; a fixed clock (advanced explicitly) for reproducible runs and tests; an
accelerated clock for demos and benchmarks. All return timezone-aware UTC datetimes.

The real and the accelerated clock run by themselves at a known speed, so they can tell the
market time of a future wall instant (:class:`ForeseeableClock`: ``later``) and how long the
wall clock takes to reach a market time (``wall_until``): what lets the engine build a tick of
the simulated market ahead and publish it as its market time comes. Wall seconds are those of
``time.monotonic``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


class MarketClock(Protocol):
    def now(self) -> datetime:
        """The current market time, timezone-aware UTC."""
        ...


@runtime_checkable
class ForeseeableClock(Protocol):
    """A clock running by itself at a known speed: its time at a future wall instant is
    known now (a fixed clock, which moves only when told, is not one)."""

    def now(self) -> datetime:
        ...

    def later(self, seconds: float) -> datetime:
        """The market time ``seconds`` wall seconds from now."""
        ...

    def wall_until(self, when: datetime) -> float:
        """Wall seconds until the market time reaches ``when`` (zero or less: it has)."""
        ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def later(self, seconds: float) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=seconds)

    def wall_until(self, when: datetime) -> float:
        return (when - datetime.now(UTC)).total_seconds()


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

    def later(self, seconds: float) -> datetime:
        return self._start + timedelta(
            seconds=(time.monotonic() + seconds - self._wall0) * self._speed)

    def wall_until(self, when: datetime) -> float:
        return (when - self.now()).total_seconds() / self._speed


def _as_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("market times must be timezone-aware")
    return when.astimezone(UTC)
