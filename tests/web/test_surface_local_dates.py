"""The surface's days_to_expiry counts from the exchange's local date, not UTC's."""

from __future__ import annotations

from datetime import UTC, date, datetime

from deltastream.catalog import Catalog, load_catalog
from deltastream.engine.setup import build_engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.web import create_app

# Friday 4 December 2026, 20:00 UTC: Saturday 5 December 01:30 in India (UTC+05:30),
# Friday 15:00 in New York (UTC-5).
NOW = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)


def test_days_to_expiry_in_exchange_local_dates():
    full = load_catalog()
    catalog = Catalog([full["NIFTY"], full["SPY"]])
    engine = build_engine(catalog, Settings(hours="always", strikes_each_side=10), FixedClock(NOW))
    engine.tick()
    client = create_app(Settings(), feed=engine, start_feed=False).test_client()
    local_day = {"NIFTY": date(2026, 12, 5), "SPY": date(2026, 12, 4)}
    for product, today in local_day.items():
        rows = client.get(f"/api/analytics/volatility-surface/{product}").get_json()["expiries"]
        assert rows
        for row in rows:
            assert row["days_to_expiry"] == (date.fromisoformat(row["expiry"]) - today).days
    nifty = client.get("/api/analytics/volatility-surface/NIFTY").get_json()["expiries"]
    # Tuesday 8 December is three Indian days away (four from the UTC date).
    assert nifty[0] == {**nifty[0], "expiry": "2026-12-08", "days_to_expiry": 3}
