"""Build chain snapshots from market quotes: implied volatility solved from each mid, Greeks
from that volatility, and the chain-level analytics (PCR, ATM straddle, max pain)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..analytics.chain_stats import atm_index, max_pain_strike, put_call_ratio
from ..market.book import ExpiryQuotes, SideQuotes
from ..market.quotes import tick_decimals
from ..pricing import american
from ..pricing import black_scholes_merton as bsm
from ..pricing.implied_vol import implied_vol
from .snapshot import ChainSnapshot, ExpiryChain, OptionSide, frozen

MODEL_EUROPEAN = "black_scholes_merton"
MODEL_AMERICAN = "american_fixed_point_boundary"


@dataclass(frozen=True)
class ContractTerms:
    """The product terms a chain is priced with."""

    symbol: str
    exercise_style: str   # "european" | "american"
    rate: float
    dividend_yield: float
    currency: str
    lot_size: int
    strike_step: float
    tick_size: float

    @property
    def model(self) -> str:
        return MODEL_AMERICAN if self.exercise_style == "american" else MODEL_EUROPEAN


def _side(q: SideQuotes, iv: np.ndarray, status: np.ndarray, greeks: bsm.Greeks, sl: slice,
          decimals: int) -> OptionSide:
    # iv, status and the Greeks are frozen once per batch: their slices are read-only views.
    return OptionSide(
        last=frozen(q.last), bid=frozen(q.bid), ask=frozen(q.ask), mid=frozen(q.mid),
        change=frozen(np.round(q.last - q.prev_close_last, decimals)),
        iv=iv[sl], iv_status=status[sl], delta=greeks.delta[sl], gamma=greeks.gamma[sl],
        theta=greeks.theta[sl], vega=greeks.vega[sl], rho=greeks.rho[sl],
        open_interest=frozen(q.open_interest), volume=frozen(q.volume),
        oi_change=frozen(q.open_interest - q.prev_close_oi),
    )


def solve_and_price(terms: ContractTerms, spot: float, mids: np.ndarray, strikes: np.ndarray,
                    times: np.ndarray, is_call: np.ndarray, guess: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, bsm.Greeks]:
    """Implied volatility of each mid under the product's model, and Greeks at that vol.

    ``guess`` (the surface volatility each quote was made from) starts the American solver.
    """
    r, q = terms.rate, terms.dividend_yield
    if terms.exercise_style == "american":
        iv, status = american.implied_vol(mids, spot, strikes, times, r, q, is_call, guess)
        return iv, status, american.greeks(spot, strikes, times, r, q, iv, is_call)
    iv, status = implied_vol(mids, spot, strikes, times, r, q, is_call)
    # The chain serves the five first-order Greeks only.
    return iv, status, bsm.greeks(spot, strikes, times, r, q, iv, is_call, second_order=False)


def build_snapshot(terms: ContractTerms, spot: float, timestamp: datetime, sequence: int,
                   session_volume: float, tick_volume: float,
                   expiries: tuple[ExpiryQuotes, ...]) -> ChainSnapshot:
    """The product's snapshot: every listed expiry's chain at this tick.

    All contracts of the product go through the solver and the Greeks in one batch; each
    expiry's chain then takes its slice.
    """
    sizes = [q.strikes.shape[0] for q in expiries]
    strikes = np.concatenate([q.strikes for q in expiries] * 2) if expiries else np.empty(0)
    times = np.concatenate([np.full(n, q.time_to_expiry) for q, n in zip(expiries, sizes,
                                                                          strict=True)] * 2
                           ) if expiries else np.empty(0)
    mids = np.concatenate([q.calls.mid for q in expiries] + [q.puts.mid for q in expiries]
                          ) if expiries else np.empty(0)
    guess = np.concatenate([q.surface_vol for q in expiries] * 2) if expiries else np.empty(0)
    n_all = sum(sizes)
    is_call = np.arange(2 * n_all) < n_all
    iv, status, greeks = solve_and_price(terms, spot, mids, strikes, times, is_call, guess)
    iv, status = frozen(iv), frozen(status)
    greeks = bsm.Greeks(*(frozen(g) for g in greeks))
    decimals = tick_decimals(terms.tick_size)
    chains = []
    lo = 0
    for q, n in zip(expiries, sizes, strict=True):
        calls = _side(q.calls, iv, status, greeks, slice(lo, lo + n), decimals)
        puts = _side(q.puts, iv, status, greeks, slice(n_all + lo, n_all + lo + n), decimals)
        chains.append(_expiry_chain(terms, spot, timestamp, sequence, q, calls, puts))
        lo += n
    return ChainSnapshot(product=terms.symbol, sequence=sequence, timestamp=timestamp,
                         spot=spot, session_volume=session_volume, tick_volume=tick_volume,
                         chains=tuple(chains))


def _expiry_chain(terms: ContractTerms, spot: float, timestamp: datetime, sequence: int,
                  q: ExpiryQuotes, calls: OptionSide, puts: OptionSide) -> ExpiryChain:
    atm = atm_index(q.strikes, q.forward)
    return ExpiryChain(
        product=terms.symbol, expiry=q.expiry, timestamp=timestamp, sequence=sequence,
        spot=spot, forward=q.forward, time_to_expiry=q.time_to_expiry, rate=terms.rate,
        dividend_yield=terms.dividend_yield, exercise_style=terms.exercise_style,
        model=terms.model, currency=terms.currency, lot_size=terms.lot_size,
        strike_step=terms.strike_step, tick_size=terms.tick_size, strikes=frozen(q.strikes),
        calls=calls, puts=puts,
        pcr_oi=put_call_ratio(q.puts.open_interest.sum(), q.calls.open_interest.sum()),
        pcr_volume=put_call_ratio(q.puts.volume.sum(), q.calls.volume.sum()),
        atm_strike=float(q.strikes[atm]),
        atm_straddle_price=float(q.calls.mid[atm] + q.puts.mid[atm]),
        max_pain_strike=max_pain_strike(q.strikes, q.calls.open_interest, q.puts.open_interest),
    )
