"""/metrics of `deltastream serve --workers 2` reports one total across the workers, whichever
of them answers the scrape: requests summed, and the engine's counters never going back when
the next scrape is answered by the other worker."""

from __future__ import annotations

import re
import shutil
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector

from deltastream.runtime.server import _share_metrics, metrics_directory, metrics_parent

from .conftest import start_server

REQUESTS = 60


def scrape(base: str) -> str:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        assert r.headers.get_all("Content-Type") == [
            "text/plain; version=1.0.0; charset=utf-8"]
        return r.read().decode()


def counter(text: str, sample: str) -> float:
    found = re.findall(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    assert len(found) == 1, sample
    return float(found[0])


def expiries_requests(text: str) -> float:
    counts = re.findall(r'^deltastream_request_seconds_count\{endpoint="data.expiries",'
                        r'status="200"\} (\S+)$', text, re.M)
    return sum(float(c) for c in counts)


def get_expiries(base: str) -> int:
    with urllib.request.urlopen(base + "/api/data/expiries/NIFTY", timeout=10) as r:
        r.read()
        return r.status


def expiries_requests_of(path: Path) -> float:
    """What one worker's file of the shared metrics directory counted."""
    # Not accumulated, each bucket holds only its own observations: their sum is the count.
    metrics = MultiProcessCollector.merge([str(path)], accumulate=False)
    return sum(sample.value for metric in metrics for sample in metric.samples
               if sample.name == "deltastream_request_seconds_bucket"
               and sample.labels.get("endpoint") == "data.expiries")


def test_two_workers_report_one_total(tmp_path, monkeypatch):
    server = start_server(tmp_path, "--hours", "always",
                          "--workers", "2", "--data-dir", str(tmp_path),
                          "--strikes-each-side", "5", "--clock", "fixed",
                          env={"DELTASTREAM_CLOCK_START": "2026-11-25T05:00:00Z"})
    try:
        # Concurrent connections, so that both workers take requests.
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(get_expiries, [server.base] * REQUESTS))
        assert statuses == [200] * REQUESTS
        shared = metrics_directory(server.process.pid)
        per_worker = [expiries_requests_of(f) for f in shared.glob("histogram_*.db")]
        assert len([n for n in per_worker if n > 0]) == 2, per_worker
        seen: list[tuple[float, float]] = []
        for _ in range(20):     # whichever worker answers the scrape
            text = scrape(server.base)
            assert expiries_requests(text) == REQUESTS
            seen.append((counter(text, 'deltastream_snapshots_total{product="NIFTY"}'),
                         counter(text, "deltastream_engine_ticks_total")))
            time.sleep(0.05)
        for column in zip(*seen, strict=True):
            assert list(column) == sorted(column) and column[0] > 0, seen
        assert re.search(r"^process_cpu_seconds_total \S+$", text, re.M)
        assert "_created" not in text
        assert text.count("# TYPE deltastream_request_seconds histogram") == 1
        # Kept in memory, not in the data directory (a mapped file there that cannot grow
        # would kill its process with SIGBUS).
        assert shared.parent == metrics_parent() and not (tmp_path / "metrics").exists()
        # Another server's start removes what a dead server left and leaves the running
        # server's counters alone.
        stale = metrics_directory(999_999_999)
        stale.mkdir()
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
        own = _share_metrics()
        shutil.rmtree(own)
        assert not stale.exists()
        assert expiries_requests(scrape(server.base)) == REQUESTS
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log.read_text()
    # A server removes its directory as it stops.
    assert not shared.exists()
