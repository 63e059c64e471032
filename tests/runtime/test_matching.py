"""The engine matches resting paper-trading orders on its own ticks, with no HTTP request:
in thread mode beside the web app, and in the engine process (run_publishing_engine), where
the web side reads the engine over the bus. A web-only server starts no matcher.

The order is placed through a service whose book shows only far asks (so a buy limit a fifth
above the live ask rests); the engine's matcher then sees the real book, whose next ask is
below that limit, and fills the order at its limit."""

from __future__ import annotations

import threading
from decimal import ROUND_FLOOR, Decimal

import pytest

from deltastream.bus import bus_feed
from deltastream.core.threads import real_thread
from deltastream.papertrade.matcher import RestingMatcher
from deltastream.papertrade.service import OrderRequest, PaperTrading, quote_of
from deltastream.runtime.app import create_app
from deltastream.runtime.market import market_symbols
from deltastream.runtime.publishing import run_publishing_engine
from deltastream.settings import Settings
from deltastream.store.accounts import SqlAccountStore
from deltastream.store.database import open_configured
from deltastream.store.trading import ContractRef, SqlTradingStore
from deltastream.trading.matching import Book, Level
from deltastream.web.state import app_state
from tests.support.waiting import wait_until


def _settings(tmp_path, **kw) -> Settings:
    return Settings(hours="always", data_dir=tmp_path, strikes_each_side=5, tick_interval=0.2,
                    clock="accelerated", clock_speed=60.0,
                    clock_start="2026-11-25T04:00:00Z", **kw)


def _rest_a_buy_above_the_ask(store, latest) -> tuple[int, int, Decimal]:
    """A user and their resting buy limit on NIFTY's ATM call a fifth above the live ask:
    (user id, order id, limit)."""
    user = SqlAccountStore(store).create_user("ann@example.com", "Ann", "h", 1).id
    placing = PaperTrading(SqlTradingStore(store), latest, lambda: ["NIFTY"])
    snap = latest("NIFTY")
    chain = snap.chains[0]
    strike = Decimal(repr(chain.atm_strike))
    contract = ContractRef("NIFTY", chain.expiry, strike, "call", "INR")
    quote = quote_of(snap, contract)
    assert quote is not None
    tick = Decimal(repr(snap.terms.tick_size))
    limit = (quote.ask * Decimal("1.2") / tick).to_integral_value(ROUND_FLOOR) * tick
    lot = snap.terms.lot_size
    # At placement the book shows asks far above the limit: the order rests.
    placing.book = lambda s, c: Book((Level(tick, 10 * lot),), (Level(limit * 2, 10 * lot),))
    order = placing.place(user, OrderRequest(
        "BUY", lot, "LIMIT", str(limit), symbol=f"NIFTY{chain.expiry:%Y%m%d}C{int(strike)}"))
    assert order.status == "PENDING"
    return user, order.id, limit


def _filled(store, user: int, order_id: int):
    return SqlTradingStore(store).order(user, order_id)


def test_thread_mode_fills_a_resting_limit_on_a_later_tick(tmp_path):
    settings = _settings(tmp_path, engine_mode="thread")
    app = create_app(settings)
    state = app_state(app)
    feed = state.service.feed
    store = open_configured(settings)
    try:
        assert len(_matchers(app)) == 1
        wait_until(lambda: feed.latest("NIFTY") is not None, 120, "the engine's first tick")
        user, order_id, limit = _rest_a_buy_above_the_ask(store, feed.latest)
        wait_until(lambda: _filled(store, user, order_id).status == "FILLED", 60,
                   "the matcher filling the order")
        fills = SqlTradingStore(store).fills(user)
        assert [(f.order_id, f.quantity, f.price) for f in fills] == [
            (order_id, feed.latest("NIFTY").terms.lot_size, limit)]
    finally:
        state.close()
        store.dispose()


def test_the_engine_process_fills_a_resting_limit_on_a_later_tick(tmp_path):
    settings = _settings(tmp_path)
    stopped = threading.Event()
    engine = real_thread(lambda: run_publishing_engine(settings, stopped), "test-engine")
    engine.start()
    reader = bus_feed(settings, market_symbols(settings))
    reader.start()
    store = open_configured(settings)
    try:
        wait_until(lambda: reader.latest("NIFTY") is not None, 120, "the engine's first tick")
        user, order_id, limit = _rest_a_buy_above_the_ask(store, reader.latest)
        wait_until(lambda: _filled(store, user, order_id).status == "FILLED", 60,
                   "the engine's matcher filling the order")
        assert [(f.quantity, f.price) for f in SqlTradingStore(store).fills(user)] == [
            (reader.latest("NIFTY").terms.lot_size, limit)]
    finally:
        reader.stop()
        stopped.set()
        engine.join(30)
        store.dispose()
    assert not engine.is_alive()


def _matchers(app) -> list[RestingMatcher]:
    """The matchers the app stops when it closes."""
    return [m for cb in app_state(app).on_close
            if isinstance(m := getattr(cb, "__self__", None), RestingMatcher)]


@pytest.mark.parametrize("overrides", [{"role": "web"}, {"engine_mode": "process"}])
def test_a_server_without_its_own_engine_starts_no_matcher(tmp_path, overrides):
    app = create_app(_settings(tmp_path, **overrides), start_engine=False)
    try:
        assert _matchers(app) == []
    finally:
        app_state(app).close()
