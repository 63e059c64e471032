"""One strategy analysed on one snapshot: payoff and P&L curves, breakevens, extremes,
probabilities under two laws, net Greeks, margin. The body of ``POST /api/strategy/analyze``.

Units: prices, strikes and P&L in the product's currency (P&L for the whole position, net of
premiums); quantities signed units of the underlying; probabilities in [0, 1]; Greeks of the
position in the contract's units times quantity (delta in units of the underlying, gamma per
unit of spot, theta money per calendar day, vega money per volatility point); money Greeks:
``per_1pct_move`` = delta x 1 % of the spot (first order), ``gamma_per_1pct`` = the change of
that figure for a 1 % move (gamma x (1 % of the spot)^2), ``per_day`` = theta,
``per_vol_point`` = vega.

Valuation expiry: the earliest expiry of the position's options. The "expiry" curve is the
P&L there: exact and piecewise linear when every option expires then; otherwise (calendars,
diagonals) the later legs are priced off the surface at their remaining time (the smile
dynamics of :mod:`.valuation`) and breakevens and extremes are solved numerically
(breakevens bracketed on a fine grid over +-``SCAN_SD`` standard deviations and refined by
Brent's method; extremes refined between grid neighbours). Unbounded is decided by the slope
as the price grows without bound: a European calendar on an underlying with a dividend
yield is unbounded below, as its long back call gains ``exp(-q tau)`` per unit of price
while the short front call loses 1.

Probabilities (of the underlying at the valuation expiry, under the forward measure):
``lognormal`` at the ATM IV (the served smile's IV at the forward), ``smile`` under the
Breeden-Litzenberger density of the served smile (:mod:`.density`). ``profit`` = P(P&L > 0),
``expected_pnl`` = E[P&L] (exact integrals for piecewise-linear P&L; for calendars the P&L
is taken linear between the points of a fine grid), ``touch`` per breakeven = the reflection
principle's ``min(1, 2 P(S_T beyond the breakeven))`` on the side away from the spot (exact
for a driftless log price, an approximation with carry and under the smile).

Margin: :mod:`deltastream.trading.margin` as paper trading applies it (INR products: SPAN-style
scan plus exposure margin; others: US strategy-based rules), every option repriced at its
served IV; ``return_on_margin`` = max profit / required margin (null when the profit is
unbounded or nothing is required).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from ..core.snapshot import ChainSnapshot
from ..trading.margin import Market, RiskPosition, india_margin, scan_parameters, us_margin
from .density import Density, lognormal, smile_density
from .legs import LegError, Position, PricedLeg, position_of
from .payoff import (
    SCAN_POINTS,
    Extremes,
    breakevens,
    extremes,
    numeric_breakevens,
    numeric_extremes,
    payoff,
    price_grid,
)
from .valuation import SMILES, Valuer

MIN_POINTS, MAX_POINTS = 50, 5000
# The numeric (calendar) P&L is scanned over +-SCAN_SD standard deviations of log price.
SCAN_SD = 10.0
UNITS = {
    "grid": "underlying price in the product's currency",
    "pnl": "money for the whole position, net of premiums",
    "price": "per unit of the underlying",
    "quantity": "signed units of the underlying (lots x lot size)",
    "iv": "decimal",
    "delta": "per unit of the underlying (position: units)",
    "gamma": "per unit of spot",
    "theta": "per calendar day",
    "vega": "per volatility point",
    "probability": "0 to 1, at the valuation expiry, forward measure",
    "margin": "money",
    "breakevens": "underlying price in the product's currency",
    "max_profit": "money for the whole position",
    "max_loss": "money for the whole position, a loss negative",
    "expected_pnl": "money for the whole position, at the valuation expiry (undiscounted)",
    "touch": "0 to 1 per breakeven",
    "per_1pct_move": "money per 1 % move of the spot (delta x 1 % of the spot)",
    "gamma_per_1pct": "money: the change of per_1pct_move for a 1 % move",
    "per_day": "money per calendar day",
    "per_vol_point": "money per volatility point",
    "return_on_margin": "max profit / required margin, a fraction",
}


@dataclass(frozen=True)
class Request:
    """What to analyse: priced legs (request order) and the options of the analysis."""

    legs: list[PricedLeg]
    dates: list[date] = field(default_factory=list)
    smile: str = "sticky_strike"
    points: int = 500


@dataclass(frozen=True)
class ProfitStats:
    """Under one law: ``profit`` P(P&L > level) in [0, 1], ``expected_pnl`` E[P&L] in money
    (forward measure, undiscounted), ``touch`` per breakeven in [0, 1]."""

    profit: float
    expected_pnl: float
    touch: list[float]


def profit_stats(density: Density, pnl: Callable[[np.ndarray], np.ndarray], cuts: np.ndarray,
                 roots: np.ndarray, spot: float, level: float = 0.0) -> ProfitStats:
    """P(P&L > level), E[P&L] and touch probabilities of ``roots`` under ``density``, the
    P&L taken linear between ``cuts`` (exact when its kinks and roots are among them)."""
    lo, hi, i0, i1 = density.integrals(np.concatenate((cuts, roots)))
    end = np.where(np.isinf(hi), 2 * lo + 1, hi)
    f_lo, f_hi = pnl(lo), pnl(end)
    slope = (f_hi - f_lo) / (end - lo)
    intercept = f_lo - slope * lo
    profit = float(i0[pnl((lo + end) / 2) > level].sum())
    expected = float((intercept * i0 + slope * i1).sum())
    above = density.tail(roots)
    touch = [min(1.0, 2 * (float(a) if r >= spot else 1 - float(a)))
             for r, a in zip(roots.tolist(), above.tolist(), strict=True)]
    return ProfitStats(profit, expected, touch)


def _json_number(x: float | None) -> float | None:
    """``x`` as JSON serves it: null where undefined or not finite."""
    return None if x is None or not math.isfinite(x) else float(x)


def _json_numbers(a: np.ndarray) -> list[float | None]:
    """``a`` as a JSON list, null where not finite."""
    a = np.asarray(a, dtype=float)
    if np.isfinite(a).all():
        return a.tolist()
    return [v if math.isfinite(v) else None for v in a.tolist()]


def margin(snap: ChainSnapshot, position: Position, valuer: Valuer) -> float:
    """The requirement of ``position`` (module docstring), money."""
    risk = []
    american = valuer.american
    for c in position.contracts:
        quantity = round(c.quantity)
        if not quantity:
            continue
        if c.kind == "underlying":
            risk.append(RiskPosition(quantity))
            continue
        assert c.expiry is not None and c.strike is not None
        vol = c.iv
        if vol is None:
            smile = valuer.smile_of(c.expiry)
            vol = 0.0 if smile is None else float(smile.iv(np.array([c.strike]))[0])
        risk.append(RiskPosition(quantity, c.kind, c.strike, c.time, vol, american))
    t = snap.terms
    market = Market(snap.spot, t.rate, t.dividend_yield)
    if t.currency == "INR":
        return float(india_margin(risk, market, scan_parameters(snap.product,
                                                                t.exchange)).total)
    return float(us_margin(risk, market).total)


def analyse(snap: ChainSnapshot, request: Request) -> dict[str, Any]:
    """The analysis (module docstring) as the route serves it."""
    if request.smile not in SMILES:
        raise LegError("smile", f"{request.smile!r}", ", ".join(SMILES))
    if not MIN_POINTS <= request.points <= MAX_POINTS:
        raise LegError("points", f"{request.points!r}", f"{MIN_POINTS} to {MAX_POINTS}")
    position = position_of(request.legs)
    options = [c for c in position.options if c.quantity != 0] or list(position.options)
    chains = list(snap.chains)
    if not chains:
        raise LegError("product", f"no listed expiries for '{snap.product}'")
    front = (min(c.expiry for c in options if c.expiry is not None) if options
             else chains[0].expiry)
    chain = snap.chain_for(front)
    assert chain is not None
    today = snap.local_date()
    elapsed_dates = []
    for i, d in enumerate(request.dates):
        if not today <= d < front:
            raise LegError(f"dates[{i}]", f"{d.isoformat()} is not before the valuation "
                           f"expiry", f"dates from {today.isoformat()} to the day before "
                           f"{front.isoformat()}")
        elapsed_dates.append((d, (d - today).days / 365.0))
    valuer = Valuer(snap, position, request.smile)
    smile = valuer.smile_of(front)
    atm_iv = None if smile is None else smile.atm_iv
    v = (atm_iv or 0.0) * math.sqrt(max(chain.time_to_expiry, 0.0))
    strikes = np.array(sorted({c.strike for c in position.options if c.strike is not None}),
                       dtype=float)
    linear = all(c.expiry == front for c in options)
    expiry_time = chain.time_to_expiry
    scan_lo = chain.forward * math.exp(-SCAN_SD * max(v, 0.01))
    scan_hi = chain.forward * math.exp(SCAN_SD * max(v, 0.01))
    if linear:
        pay = payoff([c.kind for c in position.contracts],
                     [c.strike or 0.0 for c in position.contracts],
                     [c.quantity for c in position.contracts], position.cost)
        expiry_pnl: Callable[[np.ndarray], np.ndarray] = pay
        roots = breakevens(pay)
        ext: Extremes = extremes(pay)
        cuts = pay.kinks
    else:
        expiry_pnl = valuer.pnl(expiry_time)
        scan = np.unique(np.concatenate((np.linspace(0.0, scan_hi, SCAN_POINTS),
                                         np.geomspace(scan_lo, scan_hi, SCAN_POINTS),
                                         strikes)))
        roots = numeric_breakevens(expiry_pnl, scan)
        roots = roots[roots > 0]
        ext = numeric_extremes(expiry_pnl, scan, valuer.final_slope(expiry_time))
        cuts = scan[scan > 0]
    # The chart spans the widest of the smile (its wings hold mass the ATM IV does not see)
    # and holds the spot as well as every strike and breakeven.
    v_wide = max(v, 0.0 if smile is None else math.sqrt(float(smile.w.max())))
    grid = price_grid(chain.forward, v_wide, strikes, request.points,
                      np.append(roots, snap.spot))
    probability: dict[str, Any] = {"lognormal": None, "smile": None}
    if smile is not None and atm_iv is not None:
        for name, density in (("lognormal", lognormal(chain.forward, atm_iv, expiry_time)),
                              ("smile", smile_density(smile))):
            s = profit_stats(density, expiry_pnl, cuts, roots, snap.spot)
            probability[name] = {"profit": s.profit, "expected_pnl": s.expected_pnl,
                                 "touch": s.touch}
        probability["lognormal"]["iv"] = atm_iv
    greeks = {name: math.fsum(c.quantity * getattr(c, name) for c in position.contracts)
              for name in ("delta", "gamma", "theta", "vega")}
    one_pct = 0.01 * snap.spot
    required = margin(snap, position, valuer)
    max_profit = ext.max_profit
    return {
        "product": snap.product, "currency": snap.terms.currency, "spot": snap.spot,
        "lot_size": snap.terms.lot_size, "valuation_expiry": front.isoformat(),
        "forward": chain.forward, "time_to_expiry": expiry_time, "smile": request.smile,
        "exact_expiry_payoff": linear,
        "legs": [{"product": leg.product,
                  "expiry": None if leg.expiry is None else leg.expiry.isoformat(),
                  "strike": leg.strike, "type": leg.kind, "side": leg.side, "lots": leg.lots,
                  "quantity": leg.quantity, "price": leg.price, "iv": _json_number(leg.iv),
                  "delta": leg.delta, "gamma": leg.gamma, "theta": leg.theta,
                  "vega": leg.vega} for leg in request.legs],
        "grid": {"spot": grid.tolist(), "expiry": _json_numbers(expiry_pnl(grid)),
                 "today": _json_numbers(valuer.pnl(0.0)(grid)),
                 "dates": [{"date": d.isoformat(), "pnl": _json_numbers(valuer.pnl(e)(grid))}
                           for d, e in elapsed_dates]},
        "breakevens": roots.tolist(),
        "max_profit": {"value": _json_number(max_profit), "unbounded": ext.max_profit_unbounded},
        "max_loss": {"value": _json_number(ext.max_loss), "unbounded": ext.max_loss_unbounded},
        "probability": probability,
        "greeks": {**greeks, "money": {
            "per_1pct_move": greeks["delta"] * one_pct,
            "gamma_per_1pct": greeks["gamma"] * one_pct * one_pct,
            "per_day": greeks["theta"], "per_vol_point": greeks["vega"]}},
        "margin": {"required": required,
                   "return_on_margin": (max_profit / required
                                        if max_profit is not None and required > 0
                                        else None)},
        "units": {**UNITS, "money": snap.terms.currency},
    }
