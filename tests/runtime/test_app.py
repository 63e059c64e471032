"""An app that builds its own engine in thread mode records it into the store, serves
history from it, and flushes it when the server stops the worker."""

from __future__ import annotations

import time

from deltastream.runtime.app import create_app
from deltastream.runtime.server import DeltaStreamServer, _close_app
from deltastream.settings import Settings
from deltastream.store import history
from deltastream.web.state import app_state


class _Worker:
    """Stands in for gunicorn's worker: what the exit hook reads is its copy of the server
    application, after that loaded the app."""

    def __init__(self, app) -> None:
        self.app = DeltaStreamServer.__new__(DeltaStreamServer)
        self.app.deltastream_state = app_state(app)


def test_thread_mode_records_serves_history_and_flushes_on_stop(tmp_path):
    settings = Settings(hours="always", engine_mode="thread", data_dir=tmp_path,
                        strikes_each_side=5,
                        tick_interval=0.2, clock="accelerated", clock_speed=60.0,
                        clock_start="2026-11-25T04:00:00Z")
    app = create_app(settings)
    state = app_state(app)
    service = state.service
    try:
        deadline = time.monotonic() + 120
        while service.feed.status().ticks < 4:
            assert time.monotonic() < deadline, "the engine did not tick"
            time.sleep(0.1)
        client = app.test_client()
        metrics = client.get("/metrics").get_data(as_text=True)
        assert "deltastream_store_queue_depth" in metrics
        assert "deltastream_store_dropped_total" in metrics
    finally:
        _close_app(_Worker(app))     # what gunicorn runs when the worker exits
    last = service.feed.latest("NIFTY")
    stored = history.ticks(service.store, "NIFTY", limit=1000)
    # Everything published before the stop was written: nothing is lost on a clean stop.
    assert stored[-1].sequence == last.sequence
    assert [t.sequence for t in stored] == list(range(1, last.sequence + 1))
    assert state.store_stats()["queue_depth"] == 0
    body = client.get("/api/data/underlying/NIFTY?from=2026-11-25T04:00:00Z&limit=1000").get_json()
    assert [t["id"] for t in body["ticks"]] == [t.sequence for t in stored]
    service.store.dispose()
