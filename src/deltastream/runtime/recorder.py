"""Record what the engine publishes into the history store, and resume from it.

The recorder is the store's one writer. It listens to the engine's snapshots (on the engine's
thread) and only queues work: every snapshot (the underlying's tick, a chain summary per
expiry and, every ``archive_every`` seconds, the full chain, under the snapshot's source)
together with the product's market checkpoint, written in one transaction by the store's
background writer; and, when a product's session rolls, the closing open interest and premium
of every contract. Checkpoints, session closes and resuming are the simulated market's; of a
live feed the recorder stores the snapshots only, each once (a quiet market's snapshots
published again, with their market time unchanged, are not stored twice). A
background thread prunes rows past their retention and publishes the writer's counters (queue
depth, drops, whether writes are failing) for the metrics and health of the web processes.
:meth:`Recorder.close` flushes everything.

A failing database never reaches the engine: the writer retries in the background (see
:mod:`deltastream.store.writer`) and the engine ticks on; pruning waits until writes succeed.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from ..core.snapshot import ChainSnapshot
from ..core.threads import real_event, real_thread
from ..core.types import MarketStatus
from ..engine.runner import Engine
from ..engine.setup import resume
from ..market.checkpoint import CheckpointError, capture, decode
from ..settings import Settings
from ..store import history, retention
from ..store.database import open_configured
from ..store.writer import StoreWriter
from ..store.writer_stats import write_stats

log = logging.getLogger(__name__)

STATS_EVERY_SECONDS = 1.0
CLOSE_TIMEOUT_SECONDS = 60.0


class Recorder:
    """Feeds ``engine``'s snapshots to a :class:`StoreWriter` on ``store``."""

    def __init__(self, engine: Engine, store: sa.Engine, settings: Settings) -> None:
        self.engine = engine
        self.store = store
        self.settings = settings
        self.writer = StoreWriter(store, capacity=settings.store_queue,
                                  archive_every=settings.archive_every)
        self._previous: dict[str, ChainSnapshot] = {}
        simulator = engine.simulator
        self._session: dict[str, date] = {} if simulator is None else {
            symbol: market.session_day for symbol, market in simulator.market.products.items()
            if market.session_day is not None}
        self._latest_time: Any = None
        self._pruned: dict[str, int] = {}
        self._stop = real_event()
        self._closed = False
        engine.subscribe(self._on_snapshot)
        self._thread = real_thread(self._maintain, "deltastream-store-maintenance")
        self._thread.start()

    def _on_snapshot(self, snap: ChainSnapshot) -> None:
        if self._closed:
            return
        simulator = self.engine.simulator
        if simulator is None:
            self._on_feed_snapshot(snap)
            return
        market = simulator.market.products.get(snap.product)
        if market is None:
            return
        last = self._previous.get(snap.product)
        if (snap.market_status == MarketStatus.CLOSED and last is not None
                and snap.timestamp <= last.timestamp):
            return      # a closed market re-announced: its close is already stored
        day = market.session_day
        before = self._session.get(snap.product)
        if before is not None and day != before:
            last = self._previous.get(snap.product)
            if last is not None:
                self.writer.save_session_close(last, before)
            else:
                log.info("%s: session %s closed while the server was down; its close is the "
                         "last stored state", snap.product, before)
        if day is not None:
            self._session[snap.product] = day
        self._previous[snap.product] = snap
        self._latest_time = snap.timestamp
        # Copies now (cheap); compression happens on the writer thread.
        self.writer.submit(snap, state=capture(market).encode)

    def _on_feed_snapshot(self, snap: ChainSnapshot) -> None:
        last = self._previous.get(snap.product)
        if last is not None and snap.timestamp <= last.timestamp:
            return      # the same market published again (a quiet feed), already stored
        self._previous[snap.product] = snap
        self._latest_time = snap.timestamp
        self.writer.submit(snap)

    # -- background: pruning and counters -------------------------------------------------------

    def _maintain(self) -> None:
        next_prune = time.monotonic() + min(self.settings.prune_every, 60.0)
        while not self._stop.wait(STATS_EVERY_SECONDS):
            self.publish_stats()
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.settings.prune_every
                self.prune()

    def prune(self) -> dict[str, int]:
        """Delete rows past each table's retention, measured back from the newest tick (the
        paper-trading events: a day back from the wall clock, the clock they were written by)."""
        try:
            retention.prune_events(self.store, datetime.now(UTC))
        except sa.exc.SQLAlchemyError as error:
            log.warning("paper events prune failed: %s", " ".join(str(error).split()))
        keep = self.settings.retention()
        if not keep or self._latest_time is None or self.writer.failing:
            return {}
        try:
            deleted = retention.prune(self.store, keep, self._latest_time)
        except sa.exc.SQLAlchemyError as error:
            log.warning("store prune failed: %s", " ".join(str(error).split()))
            return {}
        for table, n in deleted.items():
            self._pruned[table] = self._pruned.get(table, 0) + n
        if any(deleted.values()):
            log.info("store pruned %s", deleted)
        return deleted

    def stats(self) -> dict[str, Any]:
        s = self.writer.stats()
        return {"updated": time.time(), "queue_depth": s.queue_depth,
                "queue_capacity": self.writer.capacity, "dropped": s.dropped,
                "batches": s.batches, "failed_batches": s.failed_batches,
                "rows_written": s.rows_written, "rows_pruned": dict(self._pruned),
                "last_error": s.last_error, "failing_since": s.failing_since,
                "failures": s.failures}

    def publish_stats(self) -> None:
        """Write the counters where the web process reads them (atomically replaced)."""
        write_stats(self.settings.data_dir, self.stats())

    def close(self, timeout: float = CLOSE_TIMEOUT_SECONDS) -> bool:
        """Stop recording and write everything queued; True when all of it was written."""
        if self._closed:
            return True
        self._closed = True
        self._stop.set()
        self._thread.join(10.0)
        flushed = self.writer.close(timeout)
        self.publish_stats()
        if not flushed:
            log.error("store writer: not everything queued was written at shutdown")
        self.store.dispose()
        return flushed


def load_checkpoints(store: sa.Engine, symbols: list[str]) -> dict[str, Any]:
    """The stored market checkpoints of ``symbols`` (unreadable ones are logged, skipped)."""
    out = {}
    for product, saved in history.load_states(store).items():
        if product not in symbols:
            continue
        try:
            out[product] = (saved.sequence, decode(saved.payload))
        except CheckpointError as error:
            log.warning("%s: stored market state ignored: %s", product, error)
    return out


def start_recording(engine: Engine, settings: Settings) -> Recorder:
    """Open (and migrate) the store, resume ``engine``'s market from its last stored state
    (the simulated market's; a live feed starts afresh), and record everything the engine
    publishes from now on. Call before the first tick. Raises
    :class:`~deltastream.store.database.StoreUnavailable` when the database cannot be
    used."""
    store = open_configured(settings)
    if engine.simulator is None:
        return Recorder(engine, store, settings)
    checkpoints = load_checkpoints(store, list(engine.market.products))
    closes = {}
    for product, (_, checkpoint) in checkpoints.items():
        session = history.last_session_date(store, product, before=checkpoint.session_day)
        if session is not None:
            closes[product] = [(c.expiry, c.strike, c.right, c.close_oi, c.close_last)
                               for c in history.session_closes(store, product, session)]
    resumed = resume(engine, settings, checkpoints, closes)
    if resumed is not None:
        log.info("market resumed from the stored state of %s (sequence %d)",
                 resumed.isoformat(), engine.sequence)
    return Recorder(engine, store, settings)
