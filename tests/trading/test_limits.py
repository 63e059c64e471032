"""Position and loss limits with hand-computed figures: open lots per contract and side
(position + the side's open orders + the order), gross exposure (sum of |units| x mark), the
day's loss (current plus the order's charges and spread against the mark; the current one
marked to market from the previous close), closing orders always allowed, 0 turning a limit
off."""

from __future__ import annotations

from decimal import Decimal

import pytest

from deltastream.trading.limits import (
    DayHolding,
    LimitError,
    Limits,
    OrderExposure,
    check_limits,
    day_loss,
)
from deltastream.trading.margin import MarginError

D = Decimal


def exposure(**kw) -> OrderExposure:
    base = {"lot_size": 50, "held": 0, "pending": 0, "units": 50, "mark": D("100"),
            "gross": D("0"), "day_loss": D("0"), "order_cost": D("0"), "currency": "INR"}
    return OrderExposure(**{**base, **kw})


def test_open_lots_count_the_position_the_sides_open_orders_and_the_order():
    limits = Limits(max_open_lots=4)
    # 2 lots held + 1 lot resting + 1 lot ordered = 4 lots: at the limit, allowed.
    check_limits(limits, exposure(held=100, pending=50, units=50))
    with pytest.raises(LimitError) as caught:
        check_limits(limits, exposure(held=100, pending=50, units=100))
    error = caught.value
    assert (error.name, error.limit, error.current, error.after, error.unit) == (
        "max_open_lots", 4, 3, 5, "lots")
    assert isinstance(error, MarginError)
    assert str(error) == "limit max_open_lots: 4 lots; now 3, after the order 5"
    # Shorts count the same way.
    with pytest.raises(LimitError):
        check_limits(limits, exposure(held=-200, units=-50))


def test_an_order_that_only_reduces_passes_every_limit():
    limits = Limits(max_open_lots=1, max_gross_exposure=D("1"), max_daily_loss=D("1"))
    check_limits(limits, exposure(held=500, units=-500, gross=D("50000"),
                                  day_loss=D("99999"), order_cost=D("30")))
    # Turning through zero is not only reducing: 600 sold against 500 held ends 100 short,
    # so a day past its loss limit refuses it (lots and gross fall: 10 -> 2 lots,
    # 50,000 -> 10,000).
    with pytest.raises(LimitError) as caught:
        check_limits(limits, exposure(held=500, units=-600, gross=D("50000"), day_loss=D("5")))
    assert caught.value.name == "max_daily_loss"


def test_gross_exposure_marks_the_contract_after_the_order():
    # Other positions 30,000 + 200 units held at 100 = 50,000 now; buying 100 more: 60,000.
    limits = Limits(max_gross_exposure=D("55000"))
    with pytest.raises(LimitError) as caught:
        check_limits(limits, exposure(held=200, units=100, gross=D("50000")))
    assert (caught.value.current, caught.value.after, caught.value.unit) == (
        D("50000"), D("60000"), "INR")
    check_limits(Limits(max_gross_exposure=D("60000")),
                 exposure(held=200, units=100, gross=D("50000")))


def test_the_days_loss_counts_the_orders_own_cost():
    # Loss now 9,950; the order pays 35.40 charges and 50 x 0.5 spread against the mid.
    limits = Limits(max_daily_loss=D("10000"))
    check_limits(limits, exposure(day_loss=D("9950"), order_cost=D("50")))
    with pytest.raises(LimitError) as caught:
        check_limits(limits, exposure(day_loss=D("9950"), order_cost=D("60.40")))
    assert (caught.value.limit, caught.value.current, caught.value.after) == (
        D("10000"), D("9950"), D("10010.40"))
    # Past the limit already: refused whatever the order costs.
    with pytest.raises(LimitError):
        check_limits(limits, exposure(day_loss=D("10000.01")))


def test_zero_turns_limits_off():
    check_limits(Limits(), exposure(held=10**9, units=10**9, gross=D("1e12"),
                                    day_loss=D("1e12")))
    assert not Limits().any and Limits(max_daily_loss=D("1")).any


def test_the_days_loss_is_marked_from_the_previous_close():
    # 130 units carried overnight (bought at 100 and 110: cost 13,650), closed yesterday at
    # 115: worth 14,950 when the day began. Today 65 sold at 120 with 30 of charges
    # (+7,770) and the other 65 now marked at 118 (7,670): the day made
    # 7,770 + 7,670 - 14,950 = 490, a loss of -490. Last week's gain on the position
    # (115 against an average of 105) is not the day's.
    carried = DayHolding(units=65, mark=D("118"), units_at_start=130,
                         previous_close=D("115"), cost_at_start=D("13650"))
    assert carried.change == D("-7280")
    assert day_loss(D("7770"), [carried]) == D("-490")
    # Without a previous close the start is the position's cost then: 7,770 + 7,670 -
    # 13,650 = 1,790 made.
    unknown = DayHolding(65, D("118"), 130, None, D("13650"))
    assert day_loss(D("7770"), [unknown]) == D("-1790")
    # Bought today only (nothing at the start): the spread and the charges are the loss,
    # 50 bought at 101 with 12 of charges, marked at 100.5: -(-5,062 + 5,025) = 37.
    assert day_loss(D("-5062"), [DayHolding(50, D("100.5"), 0, D("90"), D("0"))]) == D("37")
    # A position closed today counts what it was worth at the start: sold 130 at 116 (30
    # of charges) after a close at 115: 15,080 - 30 - 14,950 = 100 made.
    closed = DayHolding(0, D("117"), 130, D("115"), D("13650"))
    assert day_loss(D("15050"), [closed]) == D("-100")
