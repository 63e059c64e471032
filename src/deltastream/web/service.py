"""What the web layer reads: the engine's latest snapshots, tick history and summaries, and
the state of the history store.

The web layer holds no financial logic: it selects from snapshots the engine built.

Sources: the live feed's snapshots carry its source's name (``simulator``, or the source a
replay plays); the store also holds the snapshots of other sources (imported files). A route
asked for another source serves that source's newest stored snapshot of the product
(:meth:`MarketService.served`), kept per (source, product) and read again when the source's
stored range changes, which is checked at most once every
:data:`SOURCE_REFRESH_SECONDS`; at most :data:`STORED_SNAPSHOTS` such snapshots are kept.

A past time (``at=`` on the routes that read one snapshot): :meth:`MarketService.served_at`
reads the live source's archived snapshot nearest it within the archive tolerance, or
another source's newest stored snapshot at or before it within its stored range.

The store is degraded while its reads fail here (a :class:`~deltastream.store.database.FaultWatch`
on this process's connections; while they fail, asking for the store's state tries a read in
the background, at most once a second) or its writer reports failing writes (the counters the
recorder publishes, or stops publishing: counters updated since this server started that are
older than :data:`STORE_STATS_STALE_SECONDS` mean the recorder cannot write them either).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..core.protocols import SnapshotFeed
from ..core.snapshot import SIMULATOR_SOURCE, ChainSnapshot, ExpiryChain
from ..core.threads import real_lock, real_thread
from ..store import history
from ..store.database import FaultWatch, probe, watch_faults
from .cache import ResponseCache
from .errors import APIError, bad_parameter, not_found
from .serialize import iso


@dataclass(frozen=True)
class SummaryPoint:
    epoch_seconds: float
    spot: float
    pcr_oi: float | None
    pcr_volume: float | None


class SummaryHistory:
    """Per (product, expiry) bounded series of chain summaries, fed by the engine."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._series: dict[tuple[str, date], deque[SummaryPoint]] = {}
        self._lock = real_lock()

    def record(self, snap: ChainSnapshot) -> None:
        ts = snap.timestamp.timestamp()
        with self._lock:
            live = {(snap.product, c.expiry) for c in snap.chains}
            for key in [k for k in self._series if k[0] == snap.product and k not in live]:
                del self._series[key]
            for c in snap.chains:
                series = self._series.setdefault((snap.product, c.expiry),
                                                 deque(maxlen=self.capacity))
                series.append(SummaryPoint(ts, c.spot, c.pcr_oi, c.pcr_volume))

    def series(self, product: str, expiry: date, limit: int) -> list[SummaryPoint]:
        with self._lock:
            points = list(self._series.get((product, expiry), ()))
        return points[-limit:]


# How often a stored source's range is checked for new snapshots, and how long the list of
# stored sources is reused (seconds).
SOURCE_REFRESH_SECONDS = 1.0
# Stored sources' newest snapshots kept decoded (least recently served dropped first).
STORED_SNAPSHOTS = 64


@dataclass(frozen=True)
class Served:
    """A product's snapshot as a route serves it: the live feed's (``live``), another
    ``source``'s stored one, or (``archived``) one the live source archived. An archived
    snapshot's sequence may repeat one of the live feed's: an engine started afresh numbers
    its snapshots from 1 again."""

    source: str
    live: bool
    snap: ChainSnapshot
    archived: bool = False


@dataclass(frozen=True)
class _Stored:
    checked: float                         # time.monotonic() of the last range check
    span: tuple[datetime, datetime]        # the stored snapshots' first and last time
    snap: ChainSnapshot                    # the newest of them


# The recorder publishes its counters every second: this much older means it cannot.
STORE_STATS_STALE_SECONDS = 10.0
# How long the store's state is reused (health may be asked thousands of times a second).
STORE_STATUS_TTL_SECONDS = 1.0


@dataclass(frozen=True)
class StoreStatus:
    """The history store as this web process sees it. ``writing``: None when no writer's
    counters are known here (an engine on another host); ``failing_since`` in epoch
    seconds."""

    backend: str
    degraded: bool
    reading: bool
    writing: bool | None
    failing_since: float | None
    last_error: str | None
    queue_depth: int | None
    dropped: int | None


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class MarketService:
    """``store``: the history database (a SQLAlchemy engine) when there is one; history
    ranges may span at most ``max_range_days``; ``store_stats``: the store writer's counters
    (None when unknown)."""

    def __init__(self, feed: SnapshotFeed, stall_after: float,
                 summary_capacity: int = 3600, store: Any = None,
                 max_range_days: float = 31.0,
                 store_stats: Callable[[], dict[str, Any] | None] | None = None) -> None:
        self.feed = feed
        self.stall_after = stall_after
        self.cache = ResponseCache()
        self.summaries = SummaryHistory(summary_capacity)
        self.store = store
        self.store_reads: FaultWatch | None = None if store is None else watch_faults(store)
        self.store_stats = store_stats
        self.max_range = timedelta(days=max_range_days)
        self._started = time.time()
        self._store_status: tuple[float, StoreStatus | None] | None = None
        self._probing = real_lock()
        self._stored: OrderedDict[tuple[str, str], _Stored] = OrderedDict()
        self._stored_lock = real_lock()
        self._sources: tuple[float, list[history.SourceInfo]] | None = None
        feed.subscribe(self.summaries.record)

    def require_store(self) -> Any:
        if self.store is None:
            raise APIError(503, "history store not available on this server", None)
        return self.store

    def store_status(self) -> StoreStatus | None:
        """The history store's state (None without a store), at most
        :data:`STORE_STATUS_TTL_SECONDS` old."""
        now = time.monotonic()
        cached = self._store_status
        if cached is not None and now - cached[0] < STORE_STATUS_TTL_SECONDS:
            return cached[1]
        status = None if self.store is None else self._read_store_status()
        self._store_status = (now, status)
        return status

    def _read_store_status(self) -> StoreStatus:
        reads = self.store_reads
        reading = reads is None or reads.failing_since is None
        if not reading:
            self._probe_store()
        errors: list[tuple[float, str | None]] = []
        if reads is not None and reads.failing_since is not None:
            errors.append((reads.failing_since, reads.last_error))
        stats = self.store_stats() if self.store_stats is not None else None
        # Counters left by a recorder that ran before this server started say nothing now.
        if stats is not None and stats.get("updated", 0.0) < self._started:
            stats = None
        writing: bool | None = None
        if stats is not None:
            writing = stats.get("failing_since") is None
            if not writing:
                errors.append((stats["failing_since"], stats.get("last_error")))
            updated = float(stats["updated"])
            # The recorder runs on this host (the counters are a file in the data directory).
            silent = time.time() - updated
            if silent > STORE_STATS_STALE_SECONDS:
                writing = False
                errors.append((updated, f"the store writer's counters have not been "
                                        f"updated for {silent:.0f} s"))
        errors.sort(key=lambda e: e[0])
        return StoreStatus(
            backend=self.store.dialect.name, degraded=bool(errors), reading=reading,
            writing=writing, failing_since=errors[0][0] if errors else None,
            last_error=errors[-1][1] if errors else None,
            queue_depth=None if stats is None else stats.get("queue_depth"),
            dropped=None if stats is None else stats.get("dropped"))

    def _probe_store(self) -> None:
        """Try a read in the background (one at a time), so reads found failing are found
        working again without waiting for a history request."""
        if not self._probing.acquire(False):
            return

        def run() -> None:
            try:
                probe(self.store)
            finally:
                self._probing.release()

        real_thread(run, "deltastream-store-probe").start()

    def time_range(self, start: datetime | None, end: datetime | None, now: datetime,
                   default_span: timedelta | None = None, open_end_unbounded: bool = False
                   ) -> tuple[datetime | None, datetime]:
        """The validated (start, end) of a history request in UTC: ``end`` defaults to
        ``now`` (the market's latest time) and ``start`` to ``end - default_span`` (open
        when None). 400 when start is after end or the span exceeds the maximum (not
        checked without an explicit end when ``open_end_unbounded``: reads bounded by a row
        limit)."""
        start, end = _utc(start), _utc(end)
        # 'to' defaults to now: a 'from' after it is the same mistake as after an explicit 'to'.
        if start is not None and start > (end or now):
            raise bad_parameter("from", f"{start.isoformat()} is after 'to' "
                                        f"({(end or now).isoformat()})",
                                "a time not after 'to'")
        if open_end_unbounded and end is None:
            return start, now
        limit_days = f"{self.max_range / timedelta(days=1):g}"
        end = end or now
        if start is None and default_span is not None:
            start = end - min(default_span, self.max_range)
        if start is not None and end - start > self.max_range:
            raise bad_parameter("from", f"the range from {start.isoformat()} to "
                                        f"{end.isoformat()} is longer than {limit_days} days",
                                f"a range ('from' to 'to', default 'to' now) of at most "
                                f"{limit_days} days")
        return start, end

    @property
    def products(self) -> list[str]:
        return self.feed.symbols

    def snapshot(self, product: str) -> ChainSnapshot:
        """The live feed's latest snapshot of ``product``."""
        if product not in self.feed.symbols:
            raise not_found(f"unknown product '{product}'", {"valid_products": self.products,
                                                             "source": self.live_source()})
        snap = self.feed.latest(product)
        if snap is None:
            raise APIError(503, "market data not available yet", {"retry_after_seconds": 1})
        return snap

    def live_source(self) -> str:
        """The source of the live feed's snapshots (before the first: the feed's own
        ``source`` if it has one, else the simulator's)."""
        for product in self.feed.symbols:
            snap = self.feed.latest(product)
            if snap is not None:
                return snap.source
        return str(getattr(self.feed, "source", SIMULATOR_SOURCE))

    def served(self, product: str, source: str | None) -> Served:
        """``product``'s snapshot from ``source`` (None: the live feed's source): the live
        one, or another source's newest stored one. 404 for an unknown source (the detail
        lists the sources) or a product the source does not have (the detail lists its
        products); 503 without a store when the source is not the live one."""
        live = self.live_source()
        if source is None or source == live:
            return Served(live, True, self.snapshot(product))
        return Served(source, False, self._stored_entry(product, source).snap)

    def served_at(self, product: str, source: str | None, at: datetime | None,
                  tolerance_seconds: float) -> Served:
        """:meth:`served`, or with ``at`` ``product``'s snapshot of that time: for the live
        source the archived one nearest it within ``tolerance_seconds`` (404 naming the
        nearest archived times otherwise), for another source the newest stored at or
        before it (404 naming the stored range when ``at`` is outside it). 503 without a
        store; other errors as :meth:`served`."""
        served = self.served(product, source)
        if at is None:
            return served
        store = self.require_store()
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        if not served.live:
            entry = self._stored_entry(product, served.source)
            first, last = entry.span
            if at == last:
                # The newest snapshot, already decoded.
                return Served(served.source, False, entry.snap)
            snap = (history.latest_archived(store, product, served.source, at_or_before=at)
                    if first <= at <= last else None)
            if snap is None:
                raise not_found(f"{iso(at)} is outside the stored range of '{product}' in "
                                f"source '{served.source}' ({iso(first)} to {iso(last)})",
                                {"at": iso(at), "from": iso(first), "to": iso(last)})
            return Served(served.source, False, snap)
        snap = history.archived_snapshot_nearest(store, product, at,
                                                 timedelta(seconds=tolerance_seconds),
                                                 source=served.source)
        if snap is None:
            nearest = history.archive_times_around(store, product, at, source=served.source)
            raise not_found(f"no archived chain of '{product}' within {tolerance_seconds:g} s "
                            f"of {iso(at)}", {"at": iso(at),
                                               "tolerance_seconds": tolerance_seconds,
                                               "nearest": [iso(t) for t in nearest]})
        return Served(served.source, False, snap, archived=True)

    def stored_span(self, product: str, source: str) -> tuple[datetime, datetime]:
        """The first and last time of the stored snapshots of ``product`` from ``source``
        (checked at most once every :data:`SOURCE_REFRESH_SECONDS`); errors as
        :meth:`served`."""
        return self._stored_entry(product, source).span

    def _stored_entry(self, product: str, source: str) -> _Stored:
        store = self.require_store()
        key = (source, product)
        now = time.monotonic()
        with self._stored_lock:
            entry = self._stored.get(key)
            if entry is not None:
                self._stored.move_to_end(key)
        if entry is not None and now - entry.checked < SOURCE_REFRESH_SECONDS:
            return entry
        span = history.archive_range(store, product, source)
        snap = None
        if span is not None:
            # Decoded again only when the source's stored range changed (a new import).
            snap = (entry.snap if entry is not None and entry.span == span
                    else history.latest_archived(store, product, source))
        if span is None or snap is None:
            with self._stored_lock:
                self._stored.pop(key, None)
            raise self._not_stored(product, source)
        entry = _Stored(now, span, snap)
        with self._stored_lock:
            self._stored[key] = entry
            while len(self._stored) > STORED_SNAPSHOTS:
                self._stored.popitem(last=False)
        return entry

    def stored_sources(self) -> list[history.SourceInfo]:
        """The store's sources with their products (reused for
        :data:`SOURCE_REFRESH_SECONDS`); [] without a store."""
        if self.store is None:
            return []
        now = time.monotonic()
        cached = self._sources
        if cached is not None and now - cached[0] < SOURCE_REFRESH_SECONDS:
            return cached[1]
        infos = history.sources(self.store)
        self._sources = (now, infos)
        return infos

    def source_names(self) -> list[str]:
        """Every source this server serves: the live one first, then the stored ones."""
        live = self.live_source()
        return [live, *(i.name for i in self.stored_sources() if i.name != live)]

    def source_products(self, source: str | None) -> list[str]:
        """The products of ``source`` (None: the live feed's); errors as :meth:`served`."""
        if source is None or source == self.live_source():
            return self.products
        self.require_store()
        for info in self.stored_sources():
            if info.name == source:
                return [p.product for p in info.products]
        raise self._unknown_source(source)

    def _unknown_source(self, source: str) -> APIError:
        return not_found(f"unknown source '{source}'", {"sources": self.source_names()})

    def _not_stored(self, product: str, source: str) -> APIError:
        products = self.source_products(source)
        return not_found(f"unknown product '{product}' in source '{source}'",
                         {"source": source, "valid_products": products})

    def select(self, snap: ChainSnapshot, expiry: date | None, limit: int = 1
               ) -> list[ExpiryChain]:
        """``limit`` chains from ``expiry`` (default: the nearest) onwards."""
        chains = list(snap.chains)
        if not chains:
            raise not_found(f"no listed expiries for '{snap.product}'", {"expiries": []})
        start = 0
        if expiry is not None:
            found = [i for i, c in enumerate(chains) if c.expiry == expiry]
            if not found:
                raise not_found(f"expiry {expiry.isoformat()} is not listed for "
                                f"'{snap.product}'",
                                {"expiries": [c.expiry.isoformat() for c in chains]})
            start = found[0]
        return chains[start:start + limit]

    def is_current(self, product: str | None, sequence: int) -> bool:
        """Whether ``sequence`` is ``product``'s latest snapshot (always, for None)."""
        if product is None:
            return True
        snap = self.feed.latest(product)
        return snap is not None and snap.sequence == sequence

    def last_tick_age(self) -> float | None:
        last = self.feed.status().last_tick_monotonic
        return None if last is None else time.monotonic() - last
