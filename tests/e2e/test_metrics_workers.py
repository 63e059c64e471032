"""/metrics of `deltastream serve --workers 2` reports one total across the workers, whichever
of them answers the scrape."""

from __future__ import annotations

import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector

from .conftest import start_server

REQUESTS = 60


def scrape(base: str) -> str:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        return r.read().decode()


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


def test_two_workers_report_one_total(tmp_path):
    server = start_server(tmp_path, "--workers", "2", "--data-dir", str(tmp_path),
                          "--strikes-each-side", "5", "--clock", "fixed",
                          env={"DELTASTREAM_CLOCK_START": "2026-11-25T05:00:00Z"})
    try:
        # Concurrent connections, so that both workers take requests.
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(get_expiries, [server.base] * REQUESTS))
        assert statuses == [200] * REQUESTS
        per_worker = [expiries_requests_of(f) for f in (tmp_path / "metrics").glob(
            "histogram_*.db")]
        assert len([n for n in per_worker if n > 0]) == 2, per_worker
        for _ in range(10):     # whichever worker answers the scrape
            text = scrape(server.base)
            assert expiries_requests(text) == REQUESTS
        assert "_created" not in text
        assert text.count("# TYPE deltastream_request_seconds histogram") == 1
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log.read_text()
