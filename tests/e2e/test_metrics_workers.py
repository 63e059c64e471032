"""/metrics of `deltastream serve --workers 2` reports one total across the workers, whichever
of them answers the scrape: requests summed, and the engine's counters never going back when
the next scrape is answered by the other worker."""

from __future__ import annotations

import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector

from deltastream.runtime.server import _share_metrics
from deltastream.settings import Settings

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
    server = start_server(tmp_path, "--workers", "2", "--data-dir", str(tmp_path),
                          "--strikes-each-side", "5", "--clock", "fixed",
                          env={"DELTASTREAM_CLOCK_START": "2026-11-25T05:00:00Z"})
    try:
        # Concurrent connections, so that both workers take requests.
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(get_expiries, [server.base] * REQUESTS))
        assert statuses == [200] * REQUESTS
        per_worker = [expiries_requests_of(f) for f in (tmp_path / "metrics").glob(
            "*/histogram_*.db")]
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
        # Another start on the same data directory removes what a dead server left and
        # leaves the running server's counters alone.
        stale = tmp_path / "metrics" / "999999999"
        stale.mkdir()
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
        _share_metrics(Settings(data_dir=tmp_path))
        assert not stale.exists()
        assert expiries_requests(scrape(server.base)) == REQUESTS
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log.read_text()
