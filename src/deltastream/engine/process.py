"""The engine in a process of its own, feeding a web process through a pipe.

The engine is CPU-bound (American options above all); in its own process it never holds the
web process's interpreter lock, so request latency does not depend on the tick. The web
process keeps only the reader side: the latest snapshot per product, the underlying's tick
ring, and the engine's status, all fed by the messages of the engine process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import time
from typing import Any

from ..settings import Settings
from .feed import EngineStatus, SnapshotFeed
from .snapshot import freeze_snapshot
from .threads import real_thread

log = logging.getLogger(__name__)


def run_engine_process(settings: Settings, conn: Any, control: Any) -> None:
    """Entry point of the engine process: tick, send every tick's snapshots on ``conn``, until
    ``control`` says stop (any message, or its end closing) or the web process has gone."""
    import numba

    from .setup import engine_from_settings

    # The parent decides when to stop (SIGTERM/SIGINT reach the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    numba.set_num_threads(max(1, min(settings.engine_threads,
                                     numba.config.NUMBA_NUM_THREADS)))
    engine = engine_from_settings(settings)
    next_at = time.monotonic()
    while True:
        if control.poll():
            break
        started = time.monotonic()
        try:
            published = engine.tick()
            message: tuple = ("tick", published, time.monotonic() - started, None)
        except Exception as exc:  # report and keep ticking; health shows the error
            log.exception("engine tick failed")
            message = ("tick", {}, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(message)
        except (BrokenPipeError, EOFError, OSError):
            break
        next_at += settings.tick_interval
        delay = next_at - time.monotonic()
        if delay < 0:
            next_at = time.monotonic()
            delay = 0.0
        if control.poll(delay):
            break


class EngineProcess(SnapshotFeed):
    """Web-process handle of an engine running in a child process: the same reader side as
    an in-process engine, fed by the child's messages."""

    def __init__(self, settings: Settings, symbols: list[str]) -> None:
        super().__init__(symbols, settings.underlying_history, settings.tick_interval)
        self.settings = settings
        self._process: Any = None
        self._conn: Any = None
        self._control: Any = None
        self._reader: Any = None

    def status(self) -> EngineStatus:
        return self._status(self._process is not None and self._process.is_alive()
                            and self._reader is not None and self._reader.is_alive())

    def start(self) -> None:
        if self._process is not None:
            return
        ctx = multiprocessing.get_context("spawn")
        # Two one-way OS pipes rather than a socket pair, which gevent would patch.
        self._conn, child_send = ctx.Pipe(duplex=False)
        child_control, self._control = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=run_engine_process,
                                    args=(self.settings, child_send, child_control),
                                    name="deltastream-engine", daemon=True)
        self._process.start()
        child_send.close()
        child_control.close()
        self._reader = real_thread(self._read, "deltastream-engine-reader")
        self._reader.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            self._control.send("stop")
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout)
        self._process = None

    def _read(self) -> None:
        # A real thread blocked in recv(): the pipe read releases the interpreter lock.
        while True:
            try:
                kind, published, duration, error = self._conn.recv()
            except (EOFError, OSError):
                return
            if kind == "tick":
                for snap in published.values():
                    freeze_snapshot(snap)
                self.publish(published, duration, error)
