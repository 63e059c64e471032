"""Build chain snapshots from market quotes: implied volatility solved from each mid, Greeks
from that volatility, and the chain-level analytics (PCR, ATM straddle, max pain)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ..analytics.segments import max_pain_indices, nearest_indices, segment_sums
from ..core.snapshot import ChainSnapshot, ContractArrays, ContractTerms, OptionSide
from ..core.types import ExerciseStyle, IVStatus
from ..market.book import SIDES, ProductQuotes
from ..market.quotes import grid_scale
from ..pricing import american
from ..pricing import black_scholes_merton as bsm
from ..pricing.implied_vol import chain_implied_vol_and_greeks


def solve_and_price(american_style: bool, spot: np.ndarray, mids: np.ndarray,
                    strikes: np.ndarray, times: np.ndarray, rate: np.ndarray,
                    dividend_yield: np.ndarray, guess: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, bsm.Greeks]:
    """Implied volatility of each mid under the exercise style's model, and Greeks at that
    vol (the five first-order Greeks: the chain serves those). ``mids`` (2, n) holds calls
    then puts of n strikes, the other inputs one value per strike; ``guess`` (the volatility
    each quote was made from) starts the solver."""
    if american_style:
        iv, status = american.implied_vol(mids, spot, strikes, times, rate, dividend_yield,
                                          SIDES, guess)
        # A mid at the intrinsic value of an option the model exercises now has no implied
        # volatility but well-defined Greeks: those of the exercise region (delta -1/+1).
        vol = np.where(status == IVStatus.EARLY_EXERCISE, american.EXERCISE_CHECK_VOL, iv)
        return iv, status, american.greeks(spot, strikes, times, rate, dividend_yield, vol,
                                           SIDES, second_order=False)
    return chain_implied_vol_and_greeks(mids, spot, strikes, times, rate, dividend_yield,
                                        guess)


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
        items[0][0].exercise_style == ExerciseStyle.AMERICAN,
        per_contract([q.spot for q in quotes]),
        np.concatenate([q.mid for q in quotes], axis=1),
        np.concatenate([q.strikes for q in quotes]),
        np.concatenate([q.contract_times for q in quotes]),
        per_contract([t.rate for t, _ in items]),
        per_contract([t.dividend_yield for t, _ in items]),
        np.concatenate([q.surface_vol for q in quotes]))
    solved = {"iv": iv, "iv_status": status, "delta": greeks.delta, "gamma": greeks.gamma,
              "theta": greeks.theta, "vega": greeks.vega, "rho": greeks.rho}
    bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    for a in solved.values():
        a.setflags(write=False)   # and so every product's slice of it
    return [{name: a[:, lo:hi] for name, a in solved.items()}
            for lo, hi in pairwise(bounds)]


def build_snapshots(items: list[tuple[ContractTerms, ProductQuotes]], sequence: int
                    ) -> dict[str, ChainSnapshot]:
    """Every product's snapshot at this tick: each listed expiry's chain.

    The contracts of all products of one exercise style go through the IV solver and the
    Greeks in one batch, and the chain statistics of all expiries are computed in one pass.
    """
    solved: dict[str, dict[str, np.ndarray]] = {}
    for style in ExerciseStyle:
        group = [(t, q) for t, q in items if t.exercise_style == style]
        if group:
            solved.update(zip((t.symbol for t, _ in group), _solve_group(group), strict=True))
    return assemble_snapshots(items, solved, sequence)


def assemble_snapshots(items: list[tuple[ContractTerms, ProductQuotes]],
                       solved: dict[str, dict[str, np.ndarray]], sequence: int
                       ) -> dict[str, ChainSnapshot]:
    """Every product's snapshot from its quotes and its solved arrays: ``solved[symbol]``
    maps ``iv``, ``iv_status`` and the five first-order Greeks to read-only two-row (calls,
    puts) arrays over the product's contracts. The quoted fields come from the quotes (made
    read-only in place) and the chain statistics of all expiries are computed in one pass.
    Imported chains, solved with inputs of their own, are assembled here too."""
    stats = _chain_stats(items)
    out = {}
    first = 0
    for i, (terms, q) in enumerate(items):
        e = slice(first, first + len(q.expiries))
        lo, hi = stats.columns[i], stats.columns[i + 1]
        quoted = {"last": q.last, "bid": q.bid, "ask": q.ask, "mid": q.mid,
                  "change": stats.change[:, lo:hi], "open_interest": q.open_interest,
                  "volume": q.volume, "oi_change": stats.oi_change[:, lo:hi]}
        sides = solved[terms.symbol]
        out[terms.symbol] = ChainSnapshot(
            product=terms.symbol, sequence=sequence, timestamp=q.timestamp, spot=q.spot,
            session_volume=q.session_volume, tick_volume=q.tick_volume, terms=terms,
            expiry_dates=q.expiries, offsets=_seal_in_place(q.offsets),
            times=_seal_in_place(q.times), forwards=_seal_in_place(q.forwards),
            strikes=_seal_in_place(q.strikes),
            contracts=ContractArrays(tuple(sides[name] if name in sides
                                           else _seal_in_place(quoted[name])
                                           for name in _SIDE_FIELDS)),
            pcr_oi=stats.pcr_oi[e], pcr_volume=stats.pcr_volume[e],
            atm_index=stats.atm[e], max_pain_index=stats.max_pain[e])
        first += len(q.expiries)
    return out


def _seal_in_place(a: np.ndarray) -> np.ndarray:
    # In place: the market never writes into an array it has handed out (it replaces its
    # state arrays each tick), so the snapshot can own them read-only without a copy.
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class _ChainStats:
    """Per expiry of all products, in product order: columns of the ATM and max-pain
    strikes in their product's arrays (-1 for no max pain), and put-call ratios (NaN with
    nothing on the call side); per contract of all products (product ``i`` in columns
    ``columns[i]:columns[i + 1]``), the premium and open-interest changes since the previous
    session's close."""

    atm: np.ndarray
    max_pain: np.ndarray
    pcr_oi: np.ndarray
    pcr_volume: np.ndarray
    columns: list[int]
    change: np.ndarray
    oi_change: np.ndarray


def _ratio(puts: np.ndarray, calls: np.ndarray) -> np.ndarray:
    # put_call_ratio's definition, for many expiries at once.
    out = np.full(calls.shape, np.nan)
    np.divide(puts, calls, out=out, where=calls > 0)
    return _seal_in_place(out)


def _chain_stats(items: list[tuple[ContractTerms, ProductQuotes]]) -> _ChainStats:
    quotes = [q for _, q in items]
    n = np.array([len(q.strikes) for q in quotes])
    columns = np.concatenate([[0], np.cumsum(n)])
    starts = columns[:-1]
    offsets = np.concatenate([[0]] + [q.offsets[1:] + s for q, s in zip(quotes, starts,
                                                                         strict=True)])
    strikes = np.concatenate([q.strikes for q in quotes])
    forwards = np.concatenate([q.forwards for q in quotes])
    oi = np.concatenate([q.open_interest for q in quotes], axis=1)
    volume = np.concatenate([q.volume for q in quotes], axis=1)
    # The premium change on each product's tick grid, as np.round to its decimals does it.
    scale = np.repeat(grid_scale(np.array([t.tick_size for t, _ in items])), n)
    change = np.concatenate([q.last - q.prev_close_last for q in quotes], axis=1)
    oi_change = oi - np.concatenate([q.prev_close_oi for q in quotes], axis=1)
    # Flat indices into the concatenated strikes, made relative to each product's first.
    product_start = np.repeat(starts, [len(q.expiries) for q in quotes])
    max_pain = max_pain_indices(strikes, oi[0], oi[1], offsets)
    return _ChainStats(
        atm=_seal_in_place(nearest_indices(strikes, forwards, offsets) - product_start),
        max_pain=_seal_in_place(np.where(max_pain < 0, -1, max_pain - product_start)),
        pcr_oi=_ratio(segment_sums(oi[1], offsets), segment_sums(oi[0], offsets)),
        pcr_volume=_ratio(segment_sums(volume[1], offsets), segment_sums(volume[0], offsets)),
        columns=columns.tolist(), change=_seal_in_place(np.rint(change * scale) / scale),
        oi_change=_seal_in_place(oi_change))
