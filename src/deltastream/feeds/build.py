"""Price an imported chain: from a file's rows to the :class:`ChainSnapshot` every reader of the
simulated market already knows, with implied volatility and Greeks solved from real prices.

Layout. Per expiry, the union of the call and put strikes, ascending; a right the file does not
list for a strike gets NaN prices, 0 open interest and volume, and the flag ``NO_CONTRACT``
only. Time to expiry is ACT/365 from the quote time to the expiry instant (the exchange's
close on expiry day); an expiry at or before the quote time is left out (the parsers already
reject those rows). A contract listed twice: its first row counts.

The price each implied volatility is solved from (:class:`~deltastream.core.types.PriceSource`):
the mid of a two-sided quote (bid > 0, ask > 0, ask > bid: neither crossed nor locked); else
the settlement price; else the close; else the last trade; else none (IV NaN). Prices that are
0 or missing do not count. **The served ``mid`` is that price** (NaN for none), so the chain's
``mid`` and ``iv`` always belong together; ``bid`` and ``ask`` are as filed (NaN: missing),
``last`` too.

Forward, per expiry: put-call parity fitted on the strikes near the money
(:func:`deltastream.feeds.forward.fit_forwards`), first on the strikes with two-sided quotes
on both rights, and when fewer than two have one, on every price used. An expiry that cannot
be fitted takes the price of its future when the file has one, else the spot carried at the
terms' rate and dividend yield, ``S exp((r - q) T)``; its ``forward_residual`` is then NaN.
Spot: the file's underlying price; without one, the nearest fitted (or futures) forward
discounted at the same carry, ``F exp(-(r - q) T)``. American prices hold parity only
approximately (an in-the-money put's early-exercise premium lowers ``C - P``, by a few basis
points of the forward); an American chain's fitted forwards are therefore refitted on the
European equivalents of its prices near the money (the European price at each price's
American implied volatility) until the forward is a fixed point of that refit, and the
residual reported is that fit's.

Pricing. Each expiry's dividend yield is the one parity implies, ``q = r - ln(F / S) / T``, so
that ``S exp((r - q) T) = F``. European options: Black-Scholes-Merton with that ``q``, which is
Black-76 on the fitted forward. American options (US single names): the American pricer of
:mod:`deltastream.pricing.american` with that ``q``, per expiry. The chain's one
``dividend_yield`` (``ContractTerms.dividend_yield``) is the nearest expiry's; every other
expiry's is its own, ``r - ln(forward / spot) / time_to_expiry`` of the served numbers.

Quality flags (:class:`~deltastream.core.types.QuoteFlag`): ``CROSSED`` bid > ask;
``LOCKED`` bid == ask > 0; ``ZERO_BID`` no bid (0 or missing) but an ask; ``STALE`` no volume
(0 or missing) and neither bid nor ask; ``BELOW_INTRINSIC`` the price used is below the
intrinsic value discounted against the fitted forward, ``DF max(F - K, 0)`` for a call;
``NO_CONTRACT`` the file lists the strike for the other right only.

Units: open interest and volume in contracts (a missing value counts 0); ``change`` (premium
change on the previous close) and ``oi_change`` as filed, NaN when the file has none. The
vendor's IV and Greeks go to :class:`~deltastream.core.snapshot.ContractQuality` and are never
used as ours. Imported chains carry no underlying volume (0). The chain statistics (put-call
ratios, ATM strike: the nearest the forward, max pain) are the engine's own
(:func:`deltastream.engine.chains.assemble_snapshots`).

Everything is array operations over the whole chain; Python loops run over expiries only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

import numpy as np

from ..calendars.expiries import SECONDS_PER_YEAR
from ..core.snapshot import (
    ChainSnapshot,
    ContractArrays,
    ContractQuality,
    ContractTerms,
    OptionSide,
)
from ..core.types import ExerciseStyle, PriceSource, QuoteFlag
from ..engine.chains import assemble_snapshots, solve_and_price
from ..market.book import SIDES, ProductQuotes
from ..pricing import american
from ..pricing import black_scholes_merton as bsm
from ..pricing.implied_vol import implied_vol
from .forward import NEAREST, ForwardStatus, fit_forwards, nearest_strikes
from .records import CALL, PUT, ImportedChain

_FIELDS = tuple(OptionSide.__dataclass_fields__)
# A price this close (relative to the forward) under the discounted intrinsic value is the
# intrinsic value up to rounding, not below it.
_INTRINSIC_TOLERANCE = 1e-12
# An American chain's forwards: refits on European-equivalent prices, at most, and the
# relative change at which they stop.
AMERICAN_REFITS = 6
AMERICAN_FORWARD_TOLERANCE = 1e-8


class UnpriceableChainError(ValueError):
    """A chain with nothing to price it from: no expiry after its quote time, or neither an
    underlying price nor any expiry whose forward could be fitted or read from a future."""


def build_snapshot(chain: ImportedChain, terms: ContractTerms,
                   expiry_instant: Callable[[date], datetime], sequence: int) -> ChainSnapshot:
    """The priced snapshot of ``chain`` under ``terms`` (module docstring), tagged with the
    chain's source. Raises :class:`UnpriceableChainError` for a chain that cannot be priced."""
    layout = _Layout(chain, expiry_instant)
    m, n = len(layout.expiries), layout.strikes.size

    def place(values: np.ndarray) -> np.ndarray:
        # The file's column on the (calls, puts) grid; NaN where the file has no contract.
        out = np.full((2, n), np.nan)
        out[layout.right, layout.col] = values[layout.rows]
        return out

    present = np.zeros((2, n), dtype=bool)
    present[layout.right, layout.col] = True
    bid, ask = place(chain.bid), place(chain.ask)
    settlement, close, last = place(chain.settlement), place(chain.close), place(chain.last)
    filed_volume = place(chain.volume)
    with np.errstate(invalid="ignore"):
        has_bid, has_ask = bid > 0, ask > 0
        two_sided = has_bid & has_ask & (ask > bid)
        choices = [two_sided, settlement > 0, close > 0, last > 0]
    source = np.select(choices, [PriceSource.MID, PriceSource.SETTLEMENT, PriceSource.CLOSE,
                                 PriceSource.LAST], PriceSource.NONE).astype(np.int8)
    price = np.select(choices, [0.5 * (bid + ask), settlement, close, last], np.nan)

    rate = float(terms.rate)
    american_style = terms.exercise_style == ExerciseStyle.AMERICAN
    forwards, residuals = _fitted_forwards(layout, price, two_sided, rate)
    spot, forwards = _spot_and_forwards(chain, layout, forwards, terms)
    if american_style:
        forwards, residuals = _american_forwards(layout, price, two_sided, rate, spot,
                                                 forwards, residuals)
    times = layout.times
    implied_q = rate - np.log(forwards / spot) / times
    seg = np.repeat(np.arange(m), np.diff(layout.offsets))
    strikes = layout.strikes

    with np.errstate(invalid="ignore"):
        discounted = np.exp(-rate * times)[seg] * (forwards[seg] - strikes)
        intrinsic = np.maximum(np.stack([discounted, -discounted]), 0.0)
        below = price < intrinsic - _INTRINSIC_TOLERANCE * forwards[seg]
        flags = (np.where(has_bid & has_ask & (bid > ask), QuoteFlag.CROSSED, 0)
                 | np.where(has_bid & (bid == ask), QuoteFlag.LOCKED, 0)
                 | np.where(~has_bid & has_ask, QuoteFlag.ZERO_BID, 0)
                 | np.where(~(filed_volume > 0) & ~has_bid & ~has_ask, QuoteFlag.STALE, 0)
                 | np.where(below, QuoteFlag.BELOW_INTRINSIC, 0))
    flags = np.where(present, flags, QuoteFlag.NO_CONTRACT).astype(np.int16)

    iv, status, greeks = solve_and_price(
        american_style, np.full(n, spot), price, strikes,
        times[seg], np.full(n, rate), implied_q[seg], np.full(n, np.nan))
    solved = {"iv": iv, "iv_status": status, "delta": greeks.delta, "gamma": greeks.gamma,
              "theta": greeks.theta, "vega": greeks.vega, "rho": greeks.rho}
    for a in solved.values():
        a.setflags(write=False)

    priced_terms = replace(terms, dividend_yield=float(implied_q[0]))
    quotes = ProductQuotes(
        symbol=terms.symbol, timestamp=chain.timestamp, spot=spot, variance=math.nan,
        tick_volume=0.0, session_volume=0.0, expiries=layout.expiries,
        offsets=layout.offsets, times=times, forwards=forwards, strikes=strikes,
        contract_times=times[seg], surface_vol=np.full(n, np.nan), mid=price, bid=bid,
        ask=ask, last=last, volume=np.nan_to_num(filed_volume, nan=0.0),
        open_interest=np.nan_to_num(place(chain.open_interest), nan=0.0),
        prev_close_oi=np.full((2, n), np.nan), prev_close_last=np.full((2, n), np.nan))
    snap = assemble_snapshots([(priced_terms, quotes)], {terms.symbol: solved},
                              sequence)[terms.symbol]
    filed = {"change": place(chain.change), "oi_change": place(chain.oi_change)}
    contracts = ContractArrays(tuple(_sealed(filed[name]) if name in filed else a
                                     for name, a in zip(_FIELDS, snap.contracts.fields,
                                                        strict=True)))
    quality = ContractQuality(
        price_source=_sealed(source), flags=_sealed(flags),
        vendor_iv=_sealed(place(chain.vendor_iv)),
        vendor_delta=_sealed(place(chain.vendor_delta)),
        vendor_gamma=_sealed(place(chain.vendor_gamma)),
        vendor_theta=_sealed(place(chain.vendor_theta)),
        vendor_vega=_sealed(place(chain.vendor_vega)),
        vendor_rho=_sealed(place(chain.vendor_rho)))
    return replace(snap, contracts=contracts, source=chain.source, quality=quality,
                   forward_residuals=_sealed(residuals), dividend_yields=_sealed(implied_q))


class _Layout:
    """Where each usable row of a chain goes: expiries after the quote time (ascending),
    their times (years), the flat strikes with ``offsets`` per expiry, and per kept row its
    index into the chain (``rows``), its column and its right (row 0 calls, 1 puts)."""

    def __init__(self, chain: ImportedChain, expiry_instant: Callable[[date], datetime]
                 ) -> None:
        strike = np.asarray(chain.strike, dtype=np.float64)
        right = np.asarray(chain.right)
        with np.errstate(invalid="ignore"):
            rows = np.flatnonzero(np.isfinite(strike) & (strike > 0)
                                  & ((right == CALL) | (right == PUT)))
        dates, expiry_index = np.unique(np.asarray(chain.expiry, dtype="datetime64[D]")[rows],
                                        return_inverse=True)
        days: list[date] = dates.tolist()
        times = np.array([(expiry_instant(d) - chain.timestamp).total_seconds()
                          for d in days], dtype=np.float64) / SECONDS_PER_YEAR
        live = times > 0
        if not live.any():
            raise UnpriceableChainError(
                f"{chain.product} at {chain.timestamp.isoformat()} ({chain.file or 'no file'}): "
                "no expiry after the quote time")
        keep = live[expiry_index]
        rows = rows[keep]
        expiry = (np.cumsum(live) - 1)[expiry_index[keep]]
        k = strike[rows]
        order = np.lexsort((k, expiry))
        sorted_expiry, sorted_k = expiry[order], k[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = (sorted_expiry[1:] != sorted_expiry[:-1]) | (sorted_k[1:] != sorted_k[:-1])
        col = np.empty(order.size, dtype=np.intp)
        col[order] = np.cumsum(first) - 1
        side = right[rows].astype(np.intp)
        # One row per contract: the first the file gives.
        _, unique_rows = np.unique(col * 2 + side, return_index=True)
        self.rows = rows[unique_rows]
        self.col = col[unique_rows]
        self.right = side[unique_rows]
        self.expiries: tuple[date, ...] = tuple(d for d, ok in zip(days, live, strict=True)
                                                if ok)
        self.times = times[live]
        self.strikes = sorted_k[first]
        sizes = np.bincount(sorted_expiry[first], minlength=len(self.expiries))
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _fitted_forwards(layout: _Layout, price: np.ndarray, two_sided: np.ndarray,
                     rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Per expiry, the parity forward and its residual (NaN where it cannot be fitted):
    from two-sided quotes when at least two strikes have them on both rights, else from
    every price used."""
    m = len(layout.expiries)
    rates = np.full(m, rate)
    quoted = np.where(two_sided, price, np.nan)
    first = fit_forwards(layout.strikes, quoted[0], quoted[1], layout.offsets, layout.times,
                         rates)
    every = fit_forwards(layout.strikes, price[0], price[1], layout.offsets, layout.times,
                         rates)
    use_first = first.status == ForwardStatus.OK
    forwards = np.where(use_first, first.forward, every.forward)
    residuals = np.where(use_first, first.residual, every.residual)
    bad = ~(forwards > 0)
    return np.where(bad, np.nan, forwards), np.where(bad, np.nan, residuals)


def _american_forwards(layout: _Layout, price: np.ndarray, two_sided: np.ndarray,
                       rate: float, spot: float, forwards: np.ndarray, residuals: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Fitted forwards of American options, refitted on the European equivalents of their
    prices near the money: each price less its early-exercise premium, the American less
    the European value at a volatility that is, at the fixed point, the price's American
    implied volatility (each refit takes the European volatility of the last equivalents).
    Parity holds for those, so the premium does not bias the forward. Secant steps find the
    fixed point to :data:`AMERICAN_FORWARD_TOLERANCE` (relative) in at most
    :data:`AMERICAN_REFITS` refits; the residual is the last refit's. Forwards from a future
    or the carried spot stay."""
    fitted = np.isfinite(residuals)
    if not fitted.any():
        return forwards, residuals
    seg = np.repeat(np.arange(len(layout.expiries)), np.diff(layout.offsets))
    near = np.flatnonzero(nearest_strikes(layout.strikes, layout.offsets, forwards,
                                          NEAREST + 4) & fitted[seg])
    k, t, expiry = layout.strikes[near], layout.times[seg[near]], seg[near]
    market = price[:, near]
    vol = implied_vol(market, spot, k, t, rate, rate - np.log(forwards[expiry] / spot) / t,
                      SIDES)[0]
    previous = previous_step = None
    for _ in range(AMERICAN_REFITS):
        q = rate - np.log(forwards[expiry] / spot) / t
        premium = (american.price(spot, k, t, rate, q, vol, SIDES)
                   - bsm.price(spot, k, t, rate, q, vol, SIDES))
        european = np.full(price.shape, np.nan)
        european[:, near] = market - premium
        refitted, refit_residuals = _fitted_forwards(layout, european, two_sided, rate)
        ok = fitted & np.isfinite(refitted)
        step = np.where(ok, refitted - forwards, 0.0)
        if np.all(np.abs(step) <= AMERICAN_FORWARD_TOLERANCE * forwards):
            break
        # A secant step on refit(F) - F = 0: the refit moves F by a roughly constant
        # fraction of its error, so plain iteration converges only linearly.
        candidate = refitted
        if previous is not None and previous_step is not None:
            slope = step - previous_step
            with np.errstate(invalid="ignore", divide="ignore"):
                secant = forwards - step * (forwards - previous) / slope
            candidate = np.where(np.isfinite(secant) & (secant > 0)
                                 & (np.abs(slope) > 0), secant, refitted)
        previous, previous_step = forwards, step
        forwards = np.where(ok, candidate, forwards)
        residuals = np.where(ok, refit_residuals, residuals)
        vol = implied_vol(market - premium, spot, k, t, rate,
                          rate - np.log(forwards[expiry] / spot) / t, SIDES)[0]
    return np.where(ok, refitted, forwards), np.where(ok, refit_residuals, residuals)


def _spot_and_forwards(chain: ImportedChain, layout: _Layout, forwards: np.ndarray,
                       terms: ContractTerms) -> tuple[float, np.ndarray]:
    """The spot, and every expiry's forward after the fallbacks (module docstring)."""
    futures = np.array([chain.futures.get(d, np.nan) for d in layout.expiries],
                       dtype=np.float64)
    with np.errstate(invalid="ignore"):
        forwards = np.where(np.isnan(forwards) & (futures > 0), futures, forwards)
    carry = terms.rate - terms.dividend_yield
    spot = float(chain.underlying_price)
    if not (math.isfinite(spot) and spot > 0):
        known = np.flatnonzero(np.isfinite(forwards))
        if known.size == 0:
            raise UnpriceableChainError(
                f"{chain.product} at {chain.timestamp.isoformat()} "
                f"({chain.file or 'no file'}): no underlying price, and no expiry with two "
                "strikes priced on both rights or a future")
        j = int(known[0])
        spot = float(forwards[j] * math.exp(-carry * float(layout.times[j])))
    forwards = np.where(np.isfinite(forwards), forwards, spot * np.exp(carry * layout.times))
    return spot, forwards


def _sealed(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a
