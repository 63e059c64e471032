"""Prometheus metrics of one app: request latency, ticks, snapshot age, tick build time, the
live stream's delivered, coalesced and dropped messages, the store writer's counters and the
process's own (CPU, memory, file descriptors).

Under several web workers (``PROMETHEUS_MULTIPROC_DIR`` set by the server before they start)
every worker's request and stream counters are kept in that directory and ``/metrics``
reports their sums, whichever worker answers. The counters every worker's feed keeps alike
(engine ticks, the snapshot sequence, bus disconnects) are reported as the most any worker
has seen (recorded in the directory by each worker as it answers a scrape), so they never go
backwards when the next scrape is answered by a worker a tick behind. Gauges of the engine
and ``process_*`` are the answering worker's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .service import MarketService

# The *_created companions of every counter only add noise to a scrape.
disable_created_metrics()
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


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


# The feed's counters: name (without _total) and help.
FEED_COUNTERS = {
    "deltastream_engine_ticks": "Engine ticks received (by the worker that received most)",
    "deltastream_snapshots": "Product snapshots published (the snapshot sequence)",
    "deltastream_bus_disconnects": "Times the engine's bus connection was lost (by the worker "
                                   "that lost it most)",
}


def feed_counts(service: MarketService) -> tuple[int, dict[str, int], int | None]:
    """(ticks, snapshot sequence per product, bus disconnects or None without a bus) as this
    process's feed has them."""
    feed = service.feed
    sequences = {}
    for product in service.products:
        snap = feed.latest(product)
        if snap is not None:
            sequences[product] = snap.sequence
    bus = feed.bus_status()
    return feed.status().ticks, sequences, None if bus is None else bus.reconnects


class FeedCollector:
    """The engine as this process's feed sees it: ticks, snapshots per product (the
    snapshot sequence, which continues across engine restarts), the age and build time of
    the last tick, and the bus connection. Without ``counters`` only the gauges (the
    counters come from :class:`SharedFeedCounters`)."""

    def __init__(self, service: MarketService, counters: bool = True) -> None:
        self.service = service
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        feed = self.service.feed
        if self.counters:
            ticks, sequences, disconnects = feed_counts(self.service)
            name = "deltastream_engine_ticks"
            yield CounterMetricFamily(name, FEED_COUNTERS[name], value=ticks)
            name = "deltastream_snapshots"
            snapshots = CounterMetricFamily(name, FEED_COUNTERS[name], labels=["product"])
            for product, sequence in sequences.items():
                snapshots.add_metric([product], sequence)
            yield snapshots
            if disconnects is not None:
                name = "deltastream_bus_disconnects"
                yield CounterMetricFamily(name, FEED_COUNTERS[name], value=disconnects)
        yield GaugeMetricFamily("deltastream_snapshot_age_seconds",
                                "Seconds since the last engine tick",
                                value=self.service.last_tick_age() or 0.0)
        yield GaugeMetricFamily("deltastream_tick_build_seconds",
                                "Time the last tick took to build",
                                value=feed.status().last_tick_seconds or 0.0)
        bus = feed.bus_status()
        if bus is not None:
            yield GaugeMetricFamily("deltastream_bus_connected",
                                    "1 while the engine's bus is connected",
                                    value=float(bus.connected))


class SharedFeedCounters:
    """Under several workers: the feed's counters kept in the shared directory as gauges
    merged by their maximum over the workers (dead ones included, so a total never drops
    when a worker is replaced); :class:`MergedCollector` reports them as counters."""

    def __init__(self, service: MarketService) -> None:
        self.service = service
        # In no registry: the directory holds them, and MergedCollector reads it.
        self.ticks = Gauge("deltastream_engine_ticks", "", multiprocess_mode="max",
                           registry=None)
        self.snapshots = Gauge("deltastream_snapshots", "", ["product"],
                               multiprocess_mode="max", registry=None)
        self.disconnects = Gauge("deltastream_bus_disconnects", "", multiprocess_mode="max",
                                 registry=None)

    def record(self) -> None:
        """Record what this worker's feed has now (at each scrape it answers)."""
        ticks, sequences, disconnects = feed_counts(self.service)
        self.ticks.set(ticks)
        for product, sequence in sequences.items():
            self.snapshots.labels(product).set(sequence)
        if disconnects is not None:
            self.disconnects.set(disconnects)


class MergedCollector:
    """Every worker's metrics from the shared directory, merged (counters and histograms
    summed), with the gauges named in ``counters`` (name: help) reported as counters."""

    def __init__(self, directory: str, counters: Mapping[str, str]) -> None:
        self.collector = multiprocess.MultiProcessCollector(None, path=directory)
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        for metric in self.collector.collect():
            doc = self.counters.get(metric.name)
            if doc is None:
                yield metric
                continue
            counter = CounterMetricFamily(metric.name, doc)
            for sample in metric.samples:
                counter.add_sample(f"{metric.name}_total", sample.labels, sample.value)
            yield counter


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
        # Children by (endpoint, status), resolved once: labels() validates and locks on
        # every call (1.6 µs, as much again as a multiprocess observe adds).
        self._latency: dict[tuple[str, int], Any] = {}
        self.stream = StreamMetrics(self.registry)
        self.directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None
        self.shared = None if self.directory is None else SharedFeedCounters(service)
        # Read at each scrape from what this process holds.
        self.collectors: list[Collector] = [
            FeedCollector(service, counters=self.shared is None),
            ProcessCollector(registry=None)]
        if store_stats is not None:
            self.collectors.append(StoreWriterCollector(store_stats))
        for collector in self.collectors:
            self.registry.register(collector)
        app.before_request(self._start)
        app.after_request(self._observe)

    def exposition(self) -> bytes:
        """The text a scrape gets: with several workers, every worker's counters summed."""
        if self.directory is None or self.shared is None:
            return bytes(generate_latest(self.registry))
        self.shared.record()
        registry = CollectorRegistry()
        registry.register(MergedCollector(self.directory, FEED_COUNTERS))
        for collector in self.collectors:
            registry.register(collector)
        return bytes(generate_latest(registry))

    def _start(self) -> None:
        g.deltastream_started = time.perf_counter()

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Record one request's latency (also for requests answered before the app)."""
        child = self._latency.get((endpoint, status))
        if child is None:
            child = self._latency[endpoint, status] = self.latency.labels(endpoint, str(status))
        child.observe(seconds)

    def _observe(self, response: Response) -> Response:
        started = g.get("deltastream_started")
        if started is not None:
            self.observe(request.endpoint or "unknown", response.status_code,
                         time.perf_counter() - started)
        return response
