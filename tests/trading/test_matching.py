"""Matching against a quoted book with depth: walking levels, resting, crossing, stops, IOC,
and the vectorised matcher of resting limits against one tick."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from deltastream.trading.matching import (
    Book,
    Fill,
    Level,
    OrderStatus,
    book_from_quote,
    match_order,
    match_resting,
    match_resting_limits,
    to_ticks,
)
from deltastream.trading.orders import make_order

NIFTY = {"lot_size": 65, "tick_size": Decimal("0.05")}


def nifty_book(bid: str, ask: str, size: int = 130) -> Book:
    return book_from_quote(Decimal(bid), Decimal(ask), size, size, Decimal("0.05"), lot_size=65)


def test_depth_from_a_quote():
    book = nifty_book("100.00", "100.10")
    # Level k: k ticks (0.05) behind the touch, 130 x (1 + 0.5 k) units in whole lots of 65:
    # 130, 195, 260, 325, 390.
    assert book.asks == (Level(Decimal("100.10"), 130), Level(Decimal("100.15"), 195),
                         Level(Decimal("100.20"), 260), Level(Decimal("100.25"), 325),
                         Level(Decimal("100.30"), 390))
    assert [lv.price for lv in book.bids] == [Decimal(p) for p in ("100.00", "99.95", "99.90",
                                                                   "99.85", "99.80")]
    assert book.mid == Decimal("100.05")
    # 65 x 1.5 = 97.5 units is one whole lot; a bid of 0.10 has only 2 levels above zero.
    thin = book_from_quote(Decimal("0.10"), Decimal("0.15"), 65, 65, Decimal("0.05"), lot_size=65)
    assert [lv.quantity for lv in thin.asks] == [65, 65, 130, 130, 195]
    assert [lv.price for lv in thin.bids] == [Decimal("0.10"), Decimal("0.05")]


def test_a_market_order_walks_the_book_and_pays_slippage():
    order = make_order("BUY", 390, "MARKET", **NIFTY)
    result = match_order(order, nifty_book("100.00", "100.10"))
    assert result.fills == (Fill(130, Decimal("100.10")), Fill(195, Decimal("100.15")),
                            Fill(65, Decimal("100.20")))
    assert result.status is OrderStatus.FILLED and result.remaining == 0
    # Paid 130 x 100.10 + 195 x 100.15 + 65 x 100.20 = 13013 + 19529.25 + 6513 = 39055.25,
    # 16.25 more than 390 units at the touch (39039).
    paid = sum(f.quantity * f.price for f in result.fills)
    assert paid == Decimal("39055.25") and paid - 390 * Decimal("100.10") == Decimal("16.25")


def test_a_market_order_larger_than_the_book_is_cancelled_beyond_it():
    # The book holds 130 + 195 + 260 + 325 + 390 = 1300 units a side.
    result = match_order(make_order("SELL", 1365, "MARKET", **NIFTY),
                         nifty_book("100.00", "100.10"))
    assert result.filled == 1300 and result.remaining == 0
    assert result.status is OrderStatus.CANCELLED
    assert result.fills[-1] == Fill(390, Decimal("99.80"))


def test_a_market_order_with_nothing_to_trade_against_is_cancelled_not_left_pending():
    no_bids = book_from_quote(Decimal(0), Decimal("0.05"), 0, 650, Decimal("0.05"), lot_size=65)
    assert no_bids.bids == ()
    result = match_order(make_order("SELL", 65, "MARKET", **NIFTY), no_bids)
    assert (result.fills, result.remaining, result.status) == ((), 0, OrderStatus.CANCELLED)


def test_a_crossing_limit_fills_through_its_price_and_rests_the_rest():
    book = nifty_book("100.00", "100.10")
    full = match_order(make_order("BUY", 325, "LIMIT", price="100.15", **NIFTY), book)
    assert full.fills == (Fill(130, Decimal("100.10")), Fill(195, Decimal("100.15")))
    assert full.status is OrderStatus.FILLED
    day = match_order(make_order("BUY", 520, "LIMIT", price="100.15", **NIFTY), book)
    assert (day.filled, day.remaining, day.status) == (325, 195, OrderStatus.PARTIALLY_FILLED)
    ioc = match_order(make_order("BUY", 520, "LIMIT", price="100.15", time_in_force="IOC",
                                 **NIFTY), book)
    assert (ioc.filled, ioc.remaining, ioc.status) == (325, 0, OrderStatus.CANCELLED)


def test_a_limit_that_does_not_cross_rests_and_a_later_quote_fills_it():
    order = make_order("BUY", 195, "LIMIT", price="100.05", **NIFTY)
    first = match_order(order, nifty_book("100.00", "100.10"))
    assert (first.fills, first.remaining, first.status) == ((), 195, OrderStatus.PENDING)
    # The market falls: asks 100.00 (65) and 100.05 (65 x 1.5 = 97.5 -> one lot, 65) are at
    # or through the limit: 130 units fill at the order's own 100.05.
    later = match_resting(order, first.remaining, nifty_book("99.90", "100.00", size=65))
    assert later.fills == (Fill(130, Decimal("100.05")),)
    assert (later.remaining, later.status) == (65, OrderStatus.PARTIALLY_FILLED)
    last = match_resting(order, later.remaining, nifty_book("99.95", "100.05"))
    assert (last.fills, last.status) == ((Fill(65, Decimal("100.05")),), OrderStatus.FILLED)
    untouched = match_resting(order, 65, nifty_book("100.05", "100.10"))
    assert (untouched.fills, untouched.status) == ((), OrderStatus.PARTIALLY_FILLED)


def test_a_stop_waits_for_its_trigger_then_trades_at_market():
    stop = make_order("SELL", 65, "STOP", stop_price="99.50", **NIFTY)
    waiting = match_order(stop, nifty_book("100.00", "100.10"))   # mid 100.05 > 99.50
    assert (waiting.fills, waiting.status, waiting.triggered) == ((), OrderStatus.PENDING,
                                                                  False)
    fired = match_order(stop, nifty_book("99.40", "99.50"))        # mid 99.45 <= 99.50
    assert fired.triggered and fired.fills == (Fill(65, Decimal("99.40")),)


def test_a_stop_limit_becomes_a_limit_once_triggered():
    order = make_order("BUY", 390, "STOP_LIMIT", stop_price="101.00", price="101.10", **NIFTY)
    # Mid (100.95 + 101.05) / 2 = 101.00 reaches the stop; asks 101.05 (130) and 101.10 (195)
    # are within the limit; 65 units rest at 101.10.
    result = match_order(order, nifty_book("100.95", "101.05"))
    assert result.triggered
    assert result.fills == (Fill(130, Decimal("101.05")), Fill(195, Decimal("101.10")))
    assert (result.remaining, result.status) == (65, OrderStatus.PARTIALLY_FILLED)


def test_the_vectorised_matcher_by_hand():
    # Contract 0 asks: 2001 (130), 2002 (195); bids: 2000 (130), 1999 (195). Contract 1 asks
    # 501 (100). In arrival order: A buy 65 at 2001, B buy 65 at 2002, C buy 130 at 2001,
    # D sell 65 at 1999, E buy 65 at 2000, F buy 300 on contract 1 at 505.
    # B is first by price: 65 of the 325 units at or under 2002. A is next: 130 units at
    # 2001 less B's 65 ahead -> 65. C: 130 less 130 ahead -> 0. D sees 325 units -> 65.
    # E does not cross. F: 100 shown -> 100.
    filled = match_resting_limits(
        contract=np.array([0, 0, 0, 0, 0, 1]),
        is_buy=np.array([True, True, True, False, True, True]),
        limit_ticks=np.array([2001, 2002, 2001, 1999, 2000, 505]),
        remaining=np.array([65, 65, 130, 65, 65, 300]),
        bid_ticks=np.array([[2000, 1999], [499, 498]]),
        bid_sizes=np.array([[130, 195], [100, 0]]),
        ask_ticks=np.array([[2001, 2002], [501, 502]]),
        ask_sizes=np.array([[130, 195], [100, 0]]))
    assert filled.tolist() == [65, 65, 0, 65, 0, 100]


def _one_by_one(contract, is_buy, limit, remaining, bt, bs, at, asz):
    """Reference: orders sorted by price then arrival, each taking what is left of the units
    shown at or through its limit (levels are consumed best first)."""
    out = np.zeros(len(contract), dtype=np.int64)
    taken: dict[tuple[int, bool], int] = {}
    keys = sorted(range(len(contract)),
                  key=lambda i: (contract[i], is_buy[i],
                                 -limit[i] if is_buy[i] else limit[i], i))
    for i in keys:
        c, buy = int(contract[i]), bool(is_buy[i])
        shown = (asz[c][at[c] <= limit[i]].sum() if buy else bs[c][bt[c] >= limit[i]].sum())
        used = taken.get((c, buy), 0)
        out[i] = max(0, min(remaining[i], shown - used))
        taken[(c, buy)] = used + out[i]
    return out


def test_the_vectorised_matcher_agrees_with_a_one_by_one_walk():
    rng = np.random.default_rng(7)
    contracts, levels, n = 40, 5, 3000
    mid = rng.integers(100, 2000, contracts)
    bt = mid[:, None] - 1 - np.arange(levels)
    at = mid[:, None] + 1 + np.arange(levels)
    bs = rng.integers(0, 6, (contracts, levels)) * 65
    asz = rng.integers(0, 6, (contracts, levels)) * 65
    contract = rng.integers(0, contracts, n)
    is_buy = rng.random(n) < 0.5
    limit = mid[contract] + rng.integers(-6, 7, n)
    remaining = rng.integers(1, 5, n) * 65
    got = match_resting_limits(contract, is_buy, limit, remaining, bt, bs, at, asz)
    want = _one_by_one(contract, is_buy, limit, remaining, bt, bs, at, asz)
    assert np.array_equal(got, want)
    assert got.sum() > 0 and (got < remaining).any()


def test_prices_as_ticks_are_exact():
    assert to_ticks(Decimal("101.05"), Decimal("0.05")) == 2021
    assert to_ticks(Decimal("212.50"), Decimal("0.01")) == 21250
