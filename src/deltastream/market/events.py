"""Scheduled events in the simulated market: single stocks' earnings announcements.

An event has an instant (microseconds since the epoch, UTC) and a one-day log-return
standard deviation ``move``. Before the instant, every expiry after it carries the event's
variance ``move**2`` in its at-the-money total implied variance (:func:`surface.event_variance`);
when the market's time first passes it, the spot jumps by ``exp(move z - move**2 / 2)``
(``z`` standard normal from the product's generator, so ``E[S]`` is unchanged and a seed
reproduces the jump) and the variance leaves the surface (the implied-volatility crush).

The instant of an earnings event is the start (local midnight) of the session it moves: the
first quote of that session carries the jump, whether the market trades around the clock or
in exchange sessions (then the first quote after the open), and an expiry on the
announcement day itself (its instant is that day's close) does not span it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from ..catalog.earnings import Earnings
from . import surface
from .spot import SECONDS_PER_YEAR, SpotState

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Events listed from the first announcement on: 30 years of quarterly reports.
HORIZON_YEARS = 30


@dataclass(frozen=True)
class EventSchedule:
    """Event instants (epoch microseconds, increasing) and their one-day moves (decimal)."""

    instants_us: tuple[int, ...] = ()
    moves: tuple[float, ...] = ()
    _instants: np.ndarray = field(init=False, repr=False, compare=False)
    _variances: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.instants_us) != len(self.moves):
            raise ValueError("one move per event instant")
        instants = np.asarray(self.instants_us, dtype=np.int64)
        if np.any(np.diff(instants) <= 0):
            raise ValueError("event instants must increase")
        if any(not 0.0 < m < 1.0 for m in self.moves):
            raise ValueError("event moves must be in (0, 1)")
        object.__setattr__(self, "_instants", instants)
        object.__setattr__(self, "_variances", np.square(np.asarray(self.moves, np.float64)))

    def __bool__(self) -> bool:
        return bool(self.instants_us)

    def variance_before(self, now_us: int, times: np.ndarray) -> np.ndarray:
        """The event variance each expiry ``times`` years after ``now_us`` carries: the sum
        of ``move**2`` over events after now and before the expiry."""
        if not self.instants_us:
            return np.zeros(len(times))
        # Past events (at or before now) have moved the spot already.
        first = int(np.searchsorted(self._instants, now_us, side="right"))
        event_times = (self._instants[first:] - now_us) / 1e6 / SECONDS_PER_YEAR
        return surface.event_variance(times, event_times, self._variances[first:])

    def moves_between(self, after_us: int, until_us: int) -> list[float]:
        """The moves of the events in (after, until]."""
        lo = int(np.searchsorted(self._instants, after_us, side="right"))
        hi = int(np.searchsorted(self._instants, until_us, side="right"))
        return list(self.moves[lo:hi])


NO_EVENTS = EventSchedule()


def _epoch_us(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


def earnings_schedule(earnings: Earnings | None, timezone: str) -> EventSchedule:
    """The events of an earnings schedule, each at local midnight of the session it moves."""
    if earnings is None:
        return NO_EVENTS
    tz = ZoneInfo(timezone)
    end = earnings.first.replace(year=earnings.first.year + HORIZON_YEARS)
    days: list[date] = earnings.event_days(earnings.first, end)
    instants = tuple(_epoch_us(datetime.combine(d, time(0), tz)) for d in days)
    return EventSchedule(instants, (earnings.move,) * len(instants))


def apply_jumps(schedule: EventSchedule, state: SpotState, after: datetime | None, until: datetime,
         rng: np.random.Generator) -> SpotState:
    """``state`` after the jumps of the events in (after, until] (none when ``after`` is
    None: a market's first quote). Draws one standard normal per event, from ``rng``."""
    if not schedule or after is None:
        return state
    moves = schedule.moves_between(_epoch_us(after), _epoch_us(until))
    if not moves:
        return state
    log_return = sum(m * float(rng.standard_normal()) - 0.5 * m * m for m in moves)
    return SpotState(state.spot * math.exp(log_return), state.variance)
