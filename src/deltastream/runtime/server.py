"""Production server: gunicorn with gevent web workers and the engine in a process of its own.

The server process starts the engine (role ``all``) once it has bound the port; the engine
publishes every tick on the bus and each web worker keeps the latest snapshots in memory from
it. Requests are served by greenlets, so thousands of connections fit in one worker, and no
request ever waits for a tick. With role ``web`` the engine runs elsewhere (``deltastream
engine``, over Redis). SIGTERM or SIGINT stops the workers and then the engine gracefully, and
the process exits 0. An engine process that dies is restarted (:mod:`.engine_process`); one
that keeps dying stops the server with exit status 1. ``engine_mode = "thread"`` runs the
engine inside a single worker. gunicorn logs through the server's log (:mod:`.logs`), and the
server process says ``ready <url>`` once, when health first answers 200.
"""

from __future__ import annotations

import gc
import logging
import math
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer

from ..core.types import EngineMode, Role
from ..settings import Settings
from .logs import GunicornLogger, ReadyAnnouncer

if TYPE_CHECKING:
    from ..web.state import AppState

log = logging.getLogger(__name__)


def _close_app(worker: Any) -> None:
    # The worker's app (loaded by its copy of the server application): stop its feed and
    # flush what it records.
    state = getattr(worker.app, "deltastream_state", None)
    if state is not None:
        state.close()


def _forget_engine_process(server: Any, worker: Any) -> None:
    """In a new worker: drop the engine process from the children multiprocessing tracks.

    Workers are forked from the server process after it started the engine, so they inherit
    its record of that child; at a worker's exit multiprocessing would then try to join a
    process that is not its own (an AssertionError traceback on every shutdown). Only the
    server process waits for the engine."""
    multiprocessing.process._children.clear()  # type: ignore[attr-defined]


class DeltaStreamServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine_host: Any = None
        self.ready_announcer: ReadyAnnouncer | None = None
        self.deltastream_state: AppState | None = None
        super().__init__()

    @property
    def runs_engine_process(self) -> bool:
        return self.settings.role == Role.ALL and self.settings.engine_mode == EngineMode.PROCESS

    def _start_engine(self, server: Any) -> None:
        if self.runs_engine_process:
            from .engine_process import EngineHostProcess

            self.engine_host = EngineHostProcess(self.settings, on_give_up=server.wakeup)
            self.engine_host.start()

    def _stop_engine(self, server: Any) -> None:
        if self.engine_host is not None:
            self.engine_host.stop()
            self.engine_host = None

    def _when_ready(self, server: Any) -> None:
        self._start_engine(server)
        # "ready <url>" once the first snapshot is served, from this one server process
        # whatever the number of workers; gunicorn closes its listeners as it begins to stop.
        self.ready_announcer = ReadyAnnouncer(self.settings,
                                              serving=lambda: bool(server.LISTENERS))
        self.ready_announcer.start()

    def _on_exit(self, server: Any) -> None:
        if self.ready_announcer is not None:
            self.ready_announcer.stop()
        self._stop_engine(server)

    def load_config(self) -> None:
        s = self.settings
        options = {
            "bind": f"{s.host}:{s.port}",
            "workers": s.web_workers if s.engine_mode == EngineMode.PROCESS else 1,
            # gunicorn's gevent worker on gevent's HTTP server, with header and idle time
            # limits and JSON answers to what it cannot parse (runtime.worker); Socket.IO's
            # WebSocket transport runs on simple-websocket (web.socketio).
            "worker_class": "deltastream.runtime.worker.DeltaStreamWorker",
            "worker_connections": s.max_connections,
            "timeout": 60,
            "graceful_timeout": 10,
            # Keep-alive on; the worker applies keepalive_timeout itself, to the second's
            # fraction (gunicorn's setting is whole seconds).
            "keepalive": max(1, math.ceil(s.keepalive_timeout)),
            # gunicorn's lines and the access log in the process's log format (runtime.logs);
            # accesslog only switches the access log on.
            "logger_class": GunicornLogger,
            "accesslog": "-" if s.access_log else None,
            "errorlog": "-",
            "loglevel": s.log_level,
            "proc_name": "deltastream",
            # No runtime-management socket beside the port (gunicorn's default puts one in
            # the user's home, shared by every server the user runs).
            "control_socket_disable": True,
            "post_fork": _forget_engine_process,
            "worker_exit": lambda server, worker: _close_app(worker),
            "child_exit": _worker_metrics_done,
            "when_ready": self._when_ready,
            "on_exit": self._on_exit,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def run(self) -> None:
        """Serve until stopped, in a server process that also supervises the engine's."""
        try:
            _Arbiter(self).run()
        except RuntimeError as exc:     # as gunicorn's own run reports a failed start
            sys.exit(f"Error: {exc}")

    def load(self) -> Any:
        from ..web.state import app_state
        from .app import create_app

        app = create_app(self.settings)
        self.deltastream_state = app_state(app)
        return take_turns(freeze_startup_objects(app))


# The server's exit status when it stops because the engine process keeps crashing.
ENGINE_GAVE_UP_EXIT = 1


class _Arbiter(Arbiter):
    """gunicorn's server process, supervising the engine process too: it collects the
    engine's exit status before its own reaping (a wait for any child, which would take the
    status from under the supervision; gunicorn does the same for its dirty arbiter), and
    stops the server, with exit status :data:`ENGINE_GAVE_UP_EXIT`, once the supervision gave
    up restarting the engine (the reason is logged as it gives up)."""

    app: DeltaStreamServer

    def reap_workers(self) -> None:
        if self.app.engine_host is not None:
            self.app.engine_host.collect_exit()
        super().reap_workers()

    def manage_workers(self) -> None:
        host = self.app.engine_host
        if host is not None and host.gave_up is not None:
            raise HaltServer(None, ENGINE_GAVE_UP_EXIT)
        super().manage_workers()


def freeze_startup_objects(app: Any) -> Any:
    """``app``, with every object made so far kept out of the garbage collector's scans.

    The modules, app and snapshots of a worker are hundreds of thousands of objects that
    live as long as it does; each full collection used to walk them all, stalling every
    connection for up to 160 ms. Frozen, a full collection walks only what came after."""
    gc.freeze()
    return app


def take_turns(app: Any) -> Any:
    """``app`` yielding to the other connections' greenlets before each request.

    gevent's server reads a keep-alive connection's next request without yielding when it has
    already arrived, so a busy client could be served request after request while the others
    wait; one yield per request serves the connections in turn (fair tail latency)."""
    import gevent

    def wsgi(environ: dict, start_response: Any) -> Any:
        gevent.sleep(0)
        return app(environ, start_response)

    return wsgi


METRICS_PREFIX = "deltastream-metrics-"


def metrics_parent() -> Path:
    """Where servers keep their workers' shared metrics: memory (``/dev/shm``) where there is
    one, else the temporary directory; never the data directory. prometheus_client maps these
    files into memory, and a mapped file that cannot grow (a full or read-only disk, files
    made immutable) kills the process that writes it with SIGBUS."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


def metrics_directory(server_pid: int) -> Path:
    """The shared metrics directory of the server whose process id is ``server_pid``."""
    return metrics_parent() / f"{METRICS_PREFIX}{server_pid}"


def _share_metrics() -> Path:
    """Let the workers keep their counters where any of them can sum them for ``/metrics``:
    :func:`metrics_directory` of this server, new at each start (before a worker exists) and
    removed at its exit. Those of servers no longer running are removed; another running
    server's are left alone."""
    for stale in metrics_parent().glob(f"{METRICS_PREFIX}*"):
        pid = stale.name.removeprefix(METRICS_PREFIX)
        if not (pid.isdigit() and _running(int(pid))):
            shutil.rmtree(stale, ignore_errors=True)
    directory = metrics_directory(os.getpid())
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700, parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)     # no signal sent: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                # it exists, as another user's
    return True


def _worker_metrics_done(server: Any, worker: Any) -> None:
    # A dead worker's gauges no longer count; its counters do (they stay in the directory).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# Descriptors a worker needs beside its connections: its store, bus, log and module files.
RESERVED_FILES = 1024


def raise_open_files_limit(max_connections: int) -> int:
    """Raise this process's soft limit of open files (inherited by the workers it forks)
    toward what ``max_connections`` connections need, as far as the hard limit allows, and
    return the limit in force. Each connection is a file descriptor; past the limit, new
    connections would be refused while idle ones hold theirs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + RESERVED_FILES
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    if soft < max_connections + RESERVED_FILES:
        log.info("open files limited to %d (the hard limit): about %d connections per worker",
                 soft, max(soft - RESERVED_FILES, soft // 2))
    return soft


def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    metrics = _share_metrics()
    server_pid = os.getpid()
    raise_open_files_limit(settings.max_connections)
    try:
        DeltaStreamServer(settings).run()
    finally:
        # Workers are forked inside run() and leave through here too: only the server
        # process removes the directory, after every worker has gone.
        if os.getpid() == server_pid:
            shutil.rmtree(metrics, ignore_errors=True)
