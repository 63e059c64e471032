"""History routes served from the store equal what a recomputation from the stored rows
gives; bad ranges are 400 JSON naming the parameter and the accepted range; a failing store
answers 503 with Retry-After on history (live routes unaffected) and health says degraded,
until it recovers with nothing lost."""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from deltastream.analytics.candles import ohlc
from deltastream.engine.runner import Engine
from deltastream.market.clock import AcceleratedClock, FixedClock
from deltastream.runtime.recorder import start_recording
from deltastream.settings import Settings
from deltastream.store.database import configured_url, open_database
from deltastream.store.rows import epoch_us, from_epoch_us
from deltastream.store.schema import chain_summaries, underlying_ticks
from deltastream.web import create_app, models
from deltastream.web.json import dumps
from deltastream.web.params import INSTANT_ACCEPTED
from deltastream.web.serialize import chain_dict, iso
from deltastream.web.service import STORE_STATUS_TTL_SECONDS
from deltastream.web.state import app_state
from tests.support.faults import (
    chattr_supported,
    directory_gone,
    immutable,
    postgres_refusing,
)
from tests.support.specs import EUROPEAN, START, spec, terms
from tests.support.waiting import wait_until

SECOND = spec("SEC", 595.0, 1.0, 0.01, False, strikes_each_side=30)
STEP = 600.0          # ten minutes of market time per tick
TICKS = 120           # 20 hours: crosses midnight
RING = 30             # ticks the engine keeps in memory (the rest only in the store)


def q(when: datetime) -> str:
    """A query-string time, to the microsecond."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("history")
    engine = Engine([EUROPEAN, SECOND], {"IDX": terms(EUROPEAN), "SEC": terms(SECOND, "USD", 100)},
                    seed=3, clock=FixedClock(START), tick_interval=1.0, history=RING)
    settings = Settings(hours="always", data_dir=tmp, clock="fixed", clock_start=START.isoformat(),
                        archive_every=3600.0, history_max_range_days=0.75)
    recorder = start_recording(engine, settings)
    published = []
    for _ in range(TICKS):
        published.append(engine.tick())
        engine.clock.advance(STEP)
    assert recorder.writer.flush(60.0)
    recorder.publish_stats()
    app = create_app(settings, feed=engine, start_feed=False, store=recorder.store)
    yield app.test_client(), recorder.store, published
    recorder.close()


def get(client, url, model=None) -> dict:
    r = client.get(url)
    assert r.status_code == 200, (url, r.get_data(as_text=True))
    body = r.get_json()
    if model is not None:
        model.model_validate(body)
    return body


def rows(store, stmt) -> list:
    with store.connect() as conn:
        return conn.execute(stmt).all()


def test_underlying_range_is_the_stored_ticks(recorded):
    client, store, published = recorded
    start, end = published[20]["IDX"].timestamp, published[59]["IDX"].timestamp
    body = get(client, f"/api/data/underlying/IDX?from={q(start)}&to={q(end)}&limit=1000",
               models.UnderlyingResponse)
    t = underlying_ticks
    stored = rows(store, sa.select(t.c.sequence, t.c.price, t.c.ts).where(
        t.c.product == "IDX", t.c.ts >= epoch_us(start), t.c.ts <= epoch_us(end))
        .order_by(t.c.ts))
    assert body["count"] == 40
    assert [(x["id"], x["price"], x["timestamp"]) for x in body["ticks"]] == [
        (r.sequence, r.price, iso(from_epoch_us(r.ts))) for r in stored]
    # From a start alone: the first `limit` ticks after it.
    first = get(client, f"/api/data/underlying/IDX?from={q(start)}&limit=3")
    assert [x["id"] for x in first["ticks"]] == [21, 22, 23]
    # Up to an end alone: the last `limit` ticks before it.
    last = get(client, f"/api/data/underlying/IDX?to={q(end)}&limit=3")
    assert [x["id"] for x in last["ticks"]] == [58, 59, 60]


def test_underlying_latest_reaches_past_the_memory_ring_into_the_store(recorded):
    client, _, published = recorded
    body = get(client, "/api/data/underlying/IDX?limit=100", models.UnderlyingResponse)
    assert [x["id"] for x in body["ticks"]] == list(range(TICKS - 99, TICKS + 1))
    assert [x["price"] for x in body["ticks"]] == [p["IDX"].spot for p in published[-100:]]


@pytest.mark.parametrize("interval", [None, 1800, 7200])
def test_pcr_history_equals_the_stored_summaries(recorded, interval):
    client, store, published = recorded
    expiry = published[-1]["IDX"].chains[0].expiry
    start, end = published[30]["IDX"].timestamp, published[100]["IDX"].timestamp
    url = (f"/api/analytics/pcr/IDX?history=true&expiry={expiry}&from={q(start)}"
           f"&to={q(end)}&limit=10000")
    if interval:
        url += f"&interval={interval}"
    body = get(client, url, models.PCRResponse)
    s = chain_summaries
    stored = rows(store, sa.select(s.c.ts, s.c.pcr_oi, s.c.pcr_volume, s.c.spot).where(
        s.c.product == "IDX", s.c.expiry == expiry, s.c.ts >= epoch_us(start),
        s.c.ts <= epoch_us(end)).order_by(s.c.ts))
    if interval:   # the last row of each interval-long bucket
        last = {}
        for r in stored:
            last[r.ts // (interval * 1_000_000)] = r
        stored = [last[k] for k in sorted(last)]
    assert len(stored) > 3
    assert body["history"] == [{"pcr_oi": r.pcr_oi, "pcr_volume": r.pcr_volume,
                                "spot_price": r.spot, "timestamp": iso(from_epoch_us(r.ts))}
                               for r in stored]


@pytest.mark.parametrize("window", [15, 60])
def test_ohlc_of_a_window_equals_candles_of_the_stored_ticks(recorded, window):
    client, store, published = recorded
    start, end = published[5]["SEC"].timestamp, published[90]["SEC"].timestamp
    body = get(client, f"/api/analytics/ohlc/SEC?window={window}&from={q(start)}"
                       f"&to={q(end)}&limit=1000", models.OHLCResponse)
    t = underlying_ticks
    stored = rows(store, sa.select(t.c.ts, t.c.price, t.c.volume).where(
        t.c.product == "SEC", t.c.ts >= epoch_us(start), t.c.ts <= epoch_us(end))
        .order_by(t.c.ts))
    expected = ohlc(np.array([r.ts / 1e6 for r in stored]), np.array([r.price for r in stored]),
                    np.array([r.volume for r in stored]), window * 60)
    assert len(expected) > 10
    assert body["candles"] == [
        {"timestamp": iso(datetime.fromtimestamp(c.start, UTC)), "open": c.open,
         "high": c.high, "low": c.low, "close": c.close, "volume": c.volume, "ticks": c.ticks}
        for c in expected]
    # Without a range: the newest `limit` candles, the same numbers.
    newest = get(client, f"/api/analytics/ohlc/SEC?window={window}&limit=2")["candles"]
    everything = get(client, f"/api/analytics/ohlc/SEC?window={window}&limit=1000&"
                             f"from={q(published[-70]['SEC'].timestamp)}")["candles"]
    assert newest == everything[-2:]


def _recomputed_iv_stats(store, end: datetime, lookback: timedelta, sample: int):
    s = chain_summaries
    stored = rows(store, sa.select(s.c.ts, s.c.atm_iv).where(
        s.c.product == "IDX", s.c.expiry_rank == 0, s.c.atm_iv.is_not(None),
        s.c.ts >= epoch_us(end - lookback), s.c.ts <= epoch_us(end)).order_by(s.c.ts))
    last = {}
    for r in stored:
        last[r.ts // (sample * 1_000_000)] = r
    obs = [last[k] for k in sorted(last)]
    values = [r.atm_iv for r in obs]
    current = values[-1]
    rank = 100 * (current - min(values)) / (max(values) - min(values))
    percentile = 100 * sum(v < current for v in values) / len(values)
    return obs, rank, percentile


def test_iv_history_series_rank_and_percentile_equal_the_stored_rows(recorded):
    client, store, published = recorded
    end = published[110]["IDX"].timestamp
    start = published[40]["IDX"].timestamp
    body = get(client, f"/api/analytics/iv-history/IDX?from={q(start)}&to={q(end)}"
                       f"&lookback_days=0.5&sample_seconds=1200&limit=10000",
               models.IVHistoryResponse)
    s = chain_summaries
    series = rows(store, sa.select(s.c.ts, s.c.atm_iv).where(
        s.c.product == "IDX", s.c.expiry_rank == 0, s.c.atm_iv.is_not(None),
        s.c.ts >= epoch_us(start), s.c.ts <= epoch_us(end)).order_by(s.c.ts))
    assert body["series"] == [{"timestamp": iso(from_epoch_us(r.ts)), "atm_iv": r.atm_iv}
                              for r in series]
    obs, rank, percentile = _recomputed_iv_stats(store, end, timedelta(days=0.5), 1200)
    assert body["lookback"]["observations"] == len(obs) >= 20
    assert body["current"] == {"timestamp": iso(from_epoch_us(obs[-1].ts)),
                               "atm_iv": obs[-1].atm_iv}
    assert body["iv_rank"] == {"value": pytest.approx(rank, abs=1e-9),
                               "observations": len(obs), "reason": None}
    assert body["iv_percentile"] == {"value": pytest.approx(percentile, abs=1e-9),
                                     "observations": len(obs), "reason": None}
    assert 0 <= rank <= 100 and not math.isclose(rank, percentile)


def test_iv_statistics_are_null_with_the_reason_until_enough_history(recorded):
    client, _, published = recorded
    end = published[8]["IDX"].timestamp
    body = get(client, f"/api/analytics/iv-history/IDX?to={q(end)}&sample_seconds=3600",
               models.IVHistoryResponse)
    assert body["iv_rank"]["value"] is None and body["iv_percentile"]["value"] is None
    assert body["lookback"]["observations"] == body["iv_rank"]["observations"] == 2
    assert "only 2 observations" in body["iv_rank"]["reason"]


def test_chain_at_serves_the_nearest_archive_in_the_live_shape(recorded):
    client, _, published = recorded
    # Archives every hour of market time: ticks 0, 6, 12, ... (ten-minute ticks).
    at = published[13]["IDX"].timestamp + timedelta(seconds=100)
    body = get(client, f"/api/data/chain/IDX?at={q(at)}&limit=10&strikes=201",
               models.ChainResponse)
    expected = [orjson.loads(dumps(chain_dict(c, 201))) for c in published[12]["IDX"].chains]
    assert body["chains"] == expected
    assert body["chains"][0]["sequence"] == 13
    live = get(client, "/api/data/chain/IDX")
    assert live["chains"][0]["sequence"] == TICKS
    # Within the tolerance (the archive interval, an hour here) of the first archive.
    first = published[0]["IDX"].timestamp
    near = get(client, f"/api/data/chain/IDX?at={q(first - timedelta(minutes=30))}")
    assert near["chains"][0]["sequence"] == 1


def test_at_far_from_every_archive_is_404_naming_the_nearest(recorded):
    client, _, published = recorded
    first = published[0]["IDX"].timestamp
    r = client.get("/api/data/chain/IDX?at=2000-01-01T00:00:00Z")
    assert r.status_code == 404
    body = r.get_json()
    assert "within 3600 s" in body["error"]
    assert body["detail"]["tolerance_seconds"] == 3600.0
    assert body["detail"]["nearest"] == [iso(first)]


@pytest.mark.parametrize(("url", "parameter", "accepted"), [
    ("/api/data/underlying/IDX?from=2026-11-25T12:00:00Z&to=2026-11-25T11:00:00Z", "from",
     "a time not after 'to'"),
    ("/api/data/underlying/IDX?from=yesterday", "from", None),
    ("/api/data/underlying/IDX?to=2026-11-32T00:00:00Z", "to", None),
    ("/api/data/underlying/IDX?from=2026-11-20T00:00:00Z&to=2026-11-25T00:00:00Z", "from",
     "a range ('from' to 'to', default 'to' now) of at most 0.75 days"),
    ("/api/analytics/pcr/IDX?history=true&from=2026-11-20T00:00:00Z", "from",
     "a range ('from' to 'to', default 'to' now) of at most 0.75 days"),
    ("/api/analytics/pcr/IDX?history=true&interval=0", "interval", "integer from 1 to 86400"),
    ("/api/analytics/ohlc/IDX?from=2026-11-25T12:00:00Z&to=2026-11-25T11:00:00Z", "from",
     "a time not after 'to'"),
    ("/api/analytics/ohlc/IDX?to=noon", "to", None),
    ("/api/analytics/iv-history/IDX?from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z",
     "from", "a time not after 'to'"),
    ("/api/analytics/iv-history/IDX?lookback_days=5000", "lookback_days", None),
    ("/api/analytics/iv-history/IDX?lookback_days=3000&sample_seconds=60", "sample_seconds",
     "at least 2592 seconds for this lookback"),
    ("/api/data/chain/IDX?at=last-tuesday", "at", None),
    # Numbers are not times, and times at the edges of datetime's range are refused
    # (they used to overflow into a 500).
    ("/api/data/chain/IDX?at=0.5", "at", INSTANT_ACCEPTED),
    ("/api/analytics/ohlc/IDX?to=0001-01-01T00:00:00Z", "to", INSTANT_ACCEPTED),
    ("/api/data/underlying/IDX?from=9999-12-31T23:59:59-23:59", "from", INSTANT_ACCEPTED),
    ("/api/analytics/iv-history/IDX?from=0001-01-01T00:00:00%2B23:59", "from",
     INSTANT_ACCEPTED),
    ("/api/analytics/pcr/IDX?history=true&to=0001-01-01T00:00:00%2B23:59", "to",
     INSTANT_ACCEPTED),
    # 'from' after the default 'to' (the market's latest time) is the same 400 as after an
    # explicit one.
    ("/api/data/underlying/IDX?from=2030-01-01T00:00:00Z", "from", "a time not after 'to'"),
    ("/api/analytics/ohlc/IDX?from=2030-01-01T00:00:00Z", "from", "a time not after 'to'"),
])
def test_bad_ranges_are_400_naming_the_parameter(recorded, url, parameter, accepted):
    client, _, _ = recorded
    r = client.get(url)
    assert r.status_code == 400, r.get_data(as_text=True)
    body = r.get_json()
    assert f"'{parameter}'" in body["error"]
    assert body["detail"]["parameter"] == parameter
    if accepted is not None:
        assert body["detail"]["accepted"] == accepted


def test_store_writer_metrics_are_exported(recorded):
    client, _, _ = recorded
    text = client.get("/metrics").get_data(as_text=True)
    assert "deltastream_store_queue_depth 0.0" in text
    assert "deltastream_store_dropped_total 0.0" in text
    assert f'deltastream_store_rows_written_total{{table="underlying_ticks"}} {2 * TICKS}.0' in text


def test_openapi_stays_valid_and_documents_the_history_parameters(recorded):
    client, _, _ = recorded
    spec_doc = get(client, "/openapi.json")
    validate(spec_doc)
    paths = spec_doc["paths"]
    assert "/api/analytics/iv-history/{product}" in paths
    names = {p["name"] for p in paths["/api/data/underlying/{product}"]["get"]["parameters"]}
    assert {"from", "to", "limit"} <= names
    names = {p["name"] for p in paths["/api/analytics/pcr/{product}"]["get"]["parameters"]}
    assert {"from", "to", "interval", "history"} <= names
    names = {p["name"] for p in paths["/api/data/chain/{product}"]["get"]["parameters"]}
    assert "at" in names


def test_without_a_store_history_ranges_are_503(client):
    r = client.get("/api/data/underlying/IDX?from=2026-11-25T10:00:00Z")
    assert r.status_code == 503 and r.mimetype == "application/json"


# The first and last instants a request may write (years 1970 and 8999), with the widest UTC
# offsets: they fall outside those years in UTC and still compute (no overflow, no 500).
FIRST = "1970-01-01T00:00:00%2B23:59"
LAST = "8999-12-31T23:59:59.999999-23:59"


@pytest.mark.parametrize(("url", "model"), [
    (f"/api/data/underlying/IDX?from={FIRST}&to={FIRST}", models.UnderlyingResponse),
    (f"/api/data/underlying/IDX?to={LAST}", models.UnderlyingResponse),
    (f"/api/analytics/ohlc/IDX?to={FIRST}", models.OHLCResponse),
    (f"/api/analytics/ohlc/IDX?to={LAST}&limit=1000&window=60", models.OHLCResponse),
    (f"/api/analytics/pcr/IDX?history=true&to={FIRST}&interval=86400", models.PCRResponse),
    (f"/api/analytics/pcr/IDX?history=true&from={LAST}&to={LAST}", models.PCRResponse),
    (f"/api/analytics/iv-history/IDX?to={FIRST}&lookback_days=3660&sample_seconds=3200",
     models.IVHistoryResponse),
    (f"/api/analytics/iv-history/IDX?to={LAST}&interval=86400&lookback_days=3660"
     "&sample_seconds=604800", models.IVHistoryResponse),
])
def test_times_at_the_edges_of_the_accepted_years_are_answered(recorded, url, model):
    client, _, _ = recorded
    get(client, url, model)


@pytest.mark.parametrize("at", [FIRST, LAST])
def test_at_at_the_edges_of_the_accepted_years_is_404_naming_the_nearest(recorded, at):
    client, _, published = recorded
    r = client.get(f"/api/data/chain/IDX?at={at}")
    assert r.status_code == 404
    archived = published[0 if at == FIRST else (TICKS - 1) // 6 * 6]["IDX"].timestamp
    assert r.get_json()["detail"]["nearest"] == [iso(archived)]


def test_at_tolerance_is_the_configured_one(recorded, tmp_path):
    client, store, published = recorded
    feed = app_state(client.application).service.feed
    strict = create_app(Settings(data_dir=tmp_path, archive_every=3600.0,
                                 archive_tolerance=60.0),
                        feed=feed, start_feed=False, store=store).test_client()
    archived = published[12]["IDX"].timestamp
    assert strict.get(f"/api/data/chain/IDX?at={q(archived + timedelta(seconds=59))}"
                      ).status_code == 200
    far = strict.get(f"/api/data/chain/IDX?at={q(archived + timedelta(seconds=100))}")
    assert far.status_code == 404
    assert far.get_json()["detail"]["tolerance_seconds"] == 60.0
    assert iso(archived) in far.get_json()["detail"]["nearest"]
    # The default tolerance (the archive interval, an hour) serves the same instant.
    assert client.get(f"/api/data/chain/IDX?at={q(archived + timedelta(seconds=100))}"
                      ).status_code == 200


# -- a failing store: history answers 503 with Retry-After, the live market goes on ---------

HISTORY_URLS = [
    "/api/data/underlying/IDX?from={start}",
    "/api/data/underlying/IDX?from={start}&to={end}",
    "/api/analytics/pcr/IDX?history=true&from={start}&to={end}",
    "/api/analytics/pcr/IDX?history=true",
    "/api/analytics/ohlc/IDX?from={start}&to={end}",
    "/api/analytics/ohlc/IDX",
    "/api/analytics/iv-history/IDX?lookback_days=1",
    "/api/data/chain/IDX?at={start}",
]
LIVE_URLS = ["/api/data/chain/IDX", "/api/data/underlying/IDX?limit=5",
             "/api/data/expiries/IDX", "/api/analytics/max-pain/IDX",
             "/api/analytics/volatility-surface/IDX", "/api/analytics/oi-buildup/IDX",
             "/api/analytics/pcr/IDX"]


@contextlib.contextmanager
def _store_fault(kind: str, url: str, data_dir) -> Iterator[None]:
    if kind == "sqlite-directory-gone":
        with directory_gone(data_dir):
            yield
    else:
        with postgres_refusing(url):
            yield


@pytest.fixture(params=["sqlite-directory-gone", "postgresql-refusing"])
def recording(request, tmp_path):
    """A recorded engine ticking in its thread (a minute of market time every 0.2 s), its
    app, and a context that makes the store fail for both the recorder and the app."""
    kind = request.param
    data_dir = tmp_path / "data"
    url = None if kind.startswith("sqlite") else request.getfixturevalue("postgres").create()
    engine = Engine([EUROPEAN, SECOND], {"IDX": terms(EUROPEAN), "SEC": terms(SECOND, "USD", 100)},
                    seed=3, clock=AcceleratedClock(START, 300.0), tick_interval=0.2,
                    history=RING)
    settings = Settings(hours="always", data_dir=data_dir, database_url=url, archive_every=0.0)
    recorder = start_recording(engine, settings)
    recorder.writer.retry_pause, recorder.writer.max_retry_pause = 0.05, 0.2
    # Without a pool each read opens the file again: a renamed directory then fails it.
    pool = {"poolclass": sa.pool.NullPool} if url is None else {}
    store = open_database(configured_url(settings), **pool)
    app = create_app(settings, feed=engine, store=store, store_stats=recorder.stats)
    try:
        wait_for_ticks(engine, 5)
        assert recorder.writer.flush(30.0)
        yield (app.test_client(), engine, recorder,
               functools.partial(_store_fault, kind, configured_url(settings), data_dir))
    finally:
        engine.stop()
        recorder.close()
        store.dispose()


def wait_for_ticks(engine: Engine, n: int) -> int:
    """Wait until the engine has ticked ``n`` more times; its sequence then."""
    target = engine.sequence + n
    wait_until(lambda: engine.sequence >= target, timeout=30, what=f"{n} ticks")
    return engine.sequence


def _health(client) -> tuple[int, dict]:
    # Health's store state is reused for up to a second.
    time.sleep(STORE_STATUS_TTL_SECONDS)
    r = client.get("/api/health")
    return r.status_code, r.get_json()


def _stored_sequences(client) -> list[int]:
    body = get(client, f"/api/data/underlying/IDX?from={q(START)}&limit=1000")
    return [t["id"] for t in body["ticks"]]


def test_a_failing_store_is_503_on_history_and_degraded_health_while_live_goes_on(
        recording):
    client, engine, recorder, fault = recording
    start, end = q(START), q(START + timedelta(minutes=30))
    code, body = _health(client)
    assert code == 200 and body["status"] == "healthy", body
    assert body["store"]["status"] == "ok" and body["store"]["writing"] is True
    models.HealthResponse.model_validate(body)
    with fault():
        wait_until(lambda: recorder.writer.failing, timeout=30)
        for url in HISTORY_URLS:
            r = client.get(url.format(start=start, end=end))
            assert r.status_code == 503, (url, r.get_data(as_text=True))
            assert r.headers["Retry-After"] == "5"
            error = r.get_json()
            assert error["error"] == "history store unavailable"
            assert error["detail"]["reason"] and error["detail"]["retry_after_seconds"] == 5
            models.ErrorResponse.model_validate(error)
        for url in LIVE_URLS:
            r = client.get(url)
            assert r.status_code == 200, (url, r.get_data(as_text=True))
        sequence = wait_for_ticks(engine, 2)
        assert get(client, "/api/data/chain/IDX")["chains"][0]["sequence"] >= sequence
        code, body = _health(client)
        models.HealthResponse.model_validate(body)
        assert code == 200 and body["status"] == "degraded" and not body["stale"], body
        store = body["store"]
        assert store["status"] == "degraded" and store["writing"] is False
        assert store["reading"] is False and store["last_error"]
        assert store["failing_since"].endswith("Z") and store["queue_depth"] >= 1
    # Health finds the store working again by itself (no history request needed).
    wait_until(lambda: _health(client)[1]["status"] == "healthy", timeout=30,
               what="health healthy again")
    code, body = _health(client)
    assert code == 200 and body["store"]["status"] == "ok"
    assert body["store"]["failing_since"] is None and body["store"]["reading"] is True
    last = wait_for_ticks(engine, 2)
    assert recorder.writer.flush(30.0)
    stored = _stored_sequences(client)
    # Nothing lost: every tick from the first to the last, the outage's included.
    assert stored == list(range(stored[0], stored[-1] + 1)) and stored[-1] >= last
    assert recorder.writer.stats().dropped == 0


def test_reads_that_still_work_are_served_while_writes_fail(tmp_path):
    # The database's files made immutable: SQLite can still read them (no journal to roll
    # back), the writer cannot write. History is served as stored; health says writes fail.
    if not chattr_supported(tmp_path):
        pytest.skip("chattr +i is not available here (needs root and ext4/xfs/btrfs)")
    engine = Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=3,
                    clock=AcceleratedClock(START, 300.0), tick_interval=0.2, history=RING)
    settings = Settings(hours="always", data_dir=tmp_path)
    recorder = start_recording(engine, settings)
    recorder.writer.retry_pause, recorder.writer.max_retry_pause = 0.05, 0.2
    store = open_database(configured_url(settings))
    app = create_app(settings, feed=engine, store=store, store_stats=recorder.stats)
    client = app.test_client()
    path = tmp_path / "deltastream.db"
    try:
        wait_for_ticks(engine, 3)
        assert recorder.writer.flush(30.0)
        stored = _stored_sequences(client)
        with immutable(path, path.with_name(path.name + "-journal")):
            wait_until(lambda: recorder.writer.failing, timeout=30)
            assert _stored_sequences(client)[:len(stored)] == stored
            code, health = _health(client)
            assert code == 200 and health["status"] == "degraded", health
            assert health["store"]["writing"] is False and health["store"]["reading"] is True
        last = wait_for_ticks(engine, 2)
        assert recorder.writer.flush(30.0)
        after = _stored_sequences(client)
        assert after == list(range(after[0], after[-1] + 1)) and after[-1] >= last
    finally:
        engine.stop()
        recorder.close()
        store.dispose()
