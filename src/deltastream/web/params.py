"""Query-parameter models shared by the routes (pydantic; documented in the OpenAPI spec)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from apiflask import APIBlueprint
from pydantic import BaseModel, ConfigDict, Field

F = TypeVar("F", bound=Callable[..., Any])

ExpiryParam = Annotated[
    date | None,
    Field(default=None, description="expiry date YYYY-MM-DD (default: nearest listed)"),
]
StrikesParam = Annotated[
    int, Field(ge=1, le=201, description="odd number of strikes centred on the ATM strike")
]


FromParam = Annotated[
    datetime | None,
    Field(default=None, alias="from",
          description="start of the range, ISO-8601 (UTC when no offset), inclusive"),
]
ToParam = Annotated[
    datetime | None,
    Field(default=None, alias="to",
          description="end of the range, ISO-8601 (UTC when no offset), inclusive; "
                      "default now"),
]
IntervalParam = Annotated[
    int | None,
    Field(default=None, ge=1, le=86_400,
          description="seconds; one point (the last) per interval (default: every point)"),
]


class QueryModel(BaseModel):
    # Unknown parameters (cache busters such as "_") are ignored, not rejected.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class RangeQuery(QueryModel):
    """A time range: ``from`` and ``to`` (see the route for what an open end means)."""

    start: FromParam = None
    end: ToParam = None


class ChainQuery(QueryModel):
    expiry: ExpiryParam = None
    limit: Annotated[int, Field(ge=1, le=10, description="number of expiries")] = 1
    strikes: StrikesParam = 21
    at: Annotated[
        datetime | None,
        Field(default=None, description="ISO-8601 time: serve the archived chain nearest "
                                        "that instant instead of the live one")] = None


class UnderlyingQuery(RangeQuery):
    limit: Annotated[int, Field(ge=1, le=1000, description="number of ticks")] = 100


class ExpiryQuery(QueryModel):
    expiry: ExpiryParam = None


class ExpiryStrikesQuery(QueryModel):
    expiry: ExpiryParam = None
    strikes: StrikesParam = 21


class PCRQuery(RangeQuery):
    expiry: ExpiryParam = None
    history: Annotated[bool, Field(description="include the stored series")] = False
    limit: Annotated[int, Field(ge=1, le=10_000, description="history points")] = 500
    interval: IntervalParam = None


class SurfaceQuery(QueryModel):
    strikes: StrikesParam = 21


class OHLCQuery(RangeQuery):
    window: Annotated[int, Field(ge=1, le=60, description="candle width in minutes")] = 5
    limit: Annotated[int, Field(ge=1, le=1000, description="number of candles")] = 100


class IVHistoryQuery(RangeQuery):
    interval: IntervalParam = None
    limit: Annotated[int, Field(ge=1, le=10_000, description="series points (newest)")] = 1000
    lookback_days: Annotated[
        float | None,
        Field(default=None, gt=0, le=3660,
              description="days of history IV rank and percentile compare with "
                          "(default: the server's iv_lookback_days)")] = None
    sample_seconds: Annotated[
        int, Field(ge=60, le=604_800,
                   description="one observation (the last ATM IV) per this many seconds "
                               "of the lookback")] = 86_400


def query(bp: APIBlueprint, model: type[QueryModel]) -> Callable[[F], F]:
    """Validate the query string with ``model`` and pass it as ``query_data``."""

    def decorate(view: F) -> F:
        wrapped = bp.input(model, location="query")(view)
        wrapped.query_model = model  # type: ignore[attr-defined]
        return wrapped

    return decorate
