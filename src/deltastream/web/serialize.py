"""Snapshot to JSON-ready dicts, in the contract's field names.

Served precision: the engine keeps every number in double precision; what is served carries
the digits a number is worth, so that responses are not mostly noise (and compress to a fifth
of their size). Implied volatilities have :data:`IV_DIGITS` significant digits (a relative
5e-7: 0.140943 is 14.0943 %), Greeks :data:`GREEK_DIGITS` (delta 0.51201, gamma 0.0014357),
model prices (``mid``) :data:`PRICE_DIGITS`. Quoted prices (bid, ask, last, change), strikes,
spot and the per-chain figures are served as computed. The IV and Greeks a vendor's file
carried (imported chains) are served to :data:`VENDOR_DIGITS` significant digits: every digit
a file writes, without the binary noise of converting a percentage to a decimal.

Every option carries its ``contract_symbol`` in its exchange's format (made once per
strike ladder and kept, see :func:`contract_symbols`; null for a contract the format cannot
write) and what its IV was solved from: ``price_source`` (``mid`` for the live market),
``quality_flags`` (labels of :class:`~deltastream.core.types.QuoteFlag`, ``[]`` when none)
and, for imported chains, ``vendor_iv`` and ``vendor_greeks`` (null for the live market, and
where the file carried none).

Market status: a live product's chains carry ``market_status`` (``open`` or ``closed``: whether
its exchange is in session at the snapshot's time) and ``market_status_until`` (ISO-8601 UTC:
the session's close while open, the next open while closed); both are null for stored and
imported snapshots, which have no session (see :func:`market_fields`).
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime

import numpy as np

from ..catalog.contract_symbols import ContractSymbolError, contract_symbol
from ..core.snapshot import ChainSnapshot, ContractQuality, ExpiryChain, OptionSide
from ..core.types import MarketStatus, PriceSource, QuoteFlag, flag_labels, labels


def iso(ts: datetime | float) -> str:
    """ISO-8601 UTC with a trailing Z (millisecond precision)."""
    if not isinstance(ts, datetime):
        ts = datetime.fromtimestamp(ts, UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


MarketFields = dict[str, str | None]

# What a snapshot without session state (stored, imported) serves.
NO_MARKET_STATUS: MarketFields = {"market_status": None, "market_status_until": None}


def market_fields(snap: ChainSnapshot) -> MarketFields:
    """``market_status`` and ``market_status_until`` of ``snap`` as served: the status's value
    and the time as ISO-8601 UTC, each null when the snapshot has none."""
    status, until = snap.market_status, snap.market_status_until
    # MarketStatus(): a snapshot that crossed the bus carries the status as its plain string.
    return {"market_status": None if status is None else MarketStatus(status).value,
            "market_status_until": None if until is None else iso(until)}


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
VENDOR_DIGITS = 10


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


# Labels of every PriceSource code, and of every combination of QuoteFlag bits.
_PRICE_SOURCES = np.array([s.label for s in PriceSource], dtype=object)
_FLAG_LABELS = [flag_labels(bits) for bits in range(1 << len(QuoteFlag))]
VENDOR_GREEKS = ("delta", "gamma", "theta", "vega", "rho")


@functools.lru_cache(maxsize=256)
def contract_symbols(exchange: str, product: str, expiry: date, monthly: bool,
                     strikes: tuple[float, ...]) -> tuple[list[str | None], list[str | None]]:
    """The (call, put) contract symbols of a strike ladder (see
    :func:`~deltastream.catalog.contract_symbols.contract_symbol`), None for a contract its
    exchange's format cannot write (such as a strike beyond the OCC format's eight digits).
    Kept per ladder (a live chain keeps its ladder from tick to tick), for the 256 ladders
    served last: the default market has some 80, and 256 ladders of 200 strikes hold a few
    megabytes of symbols."""

    def symbol(strike: float, right: str) -> str | None:
        try:
            return contract_symbol(exchange, product, expiry, strike, right, monthly)
        except ContractSymbolError:
            return None

    return ([symbol(k, "call") for k in strikes], [symbol(k, "put") for k in strikes])


def _flag_labels(bits: np.ndarray) -> list[list[str]]:
    # A list of its own per option (a payload may be changed by whoever it is handed to).
    table, n = _FLAG_LABELS, len(_FLAG_LABELS)
    return [list(table[c]) if 0 <= c < n else flag_labels(c) for c in bits.tolist()]


def _vendor_greeks(quality: ContractQuality, row: int, cols: slice) -> list[dict | None]:
    columns = [nullable(getattr(quality, f"vendor_{g}")[row, cols], VENDOR_DIGITS)
               for g in VENDOR_GREEKS]
    return [None if all(v is None for v in values) else dict(zip(VENDOR_GREEKS, values,
                                                                 strict=True))
            for values in zip(*columns, strict=True)]


def _options(chain: ExpiryChain, row: int, sl: slice, symbols: list[str | None]) -> list[dict]:
    side: OptionSide = chain.calls if row == 0 else chain.puts
    n = len(symbols)
    cols = {
        "strike": chain.strikes[sl].tolist(),
        "contract_symbol": symbols,
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
    quality = chain.quality
    if quality is None:
        # The live market: every IV from a two-sided quote's mid, nothing from a vendor.
        cols["price_source"] = [PriceSource.MID.label] * n
        cols["quality_flags"] = [[] for _ in range(n)]
        cols["vendor_iv"] = [None] * n
        cols["vendor_greeks"] = [None] * n
    else:
        # The quality arrays are the product's: this chain's window is offset by its columns.
        lo = chain.columns[0]
        span = slice(lo + sl.start, lo + sl.stop)
        cols["price_source"] = _PRICE_SOURCES[quality.price_source[row, span]].tolist()
        cols["quality_flags"] = _flag_labels(quality.flags[row, span])
        cols["vendor_iv"] = nullable(quality.vendor_iv[row, span], VENDOR_DIGITS)
        cols["vendor_greeks"] = _vendor_greeks(quality, row, span)
    names = list(cols)
    return [dict(zip(names, values, strict=True)) for values in zip(*cols.values(), strict=True)]


def chain_dict(chain: ExpiryChain, strikes: int,
               market: MarketFields = NO_MARKET_STATUS) -> dict:
    """One expiry's chain as served: ``strikes`` strikes around the ATM strike, and the
    market status of the snapshot it belongs to (``market``, from :func:`market_fields`)."""
    sl = strike_window(chain, strikes)
    calls, puts = contract_symbols(chain.exchange, chain.product, chain.expiry, chain.monthly,
                                   tuple(chain.strikes.tolist()))
    return {
        "product": chain.product,
        "expiry": chain.expiry.isoformat(),
        "spot_price": chain.spot,
        "strikes": chain.strikes[sl].tolist(),
        "calls": _options(chain, 0, sl, calls[sl]),
        "puts": _options(chain, 1, sl, puts[sl]),
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
        "forward_residual": chain.forward_residual,
        "exercise_style": chain.exercise_style,
        "lot_size": chain.lot_size,
        "currency": chain.currency,
        "strike_step": chain.strike_step,
        "sequence": chain.sequence,
        "model": chain.model,
        "source": chain.source,
        **market,
    }
