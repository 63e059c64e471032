"""Holiday tables: exchange holidays beyond exchange_calendars' horizon.

A table is TOML with one section per exchange calendar (its exchange_calendars code, XBOM or
XNYS), each with ``through`` (the last date it covers), an optional ``provisional`` flag and
``holidays``, a list of ``{date, name, provisional}``; the format is documented in the shipped
table, ``holidays.toml`` beside this module, which holds NSE's and BSE's 2027 holidays until
the exchanges' circular. A file given with ``--holidays`` (setting ``holidays_file``) adds to
it: the holidays of every source close their dates, and a calendar is covered up to the
latest ``through`` of any source.

Invariant: a table is immutable and hashable, so calendars built from it can be cached.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

SHIPPED = "holidays.toml"


class HolidayFileError(ValueError):
    """An unreadable or invalid holiday file; the message names the file and the entry."""


@dataclass(frozen=True)
class Holiday:
    day: date
    name: str
    provisional: bool = False


@dataclass(frozen=True)
class HolidaySource:
    """One exchange calendar's holidays from one file, covering dates up to ``through``."""

    calendar_code: str
    through: date
    holidays: tuple[Holiday, ...]
    provisional: bool
    origin: str                 # the file it was read from


@dataclass(frozen=True)
class HolidayTable:
    """Holidays from any number of sources (the shipped table, then a ``--holidays`` file)."""

    sources: tuple[HolidaySource, ...] = ()

    def holidays(self, calendar_code: str) -> frozenset[date]:
        """Every date any source closes on ``calendar_code``."""
        return frozenset(h.day for s in self.sources if s.calendar_code == calendar_code
                         for h in s.holidays)

    def through(self, calendar_code: str) -> date | None:
        """The last date any source covers for ``calendar_code`` (None: no source)."""
        ends = [s.through for s in self.sources if s.calendar_code == calendar_code]
        return max(ends) if ends else None

    def origins(self, calendar_code: str) -> list[str]:
        return [s.origin + (" (provisional)" if s.provisional else "")
                for s in self.sources if s.calendar_code == calendar_code]

    def __add__(self, other: HolidayTable) -> HolidayTable:
        return HolidayTable(self.sources + other.sources)


@lru_cache(maxsize=1)
def _calendar_names() -> frozenset[str]:
    import exchange_calendars

    return frozenset(exchange_calendars.get_calendar_names())


def _date(value: Any, where: str) -> date:
    # TOML dates parse as date; a datetime (a date with a time) is refused as well.
    if not isinstance(value, date) or hasattr(value, "hour"):
        raise HolidayFileError(f"{where}: must be a date YYYY-MM-DD, got {value!r}")
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise HolidayFileError(f"{where}: must be true or false, got {value!r}")
    return value


def _source(code: str, section: Any, origin: str) -> HolidaySource:
    where = f"{origin}: {code}"
    if not isinstance(section, dict):
        raise HolidayFileError(f"{where}: must be a table, got {section!r}")
    unknown = set(section) - {"through", "provisional", "holidays"}
    if unknown:
        raise HolidayFileError(f"{where}: unknown field {', '.join(sorted(unknown))} "
                               "(expected through, provisional, holidays)")
    if "through" not in section:
        raise HolidayFileError(f"{where}.through: required (the last date the table covers)")
    through = _date(section["through"], f"{where}.through")
    entries = section.get("holidays", [])
    if not isinstance(entries, list):
        raise HolidayFileError(f"{where}.holidays: must be a list, got {entries!r}")
    holidays = []
    for i, entry in enumerate(entries):
        at = f"{where}.holidays[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"date", "name", "provisional"} \
                or "date" not in entry:
            raise HolidayFileError(f"{at}: must be {{ date = YYYY-MM-DD, name = \"...\", "
                                   f"provisional = false }}, got {entry!r}")
        day = _date(entry["date"], f"{at}.date")
        if day > through:
            raise HolidayFileError(f"{at}.date: {day} is after through = {through}")
        name = entry.get("name", "")
        if not isinstance(name, str):
            raise HolidayFileError(f"{at}.name: must be a string, got {name!r}")
        holidays.append(Holiday(day, name, _flag(entry.get("provisional", False),
                                                 f"{at}.provisional")))
    return HolidaySource(code, through, tuple(sorted(holidays, key=lambda h: h.day)),
                         _flag(section.get("provisional", False), f"{where}.provisional"),
                         origin)


def parse_holidays(text: str, origin: str) -> HolidayTable:
    """The table in TOML ``text`` (``origin`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HolidayFileError(f"{origin}: invalid TOML ({exc})") from None
    for code in data:
        if code not in _calendar_names():
            raise HolidayFileError(f"{origin}: {code}: unknown exchange calendar (an "
                                   "exchange_calendars code, e.g. XBOM, XNYS)")
    return HolidayTable(tuple(_source(code, section, origin) for code, section in data.items()))


def load_holiday_file(path: str | Path) -> HolidayTable:
    """The holiday table in the TOML file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise HolidayFileError(f"{path}: cannot read holiday file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise HolidayFileError(f"{path}: not UTF-8 text") from None
    return parse_holidays(text, str(path))


@lru_cache(maxsize=1)
def shipped_holidays() -> HolidayTable:
    """The table shipped in the package (``holidays.toml``)."""
    text = resources.files(__package__).joinpath(SHIPPED).read_text(encoding="utf-8")
    return parse_holidays(text, f"the shipped {SHIPPED}")


def holiday_table(path: str | Path | None = None) -> HolidayTable:
    """The shipped table plus the file at ``path`` (when given)."""
    shipped = shipped_holidays()
    return shipped if path is None else shipped + load_holiday_file(path)
