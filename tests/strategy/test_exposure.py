"""Dealer gamma exposure: per-strike GEX recomputed here from the served gamma and open
interest, the zero-gamma level checked against a re-pricing with the pricing package's own
Greeks (Black-Scholes-Merton, American), walls, conventions and the money unit."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest

from deltastream.core.snapshot import ContractArrays, OptionSide
from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.pricing import american
from deltastream.pricing import black_scholes_merton as bsm
from deltastream.strategy.exposure import (
    DEALER_SHORT_CALLS,
    DEALER_SHORT_PUTS,
    GammaBook,
    exposure,
    gex,
    signs,
    zero_gamma,
)
from tests.support.specs import EUROPEAN, START, spec, terms

FIELDS = tuple(OptionSide.__dataclass_fields__)
AMERICAN = spec("AME", 200.0, 2.5, 0.01, True, strikes_each_side=15)


@pytest.fixture(scope="module")
def snapshots():
    engine = Engine([EUROPEAN, AMERICAN],
                    {"IDX": terms(EUROPEAN), "AME": terms(AMERICAN, "USD", 100)},
                    seed=5, clock=FixedClock(START), tick_interval=1.0, history=10)
    for _ in range(3):
        snaps = engine.tick()
        engine.clock.advance(1.0)
    return snaps


def reference_by_strike(snap, chains, call_sign, put_sign):
    """GEX per strike from the served chains, written out: sign x gamma x OI x lot x S^2 /100."""
    money = snap.terms.lot_size * snap.spot ** 2 / 100
    calls, puts = defaultdict(float), defaultdict(float)
    for c in chains:
        for k, gc, oc, gp, op in zip(c.strikes, c.calls.gamma, c.calls.open_interest,
                                     c.puts.gamma, c.puts.open_interest, strict=True):
            calls[float(k)] += 0.0 if np.isnan(gc) else call_sign * gc * oc * money
            puts[float(k)] += 0.0 if np.isnan(gp) else put_sign * gp * op * money
    return calls, puts


@pytest.mark.parametrize("convention", [DEALER_SHORT_PUTS, DEALER_SHORT_CALLS])
@pytest.mark.parametrize("product", ["IDX", "AME"])
def test_per_strike_gex_is_served_gamma_times_open_interest(snapshots, product, convention):
    snap = snapshots[product]
    call_sign, put_sign = (1, -1) if convention == DEALER_SHORT_PUTS else (-1, 1)
    whole = exposure(snap, None, convention)
    calls, puts = reference_by_strike(snap, snap.chains, call_sign, put_sign)
    assert whole.strikes.tolist() == sorted(calls)
    np.testing.assert_allclose(whole.call_gex, [calls[k] for k in sorted(calls)], rtol=1e-12)
    np.testing.assert_allclose(whole.put_gex, [puts[k] for k in sorted(puts)], rtol=1e-12)
    np.testing.assert_allclose(whole.net_gex, whole.call_gex + whole.put_gex, rtol=1e-15)
    assert whole.total == pytest.approx(sum(calls.values()) + sum(puts.values()), rel=1e-12)
    assert np.all(np.sign(whole.call_gex) * call_sign >= 0)
    assert np.all(np.sign(whole.put_gex) * put_sign >= 0)

    second = snap.chains[1]
    one = exposure(snap, second.expiry, convention)
    calls, puts = reference_by_strike(snap, [second], call_sign, put_sign)
    assert one.strikes.tolist() == second.strikes.tolist()
    np.testing.assert_allclose(one.call_gex, list(calls.values()), rtol=1e-12)
    np.testing.assert_allclose(one.put_gex, list(puts.values()), rtol=1e-12)
    np.testing.assert_array_equal(one.call_oi, second.calls.open_interest)
    np.testing.assert_array_equal(one.put_oi, second.puts.open_interest)
    assert one.call_wall == second.strikes[int(np.argmax(
        np.nan_to_num(second.calls.gamma) * second.calls.open_interest))]
    assert one.put_wall == second.strikes[int(np.argmax(
        np.nan_to_num(second.puts.gamma) * second.puts.open_interest))]


def test_the_conventions_are_mirror_images(snapshots):
    snap = snapshots["IDX"]
    a, b = exposure(snap), exposure(snap, convention=DEALER_SHORT_CALLS)
    np.testing.assert_array_equal(a.net_gex, -b.net_gex)
    assert a.total == -b.total and a.zero_gamma == b.zero_gamma
    assert (a.call_wall, a.put_wall) == (b.call_wall, b.put_wall)
    with pytest.raises(ValueError, match="dealer_short_puts"):
        signs("dealers_long")      # type: ignore[arg-type]


def test_gex_is_the_money_change_of_the_dealers_delta_for_a_one_percent_move():
    # The dealers' delta change per 1 % of spot (a central difference of the pricing
    # package's delta, scaled to 1 %), x OI x lot, valued at the spot.
    s, k, t, r, q, vol, oi, lot, h = 24500.0, 24800.0, 0.05, 0.06, 0.01, 0.14, 12_000.0, 65, 1e-5
    gamma = bsm.greeks(s, k, t, r, q, vol, True).gamma
    delta_up = bsm.greeks(s * (1 + h), k, t, r, q, vol, True).delta
    delta_down = bsm.greeks(s * (1 - h), k, t, r, q, vol, True).delta
    per_percent = float(delta_up - delta_down) / (2 * h) / 100
    assert float(gex(gamma, oi, lot, s, 1.0)) == pytest.approx(per_percent * oi * lot * s,
                                                              rel=1e-7)
    assert float(gex(gamma, oi, lot, s, -1.0)) == -float(gex(gamma, oi, lot, s, 1.0))
    assert float(gex(np.nan, oi, lot, s, 1.0)) == 0.0


def reference_total(book_args, spot, pricer):
    """Total GEX at ``spot`` from the pricing package's gamma (not the module's closed form)."""
    a = book_args
    gamma = pricer(spot, a["strikes"], a["times"], a["rate"], a["dividend_yields"],
                   a["vols"], a["is_call"], second_order=False).gamma
    return float(np.sum(a["weights"] * gamma) * spot * spot / 100)


def two_sided_book(american_style: bool) -> dict:
    # A call at 110 and a put at 90 of equal size: dealers long the call gamma above the
    # spot, short the put gamma below, so the total changes sign between the two strikes.
    return {"strikes": np.array([110.0, 90.0]), "times": np.array([0.1, 0.1]),
            "vols": np.array([0.25, 0.3]), "dividend_yields": np.array([0.01, 0.01]),
            "is_call": np.array([True, False]), "weights": np.array([1000.0, -1200.0]) * 100,
            "rate": 0.05, "american": american_style}


@pytest.mark.parametrize("american_style", [False, True])
def test_zero_gamma_brackets_a_sign_change_of_the_repriced_total(american_style):
    args = two_sided_book(american_style)
    pricer = american.greeks if american_style else bsm.greeks
    level = zero_gamma(GammaBook(**args), 100.0)
    assert level is not None and 90.0 < level < 110.0
    below = reference_total(args, level * (1 - 1e-6), pricer)
    above = reference_total(args, level * (1 + 1e-6), pricer)
    assert below < 0 < above
    scale = reference_total(args, 110.0, pricer)
    assert abs(reference_total(args, level, pricer)) < 1e-7 * scale


def test_no_zero_gamma_without_a_sign_change():
    args = {**two_sided_book(False), "weights": np.array([1000.0, 1200.0])}
    assert zero_gamma(GammaBook(**args), 100.0) is None
    assert zero_gamma(GammaBook(**{**args, "weights": np.zeros(2)}), 100.0) is None


def test_the_closed_form_is_the_pricers_gamma():
    rng = np.random.default_rng(7)
    n = 50
    args = {"strikes": rng.uniform(80, 120, n), "times": rng.uniform(0.002, 1.0, n),
            "vols": rng.uniform(0.05, 0.9, n), "dividend_yields": rng.uniform(0, 0.03, n),
            "is_call": rng.random(n) < 0.5, "weights": rng.uniform(-1e5, 1e5, n),
            "rate": 0.04, "american": False}
    book = GammaBook(**args)
    spots = np.array([70.0, 95.0, 100.0, 133.0])
    np.testing.assert_allclose(book.european_total(spots),
                               [reference_total(args, s, bsm.greeks) for s in spots],
                               rtol=1e-10)


def out_of_the_money_interest(snap):
    """``snap`` with open interest on out-of-the-money options only (calls above the spot,
    puts below: how index open interest mostly sits), so that the total changes sign."""
    fields = list(snap.contracts.fields)
    at = FIELDS.index("open_interest")
    oi = fields[at].copy()
    oi[0, snap.strikes < snap.spot] = 0.0
    oi[1, snap.strikes > snap.spot] = 0.0
    fields[at] = oi
    return replace(snap, contracts=ContractArrays(tuple(fields)))


@pytest.mark.parametrize("interest", ["served", "out_of_the_money"])
@pytest.mark.parametrize("product", ["IDX", "AME"])
def test_a_chains_zero_gamma_is_a_sign_change_under_the_products_pricer(snapshots, product,
                                                                        interest):
    snap = snapshots[product]
    if interest == "out_of_the_money":
        snap = out_of_the_money_interest(snap)
    pricer = american.greeks if product == "AME" else bsm.greeks
    e = exposure(snap)
    n = snap.strikes.size
    sizes = np.diff(snap.offsets)
    times = np.repeat(snap.times, sizes)
    iv, oi = (snap.contracts.fields[FIELDS.index(f)] for f in ("iv", "open_interest"))
    vols = np.concatenate([iv[0], iv[1]])
    ok = np.isfinite(vols)
    args = {"strikes": np.tile(snap.strikes, 2)[ok], "times": np.tile(times, 2)[ok],
            "vols": vols[ok], "dividend_yields": np.full(ok.sum(), snap.terms.dividend_yield),
            "is_call": np.repeat([True, False], n)[ok],
            "weights": (np.concatenate([oi[0], -oi[1]]) * snap.terms.lot_size)[ok],
            "rate": snap.terms.rate}
    # At the snapshot's spot the re-pricing reproduces the served total.
    assert reference_total(args, snap.spot, pricer) == pytest.approx(e.total, rel=1e-9)
    if interest == "out_of_the_money":
        assert e.zero_gamma is not None
    if e.zero_gamma is None:
        grid = snap.spot * np.exp(np.linspace(-0.2, 0.2, 81))
        totals = [reference_total(args, s, pricer) for s in grid]
        assert np.all(np.sign(totals) == np.sign(totals[0]))
    else:
        below = reference_total(args, e.zero_gamma * (1 - 1e-6), pricer)
        above = reference_total(args, e.zero_gamma * (1 + 1e-6), pricer)
        assert below * above < 0
