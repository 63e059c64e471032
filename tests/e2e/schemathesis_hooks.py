"""schemathesis hooks for tests/e2e/test_schemathesis.py (loaded by ``st run`` through
``SCHEMATHESIS_HOOKS``): schema-valid requests made to obey the rules across parameters that
JSON Schema cannot state and the spec states in words.

Only cases schemathesis generates as valid (positive) are changed, so the check that valid
requests are accepted holds the server to every rule it documents, and invalid cases reach
the server untouched:

- 'from' not after 'to' ('to' defaults to the market's latest time: the fixed clock), and a
  range of at most ``MAX_RANGE`` (the server's history_max_range_days) where the route bounds
  it;
- iv-history: at most 100,000 observations in its lookback (lookback_days / sample_seconds);
- ``source``: a source the server has (its pattern admits any name; the server under test has
  only its live one, the simulator: another name is a 404 listing it).

The server under test runs with these settings (the test passes them).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis

CLOCK_START = "2026-03-02T10:00:00Z"
NOW = datetime.fromisoformat(CLOCK_START.replace("Z", "+00:00"))
MAX_RANGE = timedelta(days=31)
IV_LOOKBACK_DAYS = 365.0
MAX_OBSERVATIONS = 100_000
LIVE_SOURCE = "simulator"


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _text(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _within(start: datetime, end: datetime) -> datetime:
    """A start not after ``end`` and at most MAX_RANGE before it (as varied as given)."""
    span = abs(end - start)
    return end - timedelta(seconds=span.total_seconds() % MAX_RANGE.total_seconds())


def _repair_range(path: str, query: dict[str, Any]) -> None:
    start, end = _instant(query.get("from")), _instant(query.get("to"))
    if start is None:
        return
    bounded = end is not None or not path.startswith("/api/data/underlying/")
    fixed = _within(start, end or NOW) if bounded else min(start, NOW)
    if fixed == start:
        return
    # The years a time may be written in are 1970-8999: at the edge, 'from' is 'to' itself.
    query["from"] = (_text(fixed) if 1970 <= fixed.year <= 8999
                     else query.get("to", _text(NOW)))


def _repair_lookback(query: dict[str, Any]) -> None:
    days = query.get("lookback_days", IV_LOOKBACK_DAYS)
    sample = query.get("sample_seconds", 86_400)
    if not isinstance(days, int | float) or not isinstance(sample, int):
        return
    least = math.ceil(days * 86_400 / MAX_OBSERVATIONS)
    if sample < least:
        query["sample_seconds"] = least


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not case.query:
        return case
    path = case.formatted_path
    if "source" in case.query:
        case.query["source"] = LIVE_SOURCE
    _repair_range(path, case.query)
    if path.startswith("/api/analytics/iv-history/"):
        _repair_lookback(case.query)
    return case
