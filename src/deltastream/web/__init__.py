"""The web layer: Flask app factory, blueprints by area, JSON errors, OpenAPI and docs.

It serves what the engine built and holds no financial logic.
"""

from __future__ import annotations

import sqlalchemy as sa
from apiflask import APIFlask
from flask_cors import CORS

from .. import __version__
from ..catalog import load_catalog
from ..engine.feed import SnapshotFeed
from ..engine.recorder import Recorder, database_url, read_stats, start_recording
from ..settings import Settings
from ..store.database import open_database
from . import routes_analytics, routes_dashboard, routes_data, routes_stream, routes_system
from .errors import register_error_handlers
from .metrics import Metrics
from .replay import ReplayCache
from .service import MarketService
from .socketio import init_socketio
from .stream import StreamHub


def _engine_for(settings: Settings) -> tuple[SnapshotFeed, Recorder | None]:
    """The engine feed, and (in thread mode) the engine's recorder; an engine elsewhere
    records itself."""
    if settings.engine_mode == "process" or settings.role == "web":
        # The engine runs elsewhere (a process the server started, or another host).
        from ..bus import bus_feed

        return bus_feed(settings, load_catalog(settings.catalog).symbols), None
    from ..engine.setup import engine_from_settings

    engine = engine_from_settings(settings)
    return engine, start_recording(engine, settings)


def create_app(settings: Settings | None = None, engine: SnapshotFeed | None = None,
               start_engine: bool = True, store: sa.Engine | None = None) -> APIFlask:
    """Build the app. Without an ``engine`` one is made from ``settings`` (catalogue, seed,
    clock), resumed from and recorded into the history store, and, with ``start_engine``,
    starts ticking in the background. With an ``engine``, history is served from ``store``
    (a database opened with :func:`deltastream.store.database.open_database`) if given."""
    settings = settings or Settings()
    recorder = None
    if engine is None:
        engine, recorder = _engine_for(settings)
        store = open_database(database_url(settings))
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
    service = MarketService(engine, settings.stall_after, store=store,
                            max_range_days=settings.history_max_range_days)
    app.extensions["deltastream"] = service
    app.extensions["deltastream_settings"] = settings
    app.extensions["deltastream_recorder"] = recorder
    store_stats = (recorder.stats if recorder is not None
                   else (lambda: read_stats(settings)) if store is not None else None)
    metrics = app.extensions["deltastream_metrics"] = Metrics(app, service, store_stats)
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
    # Outermost: repeats of live snapshot responses are answered before routing.
    app.wsgi_app = ReplayCache(app.wsgi_app, service.is_current,  # type: ignore[method-assign]
                               metrics.observe)
    if start_engine:
        engine.start()
    return app
