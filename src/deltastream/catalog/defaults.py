"""The default catalogue: four Indian index products and four US names.

Indian index options are European and NSE/BSE list weekly and/or monthly expiries (Tuesday
since 2025-09-01 on NSE, Thursday before; Thursday on BSE). US equity and ETF options are
American, with Friday weeklies and third-Friday monthlies; SPY and QQQ list every weekday.
Since 26 January 2026 the options of AAPL and TSLA (and of NVDA, MSFT, GOOGL, META and AMZN,
for catalogues that add them: give them ``US_MONDAY`` and ``US_WEDNESDAY`` as well) also
list Monday and Wednesday weeklies, two of each at a time (``MON_WED_FROM``).
"""

from __future__ import annotations

from typing import Any

NSE_SWITCH = "2025-09-01"

INDIA = {"calendar_code": "XBOM", "timezone": "Asia/Kolkata", "open": "09:15",
         "close": "15:30",
         "currency": "INR", "tick_size": 0.05, "exercise_style": "european", "rate": 0.055,
         "mean_reversion": 12.0, "jump_intensity": 3.0, "jump_mean": -0.015, "jump_std": 0.015,
         "iv_premium": 1.08, "relative_spread": 0.003}
US = {"calendar_code": "XNYS", "timezone": "America/New_York", "open": "09:30",
      "close": "16:00",
      "currency": "USD", "tick_size": 0.01, "exercise_style": "american", "rate": 0.036,
      "lot_size": 100, "mean_reversion": 12.0, "iv_premium": 1.06, "relative_spread": 0.01,
      # American contracts cost far more to price than European ones: list 61 strikes.
      "strikes_each_side": 30}


def _nse(weekday_after: str, weekday_before: str, kind: str) -> list[dict[str, Any]]:
    return [{"kind": kind, "weekday": weekday_before, "until": NSE_SWITCH},
            {"kind": kind, "weekday": weekday_after, "from": NSE_SWITCH}]


NSE_WEEKLY = {"name": "weekly", "count": 4, "rules": _nse("TUE", "THU", "weekly")}
NSE_MONTHLY = {"name": "monthly", "count": 3, "rules": _nse("TUE", "THU", "monthly_last")}
US_WEEKLY = {"name": "weekly", "count": 4, "rules": [{"kind": "weekly", "weekday": "FRI"}]}
MON_WED_FROM = "2026-01-26"
US_MONDAY = {"name": "monday", "count": 2,
             "rules": [{"kind": "weekly", "weekday": "MON", "from": MON_WED_FROM}]}
US_WEDNESDAY = {"name": "wednesday", "count": 2,
                "rules": [{"kind": "weekly", "weekday": "WED", "from": MON_WED_FROM}]}
US_MONTHLY = {"name": "monthly", "count": 3,
              "rules": [{"kind": "monthly_third", "weekday": "FRI"}]}
US_DAILY = {"name": "daily", "count": 10, "rules": [{"kind": "daily"}]}
# Earnings (single stocks only; simulated dates, real-looking): quarterly after the close,
# AAPL on late-January/April/July/October Thursdays, TSLA on Wednesdays a week earlier. The
# moves are one-day log-return standard deviations near what their options usually price
# for the day (approximate): AAPL 3.5-4.5 %, TSLA 7-10 %.
AAPL_EARNINGS = {"first": "2026-01-29", "every_weeks": 13, "move": 0.04,
                 "timing": "after_close"}
TSLA_EARNINGS = {"first": "2026-01-21", "every_weeks": 13, "move": 0.08,
                 "timing": "after_close"}

# Order flow per session (market/flow.py): targets for each product and the real ranges they
# sit in (approximate: public exchange figures of 2025-26, a typical session, not an expiry
# day unless said). Volume and open interest are in contracts (lots) over all listed options;
# pcr_* are put/call ratios. Sources: NSE option chain and daily F&O statistics (index
# options: ~300 M NIFTY contracts on a Tuesday expiry in September 2025, a third of that to
# half on other days; near-money NIFTY strikes hold 0.5-3 lakh contracts each); BSE
# derivatives statistics (SENSEX weeklies); OCC and Cboe daily volume and open-interest
# statistics (SPY 6-10 M contracts a day and 15-25 M open, QQQ about half of SPY, AAPL 1-2 M,
# TSLA 2-4 M); PCR ranges as published by NSE option-chain and OCC/Cboe put/call statistics.
FLOW_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "NIFTY": {"session_volume": (80e6, 400e6), "open_interest": (8e6, 30e6),
              "pcr_oi": (0.7, 1.4), "pcr_volume": (0.7, 1.3)},
    "BANKNIFTY": {"session_volume": (2e6, 20e6), "open_interest": (1e6, 6e6),
                  "pcr_oi": (0.6, 1.3), "pcr_volume": (0.6, 1.3)},
    "FINNIFTY": {"session_volume": (0.1e6, 1.5e6), "open_interest": (0.1e6, 1e6),
                 "pcr_oi": (0.6, 1.3), "pcr_volume": (0.6, 1.3)},
    "SENSEX": {"session_volume": (40e6, 300e6), "open_interest": (3e6, 15e6),
               "pcr_oi": (0.7, 1.4), "pcr_volume": (0.7, 1.3)},
    "AAPL": {"session_volume": (1e6, 2e6), "open_interest": (3e6, 7e6),
             "pcr_oi": (0.5, 0.9), "pcr_volume": (0.4, 0.9)},
    "TSLA": {"session_volume": (1.5e6, 4e6), "open_interest": (3e6, 8e6),
             "pcr_oi": (0.5, 0.9), "pcr_volume": (0.4, 0.9)},
    "SPY": {"session_volume": (6e6, 10e6), "open_interest": (15e6, 25e6),
            "pcr_oi": (1.3, 2.0), "pcr_volume": (0.9, 1.7)},
    "QQQ": {"session_volume": (2.5e6, 6e6), "open_interest": (6e6, 14e6),
            "pcr_oi": (1.1, 1.9), "pcr_volume": (0.8, 1.6)},
}
# Index options: puts heavier (portfolio hedges), round strikes of 100 and 500 (NIFTY,
# FINNIFTY) or 500 and 1000 (BANKNIFTY, SENSEX); single stocks: calls heavier; US round
# strikes at multiples of 5 and 10 (TSLA, listed every 5: 10 and 50).
FLOW: dict[str, dict[str, Any]] = {
    "NIFTY": {"session_volume": 200e6, "open_interest": 15e6, "put_call_oi": 1.0,
              "put_call_volume": 1.0, "put_call_sensitivity": 0.1,
              "round_strikes": [100.0, 500.0]},
    "BANKNIFTY": {"session_volume": 8e6, "open_interest": 3e6, "put_call_oi": 0.9,
                  "put_call_volume": 0.9, "put_call_sensitivity": 0.1,
                  "round_strikes": [500.0, 1000.0]},
    "FINNIFTY": {"session_volume": 0.5e6, "open_interest": 0.4e6, "put_call_oi": 0.85,
                 "put_call_volume": 0.9, "put_call_sensitivity": 0.1,
                 "round_strikes": [100.0, 500.0]},
    "SENSEX": {"session_volume": 120e6, "open_interest": 8e6, "put_call_oi": 1.0,
               "put_call_volume": 1.0, "put_call_sensitivity": 0.1,
               "round_strikes": [500.0, 1000.0]},
    "AAPL": {"session_volume": 1.5e6, "open_interest": 5e6, "put_call_oi": 0.7,
             "put_call_volume": 0.6, "put_call_sensitivity": 0.07,
             "round_strikes": [5.0, 10.0]},
    "TSLA": {"session_volume": 2.5e6, "open_interest": 5e6, "put_call_oi": 0.7,
             "put_call_volume": 0.65, "put_call_sensitivity": 0.07,
             "round_strikes": [10.0, 50.0]},
    "SPY": {"session_volume": 8e6, "open_interest": 20e6, "put_call_oi": 1.6,
            "put_call_volume": 1.25, "put_call_sensitivity": 0.07,
            "round_strikes": [5.0, 10.0]},
    "QQQ": {"session_volume": 4e6, "open_interest": 10e6, "put_call_oi": 1.45,
            "put_call_volume": 1.15, "put_call_sensitivity": 0.07,
            "round_strikes": [5.0, 10.0]},
}

DEFAULT_PRODUCTS: dict[str, dict[str, Any]] = {
    "NIFTY": {**INDIA, "name": "NIFTY 50", "exchange": "NSE", "spot": 24500.0,
              "strike_step": 50.0, "lot_size": 65, "dividend_yield": 0.012, "vol_level": 0.13,
              "vol_of_vol": 0.25, "spot_vol_correlation": -0.7, "skew": -0.7,
              "curvature": 1.1, "expiries": [NSE_WEEKLY, NSE_MONTHLY],
              **FLOW["NIFTY"],
              "underlying_volume_rate": 20_000.0},
    "BANKNIFTY": {**INDIA, "name": "NIFTY Bank", "exchange": "NSE", "spot": 52000.0,
                  "strike_step": 100.0, "lot_size": 30, "dividend_yield": 0.01,
                  "vol_level": 0.15, "vol_of_vol": 0.3, "spot_vol_correlation": -0.65,
                  "skew": -0.6, "curvature": 1.1, "expiries": [NSE_MONTHLY],
                  **FLOW["BANKNIFTY"],
                  "underlying_volume_rate": 8_000.0},
    "FINNIFTY": {**INDIA, "name": "NIFTY Financial Services", "exchange": "NSE",
                 "spot": 23500.0, "strike_step": 25.0, "lot_size": 60,
                 "dividend_yield": 0.011, "vol_level": 0.14, "vol_of_vol": 0.28,
                 "spot_vol_correlation": -0.65, "skew": -0.6, "curvature": 1.1,
                 "expiries": [NSE_MONTHLY], **FLOW["FINNIFTY"],
                 "underlying_volume_rate": 3_000.0},
    "SENSEX": {**INDIA, "name": "S&P BSE SENSEX", "exchange": "BSE", "spot": 80500.0,
               "strike_step": 100.0, "lot_size": 20, "dividend_yield": 0.012,
               "vol_level": 0.13, "vol_of_vol": 0.25, "spot_vol_correlation": -0.7,
               "skew": -0.7, "curvature": 1.1,
               "expiries": [
                   {"name": "weekly", "count": 4,
                    "rules": [{"kind": "weekly", "weekday": "THU"}]},
                   {"name": "monthly", "count": 3,
                    "rules": [{"kind": "monthly_last", "weekday": "THU"}]}],
               **FLOW["SENSEX"],
               "underlying_volume_rate": 10_000.0},
    "AAPL": {**US, "name": "Apple Inc.", "exchange": "NASDAQ", "spot": 195.0,
             "strike_step": 2.5, "dividend_yield": 0.004, "vol_level": 0.27, "vol_of_vol": 0.4,
             "spot_vol_correlation": -0.5, "jump_intensity": 4.0, "jump_mean": -0.01,
             "jump_std": 0.03, "skew": -0.4, "curvature": 1.2,
             "expiries": [US_WEEKLY, US_MONDAY, US_WEDNESDAY, US_MONTHLY],
             **FLOW["AAPL"], "underlying_volume_rate": 2_500.0,
             "earnings": AAPL_EARNINGS},
    "TSLA": {**US, "name": "Tesla, Inc.", "exchange": "NASDAQ", "spot": 248.0,
             "strike_step": 5.0, "dividend_yield": 0.0, "vol_level": 0.55, "vol_of_vol": 0.8,
             "spot_vol_correlation": -0.3, "jump_intensity": 6.0, "jump_mean": 0.0,
             "jump_std": 0.05, "skew": -0.25, "curvature": 1.2,
             "expiries": [US_WEEKLY, US_MONDAY, US_WEDNESDAY, US_MONTHLY],
             **FLOW["TSLA"], "underlying_volume_rate": 4_000.0,
             "earnings": TSLA_EARNINGS},
    "SPY": {**US, "name": "SPDR S&P 500 ETF Trust", "exchange": "NYSE Arca", "spot": 592.0,
            "strike_step": 1.0, "dividend_yield": 0.012, "vol_level": 0.16, "vol_of_vol": 0.3,
            "spot_vol_correlation": -0.75, "jump_intensity": 3.0, "jump_mean": -0.015,
            "jump_std": 0.015, "skew": -0.7, "curvature": 1.1,
            "expiries": [US_DAILY, US_MONTHLY], **FLOW["SPY"],
            "underlying_volume_rate": 6_000.0},
    "QQQ": {**US, "name": "Invesco QQQ Trust", "exchange": "NASDAQ", "spot": 510.0,
            "strike_step": 1.0, "dividend_yield": 0.006, "vol_level": 0.2, "vol_of_vol": 0.35,
            "spot_vol_correlation": -0.7, "jump_intensity": 3.0, "jump_mean": -0.015,
            "jump_std": 0.02, "skew": -0.6, "curvature": 1.1,
            "expiries": [US_DAILY, US_MONTHLY], **FLOW["QQQ"],
            "underlying_volume_rate": 4_000.0},
}
