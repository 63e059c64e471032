"""Request and response models of ``POST /api/strategy/analyze`` (OpenAPI; the route parses
the body with :class:`AnalyzeBody` and names a bad field as ``legs[2].strike``).

Units: prices, strikes and P&L in the product's currency (P&L for the whole position, net of
premiums); quantities signed units of the underlying; IV decimal; theta per calendar day; vega
per volatility point; probabilities 0 to 1; dates YYYY-MM-DD; times ISO-8601 UTC.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..strategy.legs import MAX_LEGS, MAX_LOTS
from ..strategy.templates import TEMPLATES
from .models import Model

MAX_DATES = 20


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LegBody(Body):
    product: str | None = Field(None, description="default: the request's product")
    expiry: date | None = Field(None, description="YYYY-MM-DD; omitted for the underlying")
    strike: float | None = Field(None, description="a listed strike; omitted for the "
                                                   "underlying")
    type: Literal["call", "put", "underlying"]
    side: Literal["buy", "sell"]
    lots: int = Field(1, ge=1, le=MAX_LOTS, description="whole lots")
    price: float | None = Field(None, ge=0, description="per unit, at most 100 x the spot; "
                                                        "default the live mid (the spot for "
                                                        "the underlying)")


class TemplateBody(Body):
    name: str = Field(description="one of " + ", ".join(TEMPLATES))
    expiry: date | None = Field(None, description="default: the nearest listed expiry")
    back_expiry: date | None = Field(None, description="calendar and diagonal: default the "
                                                       "next listed expiry")
    strikes_by: Literal["delta", "distance", "explicit"] = "distance"
    delta: float = Field(0.25, gt=0, lt=1, description="|delta| of the OTM strikes")
    distance: int = Field(2, ge=-1000, le=1000, description="strike steps from the ATM "
                                                            "strike")
    width: int = Field(2, ge=1, le=1000, description="strike steps of wings and spreads")
    strikes: list[float] = Field(default_factory=list, max_length=4,
                                 description="explicit strikes, ascending")
    lots: int = Field(1, ge=1, le=MAX_LOTS)


class AnalyzeBody(Body):
    product: str | None = Field(None, description="required unless positions is true")
    legs: list[LegBody] | None = Field(None, description=f"1 to {MAX_LEGS} legs")
    template: TemplateBody | None = None
    positions: bool = Field(False, description="analyse the user's open paper positions "
                                               "(Authorization: Bearer)")
    dates: list[date] = Field(default_factory=list, max_length=MAX_DATES,
                              description="valuation dates before the valuation expiry")
    smile: Literal["sticky_strike", "sticky_moneyness"] = "sticky_strike"
    points: int = Field(500, ge=50, le=5000, description="grid points (plus strikes and "
                                                         "breakevens)")
    source: str | None = Field(None, description="data source; default the live feed")


class LegOut(Model):
    product: str
    expiry: str | None
    strike: float | None
    type: str
    side: str
    lots: float
    quantity: float = Field(description="signed units of the underlying")
    price: float = Field(description="per unit, paid or received")
    iv: float | None = Field(description="served IV, decimal")
    delta: float = Field(description="served, per unit")
    gamma: float = Field(description="served, per unit")
    theta: float = Field(description="served, per unit per calendar day")
    vega: float = Field(description="served, per unit per volatility point")


class DateCurve(Model):
    date: str
    pnl: list[float | None]


class Grid(Model):
    spot: list[float] = Field(description="underlying prices, ascending; every strike and "
                                          "breakeven included")
    expiry: list[float | None] = Field(description="P&L at the valuation expiry")
    today: list[float | None] = Field(description="P&L now, on the served surface")
    dates: list[DateCurve]


class Extreme(Model):
    value: float | None = Field(description="null when unbounded")
    unbounded: bool


class Law(Model):
    profit: float = Field(description="P(P&L > 0) at the valuation expiry")
    expected_pnl: float = Field(description="E[P&L], forward measure")
    touch: list[float] = Field(description="per breakeven: min(1, 2 P(S_T beyond it))")
    iv: float | None = Field(None, description="the ATM IV of the lognormal law")


class Probability(Model):
    lognormal: Law | None
    smile: Law | None


class MoneyGreeks(Model):
    per_1pct_move: float = Field(description="delta x 1 % of spot, money")
    gamma_per_1pct: float = Field(description="gamma x (1 % of spot)^2, money")
    per_day: float = Field(description="theta, money per calendar day")
    per_vol_point: float = Field(description="vega, money per volatility point")


class NetGreeks(Model):
    delta: float = Field(description="units of the underlying")
    gamma: float
    theta: float
    vega: float
    money: MoneyGreeks


class MarginOut(Model):
    required: float = Field(description="the paper-trading margin model's requirement")
    return_on_margin: float | None = Field(description="max profit / required")


class AnalyzeResponse(Model):
    product: str
    currency: str
    spot: float
    timestamp: str
    sequence: int
    source: str
    lot_size: int
    valuation_expiry: str
    forward: float
    time_to_expiry: float = Field(description="years to the valuation expiry")
    smile: str
    exact_expiry_payoff: bool = Field(description="false for calendars and diagonals (later "
                                                  "legs priced at the valuation expiry)")
    legs: list[LegOut]
    grid: Grid
    breakevens: list[float]
    max_profit: Extreme
    max_loss: Extreme
    probability: Probability
    greeks: NetGreeks
    margin: MarginOut
    units: dict[str, str]
