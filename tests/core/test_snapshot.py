"""ChainSnapshot's own reading of its time: the exchange's date of a tick."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from tests.support.strategy import served

SNAP = served()


@pytest.mark.parametrize(("zone", "utc", "local"), [
    # 20:00 UTC is 01:30 the next day in Kolkata, 15:00 the same day in New York.
    ("Asia/Kolkata", datetime(2026, 12, 7, 20, 0, tzinfo=UTC), date(2026, 12, 8)),
    ("America/New_York", datetime(2026, 12, 7, 20, 0, tzinfo=UTC), date(2026, 12, 7)),
    # 02:00 UTC is still the previous evening in New York.
    ("America/New_York", datetime(2026, 12, 8, 2, 0, tzinfo=UTC), date(2026, 12, 7)),
    ("Asia/Kolkata", datetime(2026, 12, 7, 18, 29, tzinfo=UTC), date(2026, 12, 7)),
])
def test_local_date_is_the_exchanges_calendar_date(zone: str, utc: datetime,
                                                   local: date) -> None:
    snap = replace(SNAP, terms=replace(SNAP.terms, timezone=zone), timestamp=utc)
    assert snap.local_date() == local
