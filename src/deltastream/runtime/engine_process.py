"""The engine's own process under ``deltastream serve``: its entry point, and the server
process's handle that starts it, stops it, and restarts it (resuming from the stored state)
should it exit without being told to. Delays are in seconds."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from ..settings import Settings
from .publishing import run_publishing_engine

log = logging.getLogger(__name__)


def _engine_process_main(settings: Settings, control: Any) -> None:
    """Child-process entry: run until the parent says stop or goes away."""
    import numba

    from .logs import announce_kernel_compilation, configure

    # A spawned process starts without the server's logging: the same format and level.
    configure(settings)
    announce_kernel_compilation()
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


def _exited(process: Any) -> bool:
    """Whether the child has exited. Its sentinel (a pipe the child holds) becomes readable
    when it does, even where another handler reaped it first: gunicorn's SIGCHLD handler
    waits for every child, after which ``is_alive()`` can no longer tell."""
    return bool(multiprocessing.connection.wait([process.sentinel], timeout=0))


def _exit_cause(process: Any) -> str:
    code = process.exitcode
    if code is None:
        return "exited (status collected by the server process)"
    if code < 0:
        return f"was killed by signal {signal.Signals(-code).name}"
    return f"exited with code {code}"


# More crashes than this within the window stop the server rather than loop.
MAX_CRASHES = 5
CRASH_WINDOW_SECONDS = 300.0


class EngineHostProcess:
    """The server process's handle of the engine child process, which it restarts (resuming
    from the stored state) should it ever exit without being told to."""

    def __init__(self, settings: Settings,
                 on_give_up: Callable[[], None] = lambda: os.kill(os.getpid(), signal.SIGTERM)
                 ) -> None:
        """``on_give_up``: called when the engine keeps crashing (by default the server
        process stops itself, as on SIGTERM)."""
        self.settings = settings
        self.on_give_up = on_give_up
        self.restarts = 0
        self.last_exit: str | None = None    # why the engine process last exited
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
        crashes: list[float] = []
        while not self._stopping.wait(0.5):
            with self._lock:
                process = self._process
                if process is None or not _exited(process) or self._stopping.is_set():
                    continue
                self.last_exit = _exit_cause(process)
            now = time.monotonic()
            crashes = [t for t in crashes if now - t < CRASH_WINDOW_SECONDS] + [now]
            if len(crashes) > MAX_CRASHES:
                log.error("the engine process %s, %d times in %.0f s; stopping the server",
                          self.last_exit, len(crashes), CRASH_WINDOW_SECONDS)
                self.on_give_up()
                return
            # Back-off doubles with each crash of the window: 1 s, 2 s, 4 s, ...
            delay = min(2.0 ** (len(crashes) - 1), 30.0)
            log.error("the engine process %s; restarting it in %.0f s", self.last_exit, delay)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if not self._stopping.is_set():
                    self._spawn()
                    self.restarts += 1

    def is_alive(self) -> bool:
        return self._process is not None and not _exited(self._process)

    def stop(self, timeout: float = 20.0) -> None:
        self._stopping.set()
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            self._control.send("stop")
        # Waited for on its sentinel: the server process may have collected its status.
        multiprocessing.connection.wait([process.sentinel], timeout)
        if not _exited(process):
            process.terminate()
            multiprocessing.connection.wait([process.sentinel], timeout)
