"""The paper-trading service on a real simulated market and a real store (SQLite and
PostgreSQL): market orders fill at the quoted ask/bid and walk the book, charges once per
fill (checked against Zerodha's published rates, computed here by hand), cash and positions
follow the fills, P&L identities, margin refusals stored as REJECTED, two concurrent orders
never together exceed the margin, idempotent retries, resting limits filled by a later tick,
market-closed refusals and after-market queueing, and per-user isolation."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from deltastream.core.types import MarketStatus
from deltastream.papertrade.service import (
    MarginRejected,
    MarketClosed,
    NotCancellable,
    OrderNotFound,
    OrderRequest,
    PaperTrading,
    TradeError,
    quote_of,
)
from deltastream.store.trading import ContractRef, SqlTradingStore
from deltastream.trading.matching import Book, Level
from tests.papertrade.conftest import NOW, make_service

CENT = Decimal("0.01")
START_INR = Decimal("1000000")


def cents(x: Decimal) -> Decimal:
    return x.quantize(CENT, ROUND_HALF_UP)


def india_buy_charges(quantity: int, price: Decimal) -> Decimal:
    """Zerodha's published NSE option charges on a buy (2025): Rs 20, 0.03503 % exchange,
    Rs 10 per crore SEBI, 18 % GST on those, 0.003 % stamp duty; each rounded to paise."""
    premium = quantity * price
    exchange, sebi = cents(premium * Decimal("0.0003503")), cents(premium / 10_000_000 * 10)
    gst = cents((20 + exchange + sebi) * Decimal("0.18"))
    return 20 + exchange + sebi + gst + cents(premium * Decimal("0.00003"))


def india_sell_charges(quantity: int, price: Decimal) -> Decimal:
    """As a buy without stamp duty, plus 0.1 % STT on the premium."""
    premium = quantity * price
    return (india_buy_charges(quantity, price) - cents(premium * Decimal("0.00003"))
            + cents(premium * Decimal("0.001")))


def atm_call(engine) -> tuple[str, ContractRef]:
    snap = engine.latest("IDX")
    chain = snap.chains[0]
    strike = Decimal(repr(chain.atm_strike))
    symbol = f"IDX{chain.expiry:%Y%m%d}C{int(strike)}"
    return symbol, ContractRef("IDX", chain.expiry, strike, "call", "INR")


def buy(symbol: str, quantity: int = 50, **kw) -> OrderRequest:
    return OrderRequest(side="BUY", quantity=quantity, order_type="MARKET", price="",
                        symbol=symbol, **kw)


def test_a_market_buy_fills_at_the_ask_pays_charges_once_and_marks_at_the_mid(
        service, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    quote = quote_of(engine.latest("IDX"), contract)
    order = service.place(ann, buy(symbol, 100))
    assert order.status == "FILLED" and order.filled_quantity == 100
    assert order.avg_fill_price == quote.ask
    charges = india_buy_charges(100, quote.ask)
    account = service.accounts(ann)["INR"]
    assert account.cash == START_INR - 100 * quote.ask - charges
    assert account.charges == charges and account.realised == 0
    [position] = account.positions
    assert position.position.quantity == 100 and position.position.average_cost == quote.ask
    assert position.current_price == quote.mid
    assert account.unrealised == cents(100 * (quote.mid - quote.ask))
    # total P&L = cash + positions at the mid - starting cash.
    assert account.total_pnl == cents(account.cash + 100 * quote.mid - START_INR)
    # A long option blocks nothing beyond the premium it paid.
    assert account.margin_used == 0
    assert account.margin_available == account.cash


def test_a_large_market_order_walks_the_book_one_fill_per_level(service, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    quote = quote_of(engine.latest("IDX"), contract)
    touch = 10 * 50                                    # touch_lots x lot size
    order = service.place(ann, buy(symbol, touch + 100))
    fills = service.store.fills(ann)
    assert [(f.quantity, f.price) for f in fills] == [(touch, quote.ask),
                                                      (100, quote.ask + Decimal("0.05"))]
    expected_avg = (touch * quote.ask + 100 * (quote.ask + Decimal("0.05"))) / (touch + 100)
    assert order.avg_fill_price == expected_avg.quantize(Decimal("0.0001"))
    assert service.accounts(ann)["INR"].charges == (
        india_buy_charges(touch, quote.ask) + india_buy_charges(100, quote.ask
                                                                 + Decimal("0.05")))


def test_closing_realises_bid_minus_ask_and_releases_margin(service, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    quote = quote_of(engine.latest("IDX"), contract)
    service.place(ann, buy(symbol, 50))
    service.place(ann, OrderRequest("SELL", 50, "MARKET", "", symbol=symbol))
    account = service.accounts(ann)["INR"]
    assert account.realised == 50 * (quote.bid - quote.ask)
    charges = india_buy_charges(50, quote.ask) + india_sell_charges(50, quote.bid)
    assert account.charges == charges
    assert account.unrealised == 0 and account.margin_used == 0
    assert account.cash == START_INR + account.realised - charges
    assert account.total_pnl == account.cash - START_INR


def test_a_margin_is_priced_once_per_holdings_and_snapshot(service, engine, users,
                                                           monkeypatch):
    from deltastream.papertrade import service as module

    scans = []
    real = module.india_margin
    monkeypatch.setattr(module, "india_margin",
                        lambda *a, **k: scans.append(1) or real(*a, **k))
    _, contract = atm_call(engine)
    short = {contract: -50}
    first = service.requirement(short, "INR")
    assert first > 0 and service.requirement(short, "INR") == first and len(scans) == 1
    assert service.requirement({contract: -100}, "INR") > first and len(scans) == 2
    engine.tick()                       # a new snapshot: priced again, on its figures
    engine.clock.advance(1.0)
    again = service.requirement(short, "INR")
    assert len(scans) == 3
    assert again == make_service(service.store.db, engine).requirement(short, "INR")


def test_a_naked_short_blocks_margin_and_an_order_beyond_cash_is_rejected(
        store_db, engine, users):
    ann, _ = users
    symbol, _ = atm_call(engine)
    service = make_service(store_db, engine, starting_cash={"INR": Decimal("200000"),
                                                            "USD": Decimal("100000")})
    service.place(ann, OrderRequest("SELL", 50, "MARKET", "", symbol=symbol))
    account = service.accounts(ann)["INR"]
    assert account.margin_used > 0
    with pytest.raises(MarginRejected) as refused:
        service.place(ann, OrderRequest("SELL", 5000, "MARKET", "", symbol=symbol))
    assert refused.value.order.status == "REJECTED"
    assert refused.value.required > refused.value.available
    assert "margin" in refused.value.order.reason
    after = service.accounts(ann)["INR"]
    assert after.cash == account.cash and len(service.store.fills(ann)) == 1
    assert [o.status for o in service.orders(ann)] == ["REJECTED", "FILLED"]


def test_two_concurrent_orders_cannot_together_exceed_the_margin(store_db, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    quote = quote_of(engine.latest("IDX"), contract)
    one = 250 * quote.ask + india_buy_charges(250, quote.ask)
    # Cash for one order and half of another.
    service = make_service(store_db, engine, starting_cash={"INR": cents(one * Decimal("1.5")),
                                                            "USD": Decimal("100000")})
    service.accounts(ann)              # opens the account before the race
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def place() -> None:
        barrier.wait()
        try:
            outcomes.append(service.place(ann, buy(symbol, 250)).status)
        except MarginRejected:
            outcomes.append("REJECTED")

    threads = [threading.Thread(target=place) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["FILLED", "REJECTED"]
    account = service.accounts(ann)["INR"]
    assert account.cash == cents(one * Decimal("1.5")) - one
    assert account.cash >= 0


def test_an_idempotent_retry_returns_the_same_order_and_fills_once(service, engine, users):
    ann, bob = users
    symbol, _ = atm_call(engine)
    first = service.place(ann, buy(symbol), idempotency_key="abc")
    again = service.place(ann, buy(symbol), idempotency_key="abc")
    assert again == first and len(service.store.fills(ann)) == 1
    # The key is the user's own: another user's order under it is a new order.
    assert service.place(bob, buy(symbol), idempotency_key="abc").id != first.id


def test_a_resting_limit_fills_at_its_price_when_a_later_tick_crosses(service, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    quote = quote_of(engine.latest("IDX"), contract)
    limit = quote.bid                                   # below the ask: rests
    order = service.place(ann, OrderRequest("BUY", 100, "LIMIT", str(limit), symbol=symbol))
    assert order.status == "PENDING" and service.store.fills(ann) == []
    # Nothing crosses on the same quotes.
    assert service.match_resting({"IDX": engine.latest("IDX")}) == []
    # A later quote offers 50 units at the limit: a partial fill at the limit price.
    service.book = lambda snap, c: Book((Level(limit - Decimal("0.1"), 50),),
                                        (Level(limit, 50), Level(limit + 1, 500)))
    [changed] = service.match_resting({"IDX": engine.latest("IDX")})
    assert changed.status == "PARTIALLY_FILLED" and changed.filled_quantity == 50
    assert changed.avg_fill_price == limit
    assert [(f.quantity, f.price) for f in service.store.fills(ann)] == [(50, limit)]
    cancelled = service.cancel(ann, order.id)
    assert cancelled.status == "CANCELLED" and cancelled.filled_quantity == 50
    with pytest.raises(NotCancellable):
        service.cancel(ann, order.id)


def test_another_users_order_is_not_found(service, engine, users):
    ann, bob = users
    symbol, _ = atm_call(engine)
    order = service.place(ann, OrderRequest("BUY", 50, "LIMIT", "0.05", symbol=symbol))
    with pytest.raises(OrderNotFound):
        service.cancel(bob, order.id)
    with pytest.raises(OrderNotFound):
        service.order(bob, order.id)
    assert service.orders(bob) == [] and service.accounts(bob)["INR"].positions == []


def test_a_closed_market_refuses_with_the_next_open_unless_after_market(
        store_db, engine, users):
    ann, _ = users
    symbol, _ = atm_call(engine)
    opens = datetime(2026, 11, 26, 3, 45, tzinfo=UTC)
    closed = {p: dataclasses.replace(engine.latest(p), market_status=MarketStatus.CLOSED,
                                     market_status_until=opens) for p in engine.symbols}
    service = PaperTrading(SqlTradingStore(store_db), closed.get, lambda: engine.symbols,
                           now=lambda: NOW)
    with pytest.raises(MarketClosed) as refused:
        service.place(ann, buy(symbol))
    assert refused.value.next_open == opens and "2026-11-26T03:45:00" in str(refused.value)
    queued = service.place(ann, buy(symbol, after_market=True))
    assert queued.status == "PENDING" and queued.after_market
    assert service.match_resting(closed) == []          # still closed: nothing fills
    opened = {p: dataclasses.replace(s, market_status=MarketStatus.OPEN)
              for p, s in closed.items()}
    [filled] = service.match_resting(opened)
    assert filled.status == "FILLED" and filled.filled_quantity == 50


@pytest.mark.parametrize(("request_", "field"), [
    (OrderRequest("BUY", 30, "MARKET", ""), "quantity"),
    (OrderRequest("BUY", 0, "MARKET", ""), "quantity"),
    (OrderRequest("BUY", 50.5, "MARKET", ""), "quantity"),
    (OrderRequest("HOLD", 50, "MARKET", ""), "side"),
    (OrderRequest("BUY", 50, "LIMIT", "10.03"), "price"),
    (OrderRequest("BUY", 50, "SWAP", ""), "order_type"),
])
def test_bad_orders_name_the_field(service, engine, users, request_, field):
    symbol, _ = atm_call(engine)
    with pytest.raises(TradeError) as bad:
        service.place(users[0], dataclasses.replace(request_, symbol=symbol))
    assert bad.value.field == field and bad.value.accepted


def test_unknown_or_unlisted_contracts_name_the_symbol(service, users):
    for symbol in ("NOPE", "IDX20200101C24500"):
        with pytest.raises(TradeError) as bad:
            service.place(users[0], buy(symbol))
        assert bad.value.field in ("symbol", "expiry")


def test_a_tick_matched_twice_fills_once(service, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    limit = quote_of(engine.latest("IDX"), contract).bid
    service.place(ann, OrderRequest("BUY", 150, "LIMIT", str(limit), symbol=symbol))
    service.book = lambda snap, c: Book((Level(limit - 1, 50),), (Level(limit, 50),))
    ticks = {"IDX": engine.latest("IDX")}
    service.match_resting(ticks)
    stale = service.store.resting_orders(["IDX"])    # what a second worker read for this tick
    [changed] = service.match_resting(ticks)          # the next tick
    assert changed.filled_quantity == 100
    service.store.resting_orders = lambda products: stale    # a late worker's stale rows
    assert service.match_resting(ticks) == []
    assert [f.quantity for f in service.store.fills(ann)] == [50, 50]


def test_catalogue_products_trade_by_nse_and_occ_symbols(store_db, users):
    from deltastream.catalog import load_catalog
    from deltastream.catalog.contract_symbols import nse_symbol, occ_symbol
    from deltastream.catalog.loader import Catalog
    from deltastream.engine.setup import build_engine
    from deltastream.market.clock import FixedClock
    from deltastream.settings import Settings

    catalog = Catalog([p for p in load_catalog() if p.symbol in ("NIFTY", "SPY")])
    engine = build_engine(catalog, Settings(seed=9, strikes_each_side=5, hours="always"),
                          FixedClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC)))
    engine.tick()
    service = make_service(store_db, engine)
    ann, _ = users
    nifty = engine.latest("NIFTY").chains[0]
    weekly = nse_symbol("NIFTY", nifty.expiry, nifty.atm_strike, "call", nifty.monthly)
    order = service.place(ann, buy(weekly, 65))
    assert order.status == "FILLED" and order.contract.currency == "INR"
    with pytest.raises(TradeError) as bad:
        service.place(ann, buy(weekly, 50))               # a NIFTY lot is 65 units
    assert bad.value.field == "quantity" and "65" in bad.value.accepted
    spy = engine.latest("SPY").chains[0]
    occ = occ_symbol("SPY", spy.expiry, spy.atm_strike, "put")
    short = service.place(ann, OrderRequest("SELL", 100, "MARKET", "", symbol=occ))
    assert short.status == "FILLED" and short.contract.currency == "USD"
    accounts = service.accounts(ann)
    assert [v.symbol for v in accounts["INR"].positions] == [weekly]
    assert [v.symbol for v in accounts["USD"].positions] == [occ]
    # A naked short put on US rules blocks at least 10 % of the strike per unit.
    assert accounts["USD"].margin_used >= Decimal("0.1") * Decimal(repr(spy.atm_strike)) * 100
    assert accounts["INR"].margin_used == 0               # a long option: its premium only


def test_the_close_cancels_day_orders_but_not_after_market_ones(store_db, engine, users):
    ann, _ = users
    symbol, _ = atm_call(engine)
    service = make_service(store_db, engine)
    day = service.place(ann, OrderRequest("BUY", 50, "LIMIT", "0.05", symbol=symbol))
    closed = {p: dataclasses.replace(engine.latest(p), market_status=MarketStatus.CLOSED)
              for p in engine.symbols}
    queued = PaperTrading(service.store, closed.get, lambda: engine.symbols,
                          now=lambda: NOW).place(ann, buy(symbol, after_market=True))
    [cancelled] = service.match_resting(closed)
    assert cancelled.id == day.id and cancelled.status == "CANCELLED"
    assert cancelled.reason == "DAY order: the session closed"
    assert service.order(ann, queued.id).status == "PENDING"
