"""The web layer: Flask app factory, blueprints by area, JSON errors, OpenAPI and docs.

It serves what the engine built and holds no financial logic.
"""

from __future__ import annotations

from apiflask import APIFlask
from flask_cors import CORS

from .. import __version__
from ..catalog import load_catalog
from ..engine.feed import SnapshotFeed
from ..settings import Settings
from . import routes_analytics, routes_dashboard, routes_data, routes_stream, routes_system
from .errors import register_error_handlers
from .metrics import Metrics
from .service import MarketService
from .socketio import init_socketio
from .stream import StreamHub


def _engine_for(settings: Settings) -> SnapshotFeed:
    if settings.engine_mode == "process" or settings.role == "web":
        # The engine runs elsewhere (a process the server started, or another host).
        from ..bus import bus_feed

        return bus_feed(settings, load_catalog(settings.catalog).symbols)
    from ..engine.setup import engine_from_settings

    return engine_from_settings(settings)


def create_app(settings: Settings | None = None, engine: SnapshotFeed | None = None,
               start_engine: bool = True) -> APIFlask:
    """Build the app. Without an ``engine`` one is made from ``settings`` (catalogue, seed,
    clock) and, with ``start_engine``, starts ticking in the background."""
    settings = settings or Settings()
    app = APIFlask("deltastream", title="DeltaStream API", version=__version__,
                   docs_path="/docs", spec_path="/openapi.json")
    app.config.update(
        VALIDATION_ERROR_STATUS_CODE=400,
        JSON_SORT_KEYS=False,
        SWAGGER_UI_CSS="/docs/assets/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS="/docs/assets/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/docs/assets/swagger-ui-standalone-preset.js",
        DOCS_FAVICON="/docs/assets/favicon-32x32.png",
        DESCRIPTION=(
            "Option chains with prices, implied volatility and Greeks, and chain analytics, "
            "from DeltaStream's live market snapshots. Units: prices in the product's "
            "currency; iv a decimal; time in years ACT/365; delta per 1 unit of spot, gamma per "
            "unit of spot, theta per calendar day, vega and rho per 1 percentage point."),
    )
    if engine is None:
        engine = _engine_for(settings)
    service = MarketService(engine, settings.stall_after)
    app.extensions["deltastream"] = service
    app.extensions["deltastream_settings"] = settings
    metrics = app.extensions["deltastream_metrics"] = Metrics(app, service)
    hub = app.extensions["deltastream_stream"] = StreamHub(
        engine, metrics.stream, strikes=settings.stream_strikes,
        client_buffer=settings.stream_client_buffer, replay_ticks=settings.stream_replay_ticks)
    CORS(app, resources={r"/api/*": {"origins": list(settings.cors_origins)}})
    register_error_handlers(app)
    app.register_blueprint(routes_system.bp)
    app.register_blueprint(routes_data.bp)
    app.register_blueprint(routes_analytics.bp)
    app.register_blueprint(routes_stream.bp)
    app.register_blueprint(routes_dashboard.bp)
    init_socketio(app, hub, settings)
    if start_engine:
        engine.start()
    return app
