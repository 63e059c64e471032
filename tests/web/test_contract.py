"""Every route and field of the contract, validated against the documented response models."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.web import models
from deltastream.web.serialize import IV_DIGITS, significant


def get(client, url, model=None):
    r = client.get(url)
    assert r.status_code == 200, (url, r.get_data(as_text=True))
    assert r.mimetype == "application/json"
    body = r.get_json()
    if model is not None:
        model.model_validate(body)
    return body


def test_products_in_catalogue_order(client):
    assert get(client, "/api/data/products", models.ProductsResponse) == {
        "products": ["IDX", "SEC"]}


def test_chain_shape_alignment_and_added_fields(client, engine):
    body = get(client, "/api/data/chain/IDX", models.ChainResponse)
    assert body["product"] == "IDX" and body["count"] == 1
    chain = body["chains"][0]
    snap = engine.latest("IDX")
    assert chain["expiry"] == snap.chains[0].expiry.isoformat()
    strikes = chain["strikes"]
    assert len(strikes) == 21 and strikes == sorted(strikes)
    assert [o["strike"] for o in chain["calls"]] == strikes
    assert [o["strike"] for o in chain["puts"]] == strikes
    assert strikes[10] == chain["atm_strike"]
    assert chain["timestamp"].endswith("Z") and chain["sequence"] == snap.sequence
    assert chain["exercise_style"] == "european" and chain["model"] == "black_scholes_merton"
    assert chain["lot_size"] == 50 and chain["currency"] == "INR" and chain["strike_step"] == 50
    for o in chain["calls"] + chain["puts"]:
        assert o["bid"] <= o["mid"] <= o["ask"]
        assert o["iv_status"] == "ok" and 0.01 < o["iv"] < 2


def test_chain_limit_expiry_and_strikes(client, engine):
    expiries = [c.expiry.isoformat() for c in engine.latest("IDX").chains]
    body = get(client, f"/api/data/chain/IDX?limit=3&strikes=5&expiry={expiries[1]}")
    assert [c["expiry"] for c in body["chains"]] == expiries[1:4]
    assert all(len(c["strikes"]) == 5 for c in body["chains"])
    # Asking for more than are listed returns what is listed.
    assert get(client, "/api/data/chain/IDX?limit=10")["count"] == len(expiries)
    # An even count still centres on the ATM strike; more than the ladder holds is capped.
    assert len(get(client, "/api/data/chain/IDX?strikes=201")["chains"][0]["strikes"]) == 41


def test_two_calls_within_one_snapshot_return_identical_bodies_and_etag(client):
    a = client.get("/api/data/chain/SEC?strikes=41")
    b = client.get("/api/data/chain/SEC?strikes=41")
    assert a.data == b.data and a.headers["ETag"] == b.headers["ETag"]
    c = client.get("/api/data/chain/SEC?strikes=41",
                   headers={"If-None-Match": a.headers["ETag"]})
    assert c.status_code == 304 and c.data == b""


def test_a_new_tick_changes_the_body_and_the_etag(client, engine):
    a = client.get("/api/data/chain/IDX")
    engine.clock.advance(1.0)
    engine.tick()
    b = client.get("/api/data/chain/IDX", headers={"If-None-Match": a.headers["ETag"]})
    assert b.status_code == 200 and b.headers["ETag"] != a.headers["ETag"]
    assert b.get_json()["chains"][0]["sequence"] == a.get_json()["chains"][0]["sequence"] + 1


def test_underlying_ticks_are_real_consecutive_ticks_oldest_first(client, engine):
    body = get(client, "/api/data/underlying/IDX?limit=4", models.UnderlyingResponse)
    ticks = body["ticks"]
    assert body["count"] == 4 and [t["product"] for t in ticks] == ["IDX"] * 4
    ids = [t["id"] for t in ticks]
    assert ids == sorted(ids) and np.all(np.diff(ids) == 1)
    assert [t["timestamp"] for t in ticks] == sorted(t["timestamp"] for t in ticks)
    assert ticks[-1]["price"] == engine.latest("IDX").spot
    assert get(client, "/api/data/underlying/IDX?limit=1000")["count"] == 5


def test_expiries_ascending(client, engine):
    body = get(client, "/api/data/expiries/IDX", models.ExpiriesResponse)
    assert body["expiries"] == sorted(body["expiries"])
    assert body["expiries"] == [c.expiry.isoformat() for c in engine.latest("IDX").chains]


def test_health(client, engine):
    r = client.get("/api/health")
    models.HealthResponse.model_validate(r.get_json())
    # The fixture's engine is ticked by hand, not running: health says so.
    assert r.status_code == 503 and r.get_json()["status"] == "unhealthy"
    engine.start()
    try:
        r = client.get("/api/health")
        assert r.status_code == 200
        body = r.get_json()
        assert body["status"] == "healthy" and body["service"] == "deltastream-flask"
    finally:
        engine.stop()


def test_pcr_latest_and_history(client, engine):
    body = get(client, "/api/analytics/pcr/IDX?history=true", models.PCRResponse)
    chain = engine.latest("IDX").chains[0]
    assert body["latest"]["pcr_oi"] == pytest.approx(
        chain.puts.open_interest.sum() / chain.calls.open_interest.sum())
    assert len(body["history"]) == 5
    stamps = [h["timestamp"] for h in body["history"]]
    assert stamps == sorted(stamps)
    assert "history" not in get(client, "/api/analytics/pcr/IDX")


def test_volatility_surface_is_the_chains_solved_ivs(client, engine):
    body = get(client, "/api/analytics/volatility-surface/IDX?strikes=5",
               models.SurfaceResponse)
    snap = engine.latest("IDX")
    assert [e["expiry"] for e in body["expiries"]] == [c.expiry.isoformat() for c in snap.chains]
    first = body["expiries"][0]
    chain = snap.chains[0]
    idx = np.searchsorted(chain.strikes, first["strikes"])
    assert first["call_ivs"] == significant(chain.calls.iv[idx], IV_DIGITS).tolist()
    assert len(first["strikes"]) == len(first["call_ivs"]) == len(first["put_ivs"]) == 5
    # Each served to 6 significant digits.
    assert first["avg_iv"] == pytest.approx(np.mean(first["call_ivs"] + first["put_ivs"]),
                                            rel=1e-5)


def test_max_pain_minimises_total_payout(client, engine):
    body = get(client, "/api/analytics/max-pain/IDX", models.MaxPainResponse)
    c = engine.latest("IDX").chains[0]
    payout = [np.sum(c.calls.open_interest * np.maximum(x - c.strikes, 0)
                     + c.puts.open_interest * np.maximum(c.strikes - x, 0)) for x in c.strikes]
    assert body["max_pain_strike"] == c.strikes[int(np.argmin(payout))]
    assert body["distance_from_spot"] == pytest.approx(
        (body["max_pain_strike"] - body["spot_price"]) / body["spot_price"] * 100)
    # The payout curve: every listed strike, totals equal to the brute-force sums above, and
    # its lowest point is the max-pain strike.
    rows = body["payouts"]
    assert [r["strike"] for r in rows] == c.strikes.tolist()
    assert [r["total"] for r in rows] == pytest.approx(payout, rel=1e-12, abs=1e-6)
    assert all(r["total"] == r["call"] + r["put"] for r in rows)
    lowest = min(rows, key=lambda r: r["total"])
    assert lowest["strike"] == body["max_pain_strike"]


def test_oi_buildup_from_signs_of_premium_and_oi_change(client, engine):
    body = get(client, "/api/analytics/oi-buildup/IDX?strikes=41", models.BuildupResponse)
    c = engine.latest("IDX").chains[0]
    names = {(1, 1): "long_buildup", (-1, 1): "short_buildup", (1, -1): "short_covering",
             (-1, -1): "long_unwinding"}
    for row in body["buildup"]:
        i = int(np.searchsorted(c.strikes, row["strike"]))
        assert row["call_oi_change"] == c.calls.oi_change[i]
        key = (int(np.sign(c.calls.change[i])), int(np.sign(c.calls.oi_change[i])))
        assert row["call_buildup_type"] == names.get(key)
        key = (int(np.sign(c.puts.change[i])), int(np.sign(c.puts.oi_change[i])))
        assert row["put_buildup_type"] == names.get(key)


def test_ohlc_candles_from_the_ticks(client, engine):
    body = get(client, "/api/analytics/ohlc/IDX?window=1", models.OHLCResponse)
    ticks = engine.ticks.latest("IDX")
    assert body["window"] == 1 and len(body["candles"]) == 1
    candle = body["candles"][0]
    assert candle["open"] == ticks.prices[0] and candle["close"] == ticks.prices[-1]
    assert candle["high"] == ticks.prices.max() and candle["low"] == ticks.prices.min()
    assert candle["timestamp"] == "2026-11-25T10:00:00.000Z"


def test_openapi_31_and_offline_docs(client):
    spec = get(client, "/openapi.json")
    assert spec["openapi"].startswith("3.1")
    assert "/api/data/chain/{product}" in spec["paths"]
    params = {p["name"] for p in spec["paths"]["/api/data/chain/{product}"]["get"]["parameters"]}
    assert {"expiry", "limit", "strikes"} <= params
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in page and "https://" not in page.split(
        "<body>")[0].replace("https://apiflask", "")
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_metrics(client):
    client.get("/api/data/products")
    text = client.get("/metrics").get_data(as_text=True)
    assert "deltastream_request_seconds_bucket" in text
    assert "deltastream_snapshot_age_seconds" in text


def test_cors_open_on_market_data(client):
    r = client.get("/api/data/products", headers={"Origin": "http://example.test"})
    assert r.headers["Access-Control-Allow-Origin"] in ("*", "http://example.test")
