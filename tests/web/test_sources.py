"""Every product route by source: the live feed's by default, another source's newest stored
snapshot and stored history with ``source=``; /api/data/sources; the 404s that name the
sources, a source's products or its stored range; and the chain's contract symbols and
quality fields, live and imported, against the arrays they come from.

The store is a real SQLite database filled with the store's own writer of imported snapshots:
an NSE index ('nse', NIFTY, weekly and monthly expiries) and a US name ('cboe', AAPL), both
made from the simulated market's chains with quality arrays written here, and the simulated
market's own snapshots ('simulator').
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
import sqlalchemy as sa

from deltastream.analytics.candles import ohlc
from deltastream.catalog.contract_symbols import parse_contract_symbol
from deltastream.core.snapshot import ChainSnapshot, ContractQuality
from deltastream.core.types import PriceSource, flag_labels
from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.store.database import open_database, sqlite_url
from deltastream.store.imports import write_imported
from deltastream.store.rows import from_epoch_us
from deltastream.store.schema import chain_summaries
from deltastream.web import create_app, models, service
from deltastream.web.params import SOURCE_PATTERN
from deltastream.web.serialize import contract_symbols, iso
from tests.support.specs import EUROPEAN, START, spec, terms

SECOND = spec("SEC", 595.0, 1.0, 0.01, True, strikes_each_side=30)
DAYS = 25                      # imported sessions, one a day (IV rank needs 20)
SESSION = timedelta(days=1)


def engine() -> Engine:
    return Engine([EUROPEAN, SECOND], {"IDX": terms(EUROPEAN), "SEC": terms(SECOND, "USD", 100)},
                  seed=3, clock=FixedClock(START), tick_interval=1.0, history=100)


def quality(snap: ChainSnapshot, seed: int) -> ContractQuality:
    """Per-contract quality arrays of every kind: each price source, flag combinations,
    vendor figures missing in whole or in part."""
    rng = np.random.default_rng(seed)
    shape = snap.contracts.fields[0].shape
    iv = snap.contracts.fields[5]
    vendor_iv = iv * (1 + rng.normal(0, 0.01, shape))
    vendor_iv[rng.random(shape) < 0.2] = np.nan
    greeks = [rng.normal(0, 1, shape) for _ in range(5)]
    none = rng.random(shape) < 0.3            # no vendor Greek at all
    greeks[0][none] = np.nan
    for g in greeks[1:]:
        g[none | (rng.random(shape) < 0.2)] = np.nan
    arrays = [rng.integers(0, len(PriceSource), shape).astype(np.int8),
              rng.integers(0, 64, shape).astype(np.int16), vendor_iv, *greeks]
    for a in arrays:
        a.setflags(write=False)
    return ContractQuality(*arrays)


def imported(snap: ChainSnapshot, source: str, product: str, exchange: str, when: datetime,
             seed: int) -> ChainSnapshot:
    """``snap`` as an import of ``source`` would store it: its own product, exchange and
    time, the sequence derived from the time, quality and parity residuals."""
    residuals = np.linspace(1e-4, 5e-4, len(snap.expiry_dates))
    residuals[-1] = np.nan            # an expiry without a fit
    return dataclasses.replace(
        snap, product=product, source=source, timestamp=when,
        sequence=int(when.timestamp()),
        terms=dataclasses.replace(snap.terms, symbol=product, exchange=exchange),
        quality=quality(snap, seed), forward_residuals=residuals)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(client, engine, db, stored): the app on a live simulated market, with a store
    holding 'nse' and 'cboe' imports and the simulator's own snapshots."""
    db = open_database(sqlite_url(tmp_path_factory.mktemp("sources")))
    days = engine()
    nse, cboe = [], []
    for day in range(DAYS):
        snaps = days.tick()
        when = START + day * SESSION
        nse.append(imported(snaps["IDX"], "nse", "NIFTY", "NSE", when, day))
        cboe.append(imported(snaps["SEC"], "cboe", "AAPL", "CBOE", when + timedelta(hours=6),
                             100 + day))
        days.clock.advance(SESSION.total_seconds())
    live = engine()
    simulated = []
    for _ in range(4):
        simulated.append(live.tick())
        live.clock.advance(60.0)
    write_imported(db, nse + cboe + [s for tick in simulated for s in tick.values()])
    app = create_app(Settings(archive_every=60.0), feed=live, start_feed=False, store=db)
    stored = {"nse": nse, "cboe": cboe, "simulator": simulated}
    return app.test_client(), live, db, stored


def get(client, url: str, model=None) -> dict:
    r = client.get(url)
    assert r.status_code == 200, (url, r.get_data(as_text=True))
    body = r.get_json()
    if model is not None:
        model.model_validate(body)
    return body


def epoch_q(when: datetime) -> str:
    """A query-string time, to the microsecond."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error(client, url: str, status: int) -> dict:
    r = client.get(url)
    assert r.status_code == status, (url, r.get_data(as_text=True))
    body = r.get_json()
    assert set(body) == {"error", "detail"}
    return body


def test_sources_lists_the_live_source_first_then_the_stored_ones(world):
    client, _, _, stored = world
    body = get(client, "/api/data/sources", models.SourcesResponse)
    simulated = stored["simulator"]

    def rng(snaps):
        return {"from": iso(snaps[0].timestamp), "to": iso(snaps[-1].timestamp),
                "snapshots": len(snaps)}

    assert body == {"sources": [
        {"name": "simulator", "live": True, "products": [
            {"product": p, **rng([t[p] for t in simulated])} for p in ("IDX", "SEC")]},
        {"name": "cboe", "live": False,
         "products": [{"product": "AAPL", **rng(stored["cboe"])}]},
        {"name": "nse", "live": False,
         "products": [{"product": "NIFTY", **rng(stored["nse"])}]},
    ]}


def test_without_a_store_only_the_live_source_is_listed_and_others_are_503(world):
    _, live, _, _ = world
    client = create_app(Settings(), feed=live, start_feed=False).test_client()
    assert get(client, "/api/data/sources") == {"sources": [
        {"name": "simulator", "live": True,
         "products": [{"product": p, "from": None, "to": None, "snapshots": 0}
                      for p in ("IDX", "SEC")]}]}
    assert get(client, "/api/data/chain/IDX?source=simulator")["chains"][0]["source"] == \
        "simulator"
    body = error(client, "/api/data/chain/NIFTY?source=nse", 503)
    assert "history store" in body["error"]


def test_products_by_source(world):
    client = world[0]
    assert get(client, "/api/data/products")["products"] == ["IDX", "SEC"]
    assert get(client, "/api/data/products?source=simulator")["products"] == ["IDX", "SEC"]
    assert get(client, "/api/data/products?source=nse", models.ProductsResponse) == {
        "products": ["NIFTY"]}
    assert get(client, "/api/data/products?source=cboe")["products"] == ["AAPL"]


@pytest.mark.parametrize("route", [
    "data/chain", "data/expiries", "data/underlying", "analytics/pcr",
    "analytics/volatility-surface", "analytics/max-pain", "analytics/oi-buildup",
    "analytics/ohlc", "analytics/iv-history", "analytics/gex", "analytics/skew"])
def test_unknown_sources_and_products_not_in_a_source_are_404s_that_list_them(world, route):
    client = world[0]
    body = error(client, f"/api/{route}/NIFTY?source=bse", 404)
    assert "bse" in body["error"]
    assert body["detail"] == {"sources": ["simulator", "cboe", "nse"]}
    body = error(client, f"/api/{route}/IDX?source=nse", 404)
    assert "IDX" in body["error"] and "nse" in body["error"]
    assert body["detail"] == {"source": "nse", "valid_products": ["NIFTY"]}
    # The live source's own products only: another source's are not the live market's.
    body = error(client, f"/api/{route}/NIFTY", 404)
    assert body["detail"] == {"valid_products": ["IDX", "SEC"], "source": "simulator"}
    assert error(client, "/api/data/products?source=bse", 404)["detail"] == {
        "sources": ["simulator", "cboe", "nse"]}


def test_a_source_name_outside_the_accepted_pattern_is_a_400(world):
    client = world[0]
    for bad in ("n%20se", "-nse", "x" * 33, "%C3%A9"):
        body = error(client, f"/api/data/chain/NIFTY?source={bad}", 400)
        assert body["detail"]["parameter"] == "source"
        assert "A-Za-z0-9" in body["detail"]["accepted"]


def test_the_chain_of_another_source_is_its_newest_stored_snapshot(world):
    client, live, _, stored = world
    newest = stored["nse"][-1]
    body = get(client, "/api/data/chain/NIFTY?source=nse&limit=10&strikes=201",
               models.ChainResponse)
    assert body["product"] == "NIFTY" and body["count"] == len(newest.chains)
    for got, chain in zip(body["chains"], newest.chains, strict=True):
        assert got["source"] == "nse" and got["product"] == "NIFTY"
        assert got["expiry"] == chain.expiry.isoformat()
        assert got["sequence"] == int(newest.timestamp.timestamp())
        assert got["timestamp"] == iso(newest.timestamp)
        assert got["strikes"] == chain.strikes.tolist()
        assert [o["bid"] for o in got["calls"]] == chain.calls.bid.tolist()
        assert [o["open_interest"] for o in got["puts"]] == chain.puts.open_interest.tolist()
        assert got["forward"] == chain.forward
    # The live chain of the same route is the simulator's.
    assert get(client, "/api/data/chain/IDX")["chains"][0]["sequence"] == \
        live.latest("IDX").sequence
    # Within one stored snapshot: the same bytes and ETag, and a 304.
    a = client.get("/api/data/chain/NIFTY?source=nse")
    b = client.get("/api/data/chain/NIFTY?source=nse",
                   headers={"If-None-Match": a.headers["ETag"]})
    assert b.status_code == 304 and a.headers["ETag"] == b.headers["ETag"]


def _expected_option(quality: ContractQuality, row: int, col: int) -> dict:
    def number(a: np.ndarray) -> float | None:
        v = float(a[row, col])
        return None if math.isnan(v) else v

    greeks = {g: number(getattr(quality, f"vendor_{g}"))
              for g in ("delta", "gamma", "theta", "vega", "rho")}
    return {"price_source": PriceSource(int(quality.price_source[row, col])).label,
            "quality_flags": flag_labels(int(quality.flags[row, col])),
            "vendor_iv": number(quality.vendor_iv),
            "vendor_greeks": None if all(v is None for v in greeks.values()) else greeks}


def _close(a: float | None, b: float | None) -> bool:
    return a is None if b is None else a is not None and math.isclose(a, b, rel_tol=1e-9)


def test_imported_options_carry_their_price_source_flags_and_vendor_figures(world):
    client, _, _, stored = world
    newest = stored["nse"][-1]
    body = get(client, "/api/data/chain/NIFTY?source=nse&limit=10&strikes=201")
    seen_flags, seen_sources, partial = set(), set(), 0
    for got, chain in zip(body["chains"], newest.chains, strict=True):
        j = newest.expiry_dates.index(chain.expiry)
        residual = float(newest.forward_residuals[j])
        assert _close(got["forward_residual"], None if math.isnan(residual) else residual)
        lo = chain.columns[0]
        for row, side in enumerate(("calls", "puts")):
            for i, option in enumerate(got[side]):
                want = _expected_option(newest.quality, row, lo + i)
                assert option["price_source"] == want["price_source"]
                assert option["quality_flags"] == want["quality_flags"]
                assert _close(option["vendor_iv"], want["vendor_iv"])
                if want["vendor_greeks"] is None:
                    assert option["vendor_greeks"] is None
                else:
                    assert set(option["vendor_greeks"]) == set(want["vendor_greeks"])
                    assert all(_close(option["vendor_greeks"][g], v)
                               for g, v in want["vendor_greeks"].items())
                    partial += None in option["vendor_greeks"].values()
                seen_flags.update(option["quality_flags"])
                seen_sources.add(option["price_source"])
    assert seen_sources == {"mid", "settlement", "close", "last", "none"}
    assert seen_flags == {"crossed", "locked", "zero_bid", "stale", "below_intrinsic",
                          "no_contract"}
    assert partial > 0
    assert any(c["forward_residual"] is None for c in body["chains"])


def test_live_options_say_mid_with_no_flags_and_no_vendor_figures(world):
    client = world[0]
    body = get(client, "/api/data/chain/IDX?limit=10&strikes=201", models.ChainResponse)
    for chain in body["chains"]:
        assert chain["source"] == "simulator" and chain["forward_residual"] is None
        for option in chain["calls"] + chain["puts"]:
            assert option["price_source"] == "mid" and option["quality_flags"] == []
            assert option["vendor_iv"] is None and option["vendor_greeks"] is None


@pytest.mark.parametrize(("url", "product", "exchange_format"), [
    ("/api/data/chain/NIFTY?source=nse", "NIFTY", "nse"),
    ("/api/data/chain/AAPL?source=cboe", "AAPL", "occ"),
    ("/api/data/chain/IDX", "IDX", "occ"),
])
def test_contract_symbols_read_back_as_the_rows_contract(world, url, product, exchange_format):
    client = world[0]
    body = get(client, f"{url}&limit=10&strikes=201" if "?" in url
               else f"{url}?limit=10&strikes=201")
    monthly_seen = weekly_seen = 0
    for chain in body["chains"]:
        expiry = datetime.fromisoformat(chain["expiry"]).date()
        for right, side in (("call", "calls"), ("put", "puts")):
            for option in chain[side]:
                symbol = option["contract_symbol"]
                parsed = parse_contract_symbol(symbol)
                assert parsed.underlying == product and parsed.right == right, symbol
                assert parsed.strike == Decimal(str(option["strike"])), symbol
                if parsed.monthly:
                    # A monthly NSE symbol names the month: the chain's expiry is in it.
                    assert (parsed.expiry.year, parsed.expiry.month) == (expiry.year,
                                                                         expiry.month)
                    monthly_seen += 1
                else:
                    assert parsed.expiry == expiry, symbol
                    weekly_seen += 1
                if exchange_format == "occ":
                    assert len(symbol) == 21 and symbol[:6].rstrip() == product
                else:
                    assert symbol.endswith("CE" if right == "call" else "PE")
    assert weekly_seen > 0
    if exchange_format == "nse":
        assert monthly_seen > 0
    else:
        assert monthly_seen == 0


def test_contract_symbols_are_made_once_per_strike_ladder():
    live = engine()
    client = create_app(Settings(), feed=live, start_feed=False).test_client()
    live.tick()
    contract_symbols.cache_clear()
    first = get(client, "/api/data/chain/IDX?limit=10&strikes=201")["chains"]
    made = contract_symbols.cache_info().misses
    assert made == len(first)
    live.clock.advance(1.0)
    live.tick()
    again = get(client, "/api/data/chain/IDX?limit=10&strikes=201")["chains"]
    assert again[0]["sequence"] == first[0]["sequence"] + 1
    # The next tick's chains (the same ladders) reuse them.
    assert [c["strikes"] for c in again] == [c["strikes"] for c in first]
    assert contract_symbols.cache_info().misses == made
    assert [o["contract_symbol"] for o in again[0]["calls"]] == [
        o["contract_symbol"] for o in first[0]["calls"]]


def test_expiries_surface_max_pain_and_buildup_of_another_source(world):
    client, _, _, stored = world
    newest = stored["cboe"][-1]
    assert get(client, "/api/data/expiries/AAPL?source=cboe", models.ExpiriesResponse) == {
        "product": "AAPL", "expiries": [e.isoformat() for e in newest.expiry_dates]}
    surface = get(client, "/api/analytics/volatility-surface/AAPL?source=cboe&strikes=201",
                  models.SurfaceResponse)
    assert surface["spot_price"] == newest.spot
    assert [e["expiry"] for e in surface["expiries"]] == [
        e.isoformat() for e in newest.expiry_dates]
    assert surface["expiries"][0]["strikes"] == newest.chains[0].strikes.tolist()
    second = newest.chains[1]
    pain = get(client, f"/api/analytics/max-pain/AAPL?source=cboe&expiry={second.expiry}",
               models.MaxPainResponse)
    assert pain["max_pain_strike"] == second.max_pain_strike
    assert pain["timestamp"] == iso(newest.timestamp)
    buildup = get(client, f"/api/analytics/oi-buildup/AAPL?source=cboe&expiry={second.expiry}"
                          "&strikes=201", models.BuildupResponse)
    assert [b["strike"] for b in buildup["buildup"]] == second.strikes.tolist()
    assert [b["call_oi_change"] for b in buildup["buildup"]] == \
        second.calls.oi_change.tolist()
    pcr = get(client, "/api/analytics/pcr/AAPL?source=cboe", models.PCRResponse)
    assert pcr["latest"]["pcr_oi"] == newest.chains[0].pcr_oi
    assert pcr["latest"]["spot_price"] == newest.spot


def test_history_routes_read_the_sources_own_rows(world):
    client, _, db, stored = world
    nse = stored["nse"]
    ticks = get(client, "/api/data/underlying/NIFTY?source=nse&limit=1000",
                models.UnderlyingResponse)["ticks"]
    assert [(t["id"], t["price"], t["timestamp"]) for t in ticks] == [
        (int(s.timestamp.timestamp()), s.spot, iso(s.timestamp)) for s in nse]
    last2 = get(client, "/api/data/underlying/NIFTY?source=nse&limit=2")["ticks"]
    assert [t["price"] for t in last2] == [s.spot for s in nse[-2:]]
    # The PCR series of one expiry, from every stored snapshot that lists it.
    expiry = nse[-1].expiry_dates[0]
    history = get(client, f"/api/analytics/pcr/NIFTY?source=nse&history=true&expiry={expiry}",
                  models.PCRResponse)["history"]
    listing = [s for s in nse if expiry in s.expiry_dates]
    assert [(h["pcr_oi"], h["spot_price"], h["timestamp"]) for h in history] == [
        (s.chain_for(expiry).pcr_oi, s.spot, iso(s.timestamp)) for s in listing]
    assert len(history) >= 3
    candles = get(client, "/api/analytics/ohlc/NIFTY?source=nse&window=60&limit=1000",
                  models.OHLCResponse)["candles"]
    expected = ohlc(np.array([s.timestamp.timestamp() for s in nse]),
                    np.array([s.spot for s in nse]),
                    np.array([s.tick_volume for s in nse]), 3600)
    assert [(c["open"], c["close"], c["ticks"]) for c in candles] == [
        (c.open, c.close, c.ticks) for c in expected]
    # IV rank and percentile over the source's own daily ATM IVs.
    iv = get(client, "/api/analytics/iv-history/NIFTY?source=nse&lookback_days=30",
             models.IVHistoryResponse)
    s = chain_summaries
    with db.connect() as conn:
        rows = conn.execute(sa.select(s.c.ts, s.c.atm_iv).where(
            s.c.source == "nse", s.c.product == "NIFTY", s.c.expiry_rank == 0,
            s.c.atm_iv.is_not(None)).order_by(s.c.ts)).all()
    values = [r.atm_iv for r in rows]
    assert len(values) == DAYS
    assert [p["atm_iv"] for p in iv["series"]] == values
    assert iv["current"] == {"timestamp": iso(from_epoch_us(rows[-1].ts)),
                             "atm_iv": values[-1]}
    rank = 100 * (values[-1] - min(values)) / (max(values) - min(values))
    below = 100 * sum(v < values[-1] for v in values) / len(values)
    assert iv["lookback"]["observations"] == DAYS
    assert iv["iv_rank"]["value"] == pytest.approx(rank, abs=1e-9)
    assert iv["iv_percentile"]["value"] == pytest.approx(below, abs=1e-9)
    # The live source's ticks are its own: none of the imported ones.
    live = get(client, "/api/data/underlying/IDX?limit=1000")["ticks"]
    assert [(t["id"], t["price"]) for t in live] == [
        (tick["IDX"].sequence, tick["IDX"].spot) for tick in stored["simulator"]]


def test_at_serves_the_newest_snapshot_at_or_before_it_within_the_stored_range(world):
    client, _, _, stored = world
    nse = stored["nse"]
    for at, want in [(nse[2].timestamp + timedelta(hours=5), nse[2]),
                     (nse[2].timestamp, nse[2]), (nse[0].timestamp, nse[0]),
                     (nse[-1].timestamp, nse[-1])]:
        body = get(client, f"/api/data/chain/NIFTY?source=nse&at={epoch_q(at)}",
                   models.ChainResponse)
        assert body["chains"][0]["sequence"] == want.sequence
        assert body["chains"][0]["timestamp"] == iso(want.timestamp)
    for at in (nse[0].timestamp - timedelta(microseconds=1),
               nse[-1].timestamp + timedelta(seconds=1), datetime(1990, 1, 1, tzinfo=UTC)):
        body = error(client, f"/api/data/chain/NIFTY?source=nse&at={epoch_q(at)}", 404)
        assert body["detail"] == {"at": iso(at), "from": iso(nse[0].timestamp),
                                  "to": iso(nse[-1].timestamp)}
        assert iso(nse[0].timestamp) in body["error"] and iso(nse[-1].timestamp) in \
            body["error"]


def test_at_on_the_live_source_is_the_nearest_archive_within_tolerance(world):
    client, _, _, stored = world
    simulated = [tick["IDX"] for tick in stored["simulator"]]
    at = simulated[1].timestamp + timedelta(seconds=20)
    for url in (f"/api/data/chain/IDX?at={epoch_q(at)}",
                f"/api/data/chain/IDX?source=simulator&at={epoch_q(at)}"):
        assert get(client, url)["chains"][0]["sequence"] == simulated[1].sequence
    far = simulated[-1].timestamp + timedelta(hours=1)
    body = error(client, f"/api/data/chain/IDX?at={epoch_q(far)}", 404)
    assert body["detail"]["nearest"] == [iso(simulated[-1].timestamp)]


def test_the_openapi_spec_documents_source_on_every_product_route(world):
    client = world[0]
    spec = client.get("/openapi.json").get_json()
    routes = [p for p in spec["paths"] if "{product}" in p] + ["/api/data/products"]
    assert len(routes) >= 10
    for path in routes:
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert params["source"]["in"] == "query" and not params["source"]["required"], path
        assert params["source"]["schema"]["pattern"] == SOURCE_PATTERN, path
    option = spec["components"]["schemas"]["ChainResponse.Option"]["properties"]
    assert {"contract_symbol", "price_source", "quality_flags", "vendor_iv",
            "vendor_greeks"} <= set(option)
    chain = spec["components"]["schemas"]["ChainResponse.Chain"]["properties"]
    assert {"source", "forward_residual"} <= set(chain)


class Relabelled:
    """A live feed whose snapshots carry another source's name (as a replay's do)."""

    def __init__(self, feed: Engine, source: str) -> None:
        self._feed = feed
        self._source = source

    def __getattr__(self, name: str):
        return getattr(self._feed, name)

    def latest(self, product: str) -> ChainSnapshot | None:
        snap = self._feed.latest(product)
        return None if snap is None else dataclasses.replace(snap, source=self._source)


def test_the_default_source_is_the_live_feeds_and_the_simulator_then_a_stored_one(world):
    _, live, db, stored = world
    client = create_app(Settings(), feed=Relabelled(live, "replayed"), start_feed=False,
                        store=db).test_client()
    listing = get(client, "/api/data/sources")["sources"]
    assert [(s["name"], s["live"]) for s in listing] == [
        ("replayed", True), ("cboe", False), ("nse", False), ("simulator", False)]
    assert listing[0]["products"][0] == {"product": "IDX", "from": None, "to": None,
                                         "snapshots": 0}
    assert get(client, "/api/data/chain/IDX")["chains"][0]["source"] == "replayed"
    newest = stored["simulator"][-1]["IDX"]
    archived = get(client, "/api/data/chain/IDX?source=simulator")["chains"][0]
    assert archived["source"] == "simulator" and archived["sequence"] == newest.sequence
    assert error(client, "/api/data/chain/IDX?source=nope", 404)["detail"] == {
        "sources": ["replayed", "cboe", "nse", "simulator"]}


def test_a_new_import_is_served_once_the_sources_range_is_checked_again(tmp_path,
                                                                         monkeypatch):
    db = open_database(sqlite_url(tmp_path))
    days = engine()
    snaps = []
    for day in range(3):
        snaps.append(imported(days.tick()["IDX"], "nse", "NIFTY", "NSE",
                              START + day * SESSION, day))
        days.clock.advance(SESSION.total_seconds())
    write_imported(db, snaps[:2])
    live = engine()
    live.tick()
    client = create_app(Settings(), feed=live, start_feed=False, store=db).test_client()
    url = "/api/data/chain/NIFTY?source=nse"
    assert get(client, url)["chains"][0]["sequence"] == snaps[1].sequence
    write_imported(db, snaps[2:])
    # Within the refresh interval the kept snapshot is served...
    monkeypatch.setattr(service, "SOURCE_REFRESH_SECONDS", 3600.0)
    assert get(client, url)["chains"][0]["sequence"] == snaps[1].sequence
    # ...and once the range is checked again, the new one.
    monkeypatch.setattr(service, "SOURCE_REFRESH_SECONDS", 0.0)
    assert get(client, url)["chains"][0]["sequence"] == snaps[2].sequence
    at = snaps[2].timestamp
    assert get(client, f"{url}&at={epoch_q(at)}")["chains"][0]["sequence"] == snaps[2].sequence
