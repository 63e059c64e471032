"""Query and response models of the gamma-exposure and skew routes (OpenAPI).

Units: GEX in the product's currency per 1 % move of the underlying (sign x gamma x open
interest x lot size x spot^2 x 0.01); IVs decimal; expected moves in the product's currency
and in percent of the spot; days in the exchange's own calendar dates.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..strategy.exposure import Convention
from .models import Model
from .params import AtQuery, Day

CONVENTION_DESCRIPTION = (
    "who is short the options' gamma: dealer_short_puts (default) counts dealers long the "
    "calls and short the puts the public holds (calls +, puts -); dealer_short_calls the "
    "reverse (calls -, puts +)")


class GEXQuery(AtQuery):
    expiry: Annotated[
        Day | None,
        Field(default=None, description="expiry date YYYY-MM-DD (default: every listed "
                                        "expiry, summed per strike)")] = None
    convention: Annotated[Convention, Field(description=CONVENTION_DESCRIPTION)] = \
        "dealer_short_puts"


class SkewQuery(AtQuery):
    pass


GEX_UNIT = "per 1 % move of the underlying"


class GEXStrike(Model):
    strike: float
    call_gex: float = Field(description=f"calls' dealer gamma exposure, currency {GEX_UNIT}")
    put_gex: float = Field(description=f"puts' dealer gamma exposure, currency {GEX_UNIT}")
    net_gex: float = Field(description="call_gex + put_gex")
    call_oi: float = Field(description="calls' open interest, contracts")
    put_oi: float = Field(description="puts' open interest, contracts")


class SnapshotHeader(Model):
    """The snapshot a GEX or skew answer is of."""

    product: str
    currency: str
    spot: float
    timestamp: str
    sequence: int = Field(description="snapshot version")
    source: str = Field(description="where the chain's quotes come from")


class GEXResponse(SnapshotHeader):
    expiry: str | None = Field(description="the expiry asked for; null: every listed expiry "
                                           "summed per strike")
    convention: Convention = Field(description=CONVENTION_DESCRIPTION)
    unit: str = Field(description="the unit of the GEX figures, e.g. 'INR per 1% move'")
    model: str = Field(description="the pricer the zero-gamma search re-prices gamma with")
    strikes: list[GEXStrike] = Field(
        description="per strike, ascending: sign x served gamma x open interest x lot size x "
                    "spot^2 x 0.01 (an option without an IV counts 0)")
    total: float = Field(description=f"sum of net_gex, currency {GEX_UNIT}")
    zero_gamma: float | None = Field(
        description="the spot nearest the current one at which the total GEX changes sign, "
                    "the whole chain re-priced there at its served IVs (sticky strike) with "
                    "the product's pricer; searched within about +-22 % of the spot; null "
                    "when it does not change sign there")
    call_wall: float | None = Field(description="strike of the largest call GEX in size; "
                                                "null without open interest")
    put_wall: float | None = Field(description="strike of the largest put GEX in size; null "
                                               "without open interest")


class ExpectedMoveOut(Model):
    straddle: float | None = Field(
        description="the at-the-money-forward straddle (mid prices interpolated in strike at "
                    "the forward) carried to expiry: the risk-neutral E|S_T - F|, currency")
    iv: float | None = Field(description="spot x atm_iv x sqrt(years to expiry): one standard "
                                         "deviation, currency")
    straddle_pct: float | None = Field(description="straddle in percent of the spot")
    iv_pct: float | None = Field(description="iv in percent of the spot")


class SkewExpiry(Model):
    expiry: str
    days: int = Field(description="calendar days to expiry in the exchange's dates")
    time_to_expiry: float = Field(description="years, ACT/365")
    forward: float
    atm_iv: float | None = Field(description="smile IV at the forward, decimal")
    rr25: float | None = Field(description="call25_iv - put25_iv")
    bf25: float | None = Field(description="(call25_iv + put25_iv) / 2 - atm_iv")
    put25_iv: float | None = Field(description="smile IV at put delta -0.25")
    call25_iv: float | None = Field(description="smile IV at call delta +0.25")
    put10_iv: float | None = Field(description="smile IV at put delta -0.10")
    call10_iv: float | None = Field(description="smile IV at call delta +0.10")
    expected_move: ExpectedMoveOut


class SkewResponse(SnapshotHeader):
    delta_convention: str = Field(
        description="how the wings' deltas are measured: forward (undiscounted Black delta "
                    "N(d1), put N(d1) - 1, at each strike's own smile IV), interpolated "
                    "linearly in delta; the smile is the out-of-the-money option's IV")
    expiries: list[SkewExpiry] = Field(description="nearest first; atm_iv against days is "
                                                   "the ATM term structure")
