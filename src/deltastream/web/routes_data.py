"""Market data: sources, products, chains, underlying ticks, expiries.

Every route that reads a product takes ``source`` (default: the live feed's source): the live
market, or another source's stored snapshots and history (see
:meth:`~deltastream.web.service.MarketService.served`). Every route that reads one snapshot
(chain, expiries and the analytics of one snapshot) also takes ``at``: the snapshot of a past
time instead of the newest (:func:`served_at`). Responses from the live feed are cached per
snapshot and replayed in front of the app; another source's and past ones are cached per
stored snapshot, and stored history is read per request.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import Response, request

from ..store import history
from ..store.database import is_fault
from ..store.rows import from_epoch_us
from . import models
from .json import json_response
from .openapi import (
    AT_NO_STORE,
    AT_NOT_FOUND,
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
from .params import AtQuery, ChainQuery, SourceQuery, UnderlyingQuery, query
from .serialize import NO_MARKET_STATUS, chain_dict, iso, iso_many, market_fields
from .service import MarketService, Served
from .state import app_state

bp = APIBlueprint("data", __name__, url_prefix="/api/data", tag="Market data")

# The error answers of each kind of route (documented in the spec).
BY_PRODUCT = {400: BAD_PARAMETER, 404: f"{UNKNOWN_PRODUCT}; {UNKNOWN_SOURCE}",
              503: NO_MARKET_DATA + OTHER_SOURCE_NO_STORE}
BY_EXPIRY = {**BY_PRODUCT, 404: f"{UNKNOWN_PRODUCT}; {UNKNOWN_SOURCE}; {UNLISTED_EXPIRY}"}
HISTORY = {400: BAD_PARAMETER + RANGE_RULES, 404: f"{UNKNOWN_PRODUCT}; {UNKNOWN_SOURCE}",
           503: NO_MARKET_DATA + NO_STORE}
# ...of a route reading one snapshot, the newest or (at=) a past one.
BY_PRODUCT_AT = {**BY_PRODUCT, 404: f"{BY_PRODUCT[404]}; {AT_NOT_FOUND}",
                 503: BY_PRODUCT[503] + AT_NO_STORE}
BY_EXPIRY_AT = {**BY_PRODUCT_AT, 404: f"{BY_EXPIRY[404]}; {AT_NOT_FOUND}"}


def service() -> MarketService:
    return app_state().service


def served_at(svc: MarketService, product: str, source: str | None,
              at: datetime | None) -> Served:
    """The snapshot a route reads: ``source``'s newest, or with ``at`` its snapshot of that
    time (see :meth:`~deltastream.web.service.MarketService.served_at`)."""
    if at is None:
        return svc.served(product, source)
    return svc.served_at(product, source, at, app_state().settings.archive_tolerance_seconds())


def respond(svc: MarketService, product: str, served: Served, key: tuple[Hashable, ...],
            build: Callable[[], dict]) -> Response:
    """The cached response of ``build`` for ``served``'s snapshot (``key``: the route and its
    parameters); the live feed's are also replayed until the product's next snapshot."""
    snap = served.snap
    # The time as well as the sequence: archived sequences repeat across engine runs.
    version = (served.source, served.archived, product, snap.sequence, snap.timestamp)
    return svc.cache.respond(request, (key[0], *version, *key[1:]), build,
                             live=(product, snap.sequence) if served.live else None)


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
        responses=BY_EXPIRY_AT)
def chain(product: str, query_data: ChainQuery) -> Response:
    svc = service()
    served = served_at(svc, product, query_data.source, query_data.at)
    chains = svc.select(served.snap, query_data.expiry, query_data.limit)

    def build() -> dict:
        # The session state is the live snapshot's, the same on the response and on each
        # chain; a stored or archived snapshot is no session's (null), whatever it recorded.
        market = market_fields(served.snap) if served.live else NO_MARKET_STATUS
        return {"product": product, "count": len(chains),
                "chains": [chain_dict(c, query_data.strikes, market) for c in chains],
                **market, "timezone": served.snap.terms.timezone}

    return respond(svc, product, served, ("chain", chains[0].expiry, query_data.limit,
                                          query_data.strikes), build)


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


@bp.get("/expiries/<product>")
@query(bp, AtQuery)
@bp.output(models.ExpiriesResponse)
@bp.doc(summary="Listed expiries, ascending (of the newest snapshot, or at= of a past one)",
        responses=BY_PRODUCT_AT)
def expiries(product: str, query_data: AtQuery) -> Response:
    svc = service()
    served = served_at(svc, product, query_data.source, query_data.at)
    snap = served.snap
    return respond(svc, product, served, ("expiries",),
                   lambda: {"product": product,
                            "expiries": [e.isoformat() for e in snap.expiries()]})
