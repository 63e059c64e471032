"""Charges per fill, hand-computed from the documented default rates."""

from __future__ import annotations

from decimal import Decimal

import pytest

from deltastream.trading.charges import (
    IndiaCharges,
    USCharges,
    fill_charges,
    india_charges,
    us_charges,
)
from deltastream.trading.orders import Side


def test_an_indian_option_buy():
    # 130 NIFTY units at 120.50: premium 15,665.00.
    #   brokerage flat                       20.00
    #   STT (sells only)                      0.00
    #   transaction 15665 x 0.03503 %         5.4874495 -> 5.49
    #   SEBI 15665 x 0.0001 %                 0.015665  -> 0.02
    #   GST 18 % x (20 + 5.49 + 0.02) = 25.51 x 0.18 = 4.5918 -> 4.59
    #   stamp 15665 x 0.003 %                 0.46995   -> 0.47
    #   total 20 + 5.49 + 0.02 + 4.59 + 0.47 = 30.57
    charges = india_charges(Side.BUY, 130, Decimal("120.50"))
    assert (charges.brokerage, charges.taxes, charges.exchange, charges.regulatory,
            charges.gst, charges.stamp_duty) == tuple(
        Decimal(x) for x in ("20.00", "0.00", "5.49", "0.02", "4.59", "0.47"))
    assert charges.total == Decimal("30.57")


def test_an_indian_option_sell():
    # 130 units at 150.00: premium 19,500.00. STT 0.1 % = 19.50; transaction 6.83085 -> 6.83;
    # SEBI 0.0195 -> 0.02; GST 18 % x (20 + 6.83 + 0.02) = 26.85 x 0.18 = 4.833 -> 4.83;
    # no stamp duty. Total 20 + 19.50 + 6.83 + 0.02 + 4.83 = 51.18.
    charges = india_charges(Side.SELL, 130, Decimal("150.00"))
    assert (charges.taxes, charges.exchange, charges.gst, charges.stamp_duty) == (
        Decimal("19.50"), Decimal("6.83"), Decimal("4.83"), Decimal("0.00"))
    assert charges.total == Decimal("51.18")


def test_a_configured_indian_schedule():
    # Zero brokerage: GST only on 6.83 + 0.02 = 6.85 x 0.18 = 1.233 -> 1.23;
    # total 19.50 + 6.83 + 0.02 + 1.23 = 27.58.
    free = IndiaCharges(brokerage_per_order=Decimal(0))
    assert india_charges(Side.SELL, 130, Decimal("150.00"), free).total == Decimal("27.58")


def test_us_option_fills():
    # 3 contracts (300 units) at 4.25. Buy: commission 3 x 0.65 = 1.95; ORF + clearing
    # 3 x (0.023 + 0.025) = 0.144 -> 0.14; total 2.09.
    buy = us_charges(Side.BUY, 300, Decimal("4.25"))
    assert (buy.brokerage, buy.exchange, buy.regulatory, buy.total) == (
        Decimal("1.95"), Decimal("0.14"), Decimal("0.00"), Decimal("2.09"))
    # Sell adds FINRA TAF 3 x 0.00279 = 0.00837 -> 0.01 (SEC fee 0): 2.10.
    assert us_charges(Side.SELL, 300, Decimal("4.25")).total == Decimal("2.10")
    # With the SEC fee at its former $27.80 per million: proceeds 1,275 x 0.0000278 =
    # 0.035445 -> 0.04; total 2.14.
    sec = USCharges(sec_fee_sell_rate=Decimal("0.0000278"))
    assert us_charges(Side.SELL, 300, Decimal("4.25"), sec).total == Decimal("2.14")


def test_the_market_follows_the_currency():
    assert fill_charges("INR", Side.BUY, 130, Decimal("120.50")).total == Decimal("30.57")
    assert fill_charges("USD", Side.BUY, 300, Decimal("4.25")).total == Decimal("2.09")
    with pytest.raises(ValueError, match="EUR"):
        fill_charges("EUR", Side.BUY, 1, Decimal(1))
    with pytest.raises(ValueError, match="whole contracts"):
        us_charges(Side.BUY, 150, Decimal("4.25"))
