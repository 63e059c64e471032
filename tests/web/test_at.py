"""A past time (``at=``) on every route that reads one snapshot: chain, expiries, max pain,
volatility surface, OI build-up and PCR (its figures, and its history ending there).

For a stored source ``at`` names the newest snapshot at or before it, a 404 naming the stored
range outside it; for the live source the archived snapshot nearest it within the archive
tolerance, a 404 naming the nearest archived times beyond it; without a store a 503. The
served figures are checked against the stored snapshots' own arrays, max pain against a
direct sum of the holders' payouts at every strike.

The store is a real SQLite database: an NSE-like source ('nse', NIFTY, one snapshot a day
whose weekly expiries roll) and the simulated market's archives of two engine runs that
number their snapshots alike (a restart without resume).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from deltastream.core.snapshot import ChainSnapshot, ExpiryChain
from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.store.database import open_database, sqlite_url
from deltastream.store.imports import write_imported
from deltastream.web import create_app, models
from deltastream.web.exposure_models import GEXResponse, SkewResponse
from deltastream.web.params import INSTANT_PATTERN
from deltastream.web.serialize import iso
from tests.support.specs import EUROPEAN, START, terms
from tests.web.test_sources import epoch_q, error, get, imported

DAYS = 11                   # stored sessions, one a day: the weekly expiries roll twice
SESSION = timedelta(days=1)
ARCHIVE_EVERY = 60.0        # the live source's archive interval and (default) tolerance
RESTART = timedelta(hours=1)

# Every route reading one snapshot, with the schema its answer validates against.
ROUTES = {"data/chain": models.ChainResponse, "data/expiries": models.ExpiriesResponse,
          "analytics/max-pain": models.MaxPainResponse,
          "analytics/volatility-surface": models.SurfaceResponse,
          "analytics/oi-buildup": models.BuildupResponse, "analytics/pcr": models.PCRResponse,
          "analytics/gex": GEXResponse, "analytics/skew": SkewResponse}


def engine(start: datetime = START, seed: int = 3) -> Engine:
    return Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=seed, clock=FixedClock(start),
                  tick_interval=1.0, history=100)


def run(feed: Engine, ticks: int) -> list[ChainSnapshot]:
    """``feed``'s snapshots of IDX, one tick every archive interval."""
    snaps = []
    for _ in range(ticks):
        snaps.append(feed.tick()["IDX"])
        feed.clock.advance(ARCHIVE_EVERY)
    return snaps


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(client, stored): the app on a live simulated market with a store holding 'nse'
    (NIFTY, DAYS daily snapshots) and two simulator runs of IDX ('first', 'second', the
    first on another seed, the second started RESTART later and numbered from 1 again: the
    live feed's)."""
    db = open_database(sqlite_url(tmp_path_factory.mktemp("at")))
    days = engine()
    nse = []
    for day in range(DAYS):
        nse.append(imported(days.tick()["IDX"], "nse", "NIFTY", "NSE", START + day * SESSION,
                            day))
        days.clock.advance(SESSION.total_seconds())
    first = run(engine(START - RESTART, seed=4), 4)
    live = engine()
    second = run(live, 4)
    write_imported(db, nse + first + second)
    app = create_app(Settings(archive_every=ARCHIVE_EVERY), feed=live, start_feed=False,
                     store=db)
    return app.test_client(), {"nse": nse, "first": first, "second": second}


def at_or_before(snaps: list[ChainSnapshot], at: datetime) -> ChainSnapshot:
    return [s for s in snaps if s.timestamp <= at][-1]


def holders_payout(chain: ExpiryChain) -> np.ndarray:
    """Total payout to option holders if the underlying settles at each listed strike,
    summed contract by contract."""
    k = chain.strikes
    settle = k[:, None]
    calls = (np.maximum(settle - k[None, :], 0) * chain.calls.open_interest[None, :]).sum(1)
    puts = (np.maximum(k[None, :] - settle, 0) * chain.puts.open_interest[None, :]).sum(1)
    return calls + puts


def ivs(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


def approx_ivs(got: list[float | None], want: np.ndarray) -> bool:
    expected = ivs(want)
    return all((g is None) == (w is None) and (w is None or math.isclose(g, w, rel_tol=1e-5))
               for g, w in zip(got, expected, strict=True))


# Between two stored days, exactly on one, the first and the one before the newest.
PAST = [(3, timedelta(hours=7)), (5, timedelta(0)), (0, timedelta(0)),
        (DAYS - 2, timedelta(hours=23, minutes=59))]


@pytest.mark.parametrize(("day", "after"), PAST)
def test_every_snapshot_route_serves_the_stored_snapshot_at_or_before_at(world, day, after):
    client, stored = world
    nse = stored["nse"]
    at = nse[day].timestamp + after
    want = at_or_before(nse, at)
    assert want is nse[day]
    newest = nse[-1]
    q = f"source=nse&at={epoch_q(at)}"
    # The past day lists other expiries than the newest: the answers below are its own.
    assert want.expiry_dates != newest.expiry_dates

    assert get(client, f"/api/data/expiries/NIFTY?{q}", models.ExpiriesResponse) == {
        "product": "NIFTY", "expiries": [e.isoformat() for e in want.expiry_dates]}
    chain = get(client, f"/api/data/chain/NIFTY?{q}&limit=10", models.ChainResponse)
    assert [c["expiry"] for c in chain["chains"]] == [e.isoformat() for e in want.expiry_dates]
    assert {c["sequence"] for c in chain["chains"]} == {want.sequence}

    second = want.chains[1]
    pain = get(client, f"/api/analytics/max-pain/NIFTY?{q}&expiry={second.expiry}",
               models.MaxPainResponse)
    payout = holders_payout(second)
    assert pain["expiry"] == second.expiry.isoformat()
    assert pain["timestamp"] == iso(want.timestamp) and pain["spot_price"] == want.spot
    assert pain["max_pain_strike"] == float(second.strikes[int(np.argmin(payout))])
    assert [p["strike"] for p in pain["payouts"]] == second.strikes.tolist()
    assert [p["total"] for p in pain["payouts"]] == pytest.approx(payout.tolist(), rel=1e-9)
    assert pain["distance_from_spot"] == pytest.approx(
        (pain["max_pain_strike"] - want.spot) / want.spot * 100, rel=1e-12)

    surface = get(client, f"/api/analytics/volatility-surface/NIFTY?{q}&strikes=201",
                  models.SurfaceResponse)
    assert surface["timestamp"] == iso(want.timestamp) and surface["spot_price"] == want.spot
    assert [e["expiry"] for e in surface["expiries"]] == [
        e.isoformat() for e in want.expiry_dates]
    for row, c in zip(surface["expiries"], want.chains, strict=True):
        assert row["days_to_expiry"] == (c.expiry - want.timestamp.date()).days
        assert row["time_to_expiry"] == c.time_to_expiry
        assert row["strikes"] == c.strikes.tolist()
        assert approx_ivs(row["call_ivs"], c.calls.iv) and approx_ivs(row["put_ivs"], c.puts.iv)

    buildup = get(client, f"/api/analytics/oi-buildup/NIFTY?{q}&expiry={second.expiry}"
                          "&strikes=201", models.BuildupResponse)
    assert buildup["timestamp"] == iso(want.timestamp)
    assert [b["strike"] for b in buildup["buildup"]] == second.strikes.tolist()
    assert [b["call_oi_change"] for b in buildup["buildup"]] == second.calls.oi_change.tolist()
    assert [b["put_oi_change"] for b in buildup["buildup"]] == second.puts.oi_change.tolist()

    pcr = get(client, f"/api/analytics/pcr/NIFTY?{q}", models.PCRResponse)
    nearest = want.chains[0]
    assert pcr["expiry"] == nearest.expiry.isoformat()
    assert pcr["latest"] == {"product": "NIFTY", "expiry": nearest.expiry.isoformat(),
                             "pcr_oi": nearest.pcr_oi, "pcr_volume": nearest.pcr_volume,
                             "spot_price": want.spot, "timestamp": iso(want.timestamp)}


def test_pcr_history_at_a_past_time_ends_there_unless_to_is_given(world):
    client, stored = world
    nse = stored["nse"]
    want = nse[4]
    expiry = want.expiry_dates[0]
    listing = [s for s in nse if expiry in s.expiry_dates]
    assert listing[-1].timestamp > want.timestamp     # the expiry is listed after it too
    q = f"source=nse&expiry={expiry}&history=true"
    body = get(client, f"/api/analytics/pcr/NIFTY?{q}&at={epoch_q(want.timestamp)}",
               models.PCRResponse)
    assert [(h["timestamp"], h["pcr_oi"]) for h in body["history"]] == [
        (iso(s.timestamp), s.chain_for(expiry).pcr_oi) for s in listing
        if s.timestamp <= want.timestamp]
    assert body["latest"]["timestamp"] == iso(want.timestamp)
    later = get(client, f"/api/analytics/pcr/NIFTY?{q}&at={epoch_q(want.timestamp)}"
                        f"&to={epoch_q(listing[-1].timestamp)}")
    assert [h["timestamp"] for h in later["history"]] == [iso(s.timestamp) for s in listing]
    assert later["latest"] == body["latest"]


@pytest.mark.parametrize("route", ROUTES)
def test_at_outside_a_stored_range_is_a_404_naming_the_range(world, route):
    client, stored = world
    nse = stored["nse"]
    first, last = nse[0].timestamp, nse[-1].timestamp
    for at in (first - timedelta(microseconds=1), last + timedelta(seconds=1),
               datetime(1990, 1, 1, tzinfo=UTC)):
        body = error(client, f"/api/{route}/NIFTY?source=nse&at={epoch_q(at)}", 404)
        assert body["detail"] == {"at": iso(at), "from": iso(first), "to": iso(last)}
        assert iso(first) in body["error"] and iso(last) in body["error"]
    # Its ends are within it: the newest is served at its own time.
    newest = get(client, f"/api/{route}/NIFTY?source=nse", ROUTES[route])
    assert get(client, f"/api/{route}/NIFTY?source=nse&at={epoch_q(last)}") == newest


@pytest.mark.parametrize("route", ROUTES)
def test_at_on_the_live_source_is_the_nearest_archive_within_tolerance(world, route):
    client, stored = world
    second = stored["second"]
    want = second[1]
    for at in (want.timestamp + timedelta(seconds=20), want.timestamp - timedelta(seconds=29)):
        body = get(client, f"/api/{route}/IDX?at={epoch_q(at)}", ROUTES[route])
        if route == "data/expiries":
            assert body["expiries"] == [e.isoformat() for e in want.expiry_dates]
        elif route == "data/chain":
            assert body["chains"][0]["timestamp"] == iso(want.timestamp)
        elif route == "analytics/pcr":
            assert body["latest"]["timestamp"] == iso(want.timestamp)
            assert body["latest"]["spot_price"] == want.spot
        else:
            assert body["timestamp"] == iso(want.timestamp)
            assert body["spot_price" if "spot_price" in body else "spot"] == want.spot
    # Past the tolerance of every archive: the nearest ones are named.
    far = second[-1].timestamp + timedelta(seconds=ARCHIVE_EVERY + 1)
    body = error(client, f"/api/{route}/IDX?at={epoch_q(far)}", 404)
    assert body["detail"] == {"at": iso(far), "tolerance_seconds": ARCHIVE_EVERY,
                              "nearest": [iso(second[-1].timestamp)]}


def test_archives_numbered_alike_by_two_engine_runs_are_served_for_their_own_time(world):
    client, stored = world
    first, second = stored["first"], stored["second"]
    assert [s.sequence for s in first] == [s.sequence for s in second]
    for route in ("data/chain", "analytics/max-pain", "analytics/volatility-surface",
                  "analytics/oi-buildup", "analytics/pcr"):
        for snap in (first[2], second[2], first[2]):
            body = get(client, f"/api/{route}/IDX?at={epoch_q(snap.timestamp)}")
            stamp = (body["chains"][0]["timestamp"] if route == "data/chain"
                     else body["latest"]["timestamp"] if route == "analytics/pcr"
                     else body["timestamp"])
            assert stamp == iso(snap.timestamp), route
    assert first[2].spot != second[2].spot
    pain = get(client, f"/api/analytics/max-pain/IDX?at={epoch_q(first[2].timestamp)}")
    assert pain["spot_price"] == first[2].spot


def test_a_past_snapshots_answer_is_cached_with_its_etag(world):
    client, stored = world
    url = f"/api/analytics/max-pain/NIFTY?source=nse&at={epoch_q(stored['nse'][3].timestamp)}"
    a = client.get(url)
    b = client.get(url, headers={"If-None-Match": a.headers["ETag"]})
    assert a.status_code == 200 and b.status_code == 304
    newest = client.get("/api/analytics/max-pain/NIFTY?source=nse")
    assert newest.headers["ETag"] != a.headers["ETag"]


@pytest.mark.parametrize("route", ROUTES)
def test_without_a_store_at_is_a_503(route):
    live = engine()
    live.tick()
    client = create_app(Settings(), feed=live, start_feed=False).test_client()
    get(client, f"/api/{route}/IDX", ROUTES[route])
    body = error(client, f"/api/{route}/IDX?at={epoch_q(START)}", 503)
    assert "history store" in body["error"]


def test_the_openapi_spec_documents_at_on_every_snapshot_route(world):
    client = world[0]
    spec = client.get("/openapi.json").get_json()
    for route in ROUTES:
        operation = spec["paths"][f"/api/{route}/{{product}}"]["get"]
        params = {p["name"]: p for p in operation["parameters"]}
        at = params["at"]
        assert at["in"] == "query" and not at["required"], route
        assert at["schema"] == {"type": "string", "format": "date-time",
                                "pattern": INSTANT_PATTERN}, route
        assert "at or before" in at["description"] and "nearest" in at["description"], route
        assert "with at=" in operation["responses"]["404"]["description"], route
        assert "stored range" in operation["responses"]["404"]["description"], route
    pcr = spec["paths"]["/api/analytics/pcr/{product}"]["get"]["parameters"]
    assert "unless 'to' is given" in next(p for p in pcr if p["name"] == "at")["description"]
    # The routes over a range of history take from/to, not at.
    for route in ("data/underlying", "analytics/ohlc", "analytics/iv-history"):
        names = {p["name"] for p in spec["paths"][f"/api/{route}/{{product}}"]["get"][
            "parameters"]}
        assert "at" not in names and "to" in names, route

