"""The catalogue file's format as pydantic models, and its JSON Schema (docs/catalog.md).

A catalogue file is TOML with one table, ``products``, keyed by product symbol. A symbol of the
default catalogue takes any subset of the fields (each changes that field); any other symbol
adds a product and needs every field but ``extra_holidays`` and ``strikes_each_side``.

Units: prices in the product's currency; rates, yields and volatilities annualised,
continuously compounded decimals (0.055 = 5.5 %); rates of trading per second of market time;
open interest and trade sizes in lots; dates ``YYYY-MM-DD``; ``close`` is ``HH:MM`` on the
exchange's clock, and a session runs from ``open`` to ``close``. Numbers must be finite;
whole numbers must be written without a fraction.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from ..core.types import ExerciseStyle
from .earnings import EarningsTiming
from .expiry_rules import Kind, Weekday

SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
CLOSE_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# The no-butterfly-arbitrage bound of the SSVI smile: curvature * (1 + |skew|) <= this.
MAX_WING = 2.0


def _number(description: str, *, gt: float | None = None, ge: float | None = None,
            le: float | None = None) -> Any:
    return Field(description=description, gt=gt, ge=ge, le=le, strict=True,
                 allow_inf_nan=False)


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name, e.g. "
                         "Asia/Kolkata)") from None
    return value


def _calendar(value: str) -> str:
    import exchange_calendars

    if value not in exchange_calendars.get_calendar_names():
        raise ValueError(f"unknown exchange calendar {value!r} (e.g. XBOM, XNYS)")
    return value


Text = Annotated[str, Field(min_length=1, strict=True)]
RoundStrike = Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpiryRuleModel(_Strict):
    """Expiry dates of one kind, for nominal dates in [from, until)."""

    model_config = ConfigDict(title="ExpiryRule")

    kind: Kind = Field(description="daily: every trading day; weekly: every week on "
                                   "`weekday`; monthly_last / monthly_third: the last / "
                                   "third `weekday` of each month.")
    weekday: Weekday = Field("FRI", description="Expiry weekday (ignored for daily).")
    effective_from: date | None = Field(None, alias="from",
                                        description="First nominal date the rule lists.")
    until: date | None = Field(None, description="Nominal dates from this day on are not "
                                                 "listed by the rule.")


class ExpirySeriesModel(_Strict):
    """A family of expiries (weeklies, monthlies, dailies) and how many are listed at once."""

    model_config = ConfigDict(title="ExpirySeries")

    name: Text | None = Field(None, description="Series name (default series<N>).")
    count: int = Field(description="Expiries of the series listed at once.", ge=1, le=60,
                       strict=True)
    rules: list[ExpiryRuleModel] = Field(min_length=1, description=(
        "Rules whose union gives the expiry dates; effective dates let a rule change."))


class EarningsModel(_Strict):
    """A single stock's earnings schedule (simulated dates; catalog/earnings.py)."""

    model_config = ConfigDict(title="Earnings")

    first: date = Field(description="First (simulated) announcement date.")
    every_weeks: int = Field(13, ge=1, le=104, strict=True, description=(
        "Weeks between announcements (13: quarterly, on the same weekday)."))
    move: float = _number("One-day standard deviation of the log return the announcement "
                          "causes (0.04 = 4 %).", gt=0, le=0.5)
    timing: EarningsTiming = Field(EarningsTiming.AFTER_CLOSE, description=(
        "after_close: the next weekday's session moves; before_open: the announcement "
        "day's."))


class ProductModel(_Strict):
    """One product: contract terms, market conventions and the simulated market's
    parameters."""

    model_config = ConfigDict(title="Product")

    name: Text = Field(description="Display name.")
    exchange: Text = Field(description="Exchange that lists the options.")
    calendar_code: Annotated[Text, AfterValidator(_calendar)] = Field(
        description="exchange_calendars code for trading days and holidays (XBOM, XNYS).")
    timezone: Annotated[Text, AfterValidator(_timezone)] = Field(
        description="IANA time zone of the exchange.")
    close: str = Field(pattern=CLOSE_PATTERN, strict=True,
                       description="Session close, and the expiry instant on expiry day, "
                                   "HH:MM exchange time.")
    open: str | None = Field(None, pattern=CLOSE_PATTERN, strict=True, description=(
        "Session open, HH:MM exchange time (unset: the exchange calendar's regular open)."))
    currency: Text = Field(description="Currency of prices and strikes.")
    tick_size: float = _number("Option premium tick.", gt=0)
    strike_step: float = _number("Distance between listed strikes.", gt=0)
    lot_size: int = Field(ge=1, strict=True, description="Units of the underlying per lot.")
    exercise_style: ExerciseStyle = Field(description="european or american.")
    rate: float = _number("Risk-free rate.", ge=-0.1, le=0.5)
    dividend_yield: float = _number("Dividend yield of the underlying.", ge=0, le=0.5)
    spot: float = _number("Starting spot of the simulated market.", gt=0)
    vol_level: float = _number("Long-run total volatility of the spot (diffusion and jumps).",
                                ge=0.01, le=3.0)
    mean_reversion: float = _number("kappa: speed at which variance returns to its level, "
                                    "per year.", ge=0.1, le=100.0)
    vol_of_vol: float = _number("xi: volatility of the variance.", ge=0, le=5.0)
    spot_vol_correlation: float = _number("rho of the spot and variance moves.",
                                          ge=-0.99, le=0.99)
    jump_intensity: float = _number("Expected spot jumps per year.", ge=0, le=100.0)
    jump_mean: float = _number("Mean of a jump's log size.", ge=-0.5, le=0.5)
    jump_std: float = _number("Standard deviation of a jump's log size.", ge=0, le=0.5)
    skew: float = _number("SSVI rho: slope of the smile.", ge=-0.99, le=0.99)
    curvature: float = _number(
        f"SSVI eta: curvature of the smile; curvature * (1 + |skew|) <= {MAX_WING:g} (no "
        "butterfly arbitrage).", gt=0, le=2.0)
    iv_premium: float = _number("Implied over realised volatility.", ge=0.5, le=2.0)
    expiries: list[ExpirySeriesModel] = Field(min_length=1,
                                              description="The listed expiry series.")
    peak_trade_rate: float | None = Field(
        None, ge=0, le=10_000.0, strict=True, allow_inf_nan=False, description=(
            "Superseded by session_volume (used only when that is unset: session_volume = "
            "peak_trade_rate x 20 x the session's seconds)."))
    peak_open_interest: float | None = Field(
        None, ge=0, le=1e9, strict=True, allow_inf_nan=False, description=(
            "Superseded by open_interest (used only when that is unset: open_interest = "
            "peak_open_interest x 40)."))
    session_volume: float | None = Field(
        None, ge=0, le=1e10, strict=True, allow_inf_nan=False, description=(
            "Contracts traded per session over all listed options (unset: from "
            "peak_trade_rate, else 5 per second x 20 x the session's seconds)."))
    open_interest: float | None = Field(
        None, ge=0, le=1e10, strict=True, allow_inf_nan=False, description=(
            "Open interest (contracts) over all listed options that the flow keeps (unset: "
            "from peak_open_interest, else 2,000,000)."))
    put_call_oi: float = Field(1.0, ge=0.05, le=20.0, strict=True, allow_inf_nan=False,
                               description="Put/call ratio of open interest, markets flat.")
    put_call_volume: float = Field(1.0, ge=0.05, le=20.0, strict=True, allow_inf_nan=False,
                                   description="Put/call ratio of volume, markets flat.")
    put_call_sensitivity: float = Field(
        0.1, ge=-1.0, le=1.0, strict=True, allow_inf_nan=False, description=(
            "Log change of both put/call ratios per standard deviation of a day's move that "
            "the spot has fallen lately (positive: puts bought after a fall, calls chased "
            "after a rise)."))
    round_strikes: list[RoundStrike] | None = Field(None, max_length=2, description=(
        "Price multiples (at most two) that draw extra volume and open interest, e.g. "
        "[100, 500] (unset: 2 and 10 strike steps)."))
    round_strike_interest: float = Field(
        0.8, ge=0, le=5.0, strict=True, allow_inf_nan=False, description=(
            "Extra interest per round multiple a strike is on (1 on a plain strike)."))
    oi_reversion: float = Field(
        0.2, ge=0, le=1.0, strict=True, allow_inf_nan=False, description=(
            "Share of the gap between a contract's open interest and its target that a "
            "session's flow closes: sets the net change of open interest per session."))
    relative_spread: float = _number(
        "Quoted width added deep in the money, as a fraction of the strike's intrinsic value "
        "(nothing at the money; the full fraction many standard deviations away).", gt=0, le=0.5)
    spread_ticks: float = Field(
        1.0, ge=1.0, le=100.0, strict=True, allow_inf_nan=False, description=(
            "Quoted width in ticks of the most liquid contracts (at the money, a week or less "
            "to expiry, volatility at its level); wider where less trades, further from the "
            "money and expiry, and when volatility is high."))
    underlying_volume_rate: float = _number("Units of the underlying traded per second.",
                                            ge=0, le=1e9)
    overnight_gap: float = Field(
        1.0, ge=0, le=4.0, strict=True, allow_inf_nan=False, description=(
            "Size of the spot's move from a session's close to the next open: its variance "
            "over the variance the spot would accrue in the closed time at its current "
            "rate (1: as around the clock, so the realised volatility over calendar time "
            "stays vol_level; 0: every session opens at the previous close)."))
    extra_holidays: list[date] = Field(
        default_factory=list, description="Closed days beyond the exchange calendar's.")
    strikes_each_side: int | None = Field(
        None, ge=5, le=200, strict=True, description=(
            "Strikes listed above and below the money per expiry (default: the server's "
            "--strikes-each-side)."))
    earnings: EarningsModel | None = Field(None, description=(
        "Single stocks: earnings announcements, which add their move's variance to the "
        "expiries after them and move the spot on the day (none: no events)."))

    @field_validator("open")
    @classmethod
    def _opens_before_close(cls, opens: str | None, info: ValidationInfo) -> str | None:
        closes = info.data.get("close")
        # HH:MM strings order as the times they name.
        if opens is not None and closes is not None and opens >= closes:
            raise ValueError(f"must be before close ({closes}), got {opens!r}")
        return opens

    @field_validator("curvature")
    @classmethod
    def _no_butterfly_arbitrage(cls, curvature: float, info: ValidationInfo) -> float:
        skew = info.data.get("skew")
        if skew is not None and curvature * (1 + abs(skew)) > MAX_WING:
            raise ValueError(f"curvature * (1 + |skew|) must be <= {MAX_WING:g} (no butterfly "
                             f"arbitrage), got {curvature!r} with skew {skew!r}")
        return curvature


def _for_toml(node: Any, names: dict[str, str]) -> Any:
    """``node`` with its ``$ref``s to ``#/$defs/<old>`` pointing at ``#/$defs/<new>``, and
    without null (TOML has none: an optional field is one left out)."""
    if isinstance(node, list):
        return [_for_toml(v, names) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: (f"#/$defs/{names[v.rpartition('/')[2]]}" if k == "$ref"
               else _for_toml(v, names)) for k, v in node.items()}
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1:
            out.update(rest[0])
        else:
            out["anyOf"] = rest
        if out.get("default", 0) is None:
            del out["default"]
    return out


def json_schema(default_symbols: list[str]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a catalogue file whose default products are
    ``default_symbols``: those take any subset of the fields, other symbols every required
    one."""
    product = ProductModel.model_json_schema(ref_template="#/$defs/{model}")
    defs: dict[str, Any] = {"ProductModel": product, **product.pop("$defs")}
    # Definitions named as the documentation names them (their titles: Product, ...).
    names = {key: value.get("title", key) for key, value in defs.items()}
    defs = {names[key]: _for_toml(value, names) for key, value in defs.items()}
    change = copy.deepcopy(defs["Product"])
    change.pop("required", None)
    change["title"] = "ProductChange"
    change["description"] = ("Changes to a default product: any subset of the fields of a "
                             "product.")
    defs["ProductChange"] = change
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "DeltaStream catalogue",
        "description": ("Products added to or changed in the default catalogue "
                        "(docs/catalog.md)."),
        "type": "object",
        "additionalProperties": False,
        "properties": {"products": {
            "type": "object",
            "description": "Products by symbol.",
            "propertyNames": {"pattern": SYMBOL_PATTERN},
            "properties": {s: {"$ref": "#/$defs/ProductChange"} for s in default_symbols},
            "additionalProperties": {"$ref": "#/$defs/Product"},
        }},
        "$defs": dict(sorted(defs.items())),
    }
