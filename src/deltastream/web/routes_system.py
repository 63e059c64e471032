"""Service routes: health, Prometheus metrics, and the API docs' static assets."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from apiflask import APIBlueprint
from flask import Response, request, send_from_directory
from prometheus_client import CONTENT_TYPE_LATEST

from .. import __version__
from ..core.feed import EngineLife
from ..core.protocols import SnapshotFeed
from . import models
from .json import dumps, json_response
from .replay import Replayable, mark_replayable
from .routes_data import service
from .serialize import NO_MARKET_STATUS, iso, market_fields
from .service import MarketService, StoreStatus
from .state import app_state

bp = APIBlueprint("system", __name__, tag="System")

SWAGGER_UI_DIR = Path(__file__).parent / "static" / "swagger-ui"


# The 503 carries the same health body as the 200 (not the error body).
HEALTH_RESPONSES: Any = {
    503: {"description": "engine stalled or not running",
          "content": {"application/json": {
              "schema": {"$ref": "#/components/schemas/HealthResponse"}}}},
}


@bp.get("/api/health")
@bp.output(models.HealthResponse)
@bp.doc(summary="Service, engine and history store health; 503 when the engine has "
                "stalled; 200 with status 'degraded' while only the history store fails",
        responses=HEALTH_RESPONSES)
def health() -> Response:
    svc = service()
    code, body = health_body(svc)
    # Health changes with every request (the tick's age) but its headers do not: repeats are
    # rendered in front of the app (see .replay).
    mark_replayable(request.environ, Replayable(None, 0, request.endpoint or "system.health",
                                                "", render=partial(render_health, svc)))
    return json_response(body, code)


def render_health(svc: MarketService) -> tuple[int, bytes]:
    code, body = health_body(svc)
    return code, dumps(body)


def health_body(svc: MarketService) -> tuple[int, dict]:
    """The health report and its status: 200, or 503 when the engine stalled. A failing
    history store alone is ``degraded`` with 200: the live market is still served, so a load
    balancer keeps the server in rotation."""
    status = svc.feed.status()
    age = svc.last_tick_age()
    healthy = status.running and age is not None and age <= svc.stall_after
    store = svc.store_status()
    degraded = store is not None and store.degraded
    body = {
        "status": "unhealthy" if not healthy else "degraded" if degraded else "healthy",
        "service": "deltastream-flask",
        "version": __version__,
        "engine": {"running": status.running, "ticks": status.ticks,
                   "last_tick_age_seconds": age,
                   "last_tick_build_seconds": status.last_tick_seconds,
                   "last_error": status.last_error, **_engine_life(status.life)},
        "products": len(svc.products),
        "stale": not healthy,
        "bus": _bus_health(svc.feed),
        "store": _store_health(store),
        "markets": _markets(svc.feed),
    }
    return 200 if healthy else 503, body


def _markets(feed: SnapshotFeed) -> dict[str, dict]:
    """Per product: whether its exchange is in session as of its last snapshot, and the
    exchange's time zone (all null before its first snapshot)."""
    markets = {}
    for product in feed.symbols:
        snap = feed.latest(product)
        markets[product] = ({**NO_MARKET_STATUS, "timezone": None} if snap is None else
                            {**market_fields(snap), "timezone": snap.terms.timezone})
    return markets


def _store_health(store: StoreStatus | None) -> dict | None:
    if store is None:
        return None
    return {"status": "degraded" if store.degraded else "ok", "backend": store.backend,
            "reading": store.reading, "writing": store.writing,
            "failing_since": None if store.failing_since is None else iso(store.failing_since),
            "last_error": store.last_error, "queue_depth": store.queue_depth,
            "dropped": store.dropped}


def _engine_life(life: EngineLife) -> dict:
    last = life.last_exit
    return {"started_at": None if life.started_at is None else iso(life.started_at),
            "restarts": life.restarts,
            "last_exit": None if last is None else {"cause": last.cause, "at": iso(last.at)}}


def _bus_health(feed: SnapshotFeed) -> dict | None:
    bus = feed.bus_status()
    if bus is None:
        return None
    return {"kind": bus.kind, "connected": bus.connected,
            "engine_id": bus.engine_id, "reconnects": bus.reconnects}


@bp.get("/metrics")
@bp.doc(summary="Prometheus metrics", hide=True)
def metrics() -> Response:
    return Response(app_state().metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


@bp.get("/docs/assets/<path:filename>")
@bp.doc(hide=True)
def docs_asset(filename: str) -> Response:
    # Swagger UI ships inside the package: the docs page works with no internet.
    return send_from_directory(SWAGGER_UI_DIR, filename, max_age=86400)
