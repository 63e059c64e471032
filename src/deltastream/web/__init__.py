"""The web layer: Flask app factory, blueprints by area, JSON errors, OpenAPI and docs.

It serves what a :class:`~deltastream.core.protocols.SnapshotFeed` publishes and holds no
financial logic; which feed (an engine in this process or a bus from an engine elsewhere) and
which store it gets is decided by :mod:`deltastream.runtime.app`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import sqlalchemy as sa
from apiflask import APIFlask
from flask_cors import CORS

from .. import __version__
from ..core.protocols import SnapshotFeed
from ..settings import Settings
from ..store.writer_stats import read_stats
from . import (
    openapi,
    routes_analytics,
    routes_auth,
    routes_dashboard,
    routes_data,
    routes_insights,
    routes_sentiment,
    routes_strategy,
    routes_stream,
    routes_system,
    routes_trade,
)
from .compression import compress_response
from .cors import allow_write_routes
from .errors import ERROR_SCHEMA, READ_METHODS, register_error_handlers
from .headers import install_security_headers
from .metrics import Metrics
from .replay import ReplayCache
from .service import MarketService
from .socketio import init_socketio
from .state import EXTENSION_KEY, AppState
from .stream import StreamHub


def create_app(settings: Settings | None = None, *, feed: SnapshotFeed,
               start_feed: bool = True, store: sa.Engine | None = None,
               store_stats: Callable[[], dict[str, Any] | None] | None = None) -> APIFlask:
    """Build the app serving ``feed``, and start the feed unless ``start_feed`` is False.

    History is served from ``store`` (a database opened with
    :func:`deltastream.store.database.open_database`) when given; ``store_stats`` returns the
    store writer's counters for ``/metrics`` (by default, with a store, those its recorder
    publishes in the data directory)."""
    settings = settings or Settings()
    if store_stats is None and store is not None:
        data_dir = settings.data_dir
        store_stats = partial(read_stats, data_dir)
    app = APIFlask("deltastream", title="DeltaStream API", version=__version__,
                   docs_path="/docs", spec_path="/openapi.json")
    app.config.update(
        VALIDATION_ERROR_STATUS_CODE=400,
        JSON_SORT_KEYS=False,
        SWAGGER_UI_CSS="/docs/assets/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS="/docs/assets/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/docs/assets/swagger-ui-standalone-preset.js",
        DOCS_FAVICON="/docs/assets/favicon-32x32.png",
        # The spec names operations and the error body as sent, and its server from the
        # configuration (never from a request's Host header).
        AUTO_OPERATION_ID=True,
        HTTP_ERROR_SCHEMA=ERROR_SCHEMA,
        VALIDATION_ERROR_SCHEMA=ERROR_SCHEMA,
        SERVERS=[{"url": settings.public_base_url(), "description": "this server"}],
        DESCRIPTION=(
            "Option chains with prices, implied volatility and Greeks, and chain analytics, "
            "from DeltaStream's live market snapshots. Units: prices in the product's "
            "currency; iv a decimal; time in years ACT/365; delta per 1 unit of spot, gamma per "
            "unit of spot, theta per calendar day, vega and rho per 1 percentage point."),
    )
    service = MarketService(feed, settings.stall_after, store=store,
                            max_range_days=settings.history_max_range_days,
                            store_stats=store_stats)
    metrics = Metrics(app, service, store_stats)
    hub = StreamHub(feed, metrics.stream, strikes=settings.stream_strikes,
                    client_buffer=settings.stream_client_buffer,
                    replay_ticks=settings.stream_replay_ticks)
    app.extensions[EXTENSION_KEY] = AppState(settings, service, metrics, hub, store_stats)
    # Every market /api route only reads: a preflight allows those methods and no others.
    # Account and trading routes follow their own allow-list (more specific paths win).
    CORS(app, resources={r"/api/*": {"origins": list(settings.cors_origins),
                                     "methods": list(READ_METHODS)},
                         **routes_auth.cors_resources(settings)})
    register_error_handlers(app)
    install_security_headers(app)
    app.after_request(compress_response)
    products = list(feed.symbols)

    @app.spec_processor
    def _as_served(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
        return spec if isinstance(spec, str) else openapi.tidy(spec, products)

    app.register_blueprint(routes_system.bp)
    app.register_blueprint(routes_data.bp)
    app.register_blueprint(routes_analytics.bp)
    app.register_blueprint(routes_stream.bp)
    app.register_blueprint(routes_dashboard.bp)
    app.register_blueprint(routes_insights.bp)
    app.register_blueprint(routes_strategy.bp)
    routes_auth.init_auth(app, settings, store)
    routes_trade.init_trade(app)
    routes_sentiment.init_sentiment(app, settings)
    init_socketio(app, hub, settings)
    # Once every route is registered: preflights of the POST routes outside accounts and
    # trading allow their methods (.cors).
    allow_write_routes(app, settings)
    # Outermost: repeats of live snapshot responses are answered before routing.
    app.wsgi_app = ReplayCache(app.wsgi_app, service.is_current,  # type: ignore[method-assign]
                               metrics.observe)
    if start_feed:
        feed.start()
    return app
