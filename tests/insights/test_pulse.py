"""The market pulse against the analytics routes at the same snapshot, and its words against
their thresholds.

A seeded engine ticked by hand on a fixed clock: every figure of the narrative is read back
from the route that serves it (chain, underlying ticks, PCR history, max pain, OI build-up,
skew) or recomputed from that route's numbers by its closed form (realised volatility), and
every number written in a sentence is one of that sentence's facts at the precision shown.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest

from deltastream.engine.runner import Engine
from deltastream.insights.pulse import (
    SECONDS_PER_YEAR,
    PulseInputs,
    PulseThresholds,
    build_pulse,
    realised_vol,
)
from deltastream.market.clock import FixedClock
from deltastream.runtime.recorder import start_recording
from deltastream.settings import Settings
from deltastream.web import create_app
from tests.support.specs import EUROPEAN, START, spec, terms

SECOND = spec("SEC", 595.0, 1.0, 0.01, False, strikes_each_side=60)
TICKS = 40
SETTINGS = Settings(pulse_ticks=30, pulse_pcr_points=25)


@pytest.fixture(scope="module")
def market():
    engine = Engine([EUROPEAN, SECOND], {"IDX": terms(EUROPEAN),
                                         "SEC": terms(SECOND, "USD", 100)},
                    seed=3, clock=FixedClock(START), tick_interval=1.0, history=500)
    app = create_app(SETTINGS, feed=engine, start_feed=False)
    for _ in range(TICKS):
        engine.tick()
        engine.clock.advance(1.0)
    return engine, app.test_client()


def get(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, (url, response.get_json())
    return response.get_json()


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


_NUMBER = re.compile(r"(?<![\w.])[-+±]?\d[\d,]*(?:\.\d+)?")
# Dates and names such as "25-delta" are not figures.
_NOT_FIGURES = re.compile(r"\d{4}-\d{2}-\d{2}|\d+-delta")


def written_numbers(text: str) -> list[tuple[float, int]]:
    """Each number in ``text`` (dates and delta names left out) with its decimals."""
    out = []
    for token in _NUMBER.findall(_NOT_FIGURES.sub(" ", text)):
        clean = token.lstrip("+-±").replace(",", "")
        out.append((float(clean), len(clean.split(".")[1]) if "." in clean else 0))
    return out


@pytest.mark.parametrize("product", ["IDX", "SEC"])
def test_every_figure_equals_the_route_serving_it(market, product):
    _, client = market
    body = get(client, f"/api/ai/pulse?product={product}")
    facts = body["facts"]
    expiry = body["expiry"]
    q = f"?expiry={expiry}"
    chain = get(client, f"/api/data/chain/{product}{q}&strikes=201")["chains"][0]
    ticks = get(client, f"/api/data/underlying/{product}?limit={SETTINGS.pulse_ticks}")["ticks"]
    pcr = get(client, f"/api/analytics/pcr/{product}{q}&history=true"
                      f"&limit={SETTINGS.pulse_pcr_points}")
    pain = get(client, f"/api/analytics/max-pain/{product}{q}")
    buildup = get(client, f"/api/analytics/oi-buildup/{product}{q}&strikes=201")["buildup"]
    skew = get(client, f"/api/analytics/skew/{product}")["expiries"]
    assert chain["sequence"] == body["sequence"] == pcr["latest"].get("sequence",
                                                                      body["sequence"])
    assert len(chain["strikes"]) < 201           # the whole chain is in these responses

    # Contract shape of the original dashboard.
    assert body["data"]["pcr_oi"] == chain["pcr_oi"] == pcr["latest"]["pcr_oi"]
    assert body["data"]["max_pain_strike"] == chain["max_pain_strike"]
    assert body["data"]["atm_straddle_price"] == chain["atm_straddle_price"]
    assert body["analysis"] == " ".join(s["text"] for s in body["sentences"])

    prices = np.array([t["price"] for t in ticks])
    times = np.array([epoch(t["timestamp"]) for t in ticks])
    assert len(ticks) == SETTINGS.pulse_ticks == facts["ticks"]
    assert facts["spot"] == prices[-1] and facts["spot_before"] == prices[0]
    assert facts["spot_change"] == pytest.approx(prices[-1] - prices[0], abs=1e-9)
    assert facts["spot_change_pct"] == pytest.approx((prices[-1] / prices[0] - 1) * 100,
                                                     rel=1e-9)
    assert facts["window_minutes"] == pytest.approx((times[-1] - times[0]) / 60)
    returns = np.diff(np.log(prices))
    assert facts["realised_vol"] == pytest.approx(
        math.sqrt(np.sum(returns ** 2) * 365 * 86_400 / (times[-1] - times[0])), rel=1e-9)
    atm = chain["strikes"].index(chain["atm_strike"])
    served_iv = (chain["calls"][atm]["iv"] + chain["puts"][atm]["iv"]) / 2
    assert facts["atm_iv"] == pytest.approx(served_iv, rel=1e-5)   # served to 6 digits
    assert facts["iv_rv_ratio"] == pytest.approx(facts["atm_iv"] / facts["realised_vol"])

    history = pcr["history"]
    assert facts["pcr_oi"] == pcr["latest"]["pcr_oi"]
    assert facts["pcr_points"] == len(history) == SETTINGS.pulse_pcr_points
    assert facts["pcr_oi_before"] == history[0]["pcr_oi"]
    assert facts["pcr_oi_change"] == pytest.approx(pcr["latest"]["pcr_oi"]
                                                   - history[0]["pcr_oi"])

    assert facts["max_pain_strike"] == pain["max_pain_strike"]
    assert facts["max_pain_distance_pct"] == pain["distance_from_spot"]

    call_oi = [c["open_interest"] for c in chain["calls"]]
    put_oi = [p["open_interest"] for p in chain["puts"]]
    assert facts["call_wall_strike"] == chain["strikes"][int(np.argmax(call_oi))]
    assert facts["call_wall_oi"] == max(call_oi)
    assert facts["put_wall_strike"] == chain["strikes"][int(np.argmax(put_oi))]
    assert facts["put_wall_oi"] == max(put_oi)
    call_add = [b["call_oi_change"] for b in buildup]
    put_add = [b["put_oi_change"] for b in buildup]
    assert facts["call_oi_added_strike"] == buildup[int(np.argmax(call_add))]["strike"]
    assert facts["call_oi_added"] == max(call_add)
    assert facts["put_oi_added_strike"] == buildup[int(np.argmax(put_add))]["strike"]
    assert facts["put_oi_added"] == max(put_add)
    kinds = [b[f"{side}_buildup_type"] for b in buildup for side in ("call", "put")]
    for kind in ("long_buildup", "short_buildup", "short_covering", "long_unwinding"):
        assert facts.get(f"buildup_{kind}", 0) == kinds.count(kind)
    assert facts["buildup_classified"] == sum(k is not None for k in kinds)

    front = skew[0]
    solved = [e for e in skew if e["atm_iv"] is not None]
    assert front["expiry"] == expiry
    assert facts["atm_iv_front"] == solved[0]["atm_iv"]
    assert facts["atm_iv_back"] == solved[-1]["atm_iv"]
    assert facts["back_expiry"] == solved[-1]["expiry"]
    assert facts["back_days"] == solved[-1]["days"]
    assert facts["front_days"] == facts["days_to_expiry"] == front["days"]
    assert facts["rr25"] == front["rr25"]
    assert facts["put25_iv"] == front["put25_iv"]
    assert facts["call25_iv"] == front["call25_iv"]
    assert facts["atm_straddle_price"] == chain["atm_straddle_price"]
    assert facts["atm_strike"] == chain["atm_strike"]
    move = front["expected_move"]
    assert facts["expected_move"] == move["straddle"]
    assert facts["expected_move_pct"] == move["straddle_pct"]
    assert facts["expected_move_iv"] == move["iv"]
    assert facts["expected_move_iv_pct"] == move["iv_pct"]

    # Every number written is one of its sentence's facts (IVs written in percent).
    topics = {s["topic"] for s in body["sentences"]}
    assert {"spot", "volatility", "pcr", "max_pain", "open_interest", "iv_rank",
            "term_structure", "skew", "expected_move"} <= topics
    for sentence in body["sentences"]:
        values = [abs(v) for v in sentence["facts"].values()
                  if isinstance(v, int | float) and v is not None]
        for x, decimals in written_numbers(sentence["text"]):
            half = 0.5 * 10.0 ** -decimals + 1e-9
            assert any(abs(x - v * scale) <= half for v in values for scale in (1, 100)), (
                x, sentence)


def test_the_analytics_insights_route_is_the_pulse(market):
    _, client = market
    assert (get(client, "/api/analytics/insights/SEC")
            == get(client, "/api/ai/pulse?product=SEC"))


def test_realised_vol_of_constant_returns_is_the_closed_form():
    # Log returns of +r and -r alternating every dt seconds: variance r^2 per dt.
    r, dt, n = 0.001, 5.0, 101
    log_prices = np.log(100.0) + r * (np.arange(n) % 2)
    times = np.arange(n) * dt
    assert realised_vol(times, np.exp(log_prices)) == pytest.approx(
        r * math.sqrt(SECONDS_PER_YEAR / dt), rel=1e-12)
    assert realised_vol(times[:2], np.exp(log_prices[:2])) is None
    assert realised_vol(np.zeros(5), np.full(5, 100.0)) is None


# --- the words and their thresholds ------------------------------------------------------

def inputs_of(engine, product: str, *, lookback: list[float] | None = None) -> PulseInputs:
    ticks = engine.ticks.latest(product, 30)
    return PulseInputs(ticks.epoch_seconds, ticks.prices,
                       [(0.0, 0.5), (1.0, None), (2.0, 0.6)],
                       lookback, 365.0 if lookback is not None else None,
                       None if lookback is not None else "no history store on this server")


# 21 observations from 10 % to 30 % IV, the current one 25 %: IV rank exactly 75.
LOOKBACK = [0.10 + 0.01 * i for i in range(21) if i != 15] + [0.25]


def labels(engine, product: str, th: PulseThresholds) -> dict[str, str]:
    snap = engine.latest(product)
    pulse = build_pulse(snap, inputs_of(engine, product, lookback=LOOKBACK), th)
    out: dict[str, str] = {}
    for s in pulse.sentences:
        out.update(s.labels)
        for word in s.labels.values():
            assert word in s.text
    return out


def measured(engine, product: str) -> dict[str, float]:
    snap = engine.latest(product)
    facts = build_pulse(snap, inputs_of(engine, product, lookback=LOOKBACK)).facts
    return {k: float(v) for k, v in facts.items() if isinstance(v, int | float)}


# (threshold, label, how the measured value is compared, word when the threshold is
# below the measure, word when above). "value": the fact the threshold is compared with.
FLIPS = [
    ("flat_move_pct", "move", lambda f: abs(f["spot_change_pct"]), None, "flat"),
    ("iv_rich_ratio", "iv_vs_realised", lambda f: f["iv_rv_ratio"], "rich", None),
    ("iv_cheap_ratio", "iv_vs_realised", lambda f: f["iv_rv_ratio"], None, "cheap"),
    ("pcr_high", "pcr", lambda f: f["pcr_oi"], "put-heavy", None),
    ("pcr_low", "pcr", lambda f: f["pcr_oi"], None, "call-heavy"),
    ("pcr_change", "pcr_trend", lambda f: abs(f["pcr_oi_change"]), None, "steady"),
    ("max_pain_near_pct", "max_pain", lambda f: abs(f["max_pain_distance_pct"]), None,
     "near spot"),
    ("iv_rank_high", "iv_level", lambda f: f["iv_rank"], "elevated", None),
    ("iv_rank_low", "iv_level", lambda f: f["iv_rank"], None, "subdued"),
    ("term_points", "term_structure", lambda f: abs(f["term_points"]), None, "flat"),
    ("skew_points", "skew", lambda f: abs(f["rr25"]) * 100, None, "balanced"),
]


@pytest.mark.parametrize(("name", "label", "value", "below", "above"), FLIPS,
                         ids=[f[0] for f in FLIPS])
def test_each_threshold_flips_its_word(market, name, label, value, below, above):
    engine, _ = market
    f = measured(engine, "IDX")
    v = value(f)
    # The other thresholds of the pair kept out of the way: the neutral word between them.
    neutral = {"iv_rich_ratio": 100.0, "iv_cheap_ratio": 1e-6, "pcr_high": 100.0,
               "pcr_low": 0.0, "iv_rank_high": 100.0, "iv_rank_low": 0.0}
    base = replace(PulseThresholds(), **neutral)
    under = labels(engine, "IDX", replace(base, **{name: v * 0.99 if v else 0.0}))[label]
    over = labels(engine, "IDX", replace(base, **{name: v * 1.01 + 1e-9}))[label]
    assert under != over
    if below is not None:
        assert under == below
    if above is not None:
        assert over == above


def test_iv_rank_words_from_the_lookback(market):
    engine, _ = market
    assert measured(engine, "IDX")["iv_rank"] == pytest.approx(75.0)
    snap = engine.latest("IDX")
    none = build_pulse(snap, inputs_of(engine, "IDX"))
    sentence = next(s for s in none.sentences if s.topic == "iv_rank")
    assert sentence.text == "IV rank is not available: no history store on this server."
    assert sentence.facts["iv_rank"] is None


def test_thresholds_come_from_the_settings():
    th = PulseThresholds.from_settings(Settings(pulse_pcr_high=1.5, pulse_skew_points=2.0))
    assert th.pcr_high == 1.5 and th.skew_points == 2.0
    assert th.as_dict().keys() == PulseThresholds().as_dict().keys()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A market recorded once a day for 30 days in a SQLite store (IV rank needs 20 daily
    observations)."""
    engine = Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=7, clock=FixedClock(START),
                    tick_interval=1.0, history=50)
    settings = Settings(hours="always", data_dir=tmp_path_factory.mktemp("pulse"),
                        clock="fixed", clock_start=START.isoformat(), archive_every=86_400.0)
    recorder = start_recording(engine, settings)
    for _ in range(30):
        engine.tick()
        engine.clock.advance(86_400.0)
    assert recorder.writer.flush(60.0)
    app = create_app(settings, feed=engine, start_feed=False, store=recorder.store)
    yield app.test_client()
    recorder.close()


def test_iv_rank_and_percentile_equal_the_iv_history_route(recorded):
    client = recorded
    facts = get(client, "/api/ai/pulse?product=IDX")["facts"]
    history = get(client, "/api/analytics/iv-history/IDX")
    assert history["iv_rank"]["value"] is not None
    assert facts["iv_rank"] == history["iv_rank"]["value"]
    assert facts["iv_percentile"] == history["iv_percentile"]["value"]
    assert facts["iv_observations"] == history["lookback"]["observations"] >= 20
    assert facts["iv_lookback_days"] == history["lookback"]["days"]
    assert facts["iv_rank_current"] == history["current"]["atm_iv"]
