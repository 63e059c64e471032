"""Market data: sources, products, chains, underlying ticks, expiries.

Every route that reads a product takes ``source`` (default: the live feed's source): the live
market, or another source's stored snapshots and history (see
:meth:`~deltastream.web.service.MarketService.served`). Responses from the live feed are
cached per snapshot and replayed in front of the app; another source's are cached per
stored snapshot, and its history is read per request.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
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
    OTHER_SOURCE_NO_STORE,
    RANGE_RULES,
    STORE_FAILING,
    UNKNOWN_PRODUCT,
    UNKNOWN_SOURCE,
    UNLISTED_EXPIRY,
)
from .params import ChainQuery, SourceQuery, UnderlyingQuery, query
from .serialize import chain_dict, iso, iso_many
from .service import MarketService, Served
from .state import app_state

bp = APIBlueprint("data", __name__, url_prefix="/api/data", tag="Market data")

# The error answers of each kind of route (documented in the spec).
BY_PRODUCT = {400: BAD_PARAMETER, 404: f"{UNKNOWN_PRODUCT}; {UNKNOWN_SOURCE}",
              503: NO_MARKET_DATA + OTHER_SOURCE_NO_STORE}
BY_EXPIRY = {**BY_PRODUCT, 404: f"{UNKNOWN_PRODUCT}; {UNKNOWN_SOURCE}; {UNLISTED_EXPIRY}"}
HISTORY = {400: BAD_PARAMETER + RANGE_RULES, 404: f"{UNKNOWN_PRODUCT}; {UNKNOWN_SOURCE}",
           503: NO_MARKET_DATA + NO_STORE}
CHAIN = {400: BAD_PARAMETER,
         404: f"{UNKNOWN_PRODUCT}; {UNKNOWN_SOURCE}; {UNLISTED_EXPIRY}; or, with at=, for the "
              "live source no archived chain within the server's archive_tolerance (default "
              "its archive interval) of that time (the detail lists the nearest archived "
              "times), for another source a time outside its stored range (the detail "
              "gives the range, 'from' and 'to')",
         503: NO_MARKET_DATA + OTHER_SOURCE_NO_STORE + "; or, with at=, no history store on "
              "this server, or " + STORE_FAILING}


def service() -> MarketService:
    return app_state().service


def respond(svc: MarketService, product: str, served: Served, key: tuple[Hashable, ...],
            build: Callable[[], dict]) -> Response:
    """The cached response of ``build`` for ``served``'s snapshot (``key``: the route and its
    parameters); the live feed's are also replayed until the product's next snapshot."""
    snap = served.snap
    return svc.cache.respond(request, (key[0], served.source, product, snap.sequence, *key[1:]),
                             build, live=(product, snap.sequence) if served.live else None)


@bp.get("/sources")
@bp.output(models.SourcesResponse)
@bp.doc(summary="Where data comes from: the live source first (its products even without a "
                "store), then each stored source, with each product's stored range",
        responses={503: STORE_FAILING})
def sources() -> Response:
    svc = service()
    live = svc.live_source()
    stored = {i.name: i for i in svc.stored_sources()}
    live_stored = {p.product: p for p in stored.pop(live).products} if live in stored else {}
    listing = [{"name": live, "live": True,
                "products": [_source_product(p, live_stored.get(p)) for p in svc.products]}]
    listing += [{"name": name, "live": False,
                 "products": [_source_product(p.product, p) for p in stored[name].products]}
                for name in sorted(stored)]
    return json_response({"sources": listing})


def _source_product(product: str, stored: history.SourceProduct | None) -> dict:
    if stored is None:
        return {"product": product, "from": None, "to": None, "snapshots": 0}
    return {"product": product, "from": iso(stored.first), "to": iso(stored.last),
            "snapshots": stored.snapshots}


@bp.get("/products")
@query(bp, SourceQuery)
@bp.output(models.ProductsResponse)
@bp.doc(summary="Products: the live source's in catalogue order, or another source's",
        responses={400: BAD_PARAMETER, 404: UNKNOWN_SOURCE,
                   503: "with a source other than the live one: no history store on this "
                        "server, or " + STORE_FAILING})
def products(query_data: SourceQuery) -> Response:
    svc = service()
    source = query_data.source
    if source is None or source == svc.live_source():
        return svc.cache.respond(request, ("products",), lambda: {"products": svc.products},
                                 live=(None, 0))
    return json_response({"products": svc.source_products(source)})


@bp.get("/chain/<product>")
@query(bp, ChainQuery)
@bp.output(models.ChainResponse)
@bp.doc(summary="Option chains with prices, IV and Greeks (the latest, or archived with at=)",
        responses=CHAIN)
def chain(product: str, query_data: ChainQuery) -> Response:
    svc = service()
    served = svc.served(product, query_data.source)
    archived = query_data.at is not None
    if query_data.at is not None:
        served = Served(served.source, False, _archived(svc, product, served, query_data.at))
    chains = svc.select(served.snap, query_data.expiry, query_data.limit)

    def build() -> dict:
        return {"product": product, "count": len(chains),
                "chains": [chain_dict(c, query_data.strikes) for c in chains]}

    return respond(svc, product, served, ("chain", archived, chains[0].expiry,
                                          query_data.limit, query_data.strikes), build)


@bp.get("/underlying/<product>")
@query(bp, UnderlyingQuery)
@bp.output(models.UnderlyingResponse)
@bp.doc(summary="The underlying's ticks, oldest first: the latest ones, or (from/to) "
                "stored ones; with 'from' the first 'limit' after it, otherwise the last "
                "'limit' up to 'to' (default: the source's latest time)",
        responses={**HISTORY, 400: BAD_PARAMETER + RANGE_RULES + " (only with 'to': "
                                 "'from' alone reads the first 'limit' ticks after it)"})
def underlying(product: str, query_data: UnderlyingQuery) -> Response:
    svc = service()
    served = svc.served(product, query_data.source)
    snap = served.snap
    limit = query_data.limit
    if query_data.start is not None or query_data.end is not None or not served.live:
        store = svc.require_store()
        start, end = svc.time_range(query_data.start, query_data.end, snap.timestamp,
                                    open_end_unbounded=True)
        # From a start: the first ticks after it; otherwise the last ones up to the end.
        stored = history.tick_columns(store, product, start, end, limit,
                                      newest=start is None, source=served.source)
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
                older = history.ticks(svc.store, product, end=before, limit=limit - len(rows),
                                      source=served.source)
            except sa.exc.SQLAlchemyError as error:
                if not is_fault(error):
                    raise
                # The live ticks stand alone while the store fails (its watch logs it).
                older = []
            rows = [_tick(product, t.sequence, t.price, t.timestamp) for t in older] + rows
        return {"product": product, "count": len(rows), "ticks": rows}

    return respond(svc, product, served, ("underlying", limit), build)


def _tick(product: str, sequence: int, price: float, when: datetime | float) -> dict:
    return {"id": sequence, "product": product, "price": price, "timestamp": iso(when)}


def _archived(svc: MarketService, product: str, served: Served, at: datetime) -> ChainSnapshot:
    """The archived snapshot ``at`` names: for the live source the nearest within the
    archive tolerance, for another the newest at or before it within its stored range."""
    store = svc.require_store()
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    if not served.live:
        first, last = svc.stored_span(product, served.source)
        snap = (history.latest_archived(store, product, served.source, at_or_before=at)
                if first <= at <= last else None)
        if snap is None:
            raise not_found(f"{iso(at)} is outside the stored range of '{product}' in source "
                            f"'{served.source}' ({iso(first)} to {iso(last)})",
                            {"at": iso(at), "from": iso(first), "to": iso(last)})
        return snap
    tolerance = app_state().settings.archive_tolerance_seconds()
    snap = history.archived_snapshot_nearest(store, product, at, timedelta(seconds=tolerance),
                                             source=served.source)
    if snap is None:
        nearest = history.archive_times_around(store, product, at, source=served.source)
        raise not_found(f"no archived chain of '{product}' within {tolerance:g} s of "
                        f"{iso(at)}", {"at": iso(at), "tolerance_seconds": tolerance,
                                       "nearest": [iso(t) for t in nearest]})
    return snap


@bp.get("/expiries/<product>")
@query(bp, SourceQuery)
@bp.output(models.ExpiriesResponse)
@bp.doc(summary="Listed expiries, ascending", responses=BY_PRODUCT)
def expiries(product: str, query_data: SourceQuery) -> Response:
    svc = service()
    served = svc.served(product, query_data.source)
    snap = served.snap
    return respond(svc, product, served, ("expiries",),
                   lambda: {"product": product,
                            "expiries": [e.isoformat() for e in snap.expiries()]})
