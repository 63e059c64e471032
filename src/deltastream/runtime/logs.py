"""The server's log: one format for every process and library, and what a start says.

:func:`configure` gives a process (the ``serve`` server process and, through ``fork``, its web
workers; the engine's own process; ``deltastream engine``) one handler on standard error, in
the format ``Settings.log_format`` names:

- ``text``: one line per record, ``2026-12-06 01:15:42 INFO deltastream.bus.feed: message``
  (times in UTC to the second; an exception's traceback follows on the next lines);
- ``json``: one JSON object per line, ``{"time": "2026-12-06T01:15:42.123Z", "level": "INFO",
  "logger": "deltastream.bus.feed", "message": "...", "pid": 4242}``, plus ``exception`` (the
  traceback as text) when the record carries one, and the named fields of an access line.

Records below ``Settings.log_level`` are dropped. Libraries write through the same handler:
gunicorn (:class:`GunicornLogger`, its ``logger_class``), Python warnings (one-line records of
the logger ``py.warnings``), and the chatty ones (Alembic's plugin and migration notes, Numba's
compiler) only from WARNING up. The access log (one line per request, logger
``deltastream.access``) is written only when ``Settings.access_log`` is on; off, a request
makes no logging call at all.

What a start says: ``compiling numeric kernels (first start only)…`` when the engine's process
is about to compile a Numba kernel rather than load it from its on-disk cache
(:func:`announce_kernel_compilation`; Numba's ``numba:compile`` event fires on a cache miss
only, so a warm start says nothing), and ``ready <url>`` once
(:class:`ReadyAnnouncer`) when ``/api/health`` first answers 200, i.e. when the first snapshot
is served.
"""

from __future__ import annotations

import http.client
import json
import logging
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gunicorn import glogging

from ..core.times import format_utc
from ..core.types import LogFormat
from ..settings import Settings, from_env

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TEXT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
ACCESS_LOGGER = "deltastream.access"
# The User-Agent of the readiness probe's requests (kept out of the access log).
PROBE_AGENT = "deltastream-ready-probe"
# What the server itself says at start (the compile and ready lines).
log = logging.getLogger("deltastream")

# Libraries whose INFO and DEBUG records are chatter (Alembic's "setup plugin ..." and
# "Context impl ..." lines; Numba's compiler passes at DEBUG): from WARNING up only.
QUIET_LIBRARIES = ("alembic", "numba")
# Marks the handler configure() installs, so that a second call replaces it and leaves any
# other handler (a test's capture, say) alone.
_OURS = "_deltastream_handler"


class TextFormatter(logging.Formatter):
    """``2026-12-06 01:15:42 INFO name: message``, the time in UTC."""

    converter = staticmethod(time.gmtime)

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, TEXT_TIME_FORMAT)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (tracebacks included as a string)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": format_utc(datetime.fromtimestamp(record.created, UTC), "milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of a ``LogFormat``."""
    return JsonFormatter() if log_format == LogFormat.JSON else TextFormatter()


def level_of(log_level: str) -> int:
    """The ``logging`` level of a ``LogLevel`` (``"info"`` -> ``logging.INFO``)."""
    return logging.getLevelNamesMapping()[log_level.upper()]


def configure(settings: Settings, stream: Any = None) -> logging.Handler:
    """Send every record of this process (at ``settings.log_level`` or above) to ``stream``
    (standard error by default) in ``settings.log_format``; returns the handler. Calling it
    again replaces the handler it installed before."""
    level = level_of(settings.log_level)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatter_for(settings.log_format))
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # The warnings module writes to stderr in a format of its own; as records, they have ours.
    warnings.showwarning = _log_warning
    return handler


def _log_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """``warnings.showwarning`` as a one-line record of the logger ``py.warnings`` (as
    ``logging.captureWarnings`` does, without the source line on a line of its own)."""
    if file is not None:        # written to a file on purpose: as the warnings module does
        _show_warning(message, category, filename, lineno, file, line)
        return
    logging.getLogger("py.warnings").warning("%s:%s: %s: %s", filename, lineno,
                                             category.__name__, message)


def configure_once(settings: Settings) -> None:
    """:func:`configure`, unless this process already is (under one's own gunicorn command,
    where neither ``deltastream serve`` nor the engine set the log up)."""
    if not any(getattr(h, _OURS, False) for h in logging.getLogger().handlers):
        configure(settings)


_show_warning = warnings.showwarning
_compile_listener: Any = None


def announce_kernel_compilation() -> None:
    """Log ``compiling numeric kernels (first start only)…`` once in this process, just
    before the first Numba kernel that has to be compiled (not found in Numba's cache).

    Listens to Numba's ``numba:compile`` event, which Numba fires only after a cache miss, so
    a start with warm caches logs nothing. Called by the process that runs the engine (its
    first ticks compile nearly all the kernels, tens of seconds on a cold cache), so that a
    start says it once: web workers compile a few small kernels of their own (seconds) without
    a line. A forked process inherits the listener, and whether it has spoken."""
    global _compile_listener
    if _compile_listener is not None:
        return
    from numba.core import event

    class _FirstCompilation(event.Listener):
        def __init__(self) -> None:
            self.announced = False

        def on_start(self, _: event.Event) -> None:
            if not self.announced:
                self.announced = True
                log.info("compiling numeric kernels (first start only)…")

        def on_end(self, _: event.Event) -> None:
            pass

    _compile_listener = _FirstCompilation()
    event.register("numba:compile", _compile_listener)


class GunicornLogger(glogging.Logger):
    """gunicorn's ``logger_class``: its messages and its access log through the process's
    log (:func:`configure`, done before gunicorn starts, or here from ``DELTASTREAM_*`` under
    one's own gunicorn command) rather than handlers of its own.

    The server's messages go to the logger ``gunicorn``; the access log (``accesslog`` set,
    which the server does when ``Settings.access_log`` is on) to ``deltastream.access``, one
    line per request: ``127.0.0.1 "GET /api/health HTTP/1.1" 200 622 0.8 ms``, its parts
    also as fields of a JSON line. gunicorn's gevent workers call :meth:`access` after each
    request; a gevent ``pywsgi`` handler of gevent's own writes its request line to the
    server's ``log`` (this object) with :meth:`write`. Both return at once when the access
    log is off. Requests of the start-up's readiness probe are not logged."""

    def setup(self, cfg: Any) -> None:
        # Under one's own gunicorn command (--logger-class), the log as DELTASTREAM_* sets it.
        configure_once(from_env())
        self.cfg = cfg
        self.error_log = logging.getLogger("gunicorn")
        # gunicorn's own name for it, which its WSGI error stream writes to directly.
        logging.getLogger("gunicorn.error").propagate = True
        self.access_log = logging.getLogger(ACCESS_LOGGER)
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        self.error_log.setLevel(self.loglevel)
        self._access_log_enabled = bool(cfg.accesslog)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self._access_log_enabled or environ.get("HTTP_USER_AGENT") == PROBE_AGENT:
            return
        status = resp.status
        if isinstance(status, str):
            # "200 OK"; gevent's server puts words there when the connection failed
            # ("socket error" for a client gone mid-stream): logged as "-".
            status = status.split(None, 1)[0] if status[:3].isdigit() else "-"
        method = environ.get("REQUEST_METHOD", "-")
        path = environ.get("RAW_URI") or environ.get("PATH_INFO", "-")
        protocol = environ.get("SERVER_PROTOCOL", "-")
        remote = environ.get("REMOTE_ADDR", "-")
        sent = getattr(resp, "sent", None)
        ms = request_time.total_seconds() * 1000.0
        fields = {"remote": remote, "method": method, "path": path,
                  "status": int(status) if status != "-" else None,
                  "bytes": sent, "duration_ms": round(ms, 3)}
        self.access_log.info('%s "%s %s %s" %s %s %.1f ms', remote, method, path, protocol,
                             status, "-" if sent is None else sent, ms,
                             extra={"fields": fields})

    def write(self, line: str) -> None:
        """A request line written by a gevent ``pywsgi`` handler (``server.log.write``)."""
        if self._access_log_enabled:
            self.access_log.info("%s", line.rstrip("\n"))

    def flush(self) -> None:
        """Nothing is buffered (``write``'s file-like counterpart)."""


class ReadyAnnouncer:
    """Logs ``ready <url>`` (``Settings.public_base_url()``) once, when ``/api/health`` first
    answers 200: the first snapshot is being served.

    Runs in the gunicorn server process, which is not monkey-patched by gevent, as a thread
    started when gunicorn is ready (the socket bound, before the workers exist): it asks the
    bound address over loopback every ``interval`` seconds until the answer is 200 or
    :meth:`stop` is called. One server process per start makes the line appear once per start
    whatever the number of workers; it asks what a client would (the same health rules), so
    the line is never early. Each probe is one cheap request (health is answered before
    routing)."""

    def __init__(self, settings: Settings, interval: float = 0.25,
                 serving: Callable[[], bool] = lambda: True) -> None:
        """``serving``: whether the server is still serving (a 200 that comes once it has
        begun to stop is not announced)."""
        self.settings = settings
        self.interval = interval
        self.serving = serving
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        # The bound address (not a public URL, which may be a proxy), without any proxy
        # from the environment.
        bound = settings.model_copy(update={"public_url": None})
        self._url = bound.public_base_url() + "/api/health"
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="deltastream-ready")
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def healthy(self) -> bool:
        """Whether health answers 200 now."""
        request = urllib.request.Request(self._url, headers={"User-Agent": PROBE_AGENT})
        try:
            with self._opener.open(request, timeout=2.0) as response:
                return bool(response.status == 200)
        except (OSError, http.client.HTTPException):  # refused, a 503 (HTTPError), a timeout
            return False

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            if self.healthy():
                if self.serving():
                    log.info("ready %s", self.settings.public_base_url())
                return

