"""The engine's own process under ``deltastream serve``: its entry point, and the server
process's handle that starts it, stops it, and restarts it (resuming from the stored state)
should it exit without being told to. Delays are in seconds, times of day epoch seconds.

Restarts back off (``engine_restart_delay`` doubled per crash of the window, at most 30 s);
more than ``engine_max_restarts`` crashes within ``engine_restart_window`` seconds make the
handle give up (the server then stops) rather than loop. Each engine process is told its life
(start, restarts, last exit), which it publishes with every tick so that every web process's
health reports it."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..bus.local import EngineLockedError, engine_lock_holder, engine_lock_message
from ..core.feed import EngineExit, EngineLife
from ..settings import Settings
from .publishing import run_publishing_engine

log = logging.getLogger(__name__)


def _engine_process_main(settings: Settings, control: Any, life: EngineLife) -> None:
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
    try:
        run_publishing_engine(settings, stopped, life)
    except EngineLockedError:
        # Another server's engine took the data directory first (both started at once, past
        # the command's check): restarting cannot help, and the server says so.
        sys.exit(DATA_DIRECTORY_TAKEN)


# The engine process's exit code when another engine runs on its data directory.
DATA_DIRECTORY_TAKEN = 75


def _exited(process: Any) -> bool:
    """Whether the child has exited. Its sentinel (a pipe the child holds) becomes readable
    when it does, even where another handler reaped it first: gunicorn's SIGCHLD handler
    waits for every child, after which ``is_alive()`` can no longer tell."""
    return bool(multiprocessing.connection.wait([process.sentinel], timeout=0))


def _exit_cause(code: int | None) -> str:
    """``code``: the process's exit code (``-N`` for signal N), None when unknown."""
    if code is None:
        # Reaped by a wait for any child before the targeted wait (see collect_exit).
        return "exited (status collected elsewhere)"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


# The longest wait between two restarts.
MAX_RESTART_DELAY = 30.0


class EngineHostProcess:
    """The server process's handle of the engine child process, which it restarts (resuming
    from the stored state) should it ever exit without being told to."""

    def __init__(self, settings: Settings,
                 on_give_up: Callable[[], None] = lambda: os.kill(os.getpid(), signal.SIGTERM)
                 ) -> None:
        """``on_give_up``: called (from the supervising thread) when the engine keeps
        crashing, after :attr:`gave_up` is set (by default the server process stops itself,
        as on SIGTERM)."""
        self.settings = settings
        self.on_give_up = on_give_up
        self.restarts = 0
        self.last_exit: EngineExit | None = None    # how the engine process last ended
        self.gave_up: str | None = None             # why it is no longer restarted
        self._process: Any = None
        self._control: Any = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        # Serializes the targeted waits, so the one that collects the exit status has
        # recorded it before the other looks.
        self._reap_lock = threading.Lock()

    def start(self) -> None:
        self._stopping.clear()
        self._spawn()
        threading.Thread(target=self._supervise, daemon=True,
                         name="deltastream-engine-supervisor").start()

    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        child_control, self._control = ctx.Pipe(duplex=False)
        life = EngineLife(time.time(), self.restarts, self.last_exit)
        process = ctx.Process(target=_engine_process_main,
                              args=(self.settings, child_control, life),
                              name="deltastream-engine", daemon=False)
        process.start()
        # Published once started: other threads look at it (is_alive, collect_exit).
        self._process = process
        child_control.close()

    def collect_exit(self) -> None:
        """Collect the engine process's exit status if it has ended (a wait for that one
        process). A server process that also waits for any child (gunicorn's reaping) calls
        this first, or the status would be taken from under the supervision."""
        process = self._process
        if process is not None:
            with self._reap_lock:
                process.exitcode  # noqa: B018  (reading it waits for the process, no hang)

    def _exit_code(self, process: Any) -> int | None:
        """The exit code of a process whose sentinel says it ended (None if another wait
        took it). The sentinel closes as the process exits, a moment before its status can be
        collected: joined, not polled."""
        with self._reap_lock:
            process.join(5.0)
            code: int | None = process.exitcode
            return code

    def _supervise(self) -> None:
        s = self.settings
        crashes: list[float] = []
        while not self._stopping.wait(0.5):
            with self._lock:
                process = self._process
                if process is None or not _exited(process) or self._stopping.is_set():
                    continue
                self.last_exit = EngineExit(_exit_cause(self._exit_code(process)), time.time())
            cause = self.last_exit.cause
            if process.exitcode == DATA_DIRECTORY_TAKEN:
                holder = engine_lock_holder(s.data_dir) or "gone since"
                self.gave_up = (f"{engine_lock_message(s.data_dir, holder)}; "
                                "stopping the server")
                log.error("%s", self.gave_up)
                self.on_give_up()
                return
            now = time.monotonic()
            crashes = [t for t in crashes if now - t < s.engine_restart_window] + [now]
            if len(crashes) > s.engine_max_restarts:
                self.gave_up = (f"the engine process ended {len(crashes)} times within "
                                f"{s.engine_restart_window:g} s (last: {cause}); "
                                "stopping the server")
                log.error("%s", self.gave_up)
                self.on_give_up()
                return
            # Back-off doubles with each crash of the window: 1 s, 2 s, 4 s, ... by default.
            delay = min(s.engine_restart_delay * 2.0 ** (len(crashes) - 1), MAX_RESTART_DELAY)
            log.error("the engine process ended (%s); restarting it in %.3g s", cause, delay)
            if self._stopping.wait(delay):
                return
            with self._lock:
                if not self._stopping.is_set():
                    self.restarts += 1
                    self._spawn()

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
            process.kill()      # it ignores SIGTERM (the server's, sent to the whole group)
            multiprocessing.connection.wait([process.sentinel], timeout)
