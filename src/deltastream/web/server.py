"""Production server: gunicorn with one gevent worker that owns the engine.

Requests are served by greenlets (thousands of concurrent connections, and the WebSocket
transport later); the engine ticks on a real OS thread beside them. The worker builds the app
(and starts the engine) after the fork; SIGTERM or SIGINT stops it gracefully, the engine
thread included, and the process exits 0.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from ..settings import Settings

log = logging.getLogger(__name__)


def _stop_engine(worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    service = getattr(app, "extensions", {}).get("deltastream") if app is not None else None
    if service is not None:
        service.engine.stop()


class DeltaStreamServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.host}:{s.port}",
            "workers": 1,
            "worker_class": "gevent",
            "worker_connections": s.max_connections,
            "timeout": 60,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": "deltastream",
            "worker_exit": lambda server, worker: _stop_engine(worker),
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from . import create_app

        return create_app(self.settings)


def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    DeltaStreamServer(settings).run()
