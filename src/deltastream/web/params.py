"""Query-parameter models shared by the routes (pydantic; documented in the OpenAPI spec).

Values are read only as the spec writes them: times ISO-8601 in the years 1970-8999 (UTC when
no offset), dates YYYY-MM-DD, booleans true or false, numbers as JSON writes them. Anything
else is a 400 naming the parameter and its accepted range (see .errors).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from apiflask import APIBlueprint
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from ..core.times import parse_iso
from ..core.types import SOURCE_NAME_PATTERN

F = TypeVar("F", bound=Callable[..., Any])

# Times a request may name: years 1970 to 8999 as written, with any UTC offset. Wide enough
# for any market history, narrow enough that no arithmetic on them (ranges, lookbacks of up to
# ten years, offsets of up to a day) leaves datetime's range.
EARLIEST_YEAR = 1970
LATEST_YEAR = 8999
INSTANT_ACCEPTED = (f"an ISO-8601 time of the years {EARLIEST_YEAR} to {LATEST_YEAR} "
                    "(UTC when no offset)")
# The same rule for the OpenAPI spec (what JSON Schema can say of the year: its digits).
INSTANT_PATTERN = r"^(19[7-9][0-9]|[2-8][0-9]{3})-"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
NUMBER_PATTERN = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"


def _iso_8601(value: Any) -> Any:
    # Only ISO-8601 text: pydantic alone would also read a number ("0.5") as a Unix time.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 time")
    try:
        return parse_iso(value)
    except ValueError:
        raise ValueError(f"{value[:64]!r} is not an ISO-8601 time") from None


def _utc_in_range(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"{value.isoformat()} is outside the years {EARLIEST_YEAR} to "
                         f"{LATEST_YEAR}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso_date(value: Any) -> Any:
    # Only YYYY-MM-DD: pydantic alone would also read a number ("0") as a Unix time.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(DATE_PATTERN, value):
        raise ValueError(f"{str(value)[:64]!r} is not a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date YYYY-MM-DD") from None


def _json_number(value: Any) -> Any:
    # A number as JSON writes it: pydantic alone also reads " 5", "+5", "05" and "1_0".
    if isinstance(value, str) and not re.fullmatch(NUMBER_PATTERN, value):
        raise ValueError(f"{value[:64]!r} is not a number")
    return value


def _boolean(value: Any) -> Any:
    # Only the two words JSON and the spec use: pydantic alone also reads 0, 1, yes, off...
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError(f"{str(value)[:64]!r} is not true or false")


# An instant in UTC, validated at the edge so routes never see one they cannot compute with.
Instant = Annotated[datetime, BeforeValidator(_iso_8601), AfterValidator(_utc_in_range),
                    WithJsonSchema({"type": "string", "format": "date-time",
                                    "pattern": INSTANT_PATTERN})]
Day = Annotated[date, BeforeValidator(_iso_date),
                WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN})]
Boolean = Annotated[bool, BeforeValidator(_boolean),
                    WithJsonSchema({"type": "boolean"})]
# After a number's Field (its range stays in the JSON schema as minimum/maximum).
JSON_NUMBER = BeforeValidator(_json_number)

ExpiryParam = Annotated[
    Day | None,
    Field(default=None, description="expiry date YYYY-MM-DD (default: nearest listed)"),
]
StrikesParam = Annotated[
    int, Field(ge=1, le=201, description="number of strikes centred on the ATM strike (an "
                                         "even number has one more below it; fewer where "
                                         "the listed strikes end)"),
    JSON_NUMBER,
]


# A source's name as the store keeps it (one rule for every source: core.types).
SOURCE_PATTERN = SOURCE_NAME_PATTERN
SourceParam = Annotated[
    str | None,
    Field(default=None, pattern=SOURCE_PATTERN,
          description="where the data comes from: a source of /api/data/sources (default: "
                      "the live feed's, e.g. simulator); another source serves its newest "
                      "stored snapshot and its stored history"),
]

FromParam = Annotated[
    Instant | None,
    Field(default=None, alias="from",
          description="start of the range, inclusive: an ISO-8601 time of the years "
                      "1970-8999 (UTC when no offset)"),
]
ToParam = Annotated[
    Instant | None,
    Field(default=None, alias="to",
          description="end of the range, inclusive: an ISO-8601 time of the years "
                      "1970-8999 (UTC when no offset); default the market's latest time"),
]
AT_DESCRIPTION = ("ISO-8601 time of the years 1970-8999 (UTC when no offset): read the snapshot "
                  "of that time instead of the newest: for the live source the archived one "
                  "nearest it (within the server's archive tolerance), for another source the "
                  "newest stored at or before it (within its stored range)")
AtParam = Annotated[Instant | None, Field(default=None, description=AT_DESCRIPTION)]
IntervalParam = Annotated[
    int | None,
    Field(default=None, ge=1, le=86_400,
          description="seconds; one point (the last) per interval (default: every point)"),
    JSON_NUMBER,
]


class QueryModel(BaseModel):
    # Unknown parameters (cache busters such as "_") are ignored, not rejected.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SourceQuery(QueryModel):
    """The source a product is read from (None: the live feed's)."""

    source: SourceParam = None


class AtQuery(SourceQuery):
    """A source and, with ``at``, its snapshot of that time (None: the newest)."""

    at: AtParam = None


class RangeQuery(SourceQuery):
    """A time range: ``from`` and ``to`` (see the route for what an open end means)."""

    start: FromParam = None
    end: ToParam = None


class ChainQuery(AtQuery):
    expiry: ExpiryParam = None
    limit: Annotated[int, Field(ge=1, le=10, description="number of expiries"), JSON_NUMBER] = 1
    strikes: StrikesParam = 21


class UnderlyingQuery(RangeQuery):
    limit: Annotated[int, Field(ge=1, le=1000, description="number of ticks"), JSON_NUMBER] = 100


class ExpiryQuery(AtQuery):
    expiry: ExpiryParam = None


class ExpiryStrikesQuery(AtQuery):
    expiry: ExpiryParam = None
    strikes: StrikesParam = 21


class PCRQuery(RangeQuery):
    at: Annotated[
        Instant | None,
        Field(default=None, description=f"{AT_DESCRIPTION}; the history then ends at that "
                                        "snapshot's time unless 'to' is given")] = None
    expiry: ExpiryParam = None
    history: Annotated[Boolean, Field(description="include the stored series")] = False
    limit: Annotated[int, Field(ge=1, le=10_000, description="history points"), JSON_NUMBER] = 500
    interval: IntervalParam = None


class SurfaceQuery(AtQuery):
    strikes: StrikesParam = 21


class OHLCQuery(RangeQuery):
    window: Annotated[int, Field(ge=1, le=60, description="candle width in minutes"),
                      JSON_NUMBER] = 5
    limit: Annotated[int, Field(ge=1, le=1000, description="number of candles"), JSON_NUMBER] = 100


class IVHistoryQuery(RangeQuery):
    interval: IntervalParam = None
    limit: Annotated[int, Field(ge=1, le=10_000, description="series points (newest)"),
                     JSON_NUMBER] = 1000
    lookback_days: Annotated[
        float | None,
        Field(default=None, gt=0, le=3660,
              description="days of history IV rank and percentile compare with "
                          "(default: the server's iv_lookback_days)"),
        JSON_NUMBER] = None
    sample_seconds: Annotated[
        int, Field(ge=60, le=604_800,
                   description="one observation (the last ATM IV) per this many seconds "
                               "of the lookback"),
        JSON_NUMBER] = 86_400


def query(bp: APIBlueprint, model: type[QueryModel]) -> Callable[[F], F]:
    """Validate the query string with ``model`` and pass it as ``query_data``."""

    def decorate(view: F) -> F:
        wrapped = bp.input(model, location="query")(view)
        wrapped.query_model = model  # type: ignore[attr-defined]
        return wrapped

    return decorate
