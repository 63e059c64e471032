"""Dealer gamma exposure (GEX): per strike, in total, its zero-gamma level and the walls.

Units and formula. The exposure of one option series is the change of the dealers' delta,
in money, for a 1 % move of the underlying::

    GEX_i = sign_i x gamma_i x OI_i x M x S^2 x 0.01

with gamma per unit of spot (the chain's served gamma), OI in contracts, M the contract
multiplier (the product's lot size: 65 for NIFTY, 100 for a US equity option) and S the spot:
gamma x (0.01 S) is the delta change of one unit for a 1 % move, x S its value in money. The
figures are in the product's currency per 1 % move.

Sign convention (``convention``):

- ``dealer_short_puts`` (default): dealers are long the calls and short the puts the public
  holds, so calls count +, puts -;
- ``dealer_short_calls``: the reverse, calls -, puts +.

The zero-gamma level is the spot at which the total GEX of the chain changes sign when the
whole chain is re-priced there: every option keeps its served implied volatility (sticky
strike), its time to expiry, the rate and its expiry's dividend yield; only the spot moves.
Gamma comes from the product's pricer: Black-Scholes-Merton for European chains (the closed
form, vectorised over a grid of spots; Black-76 on the forward F = S e^((r-q)T), which moves
with the spot, gives the same gamma in spot), the American pricer
(:func:`deltastream.pricing.american.greeks`) for American ones. The total is scanned on a
log-spaced spot grid around the spot with the European closed form (cheap, and for American
chains only a locator); the sign change nearest the spot brackets the root, which
:func:`scipy.optimize.brentq` refines with the product's pricer (for an American chain the
bracket's sign change is first confirmed with the American pricer; the next one out is tried
when it is not, up to MAX_CANDIDATES: a sign change of the American total that the European
scan does not see is not found). None when the total does not change sign on the grid.

Call wall and put wall: the strikes of the largest call and put exposure in magnitude (the
largest gamma x OI: the convention flips signs, not sizes); None without open interest.

Options with no implied volatility (NaN, e.g. an American option in its exercise region) count
with their served gamma at the spot (0 in the exercise region, NaN counted as 0) and are left
out of the re-pricing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
from scipy.optimize import brentq

from ..core.snapshot import ChainSnapshot, OptionSide
from ..core.types import ExerciseStyle
from ..pricing import american

Convention = Literal["dealer_short_puts", "dealer_short_calls"]
DEALER_SHORT_PUTS: Convention = "dealer_short_puts"
DEALER_SHORT_CALLS: Convention = "dealer_short_calls"
CONVENTIONS: tuple[Convention, ...] = (DEALER_SHORT_PUTS, DEALER_SHORT_CALLS)
ONE_PERCENT = 0.01
# The zero-gamma scan: spots S exp(x) for x evenly spaced in [-GRID_LOG_RANGE, +GRID_LOG_RANGE]
# (about -22 % to +22 % of the spot, steps of 0.5 %).
GRID_LOG_RANGE = 0.2
GRID_POINTS = 81
# brentq's absolute tolerance on the zero-gamma spot, relative to the spot.
ROOT_TOLERANCE = 1e-8
# American chains: bracket candidates confirmed with the American pricer before giving up.
MAX_CANDIDATES = 4

_FIELDS = tuple(OptionSide.__dataclass_fields__)
_IV, _GAMMA, _OI = (_FIELDS.index(f) for f in ("iv", "gamma", "open_interest"))
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def signs(convention: Convention) -> tuple[float, float]:
    """The (call, put) signs of the dealers' gamma under ``convention``."""
    if convention == DEALER_SHORT_PUTS:
        return 1.0, -1.0
    if convention == DEALER_SHORT_CALLS:
        return -1.0, 1.0
    raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")


def gex(gamma: np.ndarray, open_interest: np.ndarray, multiplier: float, spot: float,
        sign: float) -> np.ndarray:
    """Per-option GEX in money per 1 % move: sign x gamma x OI x multiplier x S^2 x 0.01
    (a NaN gamma, an option without an implied volatility, counts as 0)."""
    g = np.nan_to_num(np.asarray(gamma, dtype=np.float64), nan=0.0)
    return sign * g * np.asarray(open_interest, dtype=np.float64) * (
        multiplier * spot * spot * ONE_PERCENT)


@dataclass(frozen=True)
class GammaBook:
    """What the re-pricing of a chain's gamma needs, flat over its options (calls and puts of
    one or more expiries): each option's strike, years to expiry, served IV, dividend yield,
    right, and weight sign x OI x multiplier (so that GEX = weight x gamma x S^2 x 0.01)."""

    strikes: np.ndarray
    times: np.ndarray
    vols: np.ndarray
    dividend_yields: np.ndarray
    is_call: np.ndarray
    weights: np.ndarray
    rate: float
    american: bool
    # Closed-form terms of the European gamma that do not depend on the spot.
    _sd: np.ndarray = field(init=False, repr=False)
    _shift: np.ndarray = field(init=False, repr=False)
    _scale: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Options that cannot be re-priced (no IV, expired, no open interest) weigh nothing.
        keep = ((self.weights != 0) & np.isfinite(self.vols) & (self.vols > 0)
                & (self.times > 0) & (self.strikes > 0))
        for name in ("strikes", "times", "vols", "dividend_yields", "is_call", "weights"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name)[keep]))
        sd = self.vols * np.sqrt(self.times)
        object.__setattr__(self, "_sd", sd)
        object.__setattr__(self, "_shift", (self.rate - self.dividend_yields) * self.times / sd
                           + 0.5 * sd - np.log(self.strikes) / sd)
        object.__setattr__(self, "_scale", self.weights * np.exp(
            -self.dividend_yields * self.times) * _INV_SQRT_2PI / sd)

    def european_total(self, spots: np.ndarray) -> np.ndarray:
        """Total GEX (money per 1 % move) at each of ``spots`` with the Black-Scholes-Merton
        gamma e^(-qT) phi(d1) / (S sigma sqrt T): one matrix product over the spot grid."""
        s = np.asarray(spots, dtype=np.float64)
        d1 = np.log(s)[..., None] / self._sd + self._shift
        # sum_i w_i gamma_i(S) S^2 / 100 = S / 100 x sum_i scale_i exp(-d1^2 / 2).
        return np.exp(-0.5 * d1 * d1) @ self._scale * s * ONE_PERCENT

    def priced_total(self, spot: float) -> float:
        """Total GEX at ``spot`` with the product's pricer (American or European)."""
        if not self.american:
            return float(self.european_total(np.array(spot)))
        if self.strikes.size == 0:
            return 0.0
        gamma = american.greeks(spot, self.strikes, self.times, self.rate, self.dividend_yields,
                                self.vols, self.is_call, second_order=False).gamma
        return float(np.nansum(self.weights * gamma) * spot * spot * ONE_PERCENT)


def zero_gamma(book: GammaBook, spot: float, log_range: float = GRID_LOG_RANGE,
               points: int = GRID_POINTS) -> float | None:
    """The spot nearest ``spot`` where the re-priced total GEX changes sign (see the module
    docstring), or None when it does not change sign within exp(+-log_range) x spot."""
    if book.strikes.size == 0:
        return None
    grid = spot * np.exp(np.linspace(-log_range, log_range, points))
    total = book.european_total(grid)
    exact = np.flatnonzero(total == 0.0)
    changes = np.flatnonzero(np.sign(total[:-1]) * np.sign(total[1:]) < 0)
    # Nearest the spot first: by the distance of the bracket's nearer end.
    candidates = sorted(
        [(abs(grid[i] - spot), i, i) for i in exact if not book.american]
        + [(min(abs(grid[i] - spot), abs(grid[i + 1] - spot)), i, i + 1) for i in changes])
    # brentq evaluates the bracket's ends again: remembered, as an American total is costly.
    totals: dict[float, float] = {}

    def priced(x: float) -> float:
        if x not in totals:
            totals[x] = book.priced_total(x)
        return totals[x]

    for _, lo, hi in candidates[:MAX_CANDIDATES if book.american else 1]:
        if lo == hi:
            return float(grid[lo])
        a, b = float(grid[lo]), float(grid[hi])
        fa, fb = priced(a), priced(b)
        if fa == 0.0:
            return a
        if fb == 0.0:
            return b
        if (fa < 0) != (fb < 0):
            root: float = brentq(priced, a, b, xtol=ROOT_TOLERANCE * spot,
                                 rtol=4 * np.finfo(float).eps)
            return root
    return None


@dataclass(frozen=True)
class Exposure:
    """GEX of a product's chain (one expiry, or all summed per strike), money per 1 % move."""

    strikes: np.ndarray       # ascending, distinct
    call_gex: np.ndarray
    put_gex: np.ndarray
    net_gex: np.ndarray       # call_gex + put_gex
    call_oi: np.ndarray       # contracts
    put_oi: np.ndarray
    total: float
    zero_gamma: float | None
    call_wall: float | None
    put_wall: float | None
    convention: Convention


def _wall(strikes: np.ndarray, values: np.ndarray) -> float | None:
    size = np.abs(values)
    if size.size == 0 or not np.any(size > 0):
        return None
    return float(strikes[int(np.argmax(size))])   # ties: the lowest strike


def exposure(snap: ChainSnapshot, expiry: date | None = None,
             convention: Convention = DEALER_SHORT_PUTS) -> Exposure:
    """GEX of ``snap`` for ``expiry`` (None: every listed expiry, summed per strike), from the
    served gamma and open interest at the snapshot's spot; the zero-gamma level re-prices the
    same options at shifted spots (see the module docstring)."""
    call_sign, put_sign = signs(convention)
    if expiry is None:
        lo, hi = 0, int(snap.strikes.size)
    else:
        j = snap.expiry_dates.index(expiry)    # ValueError: not listed
        lo, hi = int(snap.offsets[j]), int(snap.offsets[j + 1])
    fields = snap.contracts.fields
    gamma, oi, iv = (fields[k][:, lo:hi] for k in (_GAMMA, _OI, _IV))
    strikes = snap.strikes[lo:hi]
    terms = snap.terms
    multiplier, spot = float(terms.lot_size), float(snap.spot)
    call_gex = gex(gamma[0], oi[0], multiplier, spot, call_sign)
    put_gex = gex(gamma[1], oi[1], multiplier, spot, put_sign)

    # Per strike over the chosen expiries (one expiry: already distinct and ascending).
    unique, where = np.unique(strikes, return_inverse=True)

    def per_strike(values: np.ndarray) -> np.ndarray:
        return np.bincount(where, weights=values, minlength=unique.size)

    calls, puts = per_strike(call_gex), per_strike(put_gex)
    call_oi, put_oi = per_strike(oi[0]), per_strike(oi[1])

    sizes = np.diff(snap.offsets)
    times = np.repeat(snap.times, sizes)[lo:hi]
    yields = (np.full(hi - lo, terms.dividend_yield) if snap.dividend_yields is None
              else np.repeat(snap.dividend_yields, sizes)[lo:hi])
    n = hi - lo
    book = GammaBook(
        strikes=np.concatenate([strikes, strikes]), times=np.concatenate([times, times]),
        vols=np.concatenate([iv[0], iv[1]]), dividend_yields=np.concatenate([yields, yields]),
        is_call=np.repeat(np.array([True, False]), n),
        weights=np.concatenate([call_sign * oi[0], put_sign * oi[1]]) * multiplier,
        rate=float(terms.rate), american=terms.exercise_style == ExerciseStyle.AMERICAN)
    net = calls + puts
    return Exposure(strikes=unique, call_gex=calls, put_gex=puts, net_gex=net,
                    call_oi=call_oi, put_oi=put_oi, total=float(net.sum()),
                    zero_gamma=zero_gamma(book, spot), call_wall=_wall(unique, calls),
                    put_wall=_wall(unique, puts), convention=convention)
