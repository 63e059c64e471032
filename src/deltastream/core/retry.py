"""Retrying a server that may be unreachable (Redis): exponential back-off with jitter, and an
outage told in a few log lines instead of one per attempt.

Times are in seconds of the clock given (monotonic by default). A :class:`Backoff` follows
one server through its outages:

- the first failed attempt logs one warning: ``cannot reach <what>: <reason>; retrying with
  back-off``;
- while it stays unreachable, at most one summary per ``summary_every`` (a minute):
  ``still cannot reach <what>: <n> attempts in the last <t> s (<reason>)``;
- the first success after an outage logs ``reached <what> again after <t> s``.

The delay before attempt *n* + 1 after *n* failures is ``min(cap, first * 2 ** (n - 1))``
drawn uniformly from its upper half (jitter: processes that lost the same server do not all
come back at the same instant), so it never exceeds ``cap``. A success resets it. Threads may
share one instance (an engine's publishing and its lease renewal use one connection).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from .threads import real_lock


class Unreachable(ConnectionError):  # noqa: N818 - reads as a state, like TimeoutError
    """A call was not made, or failed, because its server is unreachable; the outage has
    already been logged by the caller's :class:`Backoff`, so handlers need not log it."""


def reason(error: BaseException) -> str:
    """The short cause of a connection error: the operating system's words when there are
    some (``Connection refused``), otherwise the error's first line."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _seconds(t: float) -> str:
    return f"{t:.1f}" if t < 10 else f"{t:.0f}"


class Backoff:
    """Back-off and reporting for one server (see the module's description)."""

    def __init__(self, what: str, log: logging.Logger, *, first: float = 0.5,
                 cap: float = 30.0, summary_every: float = 60.0, quiet: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 jitter: Callable[[], float] = random.random) -> None:
        """``what`` names the server in messages (no password); ``quiet`` logs the outage at
        DEBUG only, for a process whose neighbour reports the same server; ``jitter`` draws
        uniformly from [0, 1)."""
        if not 0 < first <= cap:
            raise ValueError(f"first back-off {first} s must be > 0 and <= cap {cap} s")
        self.what = what
        self.log = log
        self.first = first
        self.cap = cap
        self.summary_every = summary_every
        self._clock = clock
        self._jitter = jitter
        self._warn = logging.DEBUG if quiet else logging.WARNING
        self._info = logging.DEBUG if quiet else logging.INFO
        self._lock = real_lock()
        self.failures = 0                  # consecutive failed attempts (0: reachable)
        self._down_since = 0.0
        self._next_at = 0.0
        self._reported_at = 0.0
        self._unreported = 0               # attempts since the last line about this outage

    @property
    def down(self) -> bool:
        """Whether the last attempt failed."""
        return self.failures > 0

    def remaining(self) -> float:
        """Seconds until the next attempt is due (0 while reachable)."""
        return max(0.0, self._next_at - self._clock()) if self.failures else 0.0

    def due(self) -> bool:
        """Whether an attempt may be made now."""
        return self.remaining() == 0.0

    def failed(self, error: BaseException) -> float:
        """Record a failed attempt; returns the seconds to wait before the next one."""
        why = reason(error)
        with self._lock:
            now = self._clock()
            self.failures += 1
            if self.failures == 1:
                self._down_since = self._reported_at = now
                self._unreported = 0
                self.log.log(self._warn, "cannot reach %s: %s; retrying with back-off",
                             self.what, why)
            else:
                self._unreported += 1
                if now - self._reported_at >= self.summary_every:
                    self.log.log(self._warn, "still cannot reach %s: %d attempts in the last "
                                 "%.0f s (%s)", self.what, self._unreported,
                                 now - self._reported_at, why)
                    self._reported_at = now
                    self._unreported = 0
            ceiling = min(self.cap, self.first * 2.0 ** min(self.failures - 1, 64))
            delay = ceiling * (1.0 + self._jitter()) / 2.0
            self._next_at = now + delay
            return delay

    def succeeded(self) -> None:
        """Record a successful attempt (ends an outage, logging how long it lasted)."""
        if not self.failures:
            return
        with self._lock:
            if self.failures:
                self.log.log(self._info, "reached %s again after %s s", self.what,
                             _seconds(self._clock() - self._down_since))
                self.failures = 0
                self._next_at = 0.0
