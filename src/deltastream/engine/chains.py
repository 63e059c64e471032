"""Build chain snapshots from market quotes: implied volatility solved from each mid, Greeks
from that volatility, and the chain-level analytics (PCR, ATM straddle, max pain)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ..analytics.chain_stats import put_call_ratio
from ..analytics.segments import NO_INDEX, max_pain_indices, nearest_indices, segment_sums
from ..market.book import SIDES, ProductQuotes
from ..market.quotes import tick_decimals
from ..pricing import american
from ..pricing import black_scholes_merton as bsm
from ..pricing.implied_vol import implied_vol
from .snapshot import ChainSnapshot, ContractArrays, ExpiryChain, OptionSide, frozen

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


def solve_and_price(american_style: bool, spot: np.ndarray, mids: np.ndarray,
                    strikes: np.ndarray, times: np.ndarray, rate: np.ndarray,
                    dividend_yield: np.ndarray, is_call: np.ndarray, guess: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, bsm.Greeks]:
    """Implied volatility of each mid under the exercise style's model, and Greeks at that
    vol. Inputs broadcast; ``guess`` (the volatility each quote was made from) starts the
    American solver."""
    if american_style:
        iv, status = american.implied_vol(mids, spot, strikes, times, rate, dividend_yield,
                                          is_call, guess)
        return iv, status, american.greeks(spot, strikes, times, rate, dividend_yield, iv,
                                           is_call)
    iv, status = implied_vol(mids, spot, strikes, times, rate, dividend_yield, is_call)
    # The chain serves the five first-order Greeks only.
    return iv, status, bsm.greeks(spot, strikes, times, rate, dividend_yield, iv, is_call,
                                  second_order=False)


# OptionSide fields in order, as two-row (calls, puts) arrays of a whole product.
_SIDE_FIELDS = tuple(OptionSide.__dataclass_fields__)


def _solve_group(items: list[tuple[ContractTerms, ProductQuotes]]
                 ) -> list[dict[str, np.ndarray]]:
    """IV and Greeks of every contract of ``items`` (one exercise style) in one batch; per
    product, two-row (calls, puts) arrays of each solved field."""
    sizes = np.array([len(q.strikes) for _, q in items])

    def per_contract(value: list[float]) -> np.ndarray:
        return np.repeat(np.array(value, dtype=np.float64), sizes)

    quotes = [q for _, q in items]
    iv, status, greeks = solve_and_price(
        items[0][0].exercise_style == "american", per_contract([q.spot for q in quotes]),
        np.concatenate([q.mid for q in quotes], axis=1),
        np.concatenate([q.strikes for q in quotes]),
        np.concatenate([q.contract_times for q in quotes]),
        per_contract([t.rate for t, _ in items]),
        per_contract([t.dividend_yield for t, _ in items]), SIDES,
        np.concatenate([q.surface_vol for q in quotes]))
    solved = {"iv": iv, "iv_status": status, "delta": greeks.delta, "gamma": greeks.gamma,
              "theta": greeks.theta, "vega": greeks.vega, "rho": greeks.rho}
    bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    return [{name: frozen(a[:, lo:hi]) for name, a in solved.items()}
            for lo, hi in pairwise(bounds)]


def build_snapshots(items: list[tuple[ContractTerms, ProductQuotes]], sequence: int
                    ) -> dict[str, ChainSnapshot]:
    """Every product's snapshot at this tick: each listed expiry's chain.

    The contracts of all products of one exercise style go through the IV solver and the
    Greeks in one batch, and the chain statistics of all expiries are computed in one pass;
    each chain then takes views of its slice.
    """
    solved: dict[str, dict[str, np.ndarray]] = {}
    for style in ("european", "american"):
        group = [(t, q) for t, q in items if t.exercise_style == style]
        if group:
            solved.update(zip((t.symbol for t, _ in group), _solve_group(group), strict=True))
    stats = _chain_stats([q for _, q in items])
    out = {}
    first = 0
    for terms, q in items:
        arrays = ContractArrays(tuple(_side_arrays(terms, q, solved[terms.symbol])))
        n_exp = len(q.expiries)
        out[terms.symbol] = ChainSnapshot(
            product=terms.symbol, sequence=sequence, timestamp=q.timestamp, spot=q.spot,
            session_volume=q.session_volume, tick_volume=q.tick_volume,
            chains=tuple(_expiry_chain(terms, q, sequence, j, arrays, stats, first + j)
                         for j in range(n_exp)))
        first += n_exp
    return out


def _side_arrays(terms: ContractTerms, q: ProductQuotes, solved: dict[str, np.ndarray]
                 ) -> list[np.ndarray]:
    decimals = tick_decimals(terms.tick_size)
    quoted = {"last": q.last, "bid": q.bid, "ask": q.ask, "mid": q.mid,
              "change": np.round(q.last - q.prev_close_last, decimals),
              "open_interest": q.open_interest, "volume": q.volume,
              "oi_change": q.open_interest - q.prev_close_oi}
    return [solved[name] if name in solved else frozen(quoted[name]) for name in _SIDE_FIELDS]


@dataclass(frozen=True)
class _ChainStats:
    """Per expiry of all products, in product order: flat indices of the ATM and max-pain
    strikes (into the concatenated strikes) and OI / volume totals."""

    atm: np.ndarray
    max_pain: np.ndarray
    call_oi: np.ndarray
    put_oi: np.ndarray
    call_volume: np.ndarray
    put_volume: np.ndarray
    product_start: np.ndarray   # flat index of each expiry's product's first strike


def _chain_stats(quotes: list[ProductQuotes]) -> _ChainStats:
    n = np.array([len(q.strikes) for q in quotes])
    starts = np.concatenate([[0], np.cumsum(n)])[:-1]
    offsets = np.concatenate([[0]] + [q.offsets[1:] + s for q, s in zip(quotes, starts,
                                                                         strict=True)])
    strikes = np.concatenate([q.strikes for q in quotes])
    forwards = np.concatenate([q.forwards for q in quotes])

    def side(name: str, row: int) -> np.ndarray:
        return np.concatenate([getattr(q, name)[row] for q in quotes])

    call_oi, put_oi = side("open_interest", 0), side("open_interest", 1)
    return _ChainStats(
        atm=nearest_indices(strikes, forwards, offsets),
        max_pain=max_pain_indices(strikes, call_oi, put_oi, offsets),
        call_oi=segment_sums(call_oi, offsets), put_oi=segment_sums(put_oi, offsets),
        call_volume=segment_sums(side("volume", 0), offsets),
        put_volume=segment_sums(side("volume", 1), offsets),
        product_start=np.repeat(starts, [len(q.expiries) for q in quotes]))


def _expiry_chain(terms: ContractTerms, q: ProductQuotes, sequence: int, j: int,
                  arrays: ContractArrays, stats: _ChainStats, g: int) -> ExpiryChain:
    lo, hi = q.offsets[j], q.offsets[j + 1]
    base = stats.product_start[g]
    atm = stats.atm[g] - base
    pain = stats.max_pain[g]
    return ExpiryChain(
        product=terms.symbol, expiry=q.expiries[j], timestamp=q.timestamp, sequence=sequence,
        spot=q.spot, forward=float(q.forwards[j]), time_to_expiry=float(q.times[j]),
        rate=terms.rate, dividend_yield=terms.dividend_yield,
        exercise_style=terms.exercise_style, model=terms.model, currency=terms.currency,
        lot_size=terms.lot_size, strike_step=terms.strike_step, tick_size=terms.tick_size,
        strikes=frozen(q.strikes[lo:hi]),
        contracts=arrays, columns=(int(lo), int(hi)),
        pcr_oi=put_call_ratio(stats.put_oi[g], stats.call_oi[g]),
        pcr_volume=put_call_ratio(stats.put_volume[g], stats.call_volume[g]),
        atm_strike=float(q.strikes[atm]),
        atm_straddle_price=float(q.mid[0, atm] + q.mid[1, atm]),
        max_pain_strike=None if pain == NO_INDEX else float(q.strikes[pain - base]),
    )
