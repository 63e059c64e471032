"""Expiry in the paper-trading service: a real NIFTY and SPY market (catalogue products, their
exchanges' sessions and calendars) on a fixed clock, positions opened on expiry day, the clock
moved past the close; settle_expired then settles each position once.

Expected figures are computed here by hand from the rules (not with trading.settlement):
NIFTY cash-settles at the intrinsic value against the close (to the paisa), a long in the
money pays STT of 0.125 % of what it receives; SPY options at least $0.01 in the money are
exercised or assigned into 100 shares per contract at the strike; the rest expire at 0."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

import pytest

from deltastream.catalog import load_catalog
from deltastream.catalog.loader import Catalog
from deltastream.core.types import MarketStatus
from deltastream.engine.setup import build_engine
from deltastream.market.clock import FixedClock
from deltastream.papertrade.matcher import RestingMatcher
from deltastream.papertrade.service import OrderRequest, PaperTrading, quote_of
from deltastream.settings import Settings
from deltastream.store.trading import ContractRef, SqlTradingStore
from deltastream.trading.matching import Book, Level

CENT = Decimal("0.01")


def cents(x: Decimal) -> Decimal:
    return x.quantize(CENT, ROUND_HALF_UP)


def _first_expiry(symbol: str, on: datetime) -> date:
    engine = build_engine(Catalog([p for p in load_catalog() if p.symbol == symbol]),
                          Settings(seed=9, strikes_each_side=8), FixedClock(on))
    engine.tick()
    return engine.latest(symbol).expiry_dates[0]


class Market:
    """One catalogue product's engine on a fixed clock, and services over one store."""

    def __init__(self, symbol: str, expiry: date, open_utc: time, store_db) -> None:
        self.symbol = symbol
        self.expiry = expiry
        self.clock = FixedClock(datetime.combine(expiry, open_utc, UTC))
        self.engine = build_engine(Catalog([p for p in load_catalog() if p.symbol == symbol]),
                                   Settings(seed=9, strikes_each_side=8), self.clock)
        self.engine.tick()
        snap = self.engine.latest(symbol)
        assert snap.market_status == MarketStatus.OPEN and snap.expiry_dates[0] == expiry
        self.store_db = store_db
        self.service = self.new_service()

    def new_service(self) -> PaperTrading:
        """A service as another process (or this one after a restart) has it."""
        return PaperTrading(SqlTradingStore(self.store_db), self.engine.latest,
                            lambda: [self.symbol], now=self.clock.now)

    def contract(self, strike: Decimal, right: str) -> ContractRef:
        currency = self.engine.latest(self.symbol).terms.currency
        return ContractRef(self.symbol, self.expiry, strike, right, currency)

    def trade(self, user: int, side: str, contract: ContractRef, units: int):
        """A market order at a book one tick wide around the snapshot's mid."""
        snap = self.engine.latest(self.symbol)
        quote = quote_of(snap, contract)
        self.service.book = lambda s, c: Book((Level(quote.bid, 10_000),),
                                              (Level(quote.ask, 10_000),))
        order = self.service.place(user, OrderRequest(
            side, units, "MARKET", "", product=self.symbol, expiry=self.expiry.isoformat(),
            strike=str(contract.strike), option_type="CE" if contract.right == "call" else "PE"))
        del self.service.book
        assert order.status == "FILLED"
        return order.avg_fill_price

    def after_the_close(self, at: time):
        self.clock = FixedClock(datetime.combine(self.expiry, at, UTC))
        self.engine.clock = self.clock
        self.engine.tick()
        snap = self.engine.latest(self.symbol)
        assert snap.market_status == MarketStatus.CLOSED
        assert self.expiry not in snap.expiry_dates
        return snap

    def strikes(self) -> list[Decimal]:
        chain = self.engine.latest(self.symbol).chain_for(self.expiry)
        return [Decimal(repr(k)) for k in chain.strikes.tolist()]


@pytest.fixture()
def nifty(store_db) -> Market:
    expiry = _first_expiry("NIFTY", datetime(2026, 12, 1, 4, 0, tzinfo=UTC))
    return Market("NIFTY", expiry, time(5, 0), store_db)          # 10:30 IST


@pytest.fixture()
def spy(store_db) -> Market:
    expiry = _first_expiry("SPY", datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    return Market("SPY", expiry, time(15, 0), store_db)           # 10:00 New York


def _orders_by_kind(service, user) -> dict[str, list]:
    out: dict[str, list] = {}
    for o in service.orders(user):
        if o.order_type == "SETTLEMENT":
            out.setdefault(o.reason.split(":")[0], []).append(o)
    return out


def test_nifty_cash_settles_at_the_close_and_otm_expires(nifty, users):
    ann, bob = users
    strikes = nifty.strikes()
    spot = Decimal(repr(nifty.engine.latest("NIFTY").spot))
    itm = max(k for k in strikes if k <= spot - 200)       # a call deep in the money
    otm = min(k for k in strikes if k <= spot - 300)       # a put far out of the money
    call, put = nifty.contract(itm, "call"), nifty.contract(otm, "put")
    call_paid = nifty.trade(ann, "BUY", call, 65)
    put_paid = nifty.trade(ann, "BUY", put, 65)
    call_sold = nifty.trade(bob, "SELL", call, 130)
    resting = nifty.service.place(bob, OrderRequest(
        "BUY", 65, "LIMIT", "0.05", product="NIFTY", expiry=nifty.expiry.isoformat(),
        strike=str(otm), option_type="PE"))
    assert resting.status == "PENDING"
    cash_before = {u: nifty.service.store.cash(u)["INR"] for u in users}

    snap = nifty.after_the_close(time(10, 30))                # 16:00 IST
    close = cents(Decimal(repr(snap.spot)))
    assert close > itm + 100 and close > otm                # still as chosen
    changed = nifty.service.settle_expired({"NIFTY": snap})

    value = close - itm
    stt = cents(65 * value * Decimal("0.00125"))
    ann_kinds = _orders_by_kind(nifty.service, ann)
    [cash_settled] = ann_kinds["CASH_SETTLEMENT"]
    [expired] = ann_kinds["EXPIRED"]
    assert (cash_settled.side, cash_settled.quantity, cash_settled.avg_fill_price) == (
        "SELL", 65, value)
    assert (expired.side, expired.quantity, expired.avg_fill_price) == ("SELL", 65, 0)
    assert f"STT {stt}" in cash_settled.reason and str(close) in cash_settled.reason
    assert nifty.service.store.cash(ann)["INR"] == cash_before[ann] + 65 * value - stt
    [bob_settled] = _orders_by_kind(nifty.service, bob)["CASH_SETTLEMENT"]
    assert (bob_settled.side, bob_settled.quantity, bob_settled.avg_fill_price) == (
        "BUY", 130, value)
    assert nifty.service.store.cash(bob)["INR"] == cash_before[bob] - 130 * value
    cancelled = nifty.service.order(bob, resting.id)
    assert cancelled.status == "CANCELLED" and str(nifty.expiry) in cancelled.reason
    assert {o.id for o in changed} == {cash_settled.id, expired.id, bob_settled.id, resting.id}

    # Positions flat; realised P&L by hand (charges of the opening buys counted as before).
    account = nifty.service.accounts(ann)["INR"]
    assert all(v.position.quantity == 0 for v in account.positions)
    by_contract = {v.contract: v.position for v in account.positions}
    assert by_contract[call].realised == 65 * (value - call_paid)
    assert by_contract[put].realised == -65 * put_paid
    assert nifty.service.accounts(bob)["INR"].positions[0].position.realised == (
        130 * (call_sold - value))

    # Again, and after a restart (a new service), and on later ticks: nothing more.
    assert nifty.service.settle_expired({"NIFTY": snap}) == []
    assert nifty.new_service().settle_expired({"NIFTY": snap}) == []
    assert len(_orders_by_kind(nifty.service, ann)["CASH_SETTLEMENT"]) == 1


def test_two_processes_settling_at_once_settle_once(nifty, users):
    ann, _ = users
    spot = Decimal(repr(nifty.engine.latest("NIFTY").spot))
    itm = max(k for k in nifty.strikes() if k <= spot - 200)
    nifty.trade(ann, "BUY", nifty.contract(itm, "call"), 65)
    snap = nifty.after_the_close(time(10, 30))
    services = [nifty.new_service() for _ in range(4)]
    barrier = threading.Barrier(len(services))
    results: list = []

    def run(service):
        barrier.wait()
        results.append(service.settle_expired({"NIFTY": snap}))

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert len(_orders_by_kind(nifty.service, ann)["CASH_SETTLEMENT"]) == 1
    assert [f.quantity for f in nifty.service.store.fills(ann)] == [65, 65]


def test_spy_itm_put_assigned_into_stock_call_exercised_otm_expires(spy, users):
    ann, bob = users
    strikes = spy.strikes()
    spot = Decimal(repr(spy.engine.latest("SPY").spot))
    put_k = min(k for k in strikes if k >= spot + 10)        # deep in the money put
    call_k = max(k for k in strikes if k <= spot - 10)       # deep in the money call
    otm_k = min(k for k in strikes if k >= spot + 15)        # a call far out of the money
    spy.trade(bob, "SELL", spy.contract(put_k, "put"), 100)
    spy.trade(ann, "BUY", spy.contract(call_k, "call"), 200)
    otm_paid = spy.trade(ann, "BUY", spy.contract(otm_k, "call"), 100)
    cash_before = {u: spy.service.store.cash(u)["USD"] for u in users}

    snap = spy.after_the_close(time(22, 0))                   # 17:00 New York
    close = cents(Decimal(repr(snap.spot)))
    assert put_k - close >= CENT and close - call_k >= CENT and otm_k > close
    spy.service.settle_expired({"SPY": snap})

    bob_kinds = _orders_by_kind(spy.service, bob)
    [assigned], [delivered] = bob_kinds["ASSIGNMENT"], bob_kinds["DELIVERY"]
    assert (assigned.side, assigned.quantity, assigned.avg_fill_price) == ("BUY", 100, 0)
    assert (delivered.side, delivered.quantity, delivered.avg_fill_price) == (
        "BUY", 100, put_k)
    assert delivered.contract == ContractRef("SPY", None, None, None, "USD")
    assert spy.service.store.cash(bob)["USD"] == cash_before[bob] - 100 * put_k

    ann_kinds = _orders_by_kind(spy.service, ann)
    [exercised], [delivered_ann], [expired] = (ann_kinds["EXERCISE"], ann_kinds["DELIVERY"],
                                              ann_kinds["EXPIRED"])
    assert (exercised.side, exercised.quantity, exercised.avg_fill_price) == ("SELL", 200, 0)
    assert (delivered_ann.side, delivered_ann.quantity, delivered_ann.avg_fill_price) == (
        "BUY", 200, call_k)
    assert (expired.side, expired.quantity, expired.contract.strike) == ("SELL", 100, otm_k)
    assert spy.service.store.cash(ann)["USD"] == cash_before[ann] - 200 * call_k

    # The positions (what the positions and portfolio routes show): the shares at the strike.
    views = {v.contract: v for v in spy.service.accounts(bob)["USD"].positions}
    stock = views[ContractRef("SPY", None, None, None, "USD")]
    assert (stock.symbol, stock.position.quantity, stock.position.average_cost) == (
        "SPY", 100, put_k)
    assert views[spy.contract(put_k, "put")].position.quantity == 0
    ann_views = {v.contract: v for v in spy.service.accounts(ann)["USD"].positions}
    assert ann_views[ContractRef("SPY", None, None, None, "USD")].position.quantity == 200
    assert ann_views[spy.contract(otm_k, "call")].position.realised == -100 * otm_paid
    assert spy.service.settle_expired({"SPY": snap}) == []


def test_the_matcher_settles_on_the_first_snapshot_past_the_expiry(nifty, users):
    ann, _ = users
    spot = Decimal(repr(nifty.engine.latest("NIFTY").spot))
    itm = max(k for k in nifty.strikes() if k <= spot - 200)
    nifty.trade(ann, "BUY", nifty.contract(itm, "call"), 65)
    matcher = RestingMatcher(nifty.new_service())
    matcher.on_snapshot(nifty.engine.latest("NIFTY"))
    assert matcher.run_once() == 0                       # expiry day, still listed
    snap = nifty.after_the_close(time(10, 30))
    matcher.on_snapshot(snap)
    assert matcher.run_once() == 1
    [settled] = _orders_by_kind(nifty.service, ann)["CASH_SETTLEMENT"]
    assert settled.avg_fill_price == cents(Decimal(repr(snap.spot))) - itm
    nifty.clock.advance(3600.0)
    nifty.engine.tick()
    matcher.on_snapshot(nifty.engine.latest("NIFTY"))
    assert matcher.run_once() == 0
