"""Prometheus metrics of one app: request latency, ticks, snapshot age, tick build time, and
the live stream's delivered, coalesced and dropped messages."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..core.feed import BusStatus
from ..core.protocols import SnapshotFeed
from ..core.snapshot import ChainSnapshot
from .service import MarketService


class StreamMetrics:
    """The live stream's counters, by transport (``socketio`` or ``sse``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.delivered_total = Counter(
            "deltastream_stream_delivered", "Live messages handed to client connections",
            ["transport"], registry=registry)
        self.coalesced_total = Counter(
            "deltastream_stream_coalesced",
            "Live messages replaced by a newer one of the same event and product before a "
            "slow client took them", ["transport"], registry=registry)
        self.dropped_total = Counter(
            "deltastream_stream_dropped",
            "Live messages dropped because a client's buffer was full", ["transport"],
            registry=registry)
        # Children resolved once: these are incremented for every client on every tick.
        self._children = {
            (counter, transport): counter.labels(transport)
            for counter in (self.delivered_total, self.coalesced_total, self.dropped_total)
            for transport in ("socketio", "sse")}

    def delivered(self, transport: str, count: int) -> None:
        self._children[self.delivered_total, transport].inc(count)

    def coalesced(self, transport: str, count: int) -> None:
        self._children[self.coalesced_total, transport].inc(count)

    def dropped(self, transport: str, count: int) -> None:
        self._children[self.dropped_total, transport].inc(count)

StoreStats = Callable[[], dict[str, Any] | None]


def _bus(feed: SnapshotFeed) -> BusStatus:
    status = feed.bus_status()
    assert status is not None  # only asked of feeds that had a bus when the gauges were made
    return status


# (metric, help, field of the writer's counters)
_STORE_GAUGES = (
    ("deltastream_store_queue_depth", "Items waiting in the store writer's queue",
     "queue_depth"),
    ("deltastream_store_queue_capacity", "Items the store writer's queue holds before dropping",
     "queue_capacity"),
)
_STORE_COUNTERS = (
    ("deltastream_store_dropped", "Items the store writer dropped (queue full)", "dropped"),
    ("deltastream_store_failed_batches", "Store write transactions given up after retries",
     "failed_batches"),
)


class StoreWriterCollector:
    """The history store writer's counters: from the recorder itself when it runs in this
    process, otherwise as last published by the engine process (with their age)."""

    def __init__(self, stats: StoreStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats()
        if s is None:
            return
        for name, doc, field in _STORE_GAUGES:
            yield GaugeMetricFamily(name, doc, value=s[field])
        for name, doc, field in _STORE_COUNTERS:
            yield CounterMetricFamily(name, doc, value=s[field])
        rows = CounterMetricFamily("deltastream_store_rows_written",
                                   "Rows written to the store", labels=["table"])
        for table, n in sorted(s["rows_written"].items()):
            rows.add_metric([table], n)
        yield rows
        yield GaugeMetricFamily("deltastream_store_stats_age_seconds",
                                "Seconds since the store writer's counters were taken",
                                value=max(0.0, time.time() - s["updated"]))


class Metrics:
    def __init__(self, app: Flask, service: MarketService,
                 store_stats: StoreStats | None = None) -> None:
        # A registry per app, so several apps (tests, workers) never share collectors.
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "deltastream_request_seconds", "HTTP request latency", ["endpoint", "status"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self.ticks = Counter("deltastream_engine_ticks", "Engine ticks completed",
                             registry=self.registry)
        self.snapshots = Counter("deltastream_snapshots", "Product snapshots published",
                                 ["product"], registry=self.registry)
        age = Gauge("deltastream_snapshot_age_seconds", "Seconds since the last engine tick",
                    registry=self.registry)
        age.set_function(lambda: service.last_tick_age() or 0.0)
        build = Gauge("deltastream_tick_build_seconds", "Time the last tick took to build",
                      registry=self.registry)
        build.set_function(lambda: service.feed.status().last_tick_seconds or 0.0)
        feed = service.feed
        if feed.bus_status() is not None:
            connected = Gauge("deltastream_bus_connected",
                              "1 while the engine's bus is connected", registry=self.registry)
            connected.set_function(lambda: float(_bus(feed).connected))
            reconnects = Gauge("deltastream_bus_disconnects",
                               "Times the engine's bus connection was lost",
                               registry=self.registry)
            reconnects.set_function(lambda: float(_bus(feed).reconnects))
        self.stream = StreamMetrics(self.registry)
        if store_stats is not None:
            self.registry.register(StoreWriterCollector(store_stats))
        self._first_product = service.products[0] if service.products else None
        service.feed.subscribe(self._on_snapshot)
        app.before_request(self._start)
        app.after_request(self._observe)

    def _on_snapshot(self, snap: ChainSnapshot) -> None:
        self.snapshots.labels(snap.product).inc()
        if snap.product == self._first_product:
            self.ticks.inc()

    def _start(self) -> None:
        g.deltastream_started = time.perf_counter()

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Record one request's latency (also for requests answered before the app)."""
        self.latency.labels(endpoint, str(status)).observe(seconds)

    def _observe(self, response: Response) -> Response:
        started = g.get("deltastream_started")
        if started is not None:
            self.observe(request.endpoint or "unknown", response.status_code,
                         time.perf_counter() - started)
        return response
