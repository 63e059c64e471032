"""Margin: the SPAN-style scan against scenario tables worked out by hand (a linear position)
and with QuantLib (options), exposure margin, the US strategy rules, margin blocked by an
order and released when the position closes."""

from __future__ import annotations

from decimal import Decimal

import pytest
import QuantLib as ql

from deltastream.trading.charges import fill_charges
from deltastream.trading.margin import (
    INDIA_INDEX_SCAN,
    SCENARIOS,
    MarginError,
    Market,
    RiskPosition,
    ScanParameters,
    check_order_margin,
    india_margin,
    naked_short_per_unit,
    scan_parameters,
    span_scan,
    spread_max_loss_per_unit,
    us_margin,
)
from deltastream.trading.orders import Side

NIFTY = Market(spot=24000.0, rate=0.055, dividend_yield=0.0)
WEEK = 7 / 365


def quantlib_price(spot: float, strike: float, days: int, rate: float, vol: float,
                   call: bool, american: bool = False) -> float:
    today = ql.Date(7, 12, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, rate, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)))
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike)
    if american:
        option = ql.VanillaOption(payoff, ql.AmericanExercise(today, today + days))
        option.setPricingEngine(ql.QdFpAmericanEngine(
            process, ql.QdFpAmericanEngine.highPrecisionScheme()))
    else:
        option = ql.VanillaOption(payoff, ql.EuropeanExercise(today + days))
        option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    return option.NPV()


def test_the_sixteen_scenarios():
    # 7 moves x vol up/down, then +-2 ranges at unchanged vol weighted 35 %.
    assert len(SCENARIOS) == 16
    assert sorted({m for m, _, _ in SCENARIOS}) == pytest.approx(
        [-2, -1, -2 / 3, -1 / 3, 0, 1 / 3, 2 / 3, 1, 2])
    assert [(m, v, w) for m, v, w in SCENARIOS if w != 1.0] == [(2.0, 0, 0.35), (-2.0, 0, 0.35)]
    assert sum(1 for _, v, _ in SCENARIOS if v == 0) == 2


def test_a_linear_position_by_hand():
    # Short 65 units at 24,000; scan range 6 % = 1,440 a unit. Scenario loss =
    # 65 x move x 1,440 (x 0.35 for the extremes): 1/3 -> 31,200; 2/3 -> 62,400;
    # 1 -> 93,600; 2 x 0.35 -> 2 x 93,600 x 0.35 = 65,520. Falls gain as much.
    scan = span_scan([RiskPosition(-65)], NIFTY, INDIA_INDEX_SCAN)
    assert scan.losses == pytest.approx([
        0, 0, 31200, 31200, -31200, -31200, 62400, 62400, -62400, -62400,
        93600, 93600, -93600, -93600, 65520, -65520])
    assert scan.scan_risk == pytest.approx(93600)
    # The short's proceeds 65 x 24,000 = 1,560,000 are owed: requirement 1,653,600, of which
    # the sale's cash covers all but the 93,600.
    assert scan.net_value == pytest.approx(-1560000)
    assert scan.requirement == pytest.approx(1653600)
    # A long underlying is paid in full: its requirement is max(93,600 - 1,560,000, 0) = 0.
    assert span_scan([RiskPosition(65)], NIFTY, INDIA_INDEX_SCAN).requirement == 0


# A short of 65 NIFTY 24000 calls, 7 days, vol 15 %, r 5.5 %: value now 211.69 a unit.
# Scan: 6 % price range (1,440), 4 vol points. Loss = 65 x (value in scenario - 211.69) x
# weight:
#    move  vol    spot   vol   value      loss
#      0   up    24000  0.19   264.64     3,441.88
#      0   down  24000  0.11   158.78    -3,439.43
#   +1/3   up    24480  0.19   582.91    24,129.61
#   +1/3   down  24480  0.11   519.78    20,025.76
#   -1/3   up    23520  0.19    85.15    -8,224.92
#   -1/3   down  23520  0.11    18.03   -12,587.63
#   +2/3   up    24960  0.19 1,002.88    51,427.60
#   +2/3   down  24960  0.11   985.78    50,315.59
#   -2/3   up    23040  0.19    17.66   -12,612.05
#   -2/3   down  23040  0.11     0.51   -13,726.89
#     +1   up    25440  0.19 1,468.02    81,661.26   <- scan risk
#     +1   down  25440  0.11 1,465.31    81,485.06
#     -1   up    22560  0.19     2.17   -13,619.03
#     -1   down  22560  0.11     0.00   -13,759.66
#     +2   same  26880  0.15 2,905.30    61,279.67   (x 0.35)
#     -2   same  21120  0.15     0.00    -4,815.94   (x 0.35)
# Net value -65 x 211.69 = -13,759.83; requirement 81,661.26 + 13,759.83 = 95,421.09;
# exposure 2 % x 24,000 x 65 = 31,200; total 126,621.09.
SHORT_CALL = RiskPosition(-65, "call", 24000.0, WEEK, 0.15)


def test_the_scan_of_a_short_call_against_its_scenario_table():
    scan = span_scan([SHORT_CALL], NIFTY, INDIA_INDEX_SCAN)
    now = quantlib_price(24000, 24000, 7, 0.055, 0.15, True)
    want = [65 * (quantlib_price(24000 * (1 + m * 0.06), 24000, 7, 0.055, 0.15 + v * 0.04,
                                 True) - now) * w for m, v, w in SCENARIOS]
    assert scan.losses == pytest.approx(want, abs=1e-6)
    assert scan.losses[10] == pytest.approx(81661.26, abs=0.01)
    assert scan.scan_risk == pytest.approx(81661.26, abs=0.01)
    assert scan.net_value == pytest.approx(-13759.83, abs=0.01)
    margin = india_margin([SHORT_CALL], NIFTY)
    assert (margin.span, margin.exposure) == (Decimal("95421.09"), Decimal("31200.00"))
    assert margin.total == Decimal("126621.09")


def test_a_covered_call_needs_nothing_beyond_its_stock():
    # Long 65 units and short 65 calls: every scenario's loss is at most the value held.
    covered = [RiskPosition(65), SHORT_CALL]
    assert span_scan(covered, NIFTY, INDIA_INDEX_SCAN).requirement == 0


def test_a_long_option_needs_only_its_premium():
    # Long 65 calls: every scenario loses at most the value held (the net value), so the
    # requirement is zero: the premium is blocked by the cash it took.
    margin = india_margin([RiskPosition(65, "call", 24000.0, WEEK, 0.15)], NIFTY)
    assert margin.total == 0


def test_a_spread_needs_less_than_its_short_leg_and_at_most_its_width():
    # Short the 24000 call, long the 24200 call: the most the spread can cost to close is
    # 200 x 65 = 13,000 (requirement = scan risk - net value <= that); exposure
    # margin 31,200 on the short leg.
    legs = [SHORT_CALL, RiskPosition(65, "call", 24200.0, WEEK, 0.15)]
    spread = india_margin(legs, NIFTY)
    assert 0 < spread.span <= Decimal(13000)
    assert spread.span < india_margin([SHORT_CALL], NIFTY).span
    assert spread.exposure == Decimal("31200.00")


def test_american_options_are_repriced_american():
    # 100 short AAPL 210 puts, 30 days, vol 30 %, spot 200 (in the money: early exercise
    # matters). Scenario values against QuantLib's QD+ American engine, 0.005 a unit.
    market = Market(200.0, 0.036, 0.0)
    put = RiskPosition(-100, "put", 210.0, 30 / 365, 0.30, american=True)
    params = ScanParameters(price_range=0.15, vol_range=0.06)
    scan = span_scan([put], market, params)
    now = quantlib_price(200, 210, 30, 0.036, 0.30, False, american=True)
    want = [100 * (quantlib_price(200 * (1 + m * 0.15), 210, 30, 0.036, 0.30 + v * 0.06, False,
                                  american=True) - now) * w for m, v, w in SCENARIOS]
    assert scan.losses == pytest.approx(want, abs=100 * 0.005 * 2)
    european = span_scan([RiskPosition(-100, "put", 210.0, 30 / 365, 0.30)], market, params)
    assert scan.net_value < european.net_value    # the American put is worth more


def test_scan_parameters_per_product():
    assert scan_parameters("NIFTY", "NSE") is INDIA_INDEX_SCAN
    assert scan_parameters("NEWINDEX", "BSE") is INDIA_INDEX_SCAN
    assert scan_parameters("MSFT", "NASDAQ").exposure_rate == 0


def test_us_naked_shorts_by_hand():
    # Put K 200, spot 210, premium 3.50: out of the money by 10; 20 % x 210 - 10 = 32 beats
    # the minimum 10 % x 200 = 20: 3.50 + 32 = 35.50 a unit.
    assert naked_short_per_unit("put", 200, 210, 3.5) == pytest.approx(35.5)
    # Call K 230: 20 % x 210 - 20 = 22 beats 10 % x 210 = 21: 1.20 + 22 = 23.20.
    assert naked_short_per_unit("call", 230, 210, 1.2) == pytest.approx(23.2)
    # Call K 250: 42 - 40 = 2 is under the minimum 21: 0.10 + 21 = 21.10.
    assert naked_short_per_unit("call", 250, 210, 0.1) == pytest.approx(21.1)
    # In the money put K 220: 42 (no OTM amount) + its premium 11: 53.
    assert naked_short_per_unit("put", 220, 210, 11.0) == pytest.approx(53.0)


def test_us_spreads_need_their_maximum_loss():
    market = Market(210.0, 0.036, 0.0)
    month = 30 / 365
    # Short 200 put, long 190 put (credit spread): 10 x 100 = 1,000.
    credit = [RiskPosition(-100, "put", 200.0, month, 0.3, True),
              RiskPosition(100, "put", 190.0, month, 0.3, True)]
    assert us_margin(credit, market).total == Decimal("1000.00")
    # Short 210 call, long 200 call (debit spread): nothing beyond the premium.
    debit = [RiskPosition(-100, "call", 210.0, month, 0.3, True),
             RiskPosition(100, "call", 200.0, month, 0.3, True)]
    assert us_margin(debit, market).total == 0
    assert spread_max_loss_per_unit("call", 210, 220) == 10
    # A long that expires before the short does not cover it: the short is naked.
    calendar = [RiskPosition(-100, "put", 200.0, month, 0.3, True),
                RiskPosition(100, "put", 190.0, month / 2, 0.3, True)]
    premium = quantlib_price(210, 200, 30, 0.036, 0.3, False, american=True)
    # 20 % x 210 - 10 = 32 (minimum 20): 100 x (premium + 32).
    assert float(us_margin(calendar, market).total) == pytest.approx(100 * (premium + 32),
                                                                     abs=1.0)
    # 200 short 200 puts against 100 long 190 puts: 100 paired (10 x 100 = 1,000), 100
    # naked (100 x (premium + 32)).
    partly = [RiskPosition(-200, "put", 200.0, month, 0.3, True),
              RiskPosition(100, "put", 190.0, month, 0.3, True)]
    assert float(us_margin(partly, market).total) == pytest.approx(
        1000 + 100 * (premium + 32), abs=1.0)
    # Short 100 shares at 210: 150 % of 21,000 = 31,500; long shares are paid in full.
    assert us_margin([RiskPosition(-100)], market).total == Decimal("31500.00")
    assert us_margin([RiskPosition(100)], market).total == 0


def test_margin_is_blocked_by_an_order_and_released_when_the_position_closes():
    cash = Decimal("1000000.00")
    # Buy 130 calls @ 120.50: premium 15,665 + charges 30.57 = 15,695.57 leaves the cash; no
    # requirement: available 1,000,000 - 15,695.57 = 984,304.43.
    bought = check_order_margin(cash, Decimal(0), Decimal(0), Decimal("-15695.57"))
    assert (bought.required, bought.available_after) == (Decimal("15695.57"),
                                                         Decimal("984304.43"))
    # Selling the short call above for 211.65 a unit brings 65 x 211.65 = 13,757.25 less
    # charges (brokerage 20, STT 13.76, NSE 4.82, SEBI 0.01, GST 18 % x 24.83 = 4.47: 43.06)
    # = 13,714.19 and blocks 126,621.09: available 1,000,000 + 13,714.19 - 126,621.09 =
    # 887,093.10.
    charges = fill_charges("INR", Side.SELL, 65, Decimal("211.65")).total
    assert charges == Decimal("43.06")
    requirement = india_margin([SHORT_CALL], NIFTY).total
    sold = check_order_margin(cash, Decimal(0), requirement, Decimal("13757.25") - charges)
    assert sold.available_after == Decimal("887093.10")
    assert sold.required == Decimal("112906.90")       # 126,621.09 - 13,714.19
    # Buying it back leaves no position, so no requirement: all of the margin is released.
    assert india_margin([], NIFTY).total == 0
    cash_after_sale = cash + Decimal("13714.19")
    closed = check_order_margin(cash_after_sale, requirement, india_margin([], NIFTY).total,
                                Decimal("-13790.00"))
    assert closed.available_after == cash_after_sale - Decimal("13790.00")
    assert closed.required < 0        # closing frees margin


def test_an_order_beyond_available_margin_is_rejected_with_the_figures():
    with pytest.raises(MarginError) as caught:
        check_order_margin(Decimal("10000.00"), Decimal(0), Decimal(0), Decimal("-15695.57"))
    assert (caught.value.required, caught.value.available) == (Decimal("15695.57"),
                                                               Decimal("10000.00"))
    assert "15695.57" in str(caught.value) and "10000.00" in str(caught.value)
