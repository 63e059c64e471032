"""Positions, realised and unrealised P&L by weighted average cost and FIFO, through partial
closes and through zero, charges counted once, and portfolio Greeks. Every figure is worked
out by hand in the comments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from deltastream.trading.charges import fill_charges
from deltastream.trading.orders import Side
from deltastream.trading.positions import (
    CostMethod,
    Lot,
    Position,
    apply_fill,
    portfolio_greeks,
    replay,
)

FILLS = [(130, Decimal(100)), (65, Decimal(106)), (-65, Decimal(110)), (-260, Decimal(98)),
         (65, Decimal(90))]


def _steps(method: CostMethod) -> list[Position]:
    position = Position(method=method)
    out = []
    for quantity, price in FILLS:
        position = apply_fill(position, quantity, price)
        out.append(position)
    return out


def test_weighted_average_cost_through_partial_closes_and_zero():
    steps = _steps(CostMethod.AVERAGE)
    # Buy 130 @ 100, buy 65 @ 106: average (13,000 + 6,890) / 195 = 19,890 / 195 = 102.
    assert (steps[1].quantity, steps[1].average_cost, steps[1].realised) == (195, 102, 0)
    # Sell 65 @ 110: realised 65 x (110 - 102) = 520; the average stays 102.
    assert (steps[2].quantity, steps[2].average_cost, steps[2].realised) == (130, 102, 520)
    # Sell 260 @ 98: closes 130 at (98 - 102) x 130 = -520 (realised 0) and opens a short of
    # 130 at the fill price 98.
    assert (steps[3].quantity, steps[3].average_cost, steps[3].realised) == (-130, 98, 0)
    # Buy 65 @ 90 covers half the short: (98 - 90) x 65 = 520; the average stays 98 (the
    # original simulator dropped it to 0 here).
    assert (steps[4].quantity, steps[4].average_cost, steps[4].realised) == (-65, 98, 520)
    # Unrealised at a mid of 95: (95 - 98) x -65 = +195.
    assert steps[4].unrealised(Decimal(95)) == 195


def test_fifo_through_partial_closes_and_zero():
    steps = _steps(CostMethod.FIFO)
    assert steps[1].lots == (Lot(130, Decimal(100)), Lot(65, Decimal(106)))
    # Sell 65 @ 110 closes 65 of the oldest lot: 65 x (110 - 100) = 650.
    assert steps[2].realised == 650
    assert steps[2].lots == (Lot(65, Decimal(100)), Lot(65, Decimal(106)))
    assert steps[2].average_cost == 103          # (6,500 + 6,890) / 130
    # Sell 260 @ 98: 65 x (98 - 100) = -130 and 65 x (98 - 106) = -520: 650 - 650 = 0;
    # a short of 130 opens at 98.
    assert (steps[3].realised, steps[3].lots) == (0, (Lot(-130, Decimal(98)),))
    # Buy 65 @ 90: 65 x (98 - 90) = 520.
    assert (steps[4].realised, steps[4].lots) == (520, (Lot(-65, Decimal(98)),))
    assert steps[4].unrealised(Decimal(95)) == 195


def test_flat_positions_realise_the_same_under_both_methods():
    # Once flat, realised P&L is cash out less cash in whatever the method: here
    # -(65 x 100.05) - (130 x 100.10) + 65 x 101 + 130 x 99.95 = -6,503.25 - 13,013 +
    # 6,565 + 12,993.50 = 42.25.
    fills = [(65, Decimal("100.05"), Decimal(0)), (130, Decimal("100.10"), Decimal(0)),
             (-65, Decimal(101), Decimal(0)), (-130, Decimal("99.95"), Decimal(0))]
    average, fifo = replay(fills), replay(fills, CostMethod.FIFO)
    assert average.quantity == fifo.quantity == 0
    assert average.realised == fifo.realised == Decimal("42.25")
    assert average.cost == fifo.cost == 0


def test_an_average_that_does_not_terminate_still_closes_exactly():
    # Buy 65 @ 100, buy 130 @ 100.05: cost 6,500 + 13,006.50 = 19,506.50, average
    # 100.0333...; selling all 195 @ 101 realises 19,695 - 19,506.50 = 188.50 exactly.
    position = replay([(65, Decimal(100), Decimal(0)), (130, Decimal("100.05"), Decimal(0))])
    assert position.average_cost.quantize(Decimal("0.0001")) == Decimal("100.0333")
    assert apply_fill(position, -195, Decimal(101)).realised == Decimal("188.50")
    # In two parts: 65 @ 101 realises 65 x (101 - 100.0333...) = 62.8333... -> 62.83, and the
    # 130 left cost 19,506.50 - (6,565 - 62.83) = 13,004.33; 130 @ 101 = 13,130 realises
    # 125.67. 62.83 + 125.67 = 188.50, the same to the paisa.
    part = apply_fill(position, -65, Decimal(101))
    assert (part.realised, part.cost) == (Decimal("62.83"), Decimal("13004.33"))
    assert apply_fill(part, -130, Decimal(101)).realised == Decimal("188.50")


def test_charges_are_counted_once_per_fill():
    # Buy 130 @ 120.50 (charges 30.57, see test_charges) and sell 260 @ 150 through zero
    # (premium 39,000: brokerage 20, STT 39.00, transaction 13.6617 -> 13.66, SEBI 0.039 ->
    # 0.04, GST 18 % x 33.70 = 6.066 -> 6.07: 78.77). The flip is one fill: its charges are
    # booked once, not split over the closing and the opening part.
    buy = fill_charges("INR", Side.BUY, 130, Decimal("120.50")).total
    sell = fill_charges("INR", Side.SELL, 260, Decimal(150)).total
    assert (buy, sell) == (Decimal("30.57"), Decimal("78.77"))
    position = replay([(130, Decimal("120.50"), buy), (-260, Decimal(150), sell)])
    # Realised 130 x (150 - 120.50) = 3,835 gross; charges 30.57 + 78.77 = 109.34;
    # net 3,725.66. The short of 130 @ 150 carries no charge of its own.
    assert position.realised == 3835
    assert position.charges == Decimal("109.34")
    assert position.net_realised == Decimal("3725.66")
    assert (position.quantity, position.average_cost) == (-130, 150)


def test_a_fill_of_nothing_is_refused():
    with pytest.raises(ValueError):
        apply_fill(Position(), 0, Decimal(1))


def test_portfolio_greeks_sum_quantity_times_multiplier_times_greek():
    # Long 130 calls (delta 0.5, gamma 0.001, theta -5, vega 12), short 65 puts (delta -0.3,
    # gamma 0.0008, theta -4, vega 10), short 100 of the underlying (delta 1):
    # delta 65 + 19.5 - 100 = -15.5; gamma 0.13 - 0.052 = 0.078; theta -650 + 260 = -390;
    # vega 1,560 - 650 = 910.
    greeks = portfolio_greeks([(130, 1, 0.5, 0.001, -5.0, 12.0),
                               (-65, 1, -0.3, 0.0008, -4.0, 10.0),
                               (-100, 1, 1.0, 0.0, 0.0, 0.0)])
    assert greeks.delta == pytest.approx(-15.5)
    assert greeks.gamma == pytest.approx(0.078)
    assert greeks.theta == pytest.approx(-390.0)
    assert greeks.vega == pytest.approx(910.0)
    # Contracts with a multiplier: 2 contracts x 100 x delta 0.25 = 50.
    assert portfolio_greeks([(2, 100, 0.25, 0.0, 0.0, 0.0)]).delta == pytest.approx(50.0)
