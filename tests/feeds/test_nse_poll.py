"""The NSE polling provider against a local HTTP server (127.0.0.1) serving the NSE fixtures:
the first snapshot, nothing new while the payload's timestamp stands, an update when it
changes, back-off on errors and dropped connections, recovery, and an engine a slow server
never stalls."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from deltastream.catalog import load_catalog
from deltastream.core.snapshot import ChainSnapshot
from deltastream.engine.runner import Engine
from deltastream.feeds.build import build_snapshot
from deltastream.feeds.formats import nse_json
from deltastream.feeds.nse_poll import NSEPollingProvider, merge_chains, poll_symbols, url_symbol
from deltastream.feeds.products import product_terms
from deltastream.market.clock import RealClock
from deltastream.settings import BROWSER_USER_AGENT
from tests.support.waiting import wait_until

FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds" / "nse"
WEEKLY = FIXTURES / "option-chain-v3_NIFTY_08-Dec-2026.json"
MONTHLY = FIXTURES / "option-chain-v3_NIFTY_29-Dec-2026.json"
EQUITY = FIXTURES / "option-chain-equities_RELIANCE.json"
V3 = "/api/option-chain-v3?type=Indices&symbol=NIFTY&expiry="
PATHS = {V3 + "08-Dec-2026": WEEKLY, V3 + "29-Dec-2026": MONTHLY,
         "/api/option-chain-equities?symbol=RELIANCE": EQUITY}
INTERVAL = 0.1
NOW = datetime.now(UTC)        # a feed publishes what it has, whatever the time


class FeedServer:
    """What the stand-in for NSE answers, per path: the payload (bytes), an HTTP status, or
    a connection dropped without an answer; and every request it received."""

    def __init__(self) -> None:
        self.payloads = {path: file.read_bytes() for path, file in PATHS.items()}
        self.failing: dict[str, int | str] = {}     # path -> status, or "drop"
        self.delay = 0.0
        self.requests: list[tuple[float, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append((time.monotonic(), self.path, dict(self.headers)))
                    failing = server.failing.get(self.path)
                    body = server.payloads.get(self.path)
                time.sleep(server.delay)
                if failing == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if failing is not None or body is None:
                    self.send_response(int(failing or 404))
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Set-Cookie", "nsit=abc123; Path=/")
                if "gzip" in self.headers.get("Accept-Encoding", ""):
                    body = gzip.compress(body)
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path

    def times(self, path: str) -> list[float]:
        with self.lock:
            return [t for t, p, _ in self.requests if p == path]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture()
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(None)


@pytest.fixture()
def feed(server, catalog) -> Iterator[NSEPollingProvider]:
    provider = NSEPollingProvider([server.url(p) for p in PATHS], INTERVAL, catalog)
    yield provider
    provider.close()


def take(feed: NSEPollingProvider, products: set[str], timeout: float = 20.0
         ) -> dict[str, ChainSnapshot]:
    """The snapshots the feed has made, once it has made one of each of ``products``."""
    got: dict[str, ChainSnapshot] = {}

    def ready() -> bool:
        got.update(feed.snapshots(NOW, 1))
        return products <= got.keys()

    wait_until(ready, timeout, f"snapshots of {sorted(products)}")
    return got


def with_timestamp(payload: bytes, timestamp: str, bump_first_ce: float = 0.0) -> bytes:
    data = json.loads(payload)
    data["records"]["timestamp"] = timestamp
    for record in data["records"]["data"]:
        if "CE" in record:
            record["CE"]["lastPrice"] = round(record["CE"]["lastPrice"] + bump_first_ce, 2)
            break
    return json.dumps(data).encode()


def test_a_url_names_its_product_in_its_symbol_parameter():
    assert url_symbol("https://www.nseindia.com/api/option-chain-v3?type=Indices&symbol=nifty"
                      "&expiry=30-Dec-2026") == "NIFTY"
    assert url_symbol("http://h/api/option-chain-equities?symbol=M%26M") == "M&M"
    assert poll_symbols(["http://h/a?symbol=NIFTY&expiry=1", "http://h/a?symbol=RELIANCE",
                         "http://h/a?symbol=NIFTY&expiry=2"]) == ["NIFTY", "RELIANCE"]
    with pytest.raises(ValueError, match=r"feed URL http://u:\*\*\*@h/x\?type=Indices has no "
                                         r"symbol= query parameter"):
        url_symbol("http://u:secret@h/x?type=Indices")


def test_two_expiries_of_one_product_make_one_chain_the_newer_payload_winning():
    weekly = nse_json.read(WEEKLY.read_bytes(), "w", "nse-live").chains[0]
    monthly = nse_json.read(MONTHLY.read_bytes(), "m", "nse-live").chains[0]
    merged = merge_chains([weekly, monthly])
    assert len(merged) == len(weekly) + len(monthly)
    assert set(merged.expiry.tolist()) == set(weekly.expiry.tolist()) | set(
        monthly.expiry.tolist())
    # The same contracts again, newer and dearer: they replace the old rows, none doubled.
    newer = dataclasses.replace(weekly, timestamp=weekly.timestamp + timedelta(minutes=3),
                                last=weekly.last + 1.0, underlying_price=26200.0)
    again = merge_chains([newer, monthly, weekly])
    assert len(again) == len(merged)
    assert again.timestamp == newer.timestamp and again.underlying_price == 26200.0
    mask = again.expiry == weekly.expiry[0]
    np.testing.assert_array_equal(np.sort(again.last[mask]), np.sort(weekly.last + 1.0))


def test_the_first_poll_makes_each_products_snapshot_priced_as_an_import(server, feed,
                                                                         catalog):
    assert feed.symbols == ["NIFTY", "RELIANCE"] and feed.source == "nse-live"
    got = take(feed, {"NIFTY", "RELIANCE"})
    nifty = got["NIFTY"]
    assert nifty.source == "nse-live" and nifty.sequence == 1
    assert nifty.timestamp.isoformat() == "2026-12-04T10:00:00+00:00"     # 15:30 in India
    assert [e.isoformat() for e in nifty.expiry_dates] == ["2026-12-08", "2026-12-29"]
    # Each expiry as the import of its own file prices it.
    for file in (WEEKLY, MONTHLY):
        chain = nse_json.read(file.read_bytes(), str(file), "nse-live").chains[0]
        terms, instant = product_terms(chain, catalog)
        alone = build_snapshot(chain, terms, instant, 1).chains[0]
        served = nifty.chain_for(alone.expiry)
        np.testing.assert_array_equal(served.strikes, alone.strikes)
        assert served.forward == pytest.approx(alone.forward, rel=1e-12)
        for side in ("calls", "puts"):
            for field in ("bid", "ask", "mid", "iv", "delta", "open_interest", "volume"):
                np.testing.assert_allclose(getattr(getattr(served, side), field),
                                           getattr(getattr(alone, side), field),
                                           rtol=1e-12, equal_nan=True, err_msg=field)
    assert got["RELIANCE"].spot > 0 and len(got["RELIANCE"].expiry_dates) == 3
    # Browser-like requests asking for JSON, the server's cookie sent back.
    _, _, headers = server.requests[-1]
    assert headers["User-Agent"] == BROWSER_USER_AGENT
    assert headers["Accept"].startswith("application/json")
    assert "nsit=abc123" in headers.get("Cookie", "")


def test_an_unchanged_timestamp_publishes_nothing_and_a_new_one_publishes_the_update(
        server, feed):
    first = take(feed, {"NIFTY", "RELIANCE"})
    path = V3 + "08-Dec-2026"
    polled = len(server.times(path))
    wait_until(lambda: len(server.times(path)) >= polled + 3, 10, "three more polls")
    assert feed.snapshots(NOW, 2) == {}
    with server.lock:
        server.payloads[path] = with_timestamp(server.payloads[path], "04-Dec-2026 15:33:00",
                                               bump_first_ce=5.0)
    update = take(feed, {"NIFTY"})
    assert update.keys() == {"NIFTY"}           # RELIANCE did not change
    snap = update["NIFTY"]
    assert snap.timestamp.isoformat() == "2026-12-04T10:03:00+00:00"
    old_week, new_week = first["NIFTY"].chains[0], snap.chains[0]
    changed = ~np.isclose(new_week.calls.last, old_week.calls.last, equal_nan=True)
    assert changed.sum() == 1
    np.testing.assert_allclose(new_week.calls.last[changed], old_week.calls.last[changed] + 5)
    # The other expiry's payload is kept in the product's chain.
    np.testing.assert_array_equal(snap.chains[1].calls.open_interest,
                                  first["NIFTY"].chains[1].calls.open_interest)
    assert feed.updates == 3


@pytest.mark.parametrize("failure", [500, "drop"], ids=["http-500", "dropped-connection"])
def test_errors_back_off_once_logged_and_the_feed_recovers(server, feed, failure, caplog):
    take(feed, {"NIFTY", "RELIANCE"})
    path = "/api/option-chain-equities?symbol=RELIANCE"
    with caplog.at_level(logging.INFO, logger="deltastream.feeds.nse_poll"):
        with server.lock:
            server.failing[path] = failure
            began = len(server.requests)
        wait_until(lambda: len([t for t, p, _ in server.requests[began:] if p == path]) >= 5,
                   20, "five failed requests")
        with server.lock:
            failed = [t for t, p, _ in server.requests[began:] if p == path]
            del server.failing[path]
        gaps = np.diff(failed)
        # Each wait at least as long as the one before (doubling, drawn from its upper
        # half), the fourth between 4 and 8 intervals; the other URLs keep their rhythm.
        assert all(b >= a * 0.9 for a, b in itertools.pairwise(gaps)), gaps
        assert 0.35 <= gaps[3] <= 1.2, gaps
        weekly = [t for t in server.times(V3 + "08-Dec-2026") if failed[0] <= t <= failed[-1]]
        assert np.diff(weekly).max() < 0.5
        assert feed.snapshots(NOW, 2) == {}    # still the last good one
        recovered = len(server.times(path))
        wait_until(lambda: len(server.times(path)) >= recovered + 3, 20, "polls again")
    lines = [r.getMessage() for r in caplog.records]
    why = "HTTP Error 500" if failure == 500 else "Remote end closed connection"
    outage = [line for line in lines if line.startswith("cannot reach")]
    assert len(outage) == 1 and why in outage[0] and "symbol=RELIANCE" in outage[0]
    assert sum(line.startswith("reached the feed") for line in lines) == 1
    after = server.times(path)[-3:]
    assert np.diff(after).max() < 0.5           # back to the regular interval
    assert feed.failures >= 5


def test_a_payload_that_is_not_the_option_chain_is_an_error_not_a_snapshot(server, catalog,
                                                                           caplog):
    path = V3 + "08-Dec-2026"
    server.payloads[path] = b"<html>Access Denied</html>"
    feed = NSEPollingProvider([server.url(path)], INTERVAL, catalog)
    try:
        with caplog.at_level(logging.WARNING, logger="deltastream.feeds.nse_poll"):
            wait_until(lambda: feed.snapshots(NOW, 1) == {} and feed.failures >= 2, 10,
                       "two failed polls")
        assert any("cannot reach the feed" in r.getMessage() and "JSON" in r.getMessage()
                   for r in caplog.records)
        # A payload of another product than the URL's symbol is refused too.
        server.payloads[path] = EQUITY.read_bytes()
        failures = feed.failures
        wait_until(lambda: feed.failures >= failures + 2, 10, "more failed polls")
        assert feed.snapshots(NOW, 1) == {}
    finally:
        feed.close()


def test_a_slow_server_never_stalls_the_engine(server, catalog):
    server.delay = 1.5
    feed = NSEPollingProvider([server.url(V3 + "08-Dec-2026")], INTERVAL, catalog,
                              timeout=5.0)
    engine = Engine(provider=feed, clock=RealClock(), tick_interval=0.05, history=100)
    try:
        started = time.monotonic()
        ticks = [engine.tick() for _ in range(5)]
        assert time.monotonic() - started < 0.5 and ticks == [{}] * 5
        wait_until(lambda: bool(engine.tick()), 20, "the slow server's first snapshot")
        assert engine.latest("NIFTY").sequence == 1 and engine.source == "nse-live"
    finally:
        engine.stop()       # closes the feed: its thread ends
    assert feed._thread is None


def test_the_feed_stops_polling_when_closed(server, catalog):
    path = V3 + "29-Dec-2026"
    feed = NSEPollingProvider([server.url(path)], INTERVAL, catalog)
    take(feed, {"NIFTY"})
    feed.close()
    count = len(server.times(path))
    time.sleep(4 * INTERVAL)
    assert len(server.times(path)) == count
    assert urlsplit(server.base).hostname == "127.0.0.1"


def test_the_feeds_snapshots_are_recorded_once_under_its_source(server, catalog, tmp_path):
    from deltastream.runtime.recorder import start_recording
    from deltastream.settings import Settings
    from deltastream.store import history, schema
    from deltastream.store.database import open_database, sqlite_url
    from tests.support.store import count

    path = V3 + "08-Dec-2026"
    feed = NSEPollingProvider([server.url(path)], INTERVAL, catalog, "nse-test")
    engine = Engine(provider=feed, clock=RealClock(), history=100, republish_after=0.2)
    recorder = start_recording(engine, Settings(data_dir=tmp_path, archive_every=0))
    try:
        wait_until(lambda: bool(engine.tick()), 20, "the first snapshot")
        first = engine.latest("NIFTY")
        time.sleep(0.3)
        again = engine.tick()           # quiet: the same market published again
        assert again["NIFTY"].sequence == 2 and again["NIFTY"].timestamp == first.timestamp
        with server.lock:
            server.payloads[path] = with_timestamp(server.payloads[path],
                                                   "04-Dec-2026 15:33:00")
        wait_until(lambda: bool(engine.tick()), 20, "the updated snapshot")
    finally:
        engine.stop()
        assert recorder.close()
    # Written twice, not three times (the store's keys would hide a second write).
    assert recorder.stats()["rows_written"]["underlying_ticks"] == 2
    db = open_database(sqlite_url(tmp_path))
    try:
        [info] = history.sources(db)
        assert info.name == "nse-test" and [p.snapshots for p in info.products] == [2]
        assert (info.products[0].first.isoformat(), info.products[0].last.isoformat()) == (
            "2026-12-04T10:00:00+00:00", "2026-12-04T10:03:00+00:00")
        assert count(db, schema.TABLES["underlying_ticks"]) == 2
        # No market checkpoint: a live feed is not resumed.
        assert count(db, schema.TABLES["market_state"]) == 0
    finally:
        db.dispose()
