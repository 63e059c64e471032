"""Resting orders matched on every tick, off the tick's thread.

:class:`RestingMatcher` is a feed listener (``feed.subscribe(matcher.on_snapshot)``): the
engine's tick only records each product's newest snapshot (a dict write, no I/O) and wakes
the matcher's own thread, which runs :meth:`PaperTrading.settle_expired` (positions in
contracts that have expired settle, exactly once) and :meth:`PaperTrading.match_resting` on
the snapshots gathered since its last pass. Ticks that arrive while a pass runs are
coalesced: the next pass sees each product's newest snapshot only (a resting order fills at
its own limit, so a skipped intermediate quote could only have filled it at the same price).

Run one matcher per market (the process that owns the engine): matchers in several processes
would each match the same tick (the store's checks keep an order from filling twice on the
same stale read, but two passes on one tick could both take its displayed size).

A failing database (:class:`sqlalchemy.exc.DBAPIError`: unreachable, read-only, disk full)
does not end matching: it is reported once with its cause, summarised at most once a minute
and once more when matching works again (:class:`~deltastream.core.retry.Backoff`), and the
passes wait out the back-off; the snapshots keep being gathered, so the first pass after the
outage matches the newest quotes. Any other error is a defect and is logged with its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa

from ..core.retry import Backoff
from ..core.snapshot import ChainSnapshot
from ..core.threads import RealThread, real_event, real_lock, real_thread
from .service import PaperTrading

log = logging.getLogger(__name__)
# Seconds a stop waits for the pass in progress.
STOP_TIMEOUT = 10.0


class RestingMatcher:
    """Matches resting orders against the newest snapshots on a thread of its own."""

    def __init__(self, service: PaperTrading,
                 on_stop: Callable[[], None] | None = None) -> None:
        """``on_stop`` runs once the thread has stopped (releases what the caller opened for
        the matcher, e.g. its store)."""
        self.service = service
        self._on_stop = on_stop
        self.passes = 0
        self._pending: dict[str, ChainSnapshot] = {}
        self._lock = real_lock()
        self._wake = real_event()
        self._stop = real_event()
        self._stopping = False
        self._thread: RealThread | None = None
        self.store_outage = Backoff("the store for resting-order matching", log, cap=10.0)

    def on_snapshot(self, snapshot: ChainSnapshot) -> None:
        """A feed listener: keep the product's newest snapshot and wake the thread."""
        if self._stopping:
            return
        with self._lock:
            self._pending[snapshot.product] = snapshot
        self._wake.set()

    def run_once(self) -> int:
        """One pass over the snapshots gathered so far; the number of orders changed."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._wake.clear()
        if not pending:
            return 0
        # Expired contracts first: their positions settle and their orders are cancelled
        # before anything else matches.
        settled = self.service.settle_expired(pending)
        changed = self.service.match_resting(pending)
        self.passes += 1
        return len(settled) + len(changed)

    def _loop(self) -> None:
        while not self._stopping:
            if not self.store_outage.due():
                # Ticks keep waking the thread: wait out the back-off on the stop alone.
                self._stop.wait(self.store_outage.remaining())
                continue
            self._wake.wait(1.0)
            try:
                self.run_once()
            except sa.exc.DBAPIError as error:   # an outage: reported by the back-off
                self.store_outage.failed(error)
                continue
            except Exception:        # a defect: logged in full, matching goes on
                log.exception("matching resting orders failed")
            self.store_outage.succeeded()

    def start(self) -> None:
        self._thread = real_thread(self._loop, "resting-matcher")
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            self._thread = None
        if self._on_stop is not None:
            on_stop, self._on_stop = self._on_stop, None
            on_stop()
