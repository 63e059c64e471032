"""/metrics in one process: engine ticks and snapshots, request latency, the process's own
metrics, conventional names (counters end in _total; no _created companions)."""

from __future__ import annotations

import re


def scrape(client) -> str:
    r = client.get("/metrics")
    assert r.status_code == 200
    return r.get_data(as_text=True)


def test_ticks_snapshots_and_requests_are_counted(client):
    for _ in range(3):
        assert client.get("/api/data/expiries/IDX").status_code == 200
    text = scrape(client)
    assert "deltastream_engine_ticks_total 5.0" in text
    assert 'deltastream_snapshots_total{product="IDX"} 5.0' in text
    assert 'deltastream_snapshots_total{product="SEC"} 5.0' in text
    count = re.search(r'deltastream_request_seconds_count\{endpoint="data.expiries",'
                      r'status="200"\} (\S+)', text)
    assert count is not None and float(count.group(1)) == 3.0


def test_process_metrics_and_conventional_names(client):
    text = scrape(client)
    assert re.search(r"^process_cpu_seconds_total \S+$", text, re.M)
    assert re.search(r"^process_resident_memory_bytes \S+$", text, re.M)
    assert "_created" not in text
    counters = [name for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
                if kind == "counter"]
    assert "deltastream_engine_ticks_total" in counters
    assert all(name.endswith("_total") for name in counters), counters
