"""Snapshot responses replayed before the app: the same bytes, headers and status as the app
sends, never a stale snapshot, and bounded memory."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from prometheus_client import generate_latest

from deltastream.core.feed import EngineStatus
from deltastream.settings import Settings
from deltastream.web import create_app, models
from deltastream.web.replay import Replayable, ReplayCache, mark_replayable
from deltastream.web.state import app_state

CHAIN = "/api/data/chain/IDX?strikes=41"


@pytest.fixture()
def app(engine):
    app = create_app(Settings(), feed=engine, start_feed=False)
    app.entered = []
    app.before_request(lambda: app.entered.append(1) and None)
    engine.tick()
    return app


def _exchange(client, url, **headers):
    r = client.get(url, headers=headers)
    return r.status_code, sorted(r.headers.items()), r.data


def test_repeat_is_the_apps_own_response_without_entering_the_app(app):
    client = app.test_client()
    first = _exchange(client, CHAIN)
    assert first[0] == 200 and len(app.entered) == 1
    assert _exchange(client, CHAIN) == first
    assert len(app.entered) == 1


@pytest.mark.parametrize("url", [
    "/api/data/products", "/api/data/expiries/IDX", "/api/data/underlying/IDX?limit=3",
    "/api/analytics/pcr/IDX?history=true", "/api/analytics/volatility-surface/SEC",
    "/api/analytics/max-pain/IDX", "/api/analytics/oi-buildup/IDX?strikes=5",
    "/api/analytics/ohlc/IDX?window=1"])
def test_every_live_snapshot_route_is_replayed(app, url):
    client = app.test_client()
    first = _exchange(client, url)
    assert first[0] == 200
    assert _exchange(client, url) == first and len(app.entered) == 1


def test_if_none_match_and_cors_replay_exactly(app):
    client = app.test_client()
    etag = client.get(CHAIN).headers["ETag"]
    entered = len(app.entered)
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f"W/{etag}, \"other\""},
                    {"If-None-Match": "*"}, {"If-None-Match": '"stale"'},
                    {"Origin": "https://desk.example"}, {"Origin": "https://other.example"},
                    {"Origin": "https://desk.example", "If-None-Match": etag}):
        first = _exchange(client, CHAIN, **headers)
        assert _exchange(client, CHAIN, **headers) == first, headers
        expected = 200 if headers.get("If-None-Match", '"stale"') == '"stale"' else 304
        assert first[0] == expected, headers
        if "Origin" in headers:
            # Each origin gets its own CORS echo, never another origin's.
            assert ("Access-Control-Allow-Origin", headers["Origin"]) in first[1]
        if expected == 304:
            assert first[2] == b"" and ("ETag", etag) in first[1]
    # Entered the app: the first 304 without an Origin, and the first 200 and 304 of each
    # origin; every other request was a replay (any matching If-None-Match replays the 304).
    assert len(app.entered) == entered + 4


def test_a_new_snapshot_is_served_at_once(app, engine):
    client = app.test_client()
    before = client.get(CHAIN).get_json()["chains"][0]["sequence"]
    client.get(CHAIN)
    engine.clock.advance(1.0)
    engine.tick()
    after = client.get(CHAIN)
    assert after.get_json()["chains"][0]["sequence"] == before + 1
    assert len(app.entered) == 2
    # The previous ETag is no longer current: a full response, not a 304.
    assert client.get(CHAIN, headers={"If-None-Match": '"x"'}).status_code == 200


def test_errors_and_archived_chains_always_enter_the_app(app):
    client = app.test_client()
    for url in ("/api/data/chain/NOPE", "/api/data/chain/IDX?strikes=0",
                "/api/data/chain/IDX?expiry=2001-01-01"):
        codes = {client.get(url).status_code for _ in range(2)}
        assert codes <= {400, 404}
    assert len(app.entered) == 6
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    client.get("/api/data/chain/IDX", query_string={"at": at})
    client.get("/api/data/chain/IDX", query_string={"at": at})
    assert len(app.entered) == 8


def test_health_is_rendered_afresh_for_every_request(app, engine, monkeypatch):
    client = app.test_client()
    tick = {"at": time.monotonic()}
    monkeypatch.setattr(engine, "status", lambda: EngineStatus(
        True, 7, tick["at"], 0.25, None))
    first = client.get("/api/health", headers={"Origin": "https://desk.example"})
    entered = len(app.entered)
    time.sleep(0.01)
    second = client.get("/api/health", headers={"Origin": "https://desk.example"})
    assert len(app.entered) == entered
    assert (second.status, sorted(k for k, _ in second.headers.items())) == (
        first.status, sorted(k for k, _ in first.headers.items()))
    assert second.headers["Access-Control-Allow-Origin"] == "https://desk.example"
    assert int(second.headers["Content-Length"]) == len(second.data)
    a, b = first.get_json(), second.get_json()
    models.HealthResponse.model_validate(b)
    assert b["engine"]["last_tick_age_seconds"] > a["engine"]["last_tick_age_seconds"]
    # A stall turns the replayed health to 503 at once, as the app would.
    tick["at"] = time.monotonic() - 60
    stalled = client.get("/api/health", headers={"Origin": "https://desk.example"})
    assert len(app.entered) == entered
    assert stalled.status == "503 SERVICE UNAVAILABLE" and stalled.get_json()["stale"] is True


def test_a_large_health_body_is_encoded_alike_by_the_app_and_the_replay(app, engine,
                                                                      monkeypatch):
    client = app.test_client()
    monkeypatch.setattr(engine, "status", lambda: EngineStatus(
        True, 7, time.monotonic(), 0.25, "an error " * 200))
    gz = {"Accept-Encoding": "gzip"}
    first = client.get("/api/health", headers=gz)
    entered = len(app.entered)
    replayed = [client.get("/api/health", headers=gz) for _ in range(2)]
    plain = client.get("/api/health")
    assert len(app.entered) == entered + 1     # the identity client's first request only
    for r in (first, *replayed):
        assert r.headers["Content-Encoding"] == "gzip" and r.headers["Vary"] == "Accept-Encoding"
        assert int(r.headers["Content-Length"]) == len(r.data)
        assert orjson.loads(gzip.decompress(r.data))["engine"]["last_error"] == "an error " * 200
    assert "Content-Encoding" not in plain.headers
    again = client.get("/api/health")
    assert "Content-Encoding" not in again.headers and again.get_json()["engine"]["ticks"] == 7


def test_replayed_requests_are_counted_in_metrics(app):
    client = app.test_client()
    for _ in range(5):
        assert client.get(CHAIN).status_code == 200
    registry = app_state(app).metrics.registry
    text = generate_latest(registry).decode()
    line = next(s for s in text.splitlines() if s.startswith(
        'deltastream_request_seconds_count{endpoint="data.chain",status="200"}'))
    assert float(line.split()[-1]) == 5.0


# The layer on its own, in front of a small WSGI app.

class Snapshots:
    def __init__(self) -> None:
        self.sequence = 1
        self.calls = 0

    def app(self, environ, start_response):
        self.calls += 1
        path = environ["PATH_INFO"]
        environ = dict(environ)   # as Socket.IO's middleware passes it on
        if path == "/error":
            start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")])
            mark_replayable(environ, Replayable("P", self.sequence, "error", "e"))
            return [b"no"]
        body = (path.encode() + b"@%d" % self.sequence) * (2000 if path == "/big" else 1)
        start_response("200 OK", [("Content-Length", str(len(body)))])
        if path != "/unmarked":
            mark_replayable(environ, Replayable("P", self.sequence, "ep", "t"))
        return [body[:3], body[3:]]

    def current(self, product, sequence):
        return sequence == self.sequence


def _wsgi_get(app, path, method="GET", query=""):
    sent = []
    body = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query},
                        lambda status, headers, exc_info=None: sent.append(status)))
    return sent[0], body


def test_layer_replays_marked_successes_only_while_current():
    snaps, observed = Snapshots(), []
    layer = ReplayCache(snaps.app, snaps.current, lambda *a: observed.append(a[:2]))
    assert _wsgi_get(layer, "/a") == _wsgi_get(layer, "/a") == ("200 OK", b"/a@1")
    assert snaps.calls == 1 and observed == [("ep", 200)]
    snaps.sequence = 2
    assert _wsgi_get(layer, "/a") == ("200 OK", b"/a@2") and snaps.calls == 2
    for path, method in (("/unmarked", "GET"), ("/error", "GET"), ("/a", "POST")):
        _wsgi_get(layer, path, method)
        _wsgi_get(layer, path, method)
    assert snaps.calls == 8 and len(layer) == 1


def test_layer_keeps_within_its_byte_budget():
    snaps = Snapshots()
    layer = ReplayCache(snaps.app, snaps.current, lambda *a: None, max_bytes=10_000)
    for i in range(100):
        _wsgi_get(layer, f"/{i}")
    assert layer.size_bytes <= 10_000 and 0 < len(layer) < 100
    # The newest are kept; a body larger than the budget is served but never kept.
    calls = snaps.calls
    _wsgi_get(layer, "/99")
    assert snaps.calls == calls
    assert _wsgi_get(layer, "/big")[1] == b"/big@1" * 2000
    assert _wsgi_get(layer, "/big")[1] == b"/big@1" * 2000
    assert snaps.calls == calls + 2 and layer.size_bytes <= 10_000
    # Query strings a client makes up count too.
    for i in range(100):
        _wsgi_get(layer, "/q", query=f"{i}&pad=" + "x" * 4000)
    assert layer.size_bytes <= 10_000 and len(layer) <= 2
