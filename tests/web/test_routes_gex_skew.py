"""GET /api/analytics/gex and /skew through the app: GEX per strike recomputed from the chain
route's served gamma and open interest, the zero-gamma level a sign change of the chain
re-priced with the pricing package, skew identities against the chain route's smile, errors
naming the parameter, ETag caching and the documented shapes."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta

import numpy as np
import pytest
from openapi_spec_validator import validate
from scipy.stats import norm

from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.pricing import american
from deltastream.pricing import black_scholes_merton as bsm
from deltastream.settings import Settings
from deltastream.strategy.skew import skew as skew_of
from deltastream.web import create_app
from deltastream.web.exposure_models import GEXResponse, SkewResponse
from deltastream.web.serialize import iso
from tests.support.specs import START, spec, terms
from tests.web.test_at import DAYS, at_or_before, world  # noqa: F401  (world: a fixture)
from tests.web.test_sources import epoch_q


def get(client, url, model):
    r = client.get(url)
    assert r.status_code == 200, (url, r.get_data(as_text=True))
    body = r.get_json()
    model.model_validate(body)
    return body


def chains(client, product="IDX"):
    return get_json(client, f"/api/data/chain/{product}?limit=10&strikes=201")["chains"]


def get_json(client, url):
    r = client.get(url)
    assert r.status_code == 200, url
    return r.get_json()


def served_gex(chain_list, spot, sign_call, sign_put):
    """sign x gamma x OI x lot x S^2 x 0.01 per strike, from the chain route's numbers."""
    calls, puts = defaultdict(float), defaultdict(float)
    for c in chain_list:
        money = c["lot_size"] * spot * spot * 0.01
        for call, put in zip(c["calls"], c["puts"], strict=True):
            calls[call["strike"]] += sign_call * (call["gamma"] or 0.0) * call["open_interest"] \
                * money
            puts[put["strike"]] += sign_put * (put["gamma"] or 0.0) * put["open_interest"] * money
    return calls, puts


@pytest.mark.parametrize("convention,signs", [("dealer_short_puts", (1, -1)),
                                              ("dealer_short_calls", (-1, 1))])
def test_gex_per_strike_is_served_gamma_times_open_interest(client, convention, signs):
    listed = chains(client)
    body = get(client, f"/api/analytics/gex/IDX?convention={convention}", GEXResponse)
    assert body["convention"] == convention and body["expiry"] is None
    assert body["unit"] == "INR per 1% move" and body["currency"] == "INR"
    assert body["source"] == "simulator" and body["model"] == "black_scholes_merton"
    calls, puts = served_gex(listed, body["spot"], *signs)
    rows = body["strikes"]
    assert [r["strike"] for r in rows] == sorted(calls)
    # The chain route rounds gamma to 5 significant digits.
    for r in rows:
        assert r["call_gex"] == pytest.approx(calls[r["strike"]], rel=1e-4, abs=1e-6)
        assert r["put_gex"] == pytest.approx(puts[r["strike"]], rel=1e-4, abs=1e-6)
        assert r["net_gex"] == pytest.approx(r["call_gex"] + r["put_gex"], rel=1e-12)
    assert body["total"] == pytest.approx(sum(r["net_gex"] for r in rows), rel=1e-12)
    sizes = {r["strike"]: abs(r["call_gex"]) for r in rows}
    assert body["call_wall"] == max(sizes, key=sizes.__getitem__)
    sizes = {r["strike"]: abs(r["put_gex"]) for r in rows}
    assert body["put_wall"] == max(sizes, key=sizes.__getitem__)


def test_gex_of_one_expiry(client):
    second = chains(client)[1]
    body = get(client, f"/api/analytics/gex/IDX?expiry={second['expiry']}", GEXResponse)
    assert body["expiry"] == second["expiry"]
    assert [r["strike"] for r in body["strikes"]] == second["strikes"]
    assert [r["call_oi"] for r in body["strikes"]] == [o["open_interest"]
                                                       for o in second["calls"]]
    calls, puts = served_gex([second], body["spot"], 1, -1)
    for r in body["strikes"]:
        assert r["call_gex"] == pytest.approx(calls[r["strike"]], rel=1e-4, abs=1e-6)
        assert r["put_gex"] == pytest.approx(puts[r["strike"]], rel=1e-4, abs=1e-6)


def repriced_total(listed, spot, sign_call=1, sign_put=-1):
    """Total GEX with every option re-priced at ``spot`` by bsm.greeks at its served IV."""
    total = 0.0
    for c in listed:
        for options, sign, call in ((c["calls"], sign_call, True), (c["puts"], sign_put, False)):
            for o in options:
                if o["iv"] is None:
                    continue
                gamma = float(bsm.greeks(spot, o["strike"], c["time_to_expiry"], c["rate"],
                                         c["dividend_yield"], o["iv"], call).gamma)
                total += sign * gamma * o["open_interest"] * c["lot_size"] * spot * spot / 100
    return total


def test_zero_gamma_is_a_sign_change_of_the_repriced_chain(client):
    body = get(client, "/api/analytics/gex/IDX", GEXResponse)
    listed = chains(client)
    # At the snapshot's spot the re-pricing (IVs rounded to 6 digits) gives the served total.
    assert repriced_total(listed, body["spot"]) == pytest.approx(body["total"], rel=1e-3)
    level = body["zero_gamma"]
    if level is None:
        grid = body["spot"] * np.exp(np.linspace(-0.2, 0.2, 41))
        totals = [repriced_total(listed, s) for s in grid]
        assert len({np.sign(t) for t in totals}) == 1
    else:
        assert repriced_total(listed, level * 0.999) * repriced_total(listed, level * 1.001) < 0


def test_bad_gex_parameters_are_named(client):
    r = client.get("/api/analytics/gex/IDX?convention=dealers_long")
    assert r.status_code == 400
    detail = r.get_json()["detail"]
    assert detail["parameter"] == "convention"
    assert "dealer_short_puts" in detail["accepted"] and "dealer_short_calls" in detail["accepted"]
    r = client.get("/api/analytics/gex/IDX?expiry=2026-13-01")
    assert r.status_code == 400 and r.get_json()["detail"]["parameter"] == "expiry"
    r = client.get("/api/analytics/gex/IDX?expiry=2020-01-03")
    assert r.status_code == 404
    detail = r.get_json()["detail"]
    assert detail["parameter"] == "expiry" and detail["expiries"] == [
        c["expiry"] for c in chains(client)]
    assert client.get("/api/analytics/gex/NOPE").status_code == 404
    assert client.get("/api/analytics/skew/NOPE").status_code == 404
    assert client.get("/api/analytics/skew/IDX?at=yesterday").get_json()["detail"][
        "parameter"] == "at"


@pytest.mark.parametrize("url", ["/api/analytics/gex/IDX?convention=dealer_short_calls",
                                 "/api/analytics/skew/SEC"])
def test_responses_are_cached_with_an_etag(client, engine, url):
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    engine.tick()
    moved = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert moved.status_code == 200 and moved.get_json()["sequence"] == \
        first.get_json()["sequence"] + 1


def smile_of(chain):
    f = chain["forward"]
    k = np.array(chain["strikes"])
    otm = [(p if s < f else c)["iv"] for s, c, p in zip(k, chain["calls"], chain["puts"],
                                                       strict=True)]
    return k, np.array([np.nan if v is None else v for v in otm])


@pytest.mark.parametrize("product", ["IDX", "SEC"])
def test_skew_against_the_chain_routes_smile(client, product):
    body = get(client, f"/api/analytics/skew/{product}", SkewResponse)
    listed = chains(client, product)
    assert [e["expiry"] for e in body["expiries"]] == [c["expiry"] for c in listed]
    assert body["delta_convention"] == "forward"
    days = [e["days"] for e in body["expiries"]]
    assert days == sorted(days) and days[0] >= 0
    for row, chain in zip(body["expiries"], listed, strict=True):
        t, f, spot = chain["time_to_expiry"], chain["forward"], body["spot"]
        assert row["forward"] == pytest.approx(f, rel=1e-12)
        k, v = smile_of(chain)
        # ATM: between the smile IVs of the strikes around the forward.
        i = int(np.searchsorted(k, f))
        assert min(v[i - 1], v[i]) - 1e-6 <= row["atm_iv"] <= max(v[i - 1], v[i]) + 1e-6
        assert row["rr25"] == pytest.approx(row["call25_iv"] - row["put25_iv"], abs=1e-15)
        assert row["bf25"] == pytest.approx(
            (row["call25_iv"] + row["put25_iv"]) / 2 - row["atm_iv"], abs=1e-15)
        # Each wing lies between the smile IVs of the strikes whose forward deltas bracket it.
        call_delta = norm.cdf(np.log(f / k) / (v * math.sqrt(t)) + v * math.sqrt(t) / 2)
        for name, target in (("call25_iv", 0.25), ("put25_iv", 0.75), ("call10_iv", 0.10),
                             ("put10_iv", 0.90)):
            if row[name] is None:
                assert not (call_delta.min() <= target <= call_delta.max()), name
                continue
            j = int(np.flatnonzero(call_delta >= target)[-1])
            assert min(v[j], v[j + 1]) - 1e-6 <= row[name] <= max(v[j], v[j + 1]) + 1e-6
        move = row["expected_move"]
        assert move["iv"] == pytest.approx(spot * row["atm_iv"] * math.sqrt(t), rel=1e-12)
        assert move["iv_pct"] == pytest.approx(move["iv"] / spot * 100, rel=1e-12)
        straddle = [c["mid"] + p["mid"] for c, p in zip(chain["calls"], chain["puts"],
                                                        strict=True)]
        at_forward = np.interp(f, k, straddle) * math.exp(chain["rate"] * t)
        assert move["straddle"] == pytest.approx(at_forward, rel=1e-6)
        assert move["straddle_pct"] == pytest.approx(move["straddle"] / spot * 100, rel=1e-12)


def test_the_spec_documents_and_validates_the_new_routes(client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    gex = spec["paths"]["/api/analytics/gex/{product}"]["get"]
    params = {p["name"]: p for p in gex["parameters"]}
    assert params["convention"]["schema"]["enum"] == ["dealer_short_puts", "dealer_short_calls"]
    assert params["convention"]["schema"]["default"] == "dealer_short_puts"
    assert {"expiry", "source", "at"} <= set(params)
    skew = spec["paths"]["/api/analytics/skew/{product}"]["get"]
    assert {p["name"] for p in skew["parameters"]} >= {"source", "at"}


def test_an_american_chains_zero_gamma_is_priced_with_the_american_model():
    american_spec = spec("AME", 200.0, 2.5, 0.01, True, strikes_each_side=15)
    engine = Engine([american_spec], {"AME": terms(american_spec, "USD", 100)}, seed=5,
                    clock=FixedClock(START), tick_interval=1.0, history=10)
    engine.tick()
    client = create_app(Settings(), feed=engine, start_feed=False).test_client()
    body = get(client, "/api/analytics/gex/AME?convention=dealer_short_calls", GEXResponse)
    assert body["model"] == "american_fixed_point_boundary" and body["unit"] == "USD per 1% move"
    listed = chains(client, "AME")
    calls, puts = served_gex(listed, body["spot"], -1, 1)
    assert body["total"] == pytest.approx(sum(calls.values()) + sum(puts.values()), rel=1e-4)

    def total(spot):
        out = 0.0
        for c in listed:
            for options, sign, call in ((c["calls"], -1, True), (c["puts"], 1, False)):
                ok = [o for o in options if o["iv"] is not None]
                gamma = american.greeks(spot, [o["strike"] for o in ok], c["time_to_expiry"],
                                        c["rate"], c["dividend_yield"], [o["iv"] for o in ok],
                                        call, second_order=False).gamma
                out += sign * float(np.dot(gamma, [o["open_interest"] for o in ok])) * 100
        return out

    if body["zero_gamma"] is not None:
        assert total(body["zero_gamma"] * 0.999) * total(body["zero_gamma"] * 1.001) < 0
    else:
        signs = {np.sign(total(s)) for s in body["spot"] * np.exp(np.linspace(-0.2, 0.2, 21))}
        assert len(signs) == 1


@pytest.mark.parametrize("day", [2, DAYS - 3])
def test_gex_and_skew_at_a_past_time_are_the_stored_snapshots(request, day):
    # History where stored: at= names the stored snapshot at or before it, whose expiries
    # differ from the newest one's; its GEX recomputed here from that snapshot's gamma and OI.
    client, stored = request.getfixturevalue("world")   # test_at's store of daily snapshots
    nse = stored["nse"]
    at = nse[day].timestamp + timedelta(hours=5)
    want = at_or_before(nse, at)
    assert want is nse[day] and want.expiry_dates != nse[-1].expiry_dates
    q = f"source=nse&at={epoch_q(at)}"
    body = get(client, f"/api/analytics/gex/NIFTY?{q}", GEXResponse)
    assert body["timestamp"] == iso(want.timestamp) and body["spot"] == want.spot
    assert body["sequence"] == want.sequence
    money = want.terms.lot_size * want.spot ** 2 / 100
    calls, puts = defaultdict(float), defaultdict(float)
    for c in want.chains:
        for k, gc, oc, gp, op in zip(c.strikes.tolist(), np.nan_to_num(c.calls.gamma),
                                     c.calls.open_interest, np.nan_to_num(c.puts.gamma),
                                     c.puts.open_interest, strict=True):
            calls[k] += gc * oc * money
            puts[k] -= gp * op * money
    assert [r["strike"] for r in body["strikes"]] == sorted(calls)
    for r in body["strikes"]:
        assert r["call_gex"] == pytest.approx(calls[r["strike"]], rel=1e-4, abs=1e-6)
        assert r["put_gex"] == pytest.approx(puts[r["strike"]], rel=1e-4, abs=1e-6)

    body = get(client, f"/api/analytics/skew/NIFTY?{q}", SkewResponse)
    assert body["timestamp"] == iso(want.timestamp) and body["sequence"] == want.sequence
    rows = skew_of(want)
    assert [e["expiry"] for e in body["expiries"]] == [r.expiry.isoformat() for r in rows]
    for got, row in zip(body["expiries"], rows, strict=True):
        assert got["days"] == row.days
        assert got["atm_iv"] == pytest.approx(row.figures.atm_iv, rel=1e-4)
        assert got["rr25"] == pytest.approx(row.figures.rr25, rel=1e-3, abs=1e-5)
