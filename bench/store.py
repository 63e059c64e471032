"""One trading day into the history store, then the latency of the history routes.

    python bench/store.py [--hours 6.25] [--pool 40] [--requests 200] [--database-url URL]

Simulates one trading day of the default catalogue (8 products, one tick per market second,
6 h 15 min = 22,500 ticks) on an accelerated clock and records it through the server's own
path: the engine's publish, the recorder (a market checkpoint with every tick), the store
writer (ticks, a summary per expiry, a full-chain archive every 300 s). The engine's tick
itself is not what is measured here (it is ~1 s for the whole catalogue on a small machine):
``--pool`` real ticks are computed first and replayed with the day's times and sequence
numbers. The producer never outruns the writer's queue (nothing is dropped).

Prints rows written per second, the time the day took to store against its real duration,
bytes on disk (SQLite: database and WAL after a checkpoint) and, through the app, the p50 and
p99 latency of the history routes over random windows of the stored day.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deltastream.catalog import load_catalog
from deltastream.engine.setup import build_engine
from deltastream.market.clock import FixedClock
from deltastream.runtime.recorder import start_recording
from deltastream.settings import Settings
from deltastream.store.database import configured_url, open_database
from deltastream.web import create_app

OPEN = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)     # 09:15 in Kolkata


def q(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def store_day(settings: Settings, seconds: int, pool_size: int):
    engine = build_engine(load_catalog(), settings, FixedClock(OPEN))
    recorder = start_recording(engine, settings)
    pool = []
    started = time.perf_counter()
    for _ in range(pool_size):
        pool.append(engine.tick())
        engine.clock.advance(1.0)
    print(f"computed {pool_size} real ticks in {time.perf_counter() - started:.1f} s")
    writer = recorder.writer
    high_water = writer.capacity // 2
    started = time.perf_counter()
    for i in range(pool_size, seconds):
        when = OPEN + timedelta(seconds=i)
        replayed = {p: dataclasses.replace(s, sequence=i + 1, timestamp=when)
                    for p, s in pool[i % pool_size].items()}
        while writer.queue_depth > high_water:
            time.sleep(0.005)
        engine.publish(replayed, 0.0)
    assert writer.flush(600.0)
    elapsed = time.perf_counter() - started
    stats = recorder.stats()
    recorder.close()
    return engine, elapsed, stats


def disk_bytes(settings: Settings, store) -> int | None:
    if store.dialect.name != "sqlite":
        with store.connect() as conn:
            return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())")
                       .scalar())
    with store.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in Path(settings.data_dir).glob("deltastream.db*"))


def route_latencies(app, end: datetime, requests: int) -> dict[str, list[float]]:
    client = app.test_client()
    rng = random.Random(1)
    day = timedelta(hours=6, minutes=15)
    products = ["NIFTY", "BANKNIFTY", "SENSEX", "SPY", "AAPL", "QQQ"]

    def window(span: timedelta) -> tuple[str, str]:
        start = OPEN + (day - span) * rng.random()
        return q(start), q(start + span)

    routes = {
        "underlying from/to (15 min)": lambda p: "/api/data/underlying/{}?from={}&to={}&limit=1000"
        .format(p, *window(timedelta(minutes=15))),
        "pcr history (day, 5 min)": lambda p: "/api/analytics/pcr/{}?history=true&from={}&to={}"
        "&interval=300".format(p, *window(day)),
        "ohlc (day, 5 min candles)": lambda p: "/api/analytics/ohlc/{}?window=5&from={}&to={}"
        .format(p, *window(day)),
        "ohlc (1 h, 1 min candles)": lambda p: "/api/analytics/ohlc/{}?window=1&from={}&to={}"
        .format(p, *window(timedelta(hours=1))),
        "iv-history (day, 1 min)": lambda p: "/api/analytics/iv-history/{}?from={}&to={}"
        "&interval=60&lookback_days=1&sample_seconds=300".format(p, *window(day)),
        "chain at (archived)": lambda p: f"/api/data/chain/{p}?at={window(timedelta(0))[0]}",
    }
    out: dict[str, list[float]] = {}
    for name, make in routes.items():
        times = []
        for i in range(requests):
            url = make(products[i % len(products)])
            t = time.perf_counter()
            r = client.get(url)
            times.append(time.perf_counter() - t)
            assert r.status_code == 200, (url, r.get_data(as_text=True)[:300])
        out[name] = times
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=6.25)
    parser.add_argument("--pool", type=int, default=40)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    seconds = round(args.hours * 3600)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=args.database_url,
                            clock="fixed", clock_start=OPEN.isoformat(), hours="always",
                            retention_ticks_days=0, retention_summaries_days=0,
                            retention_archive_days=0, retention_session_close_days=0)
        engine, elapsed, stats = store_day(settings, seconds, args.pool)
        rows = sum(stats["rows_written"].values())
        replayed = seconds - args.pool
        print(f"day: {seconds} ticks x {len(engine.symbols)} products "
              f"({args.hours:g} h of market time)")
        print(f"stored {replayed} ticks in {elapsed:.1f} s "
              f"({replayed / elapsed:.0f} ticks/s, {replayed / elapsed:.0f}x real time)")
        print(f"rows written: {rows} ({rows / elapsed:,.0f} rows/s): "
              + ", ".join(f"{t} {n}" for t, n in stats["rows_written"].items()))
        print(f"dropped: {stats['dropped']}, failed batches: {stats['failed_batches']}")
        store = open_database(configured_url(settings))
        app = create_app(settings, feed=engine, start_feed=False, store=store)
        size = disk_bytes(settings, store)
        print(f"bytes on disk: {size:,} ({size / 1e6:.1f} MB)")
        latencies = route_latencies(app, OPEN + timedelta(seconds=seconds), args.requests)
        print(f"history routes ({args.requests} requests each, in-process test client):")
        for name, times in latencies.items():
            ms = sorted(t * 1000 for t in times)
            p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
            print(f"  {name:<30} p50 {statistics.median(ms):7.2f} ms   p99 {p99:7.2f} ms")
        store.dispose()


if __name__ == "__main__":
    main()
