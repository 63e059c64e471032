"""A matching pass (PaperTrading.match_resting) over many resting orders: one read of the
open orders of the tick's products, the plain limits matched all at once with the size shown
shared by price then time, one lock per account, writes only for the orders that change.

Books are set by hand (IDX: tick 0.05, lot 50; SEC: tick 0.01, lot 100), so every figure
below is hand-computed: fills are at each order's own limit."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest

from deltastream.papertrade import service as service_module
from deltastream.papertrade.service import OrderRequest
from deltastream.store.trading import SqlTradingStore
from deltastream.trading.matching import Book, Level
from tests.papertrade.test_service import atm_call, quote_of

# A book through which no order in these tests crosses at placement.
FAR = Book((Level(Decimal("1"), 5000),), (Level(Decimal("1000"), 5000),))


def _rest(service, user, symbol, side, quantity, limit) -> int:
    service.book = lambda snap, c: FAR
    order = service.place(user, OrderRequest(side, quantity, "LIMIT", str(limit),
                                             symbol=symbol))
    assert order.status == "PENDING"
    return order.id


def _counting_locks(service) -> list[list[int]]:
    """The users whose account locks the service takes, a list per transaction, in order."""
    taken: list[list[int]] = []
    locked, locked_accounts = service.store.locked, service.store.locked_accounts

    @contextlib.contextmanager
    def counting(user_id):
        taken.append([user_id])
        with locked(user_id) as ledger:
            yield ledger

    @contextlib.contextmanager
    def counting_accounts(user_ids):
        taken.append(sorted(user_ids))
        with locked_accounts(user_ids) as ledgers:
            yield ledgers

    service.store.locked = counting
    service.store.locked_accounts = counting_accounts
    return taken


def test_orders_on_one_contract_share_the_size_by_price_then_time(service, engine, users):
    ann, bob = users
    symbol, contract = atm_call(engine)
    bid = quote_of(engine.latest("IDX"), contract).bid
    tick = Decimal("0.05")
    # Placed while the book shows nothing through these limits: all rest.
    first = _rest(service, ann, symbol, "BUY", 100, bid)             # earliest, at bid
    better = _rest(service, bob, symbol, "BUY", 100, bid + tick)     # best price, later
    second = _rest(service, ann, symbol, "BUY", 100, bid)            # same price as first
    sell = _rest(service, bob, symbol, "SELL", 50, bid + 20 * tick)  # far above the bid
    # The next tick shows 150 units at the ask (bid) and 50 more one tick above: 200 units
    # at or below bid + tick, 150 at or below bid.
    service.book = lambda snap, c: Book((Level(bid - 10 * tick, 500),),
                                        (Level(bid, 150), Level(bid + tick, 50)))
    changed = {o.id: o for o in service.match_resting({"IDX": engine.latest("IDX")})}
    # Best price first: bob's 100 at bid + 0.05 (200 available); then ann's orders at bid
    # share what is left of the 150 at or below bid: 50 to the earlier, none to the later.
    assert {i: (o.status, o.filled_quantity) for i, o in changed.items()} == {
        better: ("FILLED", 100), first: ("PARTIALLY_FILLED", 50)}
    assert service.order(ann, second).filled_quantity == 0
    assert service.order(bob, sell).status == "PENDING"
    assert [(f.order_id, f.quantity, f.price) for f in service.store.fills(bob)] == [
        (better, 100, bid + tick)]
    assert [(f.order_id, f.quantity, f.price) for f in service.store.fills(ann)] == [
        (first, 50, bid)]


def test_one_lock_per_account_and_none_for_accounts_that_do_not_change(service, engine,
                                                                       users):
    ann, bob = users
    symbol, contract = atm_call(engine)
    bid = quote_of(engine.latest("IDX"), contract).bid
    ids = [_rest(service, ann, symbol, "BUY", 50, bid) for _ in range(4)]
    _rest(service, bob, symbol, "BUY", 50, bid - 1)       # below every ask: unchanged
    service.book = lambda snap, c: Book((Level(bid - 2, 500),), (Level(bid, 500),))
    taken = _counting_locks(service)
    changed = service.match_resting({"IDX": engine.latest("IDX")})
    assert sorted(o.id for o in changed) == ids
    assert taken == [[ann]]
    assert all(o.status == "FILLED" for o in changed)
    # Cash moved by the four fills once each: 4 x 50 units at the limit, plus charges.
    fills = service.store.fills(ann)
    assert [(f.quantity, f.price) for f in fills] == [(50, bid)] * 4


def _crossed_with_bobs_write_failing(service, engine, users):
    """Ann and Bob each rest a buy of 50 at the bid, the book's ask comes down onto it, and
    the service's write of Bob's account (the second, by id) fails: the orders' ids, the bid,
    the locks the service takes from now on and the real ``_apply_account`` to put back."""
    ann, bob = users
    symbol, contract = atm_call(engine)
    bid = quote_of(engine.latest("IDX"), contract).bid
    ids = [_rest(service, who, symbol, "BUY", 50, bid) for who in (ann, bob)]
    service.book = lambda snap, c: Book((Level(bid - 2, 500),), (Level(bid, 500),))
    taken = _counting_locks(service)
    apply = service._apply_account

    def failing_bob(ledger, plans, now):
        if ledger.user_id == bob:
            raise RuntimeError("the store failed")
        return apply(ledger, plans, now)

    service._apply_account = failing_bob
    return ids, bid, taken, apply


def test_the_accounts_that_change_in_a_pass_share_one_transaction_within_the_budget(
        service, engine, users, monkeypatch):
    monkeypatch.setattr(service_module, "MATCH_LOCK_BUDGET", 60.0)
    ann, bob = users
    ids, bid, taken, apply = _crossed_with_bobs_write_failing(service, engine, users)
    # A pass that fails midway (the second account's write) stores nothing of either.
    with pytest.raises(RuntimeError):
        service.match_resting({"IDX": engine.latest("IDX")})
    assert [service.order(u, i).status for u, i in zip((ann, bob), ids, strict=True)] == [
        "PENDING", "PENDING"] and service.store.fills(ann) == []
    service._apply_account = apply
    changed = service.match_resting({"IDX": engine.latest("IDX")})
    assert sorted(o.id for o in changed) == ids and taken == [sorted((ann, bob))] * 2
    assert [(f.quantity, f.price) for f in service.store.fills(bob)] == [(50, bid)]


def test_a_pass_past_its_budget_commits_and_goes_on_in_another_transaction(
        service, engine, users, monkeypatch):
    # No budget: each account's changes commit on their own (order placement gets the
    # write lock in between), and a failure in one account's keeps the others' committed.
    monkeypatch.setattr(service_module, "MATCH_LOCK_BUDGET", 0.0)
    ann, bob = users
    ids, bid, taken, apply = _crossed_with_bobs_write_failing(service, engine, users)
    with pytest.raises(RuntimeError):
        service.match_resting({"IDX": engine.latest("IDX")})
    assert taken == [sorted((ann, bob)), [bob]]
    assert [service.order(u, i).status for u, i in zip((ann, bob), ids, strict=True)] == [
        "FILLED", "PENDING"]
    service._apply_account = apply
    changed = service.match_resting({"IDX": engine.latest("IDX")})
    assert [o.id for o in changed] == ids[1:] and taken[-1] == [bob]
    assert [(f.quantity, f.price) for f in service.store.fills(ann)] == [(50, bid)]
    assert [(f.quantity, f.price) for f in service.store.fills(bob)] == [(50, bid)]


def test_only_the_ticks_products_orders_are_read(service, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    bid = quote_of(engine.latest("IDX"), contract).bid
    idx = _rest(service, ann, symbol, "BUY", 50, bid)
    store: SqlTradingStore = service.store
    assert [o.id for o in store.open_orders(["IDX"])] == [idx]
    assert store.open_orders(["SEC"]) == []
    assert [o.id for o in store.open_orders()] == [idx]
    service.book = lambda snap, c: Book((Level(bid - 2, 500),), (Level(bid, 500),))
    # A tick of SEC alone leaves the IDX order resting, however its book looks.
    assert service.match_resting({"SEC": engine.latest("SEC")}) == []
    assert service.order(ann, idx).status == "PENDING"


def test_a_sell_limit_fills_against_bids_at_or_above_it(service, engine, users):
    ann, _ = users
    symbol, _ = atm_call(engine)
    # A long position first, so the sell closes it (no short margin involved).
    service.book = lambda snap, c: Book((Level(Decimal("90"), 500),),
                                        (Level(Decimal("100"), 500),))
    service.place(ann, OrderRequest("BUY", 100, "MARKET", "", symbol=symbol))
    order = _rest(service, ann, symbol, "SELL", 100, Decimal("105.05"))
    # 100 units bid at or above 105.05 (50 at 105.10, 50 at 105.05), more below it.
    bids = (Level(Decimal("105.10"), 50), Level(Decimal("105.05"), 50),
            Level(Decimal("105"), 500))
    service.book = lambda snap, c: Book(bids, (Level(Decimal("106"), 500),))
    [changed] = service.match_resting({"IDX": engine.latest("IDX")})
    assert (changed.id, changed.status, changed.filled_quantity) == (order, "FILLED", 100)
    assert [(f.side, f.quantity, f.price) for f in service.store.fills(ann)][-1] == (
        "SELL", 100, Decimal("105.05"))


def test_fills_the_margin_covers_only_one_by_one_fill_in_time_priority(service, engine,
                                                                        users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    bid = quote_of(engine.latest("IDX"), contract).bid
    # Two resting buys of about 6 lakh each: each placement is covered on its own (a resting
    # order's premium is checked against the cash when placed), together they exceed the
    # 10 lakh of cash.
    units = int(Decimal(600_000) / (bid * 50)) * 50
    assert 2 * units * bid > Decimal(1_000_000) > units * bid + 1000
    first = _rest(service, ann, symbol, "BUY", units, bid)
    second = _rest(service, ann, symbol, "BUY", units, bid)
    service.book = lambda snap, c: Book((Level(bid - 2, 500),), (Level(bid, 10 * units),))
    changed = {o.id: o for o in service.match_resting({"IDX": engine.latest("IDX")})}
    assert changed[first].status == "FILLED"
    assert changed[second].status == "CANCELLED"
    assert "margin" in changed[second].reason.lower()
    assert [(f.order_id, f.quantity, f.price) for f in service.store.fills(ann)] == [
        (first, units, bid)]
