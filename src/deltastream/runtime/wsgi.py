"""WSGI entry point for running the web processes under one's own gunicorn command.

Settings come from ``DELTASTREAM_*`` environment variables. The engine is not started here:
it runs as ``deltastream engine`` (on the same host through the data directory's socket, or
anywhere through Redis), so any number of these processes serve the same market::

    DELTASTREAM_REDIS_URL=redis://127.0.0.1:6379/0 \\
        gunicorn -k deltastream.runtime.worker.DeltaStreamWorker --worker-connections 10000 \\
            -w 4 -b 127.0.0.1:8001 --no-control-socket deltastream.runtime.wsgi:app

The worker class is gunicorn's gevent worker on gevent's HTTP server with the header and idle
time limits (``DELTASTREAM_HEADER_TIMEOUT``, ``DELTASTREAM_KEEPALIVE_TIMEOUT``) and JSON
answers to requests it cannot parse (:mod:`.worker`); gunicorn's plain ``-k gevent`` serves
too, without them.
With ``--logger-class deltastream.runtime.logs.GunicornLogger`` gunicorn's own lines and its
access log (``--access-logfile -``) have the server's log format too (``DELTASTREAM_LOG_*``).
"""

from __future__ import annotations

from ..core.types import EngineMode, Role
from ..settings import from_env
from .app import create_app
from .logs import configure_once
from .server import freeze_startup_objects

_settings = from_env()
# The server's log format in the workers too (done by the logger class when it is ours).
configure_once(_settings)
if _settings.engine_mode == EngineMode.PROCESS:
    _settings = _settings.with_overrides(role=Role.WEB)
app = freeze_startup_objects(create_app(_settings))
