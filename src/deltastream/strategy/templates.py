"""Strategy templates: the legs of a named strategy on one snapshot, their strikes chosen by
delta, by distance from the ATM strike, or explicitly.

Strike choice (``strikes_by``):

- ``"delta"``: the OTM strike(s) whose served delta is nearest ``delta`` (calls) or
  ``-delta`` (puts), from the served chain of the front expiry;
- ``"distance"``: ``distance`` strike steps from the ATM strike (the listed strike nearest
  the forward), away from it on each OTM side (0 = the ATM strike itself);
- ``"explicit"``: ``strikes``, ascending, each a listed strike.

Wings and second strikes are ``width`` strike steps from the strike they hang off (the
first strike of a vertical or ratio spread is the OTM strike of its type). The ATM
strike of straddles and butterflies is the ATM strike shifted by ``distance`` steps under
``"distance"`` and the ATM strike itself under ``"delta"`` (their wings then by delta).
Every template is in ``lots`` lots per leg (ratio spreads 1 x 2, butterflies 1 x 2 x 1).

Templates (long = buy, short = sell): long/short straddle (call and put at one strike),
long/short strangle (OTM put and call), bull call spread (buy K, sell K + w), bear call
spread (sell K, buy K + w), bull put spread (sell put K, buy put K - w), bear put spread (buy
put K, sell put K - w), iron condor (buy put, sell put, sell call, buy call), iron butterfly
(sell the straddle, buy the wings), butterfly (calls 1 x -2 x 1), calendar (sell the front
call, buy the back call at one strike), diagonal (sell the front call K, buy the back call
K - w), ratio spread (buy call K, sell 2 calls K + w), covered call (long the underlying, sell
a call), protective put (long the underlying, buy a put). Calendars and diagonals take
``back_expiry`` (default: the next listed expiry after ``expiry``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from ..core.snapshot import ChainSnapshot, ExpiryChain
from .legs import MAX_LOTS, Leg, LegError

TEMPLATES = (
    "long_straddle", "short_straddle", "long_strangle", "short_strangle",
    "bull_call_spread", "bear_call_spread", "bull_put_spread", "bear_put_spread",
    "iron_condor", "iron_butterfly", "butterfly", "calendar", "diagonal", "ratio_spread",
    "covered_call", "protective_put",
)
STRIKES_BY = ("delta", "distance", "explicit")
# Explicit strikes each template takes, in ascending order.
EXPLICIT_COUNT = {
    "long_straddle": 1, "short_straddle": 1, "long_strangle": 2, "short_strangle": 2,
    "bull_call_spread": 2, "bear_call_spread": 2, "bull_put_spread": 2, "bear_put_spread": 2,
    "iron_condor": 4, "iron_butterfly": 3, "butterfly": 3, "calendar": 1, "diagonal": 2,
    "ratio_spread": 2, "covered_call": 1, "protective_put": 1,
}
MAX_STEPS = 1000


@dataclass(frozen=True)
class Template:
    """A template as asked (module docstring)."""

    name: str
    expiry: date | None = None
    back_expiry: date | None = None
    strikes_by: str = "distance"
    delta: float = 0.25
    distance: int = 2
    width: int = 2
    strikes: tuple[float, ...] = field(default=())
    lots: int = 1


def _f(name: str) -> str:
    return f"template.{name}"


class _Picker:
    """Strikes of one chain by the template's rule."""

    def __init__(self, chain: ExpiryChain, t: Template) -> None:
        self.chain, self.t = chain, t
        self.strikes = np.asarray(chain.strikes, dtype=float)
        self.atm = int(np.argmin(np.abs(self.strikes - chain.atm_strike)))

    def at(self, index: int, name: str) -> float:
        if not 0 <= index < self.strikes.size:
            lo, hi = float(self.strikes[0]), float(self.strikes[-1])
            raise LegError(_f(name), f"the strike it gives is outside the listed strikes "
                           f"{lo:g} to {hi:g} of {self.chain.expiry.isoformat()}",
                           "fewer strike steps")
        return float(self.strikes[index])

    def by_delta(self, kind: str) -> int:
        side = self.chain.calls if kind == "call" else self.chain.puts
        target = self.t.delta if kind == "call" else -self.t.delta
        gap = np.abs(np.asarray(side.delta, dtype=float) - target)
        gap = np.where(np.isfinite(gap), gap, np.inf)
        if not np.isfinite(gap).any():
            raise LegError(_f("delta"), "the chain serves no delta", "strikes_by distance")
        return int(np.argmin(gap))

    def otm(self, kind: str) -> int:
        """The OTM strike of ``kind`` (delta or distance rule)."""
        if self.t.strikes_by == "delta":
            return self.by_delta(kind)
        step = self.t.distance if kind == "call" else -self.t.distance
        return self.atm + step

    def center(self) -> int:
        return self.atm + (self.t.distance if self.t.strikes_by == "distance" else 0)


def _check(t: Template, snap: ChainSnapshot) -> tuple[ExpiryChain, ExpiryChain | None]:
    if t.name not in TEMPLATES:
        raise LegError(_f("name"), f"{t.name!r} is not a template", ", ".join(TEMPLATES))
    if t.strikes_by not in STRIKES_BY:
        raise LegError(_f("strikes_by"), f"{t.strikes_by!r}", ", ".join(STRIKES_BY))
    if not (math.isfinite(t.delta) and 0 < t.delta < 1):
        raise LegError(_f("delta"), f"{t.delta!r}", "a delta between 0 and 1 (0.25)")
    if not -MAX_STEPS <= t.distance <= MAX_STEPS:
        raise LegError(_f("distance"), f"{t.distance!r}", f"-{MAX_STEPS} to {MAX_STEPS}")
    if not 1 <= t.width <= MAX_STEPS:
        raise LegError(_f("width"), f"{t.width!r}", f"1 to {MAX_STEPS} strike steps")
    if not 1 <= t.lots <= MAX_LOTS:
        raise LegError(_f("lots"), f"{t.lots!r}", f"1 to {MAX_LOTS}")
    chains = list(snap.chains)
    listed = ", ".join(c.expiry.isoformat() for c in chains)
    if not chains:
        raise LegError(_f("expiry"), f"no listed expiries for '{snap.product}'", listed)
    front = chains[0] if t.expiry is None else snap.chain_for(t.expiry)
    if front is None:
        raise LegError(_f("expiry"), f"{t.expiry} is not listed", listed)
    back = None
    if t.name in ("calendar", "diagonal"):
        later = [c for c in chains if c.expiry > front.expiry]
        back = (later[0] if t.back_expiry is None and later else
                None if t.back_expiry is None else snap.chain_for(t.back_expiry))
        if back is None or back.expiry <= front.expiry:
            raise LegError(_f("back_expiry"), "no listed expiry after the front one"
                           if t.back_expiry is None else f"{t.back_expiry} is not a listed "
                           f"expiry after {front.expiry.isoformat()}",
                           ", ".join(c.expiry.isoformat() for c in later))
    if t.strikes_by == "explicit":
        need = EXPLICIT_COUNT[t.name]
        strikes = list(t.strikes)
        if len(strikes) != need or strikes != sorted(strikes) or len(set(strikes)) != need:
            raise LegError(_f("strikes"), f"{strikes}",
                           f"{need} distinct listed strikes, ascending")
        for i, k in enumerate(strikes):
            for chain in (front, back):
                if chain is not None and not np.any(np.isclose(chain.strikes, k, rtol=0,
                                                               atol=1e-9)):
                    raise LegError(f"template.strikes[{i}]", f"{k!r} is not listed for "
                                   f"{chain.expiry.isoformat()}",
                                   f"listed strikes {chain.strikes[0]:g} to "
                                   f"{chain.strikes[-1]:g}")
    return front, back


def template_legs(snap: ChainSnapshot, t: Template) -> list[Leg]:
    """The legs of ``t`` on ``snap`` (module docstring); :class:`LegError` names the
    template's field that cannot be met."""
    front, back = _check(t, snap)
    p = _Picker(front, t)
    w, n, e = t.width, t.lots, front.expiry
    explicit = [float(k) for k in t.strikes] if t.strikes_by == "explicit" else []

    def opt(kind: str, side: str, strike: float, lots: int = n,
            expiry: date = e) -> Leg:
        return Leg(kind, side, lots, expiry, strike)

    name = t.name
    if name in ("long_straddle", "short_straddle"):
        k = explicit[0] if explicit else p.at(p.center(), "distance")
        side = "buy" if name.startswith("long") else "sell"
        return [opt("call", side, k), opt("put", side, k)]
    if name in ("long_strangle", "short_strangle", "iron_condor"):
        if explicit:
            ks = explicit
        else:
            put, call = p.otm("put"), p.otm("call")
            ks = [p.at(put - w, "width"), p.at(put, "distance"), p.at(call, "distance"),
                  p.at(call + w, "width")]
        if name == "iron_condor":
            return [opt("put", "buy", ks[0]), opt("put", "sell", ks[1]),
                    opt("call", "sell", ks[2]), opt("call", "buy", ks[3])]
        pk, ck = (ks[0], ks[1]) if explicit else (ks[1], ks[2])
        if pk >= ck:
            raise LegError(_f("distance"), "the put strike is not below the call strike",
                           "a distance or delta that separates them")
        side = "buy" if name.startswith("long") else "sell"
        return [opt("put", side, pk), opt("call", side, ck)]
    if name in ("bull_call_spread", "bear_call_spread", "ratio_spread"):
        if explicit:
            lo, hi = explicit
        else:
            a = p.otm("call")
            lo, hi = p.at(a, "distance"), p.at(a + w, "width")
        if name == "ratio_spread":
            return [opt("call", "buy", lo), opt("call", "sell", hi, 2 * n)]
        buy_low = name == "bull_call_spread"
        return [opt("call", "buy" if buy_low else "sell", lo),
                opt("call", "sell" if buy_low else "buy", hi)]
    if name in ("bull_put_spread", "bear_put_spread"):
        if explicit:
            lo, hi = explicit
        else:
            a = p.otm("put")
            lo, hi = p.at(a - w, "width"), p.at(a, "distance")
        sell_high = name == "bull_put_spread"
        return [opt("put", "sell" if sell_high else "buy", hi),
                opt("put", "buy" if sell_high else "sell", lo)]
    if name in ("iron_butterfly", "butterfly"):
        if explicit:
            k1, k2, k3 = explicit
        else:
            c = p.center()
            k2 = p.at(c, "distance")
            if t.strikes_by == "delta":
                k1, k3 = p.at(p.otm("put"), "delta"), p.at(p.otm("call"), "delta")
                if not k1 < k2 < k3:
                    raise LegError(_f("delta"), "the wings are not either side of the "
                                   "centre strike", "a smaller delta")
            else:
                k1, k3 = p.at(c - w, "width"), p.at(c + w, "width")
        if name == "butterfly":
            return [opt("call", "buy", k1), opt("call", "sell", k2, 2 * n),
                    opt("call", "buy", k3)]
        return [opt("put", "buy", k1), opt("put", "sell", k2), opt("call", "sell", k2),
                opt("call", "buy", k3)]
    if name in ("calendar", "diagonal"):
        assert back is not None
        if explicit:
            if name == "calendar":
                near = far = explicit[0]
            else:
                far, near = explicit
        else:
            a = p.otm("call") if t.strikes_by == "delta" else p.center()
            near = p.at(a, "distance")
            far = near if name == "calendar" else p.at(a - w, "width")
        if not np.any(np.isclose(back.strikes, far, rtol=0, atol=1e-9)):
            raise LegError(_f("width"), f"{far:g} is not listed for {back.expiry}",
                           "a strike listed in both expiries")
        return [opt("call", "sell", near), opt("call", "buy", far, expiry=back.expiry)]
    # covered_call, protective_put
    kind = "call" if name == "covered_call" else "put"
    k = explicit[0] if explicit else p.at(p.otm(kind), "distance")
    return [Leg("underlying", "buy", n), opt(kind, "sell" if kind == "call" else "buy", k)]
