"""The app with what it serves: an engine in this process (recorded into the store, unless
it replays stored snapshots, and matching the resting paper-trading orders on its ticks) or
the bus from an engine elsewhere (whose process matches), and the history store."""

from __future__ import annotations

from apiflask import APIFlask

from ..bus import bus_feed
from ..core.protocols import SnapshotFeed
from ..core.types import EngineMode, Role
from ..engine.runner import Engine
from ..settings import Settings
from ..store.database import open_configured
from ..web import create_app as create_web_app
from ..web.state import app_state
from .market import engine_for, market_symbols, recorded
from .matching import start_matching
from .recorder import Recorder, start_recording


def _feed_for(settings: Settings) -> tuple[SnapshotFeed, Recorder | None]:
    """The feed, and (in thread mode) the engine's recorder; an engine elsewhere records
    itself."""
    if settings.engine_mode == EngineMode.PROCESS or settings.role == Role.WEB:
        # The engine runs elsewhere (a process the server started, or another host).
        return bus_feed(settings, market_symbols(settings)), None
    engine = engine_for(settings)
    return engine, start_recording(engine, settings) if recorded(settings) else None


def create_app(settings: Settings | None = None, start_engine: bool = True) -> APIFlask:
    """The app of one web worker as ``settings`` configure it: the engine resumed from and
    recorded into the history store (or the bus of the engine that does so), history served
    from that store, and the feed started unless ``start_engine`` is False."""
    settings = settings or Settings()
    feed, recorder = _feed_for(settings)
    store = open_configured(settings)
    # Subscribed before the engine's first tick; a web-only server's engine matches elsewhere.
    matcher = (start_matching(feed, settings, recorder.store if recorder is not None else None)
               if isinstance(feed, Engine) else None)
    app = create_web_app(settings, feed=feed, start_feed=start_engine, store=store,
                         store_stats=recorder.stats if recorder is not None else None)
    if matcher is not None:
        # After the feed stopped (AppState.close): the last tick's pass completes first.
        app_state(app).on_close.append(matcher.stop)
    if recorder is not None:
        app_state(app).on_close.append(recorder.close)
    return app
