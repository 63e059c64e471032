"""Real OS threads and locks, also under gevent.

The server runs request handlers as gevent greenlets, which monkey-patch ``threading`` and
``_thread``. The engine's pipe reader (and an in-process engine) must still run on real OS
threads, so that a blocking read or a long computation never stalls the greenlets, and
whatever they share with request handlers needs locks that work across real threads. These
helpers use the unpatched originals when gevent has patched the modules, and the ordinary
ones otherwise.
"""

from __future__ import annotations

import _thread
import threading
from collections.abc import Callable
from typing import Any


def _original(module: str, name: str) -> Any:
    try:
        from gevent import monkey
    except ImportError:
        return getattr(_thread if module == "_thread" else threading, name)
    if monkey.is_module_patched(module):
        return monkey.get_original(module, name)
    return getattr(_thread if module == "_thread" else threading, name)


def real_lock() -> Any:
    """A lock usable between real threads and request handlers."""
    return _original("_thread", "allocate_lock")()


class RealEvent:
    """A one-shot flag with a timed wait, safe between real threads and greenlets."""

    def __init__(self) -> None:
        self._lock = real_lock()
        self._lock.acquire()

    def set(self) -> None:
        if self._lock.locked():
            self._lock.release()

    def clear(self) -> None:
        self._lock.acquire(False)

    def is_set(self) -> bool:
        return not self._lock.locked()

    def wait(self, timeout: float) -> bool:
        if self._lock.acquire(True, max(timeout, 0.0)):
            self._lock.release()
            return True
        return False


def real_event() -> RealEvent:
    return RealEvent()


class RealThread:
    """A daemon OS thread (never a greenlet) running ``target``."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        self.name = name
        self._target = target
        self._done = RealEvent()
        self._started = False

    def _run(self) -> None:
        try:
            self._target()
        finally:
            self._done.set()

    def start(self) -> None:
        self._started = True
        _original("_thread", "start_new_thread")(self._run, ())

    def is_alive(self) -> bool:
        return self._started and not self._done.is_set()

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(3600.0 if timeout is None else timeout)


def real_thread(target: Callable[[], None], name: str) -> RealThread:
    return RealThread(target, name)
