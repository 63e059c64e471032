"""Order checks: lot-size multiples, prices on the tick, each failure naming its field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from deltastream.trading.orders import (
    OrderError,
    OrderType,
    Side,
    TimeInForce,
    check_quantity,
    make_order,
)

NIFTY = {"lot_size": 65, "tick_size": Decimal("0.05")}
US = {"lot_size": 100, "tick_size": Decimal("0.01")}


def test_a_limit_order_from_the_contracts_body():
    order = make_order("buy", "130", "limit", price="101.05", **NIFTY)
    assert order.side is Side.BUY and order.quantity == 130
    assert order.order_type is OrderType.LIMIT and order.limit_price == Decimal("101.05")
    assert order.time_in_force is TimeInForce.DAY


def test_a_market_order_takes_an_empty_price():
    order = make_order("SELL", 65, "MARKET", price="", **NIFTY)
    assert order.limit_price is None and order.side.sign == -1


def test_a_float_price_on_the_tick_is_exact():
    # 101.05 has no exact binary value; its shortest text is on the 0.05 tick.
    assert make_order("BUY", 65, "LIMIT", price=101.05, **NIFTY).limit_price == Decimal("101.05")


def test_stop_limit_and_ioc():
    order = make_order("SELL", 200, "stop-limit", price="4.50", stop_price="4.60",
                       time_in_force="ioc", **US)
    assert order.order_type is OrderType.STOP_LIMIT
    assert (order.limit_price, order.stop_price) == (Decimal("4.50"), Decimal("4.60"))
    assert order.time_in_force is TimeInForce.IOC


@pytest.mark.parametrize(("quantity", "words"), [
    (0, "must be positive"), (-65, "must be positive"), (64, "multiple of the lot size 65"),
    (97.5, "whole number"), ("65.5", "whole number"), ("abc", "not a number"),
    (True, "not a number"), (float("nan"), "whole number"),
])
def test_quantities_off_the_lot_are_rejected(quantity, words):
    with pytest.raises(OrderError) as caught:
        check_quantity(quantity, 65)
    assert caught.value.field == "quantity" and words in caught.value.message


def test_whole_lots_pass():
    # 3 lots of 65 = 195 units, also written as a float or a decimal string.
    assert check_quantity(195, 65) == check_quantity(195.0, 65) == check_quantity("195", 65) == 195


@pytest.mark.parametrize(("price", "tick", "words"), [
    ("101.03", NIFTY, "not on the tick 0.05"),     # 101.03 / 0.05 = 2020.6 ticks
    ("2.005", US, "not on the tick 0.01"),
    ("0", NIFTY, "positive"), ("-1", NIFTY, "positive"), ("x", NIFTY, "not a price"),
    ("inf", NIFTY, "positive"),
])
def test_prices_off_the_tick_are_rejected(price, tick, words):
    with pytest.raises(OrderError) as caught:
        make_order("BUY", tick["lot_size"], "LIMIT", price=price, **tick)
    assert caught.value.field == "price" and words in caught.value.message


@pytest.mark.parametrize(("args", "kwargs", "field"), [
    (("HOLD", 65, "MARKET"), {}, "side"),
    (("BUY", 65, "ICEBERG"), {}, "order_type"),
    (("BUY", 65, "LIMIT"), {}, "price"),
    (("BUY", 65, "MARKET"), {"price": "100"}, "price"),
    (("BUY", 65, "STOP"), {}, "stop_price"),
    (("BUY", 65, "LIMIT"), {"price": "100", "stop_price": "99"}, "stop_price"),
    (("BUY", 65, "STOP"), {"stop_price": "99.99"}, "stop_price"),
    (("BUY", 65, "MARKET"), {"time_in_force": "GTC"}, "time_in_force"),
])
def test_each_failure_names_its_field(args, kwargs, field):
    with pytest.raises(OrderError) as caught:
        make_order(*args, **NIFTY, **kwargs)
    assert caught.value.field == field
