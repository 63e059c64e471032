"""The engine as a publisher: tick the market and put every tick on the bus.

Used by ``deltastream engine`` (the engine alone) and by ``deltastream serve``, whose server
process starts it in a child process beside the web workers. With Redis configured the engine
first takes the writer's lease, so that exactly one engine publishes at a time; a second one
waits as standby and takes over, continuing the sequence, when the first stops renewing.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
import uuid
from typing import Any, Protocol

from ..engine.runner import Engine
from ..settings import Settings
from .codec import encode_ring, encode_tick
from .local import FRAME_RING, FRAME_TICK, LocalPublisher, frame

log = logging.getLogger(__name__)


class Publisher(Protocol):
    def describe(self) -> str: ...
    def acquire(self, stopped: threading.Event) -> bool: ...
    def renew(self) -> bool: ...
    def last_sequence(self) -> int: ...
    def publish(self, sequence: int, message: bytes) -> bool: ...
    def release(self) -> None: ...
    def close(self) -> None: ...


class _Greeting:
    """What a newly connected local reader receives first: tick history and the latest tick."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.latest: bytes | None = None

    def __call__(self) -> list[bytes]:
        frames = []
        engine = self.engine
        if engine is not None:
            ring = {p: engine.ticks.latest(p) for p in engine.ticks.products}
            frames.append(frame(FRAME_RING, encode_ring(ring)))
        if self.latest is not None:
            frames.append(frame(FRAME_TICK, self.latest))
        return frames


def make_publisher(settings: Settings, engine_id: str, greeting: _Greeting) -> Publisher:
    if settings.redis_url:
        from .redisbus import RedisPublisher

        return RedisPublisher(settings.redis_url, engine_id, settings.engine_lease,
                              settings.redis_prefix)
    return LocalPublisher(settings.data_dir, greeting)


def _renew_lease(publisher: Publisher, lost: threading.Event, done: threading.Event,
                 every: float) -> None:
    while not done.wait(every):
        try:
            if not publisher.renew():
                lost.set()
                return
        except Exception as exc:  # an unreachable lease store: keep trying until it expires
            log.warning("cannot renew the engine lease: %s", exc)


def run_publishing_engine(settings: Settings, stopped: threading.Event) -> None:
    """Tick and publish until ``stopped`` is set; with a lease, as standby until it is ours."""
    from ..engine.recorder import start_recording
    from ..engine.setup import engine_from_settings

    engine_id = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    greeting = _Greeting()
    publisher = make_publisher(settings, engine_id, greeting)
    log.info("engine %s publishing on %s", engine_id, publisher.describe())
    if settings.redis_url:
        # A standby's first tick would be slow (kernels and calendars load): tick once now,
        # so a takeover publishes within a tick interval of getting the lease.
        engine_from_settings(settings).tick()
    try:
        while publisher.acquire(stopped):
            engine = engine_from_settings(settings)
            engine.resume_sequence(publisher.last_sequence())
            recorder = start_recording(engine, settings)
            greeting.engine = engine
            # The engine's long-lived objects are out of the collector's scans from here on
            # (full collections of them stalled ticks).
            gc.freeze()
            log.info("engine %s is the writer from sequence %d", engine_id,
                     engine.sequence + 1)
            _tick_and_publish(settings, engine, publisher, greeting, engine_id, stopped)
            recorder.close()
            greeting.engine = None
            publisher.release()
    finally:
        publisher.close()


def _tick_and_publish(settings: Settings, engine: Engine, publisher: Publisher,
                      greeting: _Greeting, engine_id: str, stopped: threading.Event) -> None:
    lost = threading.Event()
    done = threading.Event()
    renewer = threading.Thread(target=_renew_lease, daemon=True, name="deltastream-lease",
                               args=(publisher, lost, done, settings.engine_lease / 3))
    renewer.start()
    next_at = time.monotonic()
    try:
        while not stopped.is_set() and not lost.is_set():
            started = time.monotonic()
            error = None
            try:
                published = engine.tick()
            except Exception as exc:  # report and keep ticking; health shows the error
                log.exception("engine tick failed")
                published, error = {}, f"{type(exc).__name__}: {exc}"
            message = encode_tick(engine_id, engine.sequence, published,
                                  time.monotonic() - started, error)
            greeting.latest = message
            try:
                if not publisher.publish(engine.sequence, message):
                    lost.set()
            except Exception as exc:
                log.warning("cannot publish tick %d: %s", engine.sequence, exc)
            next_at += settings.tick_interval
            delay = next_at - time.monotonic()
            if delay < 0:
                # Running behind: skip the missed ticks rather than bursting to catch up.
                next_at = time.monotonic()
                delay = 0.0
            stopped.wait(delay)
        if lost.is_set():
            log.warning("engine %s lost the writer's lease; back to standby", engine_id)
    finally:
        done.set()


def _engine_process_main(settings: Settings, control: Any) -> None:
    """Child-process entry: run until the parent says stop or goes away."""
    import numba

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The parent decides when to stop (SIGTERM/SIGINT reach the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    numba.set_num_threads(max(1, min(settings.engine_threads,
                                     numba.config.NUMBA_NUM_THREADS)))
    if settings.engine_niceness:
        # Requests come first: the engine takes the CPU the web workers leave.
        os.nice(settings.engine_niceness)
    stopped = threading.Event()

    def watch_parent() -> None:
        with contextlib.suppress(EOFError, OSError):
            control.recv()
        stopped.set()

    threading.Thread(target=watch_parent, daemon=True, name="deltastream-parent").start()
    run_publishing_engine(settings, stopped)


class EngineHostProcess:
    """The server process's handle of the engine child process, which it restarts (resuming
    from the stored state) should it ever exit without being told to."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.restarts = 0
        self._process: Any = None
        self._control: Any = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._stopping.clear()
        self._spawn()
        threading.Thread(target=self._supervise, daemon=True,
                         name="deltastream-engine-supervisor").start()

    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        child_control, self._control = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_engine_process_main,
                                    args=(self.settings, child_control),
                                    name="deltastream-engine", daemon=False)
        self._process.start()
        child_control.close()

    def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping.wait(0.5):
            with self._lock:
                process = self._process
                if process is None or process.is_alive() or self._stopping.is_set():
                    continue
                log.error("the engine process exited (code %s); restarting it in %.0f s",
                          process.exitcode, delay)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if not self._stopping.is_set():
                    self._spawn()
                    self.restarts += 1
            delay = min(delay * 2, 30.0)

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def stop(self, timeout: float = 20.0) -> None:
        self._stopping.set()
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            self._control.send("stop")
        process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(timeout)
