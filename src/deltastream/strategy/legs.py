"""Strategy legs: what a request names (:class:`Leg`), checked against a snapshot and
priced (:class:`PricedLeg`), and the position they make once equal contracts are merged
(:class:`Position`).

Units: strikes and prices in the product's currency per unit of the underlying; ``lots`` in
the product's lots; ``quantity`` signed units of the underlying (``lots x lot_size``, long
> 0); served IV decimal and Greeks per unit as the chain serves them (delta per unit of spot,
gamma per unit of spot, theta per calendar day, vega per volatility point); ``time`` years
(ACT/365) to the leg's expiry instant. The underlying is a leg of kind "underlying" with no
expiry or strike (delta 1, no other Greek).

Invariant: a :class:`Position` depends only on the multiset of legs: legs in another order,
or one leg split into several of the same contract, give the same position (contracts in
one canonical order, quantities summed, premiums summed as money).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from ..core.snapshot import ChainSnapshot, ExpiryChain

KINDS = ("call", "put", "underlying")
SIDES = ("buy", "sell")
MAX_LEGS = 12
MAX_LOTS = 100_000
# A given price may be at most this many times the spot: no option is worth more than the
# spot (a put: its strike), and far larger prices overflow the position's money figures.
MAX_PRICE_SPOTS = 100


class LegError(ValueError):
    """A leg (or the legs) breaks a rule: ``parameter`` names it (``legs[2].strike``),
    ``accepted`` says what is accepted."""

    def __init__(self, parameter: str, message: str, accepted: str | None = None) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message
        self.accepted = accepted


@dataclass(frozen=True)
class Leg:
    """One leg as asked: ``price`` None for the live mid (the spot for the underlying);
    ``units`` (a held position's size, any number of units) in place of whole ``lots``."""

    kind: str
    side: str
    lots: float
    expiry: date | None = None
    strike: float | None = None
    price: float | None = None
    product: str | None = None
    units: float | None = None


@dataclass(frozen=True)
class PricedLeg:
    """A leg resolved on a snapshot (module docstring for units)."""

    product: str
    kind: str
    side: str
    lots: float
    quantity: float
    price: float
    expiry: date | None
    strike: float | None
    time: float
    iv: float | None
    delta: float
    gamma: float
    theta: float
    vega: float


def _field(index: int, name: str) -> str:
    return f"legs[{index}].{name}"


def _strike_index(chain: ExpiryChain, strike: float) -> int | None:
    i = int(np.searchsorted(chain.strikes, strike))
    for j in (i - 1, i):
        if 0 <= j < chain.strikes.size and math.isclose(float(chain.strikes[j]), strike,
                                                       rel_tol=0, abs_tol=1e-9):
            return j
    return None


def check_count(count: int) -> None:
    """1 to :data:`MAX_LEGS` legs."""
    if not 1 <= count <= MAX_LEGS:
        raise LegError("legs", f"{count} legs", f"1 to {MAX_LEGS} legs")


def resolve(snap: ChainSnapshot, legs: list[Leg]) -> list[PricedLeg]:
    """Each leg checked against ``snap`` and priced (its price, else the live mid; the
    served IV and Greeks of its contract). Raises :class:`LegError` naming the leg's field."""
    check_count(len(legs))
    return [resolve_one(snap, i, leg) for i, leg in enumerate(legs)]


def resolve_one(snap: ChainSnapshot, index: int, leg: Leg) -> PricedLeg:
    """One leg of :func:`resolve` (``index`` names it in errors)."""
    if leg.product is not None and leg.product != snap.product:
        raise LegError(_field(index, "product"), f"'{leg.product}' is not the analysed "
                       f"product", snap.product)
    if leg.kind not in KINDS:
        raise LegError(_field(index, "type"), f"{leg.kind!r} is not a leg type",
                       ", ".join(KINDS))
    if leg.side not in SIDES:
        raise LegError(_field(index, "side"), f"{leg.side!r} is not a side", ", ".join(SIDES))
    lot_size = snap.terms.lot_size
    if leg.units is not None:
        if not (math.isfinite(leg.units) and leg.units > 0):
            raise LegError(_field(index, "quantity"), f"{leg.units!r} units",
                           "a quantity > 0")
        units, lots = float(leg.units), float(leg.units) / lot_size
    elif (not math.isfinite(leg.lots) or leg.lots != int(leg.lots)
            or not 1 <= leg.lots <= MAX_LOTS):
        raise LegError(_field(index, "lots"), f"{leg.lots!r} lots",
                       f"a whole number of lots, 1 to {MAX_LOTS}")
    else:
        units, lots = float(leg.lots) * lot_size, leg.lots
    highest = MAX_PRICE_SPOTS * snap.spot
    if leg.price is not None and not (math.isfinite(leg.price) and 0 <= leg.price <= highest):
        raise LegError(_field(index, "price"), f"{leg.price!r} is not a price",
                       f"a price from 0 to {MAX_PRICE_SPOTS} x the spot ({highest:g}), or "
                       "omitted for the live mid")
    quantity = (1.0 if leg.side == "buy" else -1.0) * units
    if leg.kind == "underlying":
        price = snap.spot if leg.price is None else leg.price
        return PricedLeg(snap.product, "underlying", leg.side, lots, quantity, price,
                         None, None, 0.0, None, 1.0, 0.0, 0.0, 0.0)
    listed = [c.expiry for c in snap.chains]
    if leg.expiry is None or leg.expiry not in listed:
        raise LegError(_field(index, "expiry"),
                       "missing" if leg.expiry is None else
                       f"{leg.expiry.isoformat()} is not listed for '{snap.product}'",
                       ", ".join(e.isoformat() for e in listed))
    chain = snap.chain_for(leg.expiry)
    assert chain is not None
    column = None if leg.strike is None else _strike_index(chain, float(leg.strike))
    if column is None:
        lo, hi = float(chain.strikes[0]), float(chain.strikes[-1])
        raise LegError(_field(index, "strike"),
                       "missing" if leg.strike is None else
                       f"{leg.strike!r} is not a listed strike of {leg.expiry.isoformat()}",
                       f"listed strikes {lo:g} to {hi:g} in steps of {chain.strike_step:g}")
    side = chain.calls if leg.kind == "call" else chain.puts
    mid = float(side.mid[column])
    price = mid if leg.price is None else leg.price
    if not math.isfinite(price) or price < 0:
        raise LegError(_field(index, "price"), "the contract has no live mid",
                       "give a price")
    iv = float(side.iv[column])
    return PricedLeg(
        snap.product, leg.kind, leg.side, lots, quantity, price, chain.expiry,
        float(chain.strikes[column]), chain.time_to_expiry, iv if math.isfinite(iv) else None,
        float(side.delta[column]), float(side.gamma[column]), float(side.theta[column]),
        float(side.vega[column]))


@dataclass(frozen=True)
class Contract:
    """One contract of a position: its net quantity and the served figures of its legs."""

    kind: str
    expiry: date | None
    strike: float | None
    quantity: float
    time: float
    iv: float | None
    delta: float
    gamma: float
    theta: float
    vega: float


@dataclass(frozen=True)
class Position:
    """Contracts in canonical order (expiry, type, strike) with their net quantities, and
    ``cost`` = sum of quantity x price over the legs (money paid; negative when received)."""

    contracts: tuple[Contract, ...]
    cost: float

    @property
    def options(self) -> tuple[Contract, ...]:
        return tuple(c for c in self.contracts if c.kind != "underlying")


def position_of(legs: list[PricedLeg]) -> Position:
    """The position of ``legs`` (module docstring's invariant). Premiums are summed in the
    canonical order too, so that the cost is the same to the last bit."""
    # The canonical order: expiry (the underlying, with none, first), type, strike.
    merged: dict[tuple[date, int, float], list[PricedLeg]] = {}
    for leg in legs:
        key = (leg.expiry or date.min, KINDS.index(leg.kind), leg.strike or 0.0)
        merged.setdefault(key, []).append(leg)
    contracts = []
    cost = 0.0
    for key in sorted(merged):
        group = sorted(merged[key], key=lambda g: (g.quantity, g.price))
        first = group[0]
        quantity = math.fsum(g.quantity for g in group)
        cost += math.fsum(g.quantity * g.price for g in group)
        contracts.append(Contract(first.kind, first.expiry, first.strike, quantity,
                                  first.time, first.iv, first.delta, first.gamma,
                                  first.theta, first.vega))
    return Position(tuple(contracts), cost)
