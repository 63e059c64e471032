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

DEFAULT_PRODUCTS: dict[str, dict[str, Any]] = {
    "NIFTY": {**INDIA, "name": "NIFTY 50", "exchange": "NSE", "spot": 24500.0,
              "strike_step": 50.0, "lot_size": 65, "dividend_yield": 0.012, "vol_level": 0.13,
              "vol_of_vol": 0.25, "spot_vol_correlation": -0.7, "skew": -0.7,
              "curvature": 1.1, "expiries": [NSE_WEEKLY, NSE_MONTHLY],
              "peak_trade_rate": 40.0, "peak_open_interest": 150_000.0,
              "underlying_volume_rate": 20_000.0},
    "BANKNIFTY": {**INDIA, "name": "NIFTY Bank", "exchange": "NSE", "spot": 52000.0,
                  "strike_step": 100.0, "lot_size": 30, "dividend_yield": 0.01,
                  "vol_level": 0.15, "vol_of_vol": 0.3, "spot_vol_correlation": -0.65,
                  "skew": -0.6, "curvature": 1.1, "expiries": [NSE_MONTHLY],
                  "peak_trade_rate": 20.0, "peak_open_interest": 80_000.0,
                  "underlying_volume_rate": 8_000.0},
    "FINNIFTY": {**INDIA, "name": "NIFTY Financial Services", "exchange": "NSE",
                 "spot": 23500.0, "strike_step": 25.0, "lot_size": 60,
                 "dividend_yield": 0.011, "vol_level": 0.14, "vol_of_vol": 0.28,
                 "spot_vol_correlation": -0.65, "skew": -0.6, "curvature": 1.1,
                 "expiries": [NSE_MONTHLY], "peak_trade_rate": 5.0,
                 "peak_open_interest": 20_000.0, "underlying_volume_rate": 3_000.0},
    "SENSEX": {**INDIA, "name": "S&P BSE SENSEX", "exchange": "BSE", "spot": 80500.0,
               "strike_step": 100.0, "lot_size": 20, "dividend_yield": 0.012,
               "vol_level": 0.13, "vol_of_vol": 0.25, "spot_vol_correlation": -0.7,
               "skew": -0.7, "curvature": 1.1,
               "expiries": [
                   {"name": "weekly", "count": 4,
                    "rules": [{"kind": "weekly", "weekday": "THU"}]},
                   {"name": "monthly", "count": 3,
                    "rules": [{"kind": "monthly_last", "weekday": "THU"}]}],
               "peak_trade_rate": 30.0, "peak_open_interest": 100_000.0,
               "underlying_volume_rate": 10_000.0},
    "AAPL": {**US, "name": "Apple Inc.", "exchange": "NASDAQ", "spot": 195.0,
             "strike_step": 2.5, "dividend_yield": 0.004, "vol_level": 0.27, "vol_of_vol": 0.4,
             "spot_vol_correlation": -0.5, "jump_intensity": 4.0, "jump_mean": -0.01,
             "jump_std": 0.03, "skew": -0.4, "curvature": 1.2,
             "expiries": [US_WEEKLY, US_MONDAY, US_WEDNESDAY, US_MONTHLY],
             "peak_trade_rate": 8.0,
             "peak_open_interest": 40_000.0, "underlying_volume_rate": 2_500.0,
             "earnings": AAPL_EARNINGS},
    "TSLA": {**US, "name": "Tesla, Inc.", "exchange": "NASDAQ", "spot": 248.0,
             "strike_step": 5.0, "dividend_yield": 0.0, "vol_level": 0.55, "vol_of_vol": 0.8,
             "spot_vol_correlation": -0.3, "jump_intensity": 6.0, "jump_mean": 0.0,
             "jump_std": 0.05, "skew": -0.25, "curvature": 1.2,
             "expiries": [US_WEEKLY, US_MONDAY, US_WEDNESDAY, US_MONTHLY],
             "peak_trade_rate": 15.0,
             "peak_open_interest": 60_000.0, "underlying_volume_rate": 4_000.0,
             "earnings": TSLA_EARNINGS},
    "SPY": {**US, "name": "SPDR S&P 500 ETF Trust", "exchange": "NYSE Arca", "spot": 592.0,
            "strike_step": 1.0, "dividend_yield": 0.012, "vol_level": 0.16, "vol_of_vol": 0.3,
            "spot_vol_correlation": -0.75, "jump_intensity": 3.0, "jump_mean": -0.015,
            "jump_std": 0.015, "skew": -0.7, "curvature": 1.1,
            "expiries": [US_DAILY, US_MONTHLY], "peak_trade_rate": 20.0,
            "peak_open_interest": 60_000.0, "underlying_volume_rate": 6_000.0},
    "QQQ": {**US, "name": "Invesco QQQ Trust", "exchange": "NASDAQ", "spot": 510.0,
            "strike_step": 1.0, "dividend_yield": 0.006, "vol_level": 0.2, "vol_of_vol": 0.35,
            "spot_vol_correlation": -0.7, "jump_intensity": 3.0, "jump_mean": -0.015,
            "jump_std": 0.02, "skew": -0.6, "curvature": 1.1,
            "expiries": [US_DAILY, US_MONTHLY], "peak_trade_rate": 12.0,
            "peak_open_interest": 40_000.0, "underlying_volume_rate": 4_000.0},
}
