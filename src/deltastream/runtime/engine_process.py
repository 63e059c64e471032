"""The engine's own process under ``deltastream serve``: its entry point, and the server
process's handle that starts it, stops it, and restarts it (resuming from the stored state)
should it exit without being told to. Delays are in seconds."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from typing import Any

from ..settings import Settings
from .publishing import run_publishing_engine

log = logging.getLogger(__name__)


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
