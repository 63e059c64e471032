"""Query-parameter models shared by the routes (pydantic; documented in the OpenAPI spec)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
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


class QueryModel(BaseModel):
    # Unknown parameters (cache busters such as "_") are ignored, not rejected.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ChainQuery(QueryModel):
    expiry: ExpiryParam = None
    limit: Annotated[int, Field(ge=1, le=10, description="number of expiries")] = 1
    strikes: StrikesParam = 21


class UnderlyingQuery(QueryModel):
    limit: Annotated[int, Field(ge=1, le=1000, description="number of ticks")] = 100


class ExpiryQuery(QueryModel):
    expiry: ExpiryParam = None


class ExpiryStrikesQuery(QueryModel):
    expiry: ExpiryParam = None
    strikes: StrikesParam = 21


class PCRQuery(QueryModel):
    expiry: ExpiryParam = None
    history: Annotated[bool, Field(description="include the stored series")] = False
    limit: Annotated[int, Field(ge=1, le=10_000, description="history points")] = 500


class SurfaceQuery(QueryModel):
    strikes: StrikesParam = 21


class OHLCQuery(QueryModel):
    window: Annotated[int, Field(ge=1, le=60, description="candle width in minutes")] = 5
    limit: Annotated[int, Field(ge=1, le=1000, description="number of candles")] = 100


def query(bp: APIBlueprint, model: type[QueryModel]) -> Callable[[F], F]:
    """Validate the query string with ``model`` and pass it as ``query_data``."""

    def decorate(view: F) -> F:
        wrapped = bp.input(model, location="query")(view)
        wrapped.query_model = model  # type: ignore[attr-defined]
        return wrapped

    return decorate
