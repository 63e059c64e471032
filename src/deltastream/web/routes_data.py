"""Market data: products, chains, underlying ticks, expiries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import Response, request

from ..core.snapshot import ChainSnapshot
from ..store import history
from ..store.database import is_fault
from ..store.rows import from_epoch_us
from . import models
from .errors import not_found
from .json import json_response
from .openapi import (
    BAD_PARAMETER,
    NO_MARKET_DATA,
    NO_STORE,
    RANGE_RULES,
    STORE_FAILING,
    UNKNOWN_PRODUCT,
    UNLISTED_EXPIRY,
)
from .params import ChainQuery, UnderlyingQuery, query
from .serialize import chain_dict, iso, iso_many
from .service import MarketService
from .state import app_state

bp = APIBlueprint("data", __name__, url_prefix="/api/data", tag="Market data")

# The error answers of each kind of route (documented in the spec).
LIVE = {404: UNKNOWN_PRODUCT, 503: NO_MARKET_DATA}
BY_PRODUCT = {400: BAD_PARAMETER, **LIVE}
BY_EXPIRY = {**BY_PRODUCT, 404: f"{UNKNOWN_PRODUCT}; {UNLISTED_EXPIRY}"}
HISTORY = {400: BAD_PARAMETER + RANGE_RULES, 404: UNKNOWN_PRODUCT,
           503: NO_MARKET_DATA + NO_STORE}
CHAIN = {400: BAD_PARAMETER,
         404: f"{UNKNOWN_PRODUCT}; {UNLISTED_EXPIRY}; or, with at=, no archived chain within "
              "the server's archive_tolerance (default its archive interval) of that time: "
              "the detail lists the nearest archived times",
         503: NO_MARKET_DATA + "; or, with at=, no history store on this server, or "
              + STORE_FAILING}


def service() -> MarketService:
    return app_state().service


@bp.get("/products")
@bp.output(models.ProductsResponse)
@bp.doc(summary="Products in catalogue order", responses={200: "products"})
def products() -> Response:
    svc = service()
    return svc.cache.respond(request, ("products",), lambda: {"products": svc.products},
                             live=(None, 0))


@bp.get("/chain/<product>")
@query(bp, ChainQuery)
@bp.output(models.ChainResponse)
@bp.doc(summary="Option chains with prices, IV and Greeks (live, or archived with at=)",
        responses=CHAIN)
def chain(product: str, query_data: ChainQuery) -> Response:
    svc = service()
    snap = svc.snapshot(product)
    if query_data.at is not None:
        snap = _archived(svc, product, query_data.at)
    chains = svc.select(snap, query_data.expiry, query_data.limit)

    def build() -> dict:
        return {"product": product, "count": len(chains),
                "chains": [chain_dict(c, query_data.strikes) for c in chains]}

    archived = query_data.at is not None
    key = ("chain", product, snap.sequence, archived, chains[0].expiry, query_data.limit,
           query_data.strikes)
    return svc.cache.respond(request, key, build,
                             live=None if archived else (product, snap.sequence))


@bp.get("/underlying/<product>")
@query(bp, UnderlyingQuery)
@bp.output(models.UnderlyingResponse)
@bp.doc(summary="The underlying's ticks, oldest first: the latest ones, or (from/to) "
                "stored ones; with 'from' the first 'limit' after it, otherwise the last "
                "'limit' up to 'to'",
        responses={**HISTORY, 400: BAD_PARAMETER + RANGE_RULES + " (only with 'to': "
                                 "'from' alone reads the first 'limit' ticks after it)"})
def underlying(product: str, query_data: UnderlyingQuery) -> Response:
    svc = service()
    snap = svc.snapshot(product)
    limit = query_data.limit
    if query_data.start is not None or query_data.end is not None:
        store = svc.require_store()
        start, end = svc.time_range(query_data.start, query_data.end, snap.timestamp,
                                    open_end_unbounded=True)
        # From a start: the first ticks after it; otherwise the last ones up to the end.
        stored = history.tick_columns(store, product, start, end, limit,
                                      newest=start is None)
        rows = [{"id": i, "product": product, "price": p, "timestamp": t}
                for i, p, t in zip(stored.sequence, stored.price, iso_many(stored.ts),
                                   strict=True)]
        return json_response({"product": product, "count": len(rows), "ticks": rows})

    def build() -> dict:
        ticks = svc.feed.ticks.latest(product, limit)
        rows = [_tick(product, i, p, t)
                for i, p, t in zip(ticks.ids.tolist(), ticks.prices.tolist(),
                                   ticks.epoch_seconds.tolist(), strict=True)]
        if len(rows) < limit and svc.store is not None:
            # Older ticks (e.g. from before a restart) come from the store.
            before = (None if not rows else
                      from_epoch_us(round(ticks.epoch_seconds[0] * 1e6) - 1))
            try:
                older = history.ticks(svc.store, product, end=before, limit=limit - len(rows))
            except sa.exc.SQLAlchemyError as error:
                if not is_fault(error):
                    raise
                # The live ticks stand alone while the store fails (its watch logs it).
                older = []
            rows = [_tick(product, t.sequence, t.price, t.timestamp) for t in older] + rows
        return {"product": product, "count": len(rows), "ticks": rows}

    return svc.cache.respond(request, ("underlying", product, snap.sequence, limit), build,
                             live=(product, snap.sequence))


def _tick(product: str, sequence: int, price: float, when: datetime | float) -> dict:
    return {"id": sequence, "product": product, "price": price, "timestamp": iso(when)}


def _archived(svc: MarketService, product: str, at: datetime) -> ChainSnapshot:
    store = svc.require_store()
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    tolerance = app_state().settings.archive_tolerance_seconds()
    snap = history.archived_snapshot_nearest(store, product, at, timedelta(seconds=tolerance))
    if snap is None:
        nearest = history.archive_times_around(store, product, at)
        raise not_found(f"no archived chain of '{product}' within {tolerance:g} s of "
                        f"{iso(at)}", {"at": iso(at), "tolerance_seconds": tolerance,
                                       "nearest": [iso(t) for t in nearest]})
    return snap


@bp.get("/expiries/<product>")
@bp.output(models.ExpiriesResponse)
@bp.doc(summary="Listed expiries, ascending", responses=LIVE)
def expiries(product: str) -> Response:
    svc = service()
    snap = svc.snapshot(product)
    return svc.cache.respond(
        request, ("expiries", product, snap.sequence),
        lambda: {"product": product, "expiries": [e.isoformat() for e in snap.expiries()]},
        live=(product, snap.sequence))
