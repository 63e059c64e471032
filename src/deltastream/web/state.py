"""The web app's state: one typed object in ``app.extensions`` instead of loose keys.

Built once by :func:`deltastream.web.create_app`; routes reach it through :func:`app_state`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from ..settings import Settings
from .metrics import Metrics
from .service import MarketService
from .stream import StreamHub

EXTENSION_KEY = "deltastream"


@dataclass
class AppState:
    """What the routes of one app share: its settings, the market service over the snapshot
    feed, the metrics, the stream hub, and what must be closed when the worker exits (in the
    order given)."""

    settings: Settings
    service: MarketService
    metrics: Metrics
    stream: StreamHub
    store_stats: Callable[[], dict[str, Any] | None] | None = None  # the store writer's counters
    on_close: list[Callable[[], Any]] = field(default_factory=list)

    def close(self) -> None:
        """Stop the feed, then run the ``on_close`` callbacks (a recorder's flush)."""
        self.service.feed.stop()
        for callback in self.on_close:
            callback()


def app_state(app: Flask | None = None) -> AppState:
    """The state of ``app`` (default: the app handling the current request)."""
    state: AppState = (app or current_app).extensions[EXTENSION_KEY]
    return state
