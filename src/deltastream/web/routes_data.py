"""Market data: products, chains, underlying ticks, expiries."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, current_app, request

from . import models
from .params import ChainQuery, UnderlyingQuery, query
from .serialize import chain_dict, iso
from .service import MarketService

bp = APIBlueprint("data", __name__, url_prefix="/api/data", tag="Market data")

NOT_FOUND = {404: "unknown product or expiry", 400: "invalid parameter"}


def service() -> MarketService:
    return current_app.extensions["deltastream"]


@bp.get("/products")
@bp.output(models.ProductsResponse)
@bp.doc(summary="Products in catalogue order", responses={200: "products"})
def products() -> Response:
    svc = service()
    return svc.cache.respond(request, ("products",), lambda: {"products": svc.products})


@bp.get("/chain/<product>")
@query(bp, ChainQuery)
@bp.output(models.ChainResponse)
@bp.doc(summary="Option chains with prices, IV and Greeks", responses=NOT_FOUND)
def chain(product: str, query_data: ChainQuery) -> Response:
    svc = service()
    snap = svc.snapshot(product)
    chains = svc.select(snap, query_data.expiry, query_data.limit)

    def build() -> dict:
        return {"product": product, "count": len(chains),
                "chains": [chain_dict(c, query_data.strikes) for c in chains]}

    key = ("chain", product, snap.sequence, chains[0].expiry, query_data.limit,
           query_data.strikes)
    return svc.cache.respond(request, key, build)


@bp.get("/underlying/<product>")
@query(bp, UnderlyingQuery)
@bp.output(models.UnderlyingResponse)
@bp.doc(summary="The underlying's latest consecutive ticks, oldest first", responses=NOT_FOUND)
def underlying(product: str, query_data: UnderlyingQuery) -> Response:
    svc = service()
    snap = svc.snapshot(product)

    def build() -> dict:
        ticks = svc.engine.ticks.latest(product, query_data.limit)
        rows = [{"id": i, "product": product, "price": p, "timestamp": iso(t)}
                for i, p, t in zip(ticks.ids.tolist(), ticks.prices.tolist(),
                                   ticks.epoch_seconds.tolist(), strict=True)]
        return {"product": product, "count": len(rows), "ticks": rows}

    return svc.cache.respond(request, ("underlying", product, snap.sequence, query_data.limit),
                             build)


@bp.get("/expiries/<product>")
@bp.output(models.ExpiriesResponse)
@bp.doc(summary="Listed expiries, ascending", responses=NOT_FOUND)
def expiries(product: str) -> Response:
    svc = service()
    snap = svc.snapshot(product)
    return svc.cache.respond(
        request, ("expiries", product, snap.sequence),
        lambda: {"product": product, "expiries": [e.isoformat() for e in snap.expiries()]})
