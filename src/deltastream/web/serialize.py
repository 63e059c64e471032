"""Snapshot to JSON-ready dicts, in the contract's field names.

Served precision: the engine keeps every number in double precision; what is served carries
the digits a number is worth, so that responses are not mostly noise (and compress to a fifth
of their size). Implied volatilities have :data:`IV_DIGITS` significant digits (a relative
5e-7: 0.140943 is 14.0943 %), Greeks :data:`GREEK_DIGITS` (delta 0.51201, gamma 0.0014357),
model prices (``mid``) :data:`PRICE_DIGITS`. Quoted prices (bid, ask, last, change), strikes,
spot and the per-chain figures are served as computed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from ..core.snapshot import ExpiryChain, OptionSide
from ..core.types import labels


def iso(ts: datetime | float) -> str:
    """ISO-8601 UTC with a trailing Z (millisecond precision)."""
    if not isinstance(ts, datetime):
        ts = datetime.fromtimestamp(ts, UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_many(epoch_us: list[int]) -> list[str]:
    """:func:`iso` of many times given in microseconds since the epoch (vectorized)."""
    if not epoch_us:
        return []
    text = np.datetime_as_string(np.array(epoch_us, dtype="datetime64[us]")
                                 .astype("datetime64[ms]"), unit="ms")
    return [t + "Z" for t in text.tolist()]


def strike_window(chain: ExpiryChain, count: int) -> slice:
    """``count`` strikes centred on the ATM strike (fewer where the ladder ends)."""
    n = chain.strikes.shape[0]
    atm = int(np.searchsorted(chain.strikes, chain.atm_strike))
    half = count // 2
    lo = max(0, min(atm - half, n - count))
    return slice(lo, min(n, lo + count))


IV_DIGITS = 6
GREEK_DIGITS = 5
PRICE_DIGITS = 7


def significant(a: np.ndarray, digits: int) -> np.ndarray:
    """``a`` rounded to ``digits`` significant digits, each to the double nearest its decimal
    value (so it prints as that decimal); zeros, NaN, infinities and magnitudes beyond
    1e±200 (where a power of ten is no longer exact) unchanged."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(a)))
    # Decimal places to keep (negative: round to tens, hundreds, ...); the power of ten is
    # applied as an exact multiplier or divisor, never as an inexact fraction like 0.1.
    places = np.where(np.isfinite(magnitude), digits - 1 - magnitude, 0.0)
    places = np.clip(places, -250, 250)
    up = 10.0 ** np.maximum(places, 0)
    down = 10.0 ** np.maximum(-places, 0)
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = np.round(a * up / down) * down / up
    return np.where(np.isfinite(rounded) & (np.abs(magnitude) <= 200), rounded, a)


def nullable(a: np.ndarray, digits: int | None = None) -> list[float | None]:
    """``a`` as a list, NaN as None, rounded to ``digits`` significant digits if given."""
    if digits is not None:
        a = significant(a, digits)
    return [None if v != v else v for v in a.tolist()]


def _options(side: OptionSide, strikes: np.ndarray, sl: slice) -> list[dict]:
    cols = {
        "strike": strikes[sl].tolist(),
        "last": side.last[sl].tolist(),
        "bid": side.bid[sl].tolist(),
        "ask": side.ask[sl].tolist(),
        "mid": significant(side.mid[sl], PRICE_DIGITS).tolist(),
        "change": nullable(side.change[sl]),
        "iv": nullable(side.iv[sl], IV_DIGITS),
        "iv_status": labels(side.iv_status[sl]).tolist(),
        "delta": nullable(side.delta[sl], GREEK_DIGITS),
        "gamma": nullable(side.gamma[sl], GREEK_DIGITS),
        "theta": nullable(side.theta[sl], GREEK_DIGITS),
        "vega": nullable(side.vega[sl], GREEK_DIGITS),
        "rho": nullable(side.rho[sl], GREEK_DIGITS),
        "open_interest": side.open_interest[sl].tolist(),
        "volume": side.volume[sl].tolist(),
        "oi_change": side.oi_change[sl].tolist(),
    }
    names = list(cols)
    return [dict(zip(names, row, strict=True)) for row in zip(*cols.values(), strict=True)]


def chain_dict(chain: ExpiryChain, strikes: int) -> dict:
    sl = strike_window(chain, strikes)
    return {
        "product": chain.product,
        "expiry": chain.expiry.isoformat(),
        "spot_price": chain.spot,
        "strikes": chain.strikes[sl].tolist(),
        "calls": _options(chain.calls, chain.strikes, sl),
        "puts": _options(chain.puts, chain.strikes, sl),
        "pcr_oi": chain.pcr_oi,
        "pcr_volume": chain.pcr_volume,
        "atm_strike": chain.atm_strike,
        "atm_straddle_price": chain.atm_straddle_price,
        "max_pain_strike": chain.max_pain_strike,
        "timestamp": iso(chain.timestamp),
        "time_to_expiry": chain.time_to_expiry,
        "rate": chain.rate,
        "dividend_yield": chain.dividend_yield,
        "forward": chain.forward,
        "exercise_style": chain.exercise_style,
        "lot_size": chain.lot_size,
        "currency": chain.currency,
        "strike_step": chain.strike_step,
        "sequence": chain.sequence,
        "model": chain.model,
    }
