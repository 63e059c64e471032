"""A single stock's earnings schedule: simulated announcement dates and the expected move.

The dates are simulated: a first announcement date and a fixed cadence in weeks (13 weeks
keeps the weekday and a quarterly rhythm: AAPL's late-January, -April, -July and -October
Thursdays). ``move`` is the one-day standard deviation of the log return the announcement
causes (a decimal, 0.04 = 4 %), and ``timing`` says when it reaches the market:
``after_close`` announcements move the next weekday's session, ``before_open`` ones the
announcement day's session. Dates are exchange-local calendar dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

SATURDAY = 5


class EarningsTiming(StrEnum):
    """When an announcement reaches the market."""

    AFTER_CLOSE = "after_close"
    BEFORE_OPEN = "before_open"


@dataclass(frozen=True)
class Earnings:
    """Announcements on ``first`` and every ``every_weeks`` weeks after it (simulated)."""

    first: date
    every_weeks: int
    move: float                 # one-day std of the log return on the event, decimal
    timing: EarningsTiming = EarningsTiming.AFTER_CLOSE

    def announcements(self, start: date, end: date) -> list[date]:
        """Announcement dates in [start, end]; none before ``first``."""
        step = timedelta(weeks=self.every_weeks)
        skip = max((start - self.first).days, 0) // step.days
        day, out = self.first + skip * step, []
        while day <= end:
            if day >= start:
                out.append(day)
            day += step
        return out

    def event_day(self, announcement: date) -> date:
        """The session the announcement moves: the next weekday after an after-close
        announcement, the announcement day itself before the open."""
        if self.timing == EarningsTiming.BEFORE_OPEN:
            return announcement
        day = announcement + timedelta(days=1)
        while day.weekday() >= SATURDAY:
            day += timedelta(days=1)
        return day

    def event_days(self, start: date, end: date) -> list[date]:
        """The sessions moved by announcements in [start, end]."""
        return [self.event_day(d) for d in self.announcements(start, end)]
