"""/metrics in one process: engine ticks and snapshots, request latency, the process's own
metrics, conventional names (counters end in _total; no _created companions), the content
type; and with a shared directory (as under several workers): requests summed over the
workers, a dead worker's included, and the feed's counters as the most advanced worker saw
them, whichever worker answers."""

from __future__ import annotations

import re

from prometheus_client import multiprocess, values

from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.web import create_app
from tests.support.specs import EUROPEAN, START, terms


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


def test_content_type_names_its_charset_once(client):
    content_type = client.get("/metrics").headers["Content-Type"]
    assert content_type.startswith("text/plain; version=")
    assert content_type.count("charset") == 1 and content_type.endswith("charset=utf-8")


class Worker:
    """An app whose metrics live in the shared directory under ``pid``, as a worker's: its
    metric values (children included, made as labels are first used) are made under that
    process identifier."""

    def __init__(self, monkeypatch, pid: int, engine) -> None:
        self.monkeypatch = monkeypatch
        self.value_class = values.MultiProcessValue(lambda: pid)
        self.client = self.run(lambda: create_app(Settings(), feed=engine,
                                                  start_feed=False).test_client())

    def run(self, action):
        self.monkeypatch.setattr(values, "ValueClass", self.value_class)
        return action()


def _value(text: str, sample: str) -> float:
    found = re.findall(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    assert len(found) == 1, (sample, text)
    return float(found[0])


def test_workers_sum_requests_and_never_report_a_counter_going_back(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    ahead, behind = (Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=3,
                            clock=FixedClock(START), tick_interval=1.0, history=50)
                     for _ in range(2))
    for engine, ticks in ((ahead, 5), (behind, 4)):
        for _ in range(ticks):
            engine.tick()
            engine.clock.advance(1.0)
    first, second = Worker(monkeypatch, 101, ahead), Worker(monkeypatch, 102, behind)
    for worker, n in ((first, 3), (second, 2)):
        for _ in range(n):
            assert worker.run(lambda w=worker: w.client.get("/api/data/expiries/IDX")
                              ).status_code == 200
    one = first.run(lambda: scrape(first.client))
    other = second.run(lambda: scrape(second.client))   # a worker a tick behind answers
    for text in (one, other):
        assert _value(text, 'deltastream_request_seconds_count{endpoint="data.expiries",'
                            'status="200"}') == 5.0
        assert _value(text, 'deltastream_snapshots_total{product="IDX"}') == 5.0
        assert _value(text, "deltastream_engine_ticks_total") == 5.0
        assert text.count("# TYPE deltastream_snapshots_total counter") == 1
        assert "# TYPE deltastream_request_seconds histogram" in text
        assert re.search(r"^process_cpu_seconds_total \S+$", text, re.M)
        counters = [name for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
                    if kind == "counter"]
        assert counters and all(name.endswith("_total") for name in counters), counters
    # A dead worker's counts still count, and the totals do not drop with it.
    multiprocess.mark_process_dead(101, str(tmp_path))
    text = second.run(lambda: scrape(second.client))
    assert _value(text, 'deltastream_request_seconds_count{endpoint="data.expiries",'
                        'status="200"}') == 5.0
    assert _value(text, 'deltastream_snapshots_total{product="IDX"}') == 5.0
