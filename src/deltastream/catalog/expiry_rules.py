"""How a product's expiries are listed: rules as data (the calendars module applies them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

Weekday = Literal["MON", "TUE", "WED", "THU", "FRI"]
Kind = Literal["daily", "weekly", "monthly_last", "monthly_third"]
WEEKDAYS: dict[str, int] = {name: i for i, name in enumerate(get_args(Weekday))}
KINDS: tuple[str, ...] = get_args(Kind)


@dataclass(frozen=True)
class ExpiryRule:
    """Nominal expiry dates of one kind, valid for nominal dates in [effective_from, until)."""

    kind: str                        # daily | weekly | monthly_last | monthly_third
    weekday: int = 4                 # Monday 0 ... Friday 4 (ignored for daily)
    effective_from: date | None = None
    effective_until: date | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown expiry rule kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not 0 <= self.weekday <= 4:
            raise ValueError(f"weekday must be 0-4 (Monday-Friday), got {self.weekday}")

    def applies(self, nominal: date) -> bool:
        return ((self.effective_from is None or nominal >= self.effective_from)
                and (self.effective_until is None or nominal < self.effective_until))


@dataclass(frozen=True)
class ExpirySeries:
    """A family of expiries (weeklies, monthlies, dailies) and how many are listed at once."""

    name: str
    count: int
    rules: tuple[ExpiryRule, ...]

    def horizon_days(self) -> int:
        """Days ahead that certainly contain ``count`` expiries of this series."""
        if {r.kind for r in self.rules} <= {"daily", "weekly"}:
            return 7 * self.count + 21
        return 31 * self.count + 62
