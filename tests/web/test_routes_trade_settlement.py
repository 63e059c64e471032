"""Settlement through the routes: a SPY put sold over HTTP on expiry day is assigned after the
close (the app's trading service settles, as the engine's matcher does), and the positions,
orders and portfolio routes show the 100 shares delivered at the strike, the settlement
orders with their kinds, and the cash moved by hand-computed amounts. SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from deltastream.catalog import load_catalog
from deltastream.catalog.loader import Catalog
from deltastream.core.types import MarketStatus
from deltastream.engine.setup import build_engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.store.database import open_database, sqlite_url
from deltastream.web import create_app
from deltastream.web.routes_auth import auth_state
from deltastream.web.routes_trade import trading_service
from tests.web.test_routes_auth import FAST_HASHING, PASSWORD, Clock, bearer, register


def _spy_engine(at: datetime):
    return build_engine(Catalog([p for p in load_catalog() if p.symbol == "SPY"]),
                        Settings(seed=9, strikes_each_side=8), FixedClock(at))


def test_an_assigned_put_shows_the_delivered_shares_in_positions_and_portfolio(tmp_path):
    probe = _spy_engine(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    probe.tick()
    expiry = probe.latest("SPY").expiry_dates[0]
    engine = _spy_engine(datetime.combine(expiry, time(15, 0), UTC))     # 10:00 New York
    engine.tick()
    store = open_database(sqlite_url(tmp_path))
    app = create_app(Settings(data_dir=tmp_path, **FAST_HASHING), feed=engine,
                     start_feed=False, store=store)
    auth_state(app).now = Clock(datetime.combine(expiry, time(15, 0), UTC))
    try:
        client = app.test_client()
        r = register(client, email="ann@example.com", password=PASSWORD, name="ann")
        ann = bearer(r.get_json()["token"])
        snap = engine.latest("SPY")
        chain = snap.chain_for(expiry)
        strike = min(k for k in chain.strikes.tolist() if k >= snap.spot + 10)
        r = client.post("/api/trade/order", headers=ann, json={
            "product": "SPY", "expiry": expiry.isoformat(), "strike": strike,
            "option_type": "PE", "side": "SELL", "quantity": 100, "orderType": "MARKET",
            "price": ""})
        assert r.status_code == 201 and r.get_json()["status"] == "FILLED"
        cash_before = client.get("/api/trade/portfolio?currency=USD",
                                 headers=ann).get_json()["cash_balance"]

        engine.clock = FixedClock(datetime.combine(expiry, time(22, 0), UTC))  # 17:00 NY
        engine.tick()
        after = engine.latest("SPY")
        assert after.market_status == MarketStatus.CLOSED
        close = Decimal(repr(after.spot)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert Decimal(repr(strike)) - close >= Decimal("0.01")
        trading_service(app).settle_expired({"SPY": after})

        positions = client.get("/api/trade/positions?currency=USD",
                               headers=ann).get_json()["positions"]
        by_symbol = {p["symbol"]: p for p in positions}
        shares = by_symbol["SPY"]
        assert (shares["quantity"], shares["avg_entry_price"], shares["expiry"],
                shares["option_type"]) == (100, strike, None, None)
        assert list(by_symbol) == ["SPY"]         # the put is closed: only the shares open
        orders = client.get("/api/trade/orders", headers=ann).get_json()["orders"]
        settlement = {o["reason"].split(":")[0]: o for o in orders
                      if o["order_type"] == "SETTLEMENT"}
        assert set(settlement) == {"ASSIGNMENT", "DELIVERY"}
        assert (settlement["DELIVERY"]["side"], settlement["DELIVERY"]["quantity"],
                settlement["DELIVERY"]["avg_fill_price"]) == ("BUY", 100, strike)
        assert (settlement["ASSIGNMENT"]["side"], settlement["ASSIGNMENT"]["avg_fill_price"]
                ) == ("BUY", 0)
        cash_after = client.get("/api/trade/portfolio?currency=USD",
                                headers=ann).get_json()["cash_balance"]
        assert Decimal(repr(cash_after)) == Decimal(repr(cash_before)) - 100 * Decimal(
            repr(strike))
    finally:
        store.dispose()
