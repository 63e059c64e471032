"""American options against QuantLib's QdFp engine (high-precision scheme)."""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql

from deltastream.core.types import IVStatus
from deltastream.pricing import american
from deltastream.pricing import black_scholes_merton as bsm

TODAY = ql.Date(25, 11, 2026)
DC = ql.Actual365Fixed()


class QuantLibAmerican:
    """One QuantLib option whose spot can be bumped (for finite-difference Greeks)."""

    def __init__(self, S, K, days, r, q, sigma, call):
        ql.Settings.instance().evaluationDate = TODAY
        self.spot = ql.SimpleQuote(float(S))
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(self.spot),
            ql.YieldTermStructureHandle(ql.FlatForward(TODAY, float(q), DC)),
            ql.YieldTermStructureHandle(ql.FlatForward(TODAY, float(r), DC)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(TODAY, ql.NullCalendar(), float(sigma), DC)))
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, float(K))
        self.option = ql.VanillaOption(payoff, ql.AmericanExercise(TODAY, TODAY + int(days)))
        self.option.setPricingEngine(
            ql.QdFpAmericanEngine(process, ql.QdFpAmericanEngine.highPrecisionScheme()))

    def npv(self, spot=None):
        if spot is not None:
            self.spot.setValue(float(spot))
        return self.option.NPV()


@pytest.fixture(scope="module")
def grid():
    rng = np.random.default_rng(2026)
    n = 600
    S = rng.uniform(50, 500, n)
    days = rng.integers(30, 731, n)
    return dict(spot=S, strike=S * rng.uniform(0.5, 1.5, n), time=days / 365.0,
                rate=rng.uniform(0.0, 0.08, n), dividend_yield=rng.uniform(0.0, 0.03, n),
                vol=rng.uniform(0.10, 0.80, n), is_call=rng.random(n) < 0.5, days=days)


def _args(g):
    return {k: v for k, v in g.items() if k != "days"}


def test_prices_within_half_a_cent_of_quantlib_qdfp_high_precision(grid):
    ours = american.price(**_args(grid))
    ref = np.array([QuantLibAmerican(grid["spot"][i], grid["strike"][i], grid["days"][i],
                                     grid["rate"][i], grid["dividend_yield"][i],
                                     grid["vol"][i], grid["is_call"][i]).npv()
                    for i in range(len(ours))])
    err = np.abs(ours - ref)
    assert err.max() <= 0.005, int(np.argmax(err))


def test_never_below_intrinsic_or_european(grid):
    a = _args(grid)
    ours = american.price(**a)
    euro = bsm.price(**a)
    intrinsic = np.where(a["is_call"], np.maximum(a["spot"] - a["strike"], 0),
                         np.maximum(a["strike"] - a["spot"], 0))
    assert np.all(ours >= intrinsic)
    assert np.all(ours >= euro - 1e-12 * a["spot"])
    # Early exercise is worth something on in-the-money puts.
    itm_puts = ~a["is_call"] & (a["strike"] > 1.1 * a["spot"]) & (a["rate"] > 0.02)
    assert np.all(ours[itm_puts] > euro[itm_puts])


def test_no_early_exercise_value_without_its_reason():
    S, K, T, sig = 100.0, np.array([80.0, 100.0, 120.0]), 1.0, 0.3
    # A call on a stock paying no dividend, a put at a zero rate: European values.
    assert np.allclose(american.price(S, K, T, 0.05, 0.0, sig, True),
                       bsm.price(S, K, T, 0.05, 0.0, sig, True), rtol=0, atol=1e-12)
    assert np.allclose(american.price(S, K, T, 0.0, 0.02, sig, False),
                       bsm.price(S, K, T, 0.0, 0.02, sig, False), rtol=0, atol=1e-12)


def _as_chains(a: dict) -> dict:
    # Chains of 20 options of one side sharing maturity, rate and yield: the engine's batches,
    # which go through the shared boundary tables.
    chained = dict(a)
    for k in ("time", "rate", "dividend_yield", "is_call"):
        chained[k] = np.repeat(a[k][::20], 20)
    return chained


@pytest.mark.parametrize("batches", ["one_by_one", "chains"])
def test_implied_vol_round_trip_to_1e8(grid, batches):
    a = _args(grid) if batches == "one_by_one" else _as_chains(_args(grid))
    prices = american.price(**a)
    iv, status = american.implied_vol(prices, a["spot"], a["strike"], a["time"], a["rate"],
                                      a["dividend_yield"], a["is_call"])
    vega = american.greeks(**a).vega * 100
    # Options deep in the exercise region are worth their intrinsic value whatever the
    # volatility: no volatility is implied, and the solver says so.
    posed = vega > 1e-3
    assert posed.mean() > 0.9
    assert np.all(status[posed] == IVStatus.OK)
    assert np.max(np.abs(iv[posed] - a["vol"][posed])) <= 1e-8
    assert set(np.unique(status[~posed])) <= {IVStatus.OK, IVStatus.NO_TIME_VALUE,
                                              IVStatus.EARLY_EXERCISE}
    # A guess near the volatility the price came from gives the same answer.
    iv2, _ = american.implied_vol(prices, a["spot"], a["strike"], a["time"], a["rate"],
                                  a["dividend_yield"], a["is_call"], guess=a["vol"] * 1.01)
    assert np.max(np.abs(iv2[posed] - a["vol"][posed])) <= 1e-8


def test_chains_on_shared_boundaries_price_as_one_by_one(grid):
    # The shared tables interpolate the boundary in volatility: the same options priced in
    # chains and alone agree far inside the accuracy against QuantLib.
    a = _as_chains(_args(grid))
    together = american.greeks(**a)
    alone = [american.greeks(*(a[k][i] for k in ("spot", "strike", "time", "rate",
                                                  "dividend_yield", "vol", "is_call")))
             for i in range(0, len(a["spot"]), 5)]
    rows = slice(0, len(a["spot"]), 5)
    # (Alone, vega is a volatility difference on boundaries solved at each volatility.)
    for name, rtol in (("price", 1e-4), ("delta", 1e-4), ("gamma", 1e-4), ("vega", 3e-3),
                       ("rho", 1e-4)):
        single = np.array([float(getattr(g, name)) for g in alone])
        np.testing.assert_allclose(getattr(together, name)[rows], single, rtol=rtol,
                                   atol=1e-6, err_msg=name)


@pytest.mark.parametrize(
    ("price", "K", "call", "expected"),
    [(5.0, 90.0, True, IVStatus.BELOW_INTRINSIC),
     (100.0, 90.0, True, IVStatus.ABOVE_UPPER_BOUND),
     (120.0, 120.0, False, IVStatus.ABOVE_UPPER_BOUND),
     # At the intrinsic value: a put the model exercises now (early exercise), a call on a
     # low yield that it never exercises at this spot (no time value).
     (20.0, 120.0, False, IVStatus.EARLY_EXERCISE),
     (20.0, 80.0, True, IVStatus.NO_TIME_VALUE),
     (0.0, 100.0, True, IVStatus.NON_POSITIVE_PRICE),
     (np.nan, 100.0, True, IVStatus.INVALID_INPUT)])
def test_prices_without_an_implied_vol_say_why(price, K, call, expected):
    iv, status = american.implied_vol(price, 100.0, K, 0.5, 0.05, 0.01, call)
    assert np.isnan(iv) and status == expected


def test_greeks_against_quantlib_finite_differences(grid):
    a = _args(grid)
    idx = np.arange(0, 600, 10)
    sub = {k: v[idx] for k, v in a.items()}
    ours = american.greeks(**sub)
    for j, i in enumerate(idx):
        opt = QuantLibAmerican(a["spot"][i], a["strike"][i], grid["days"][i], a["rate"][i],
                               a["dividend_yield"][i], a["vol"][i], a["is_call"][i])
        S = a["spot"][i]
        h = 1e-3 * S
        up, mid, dn = opt.npv(S + h), opt.npv(S), opt.npv(S - h)
        assert ours.delta[j] == pytest.approx((up - dn) / (2 * h), abs=2e-3)
        assert ours.gamma[j] == pytest.approx((up - 2 * mid + dn) / h**2, abs=5e-4)
    assert np.all(ours.gamma >= -1e-9) and np.all(ours.vega >= -1e-9)
    puts = ~sub["is_call"]
    assert np.all((ours.delta[puts] >= -1) & (ours.delta[puts] <= 0))


def test_theta_from_the_pde_matches_a_time_bump(grid):
    a = _args(grid)
    idx = np.arange(0, 600, 7)
    sub = {k: v[idx] for k, v in a.items()}
    g = american.greeks(**sub)
    h = 1e-4
    later = american.price(**{**sub, "time": sub["time"] - h})
    earlier = american.price(**{**sub, "time": sub["time"] + h})
    assert np.allclose(g.theta, (later - earlier) / (2 * h) / 365, rtol=1e-2, atol=1e-4)


@pytest.mark.parametrize(("S", "K", "T", "sig"), [
    (100.0, 100.0, 1e-6, 0.3), (100.0, 100.0, 1.0, 1e-9), (100.0, 40.0, 2.0, 0.8),
    (100.0, 250.0, 2.0, 0.8), (100.0, 100.0, 0.0, 0.3), (1e-6, 1e-6, 1.0, 0.3)])
def test_edge_cases_are_finite(S, K, T, sig):
    for call in (True, False):
        g = american.greeks(S, K, T, 0.05, 0.02, sig, call)
        assert all(np.isfinite(v) for v in g)
        assert g.price >= (max(S - K, 0) if call else max(K - S, 0))


def test_first_order_greeks_equal_the_full_set(grid):
    a = _args(grid)
    idx = np.arange(0, 600, 5)
    sub = {k: v[idx] for k, v in a.items()}
    full = american.greeks(**sub)
    first = american.greeks(**sub, second_order=False)
    for name in ("price", "delta", "gamma", "theta", "vega", "rho"):
        assert np.allclose(getattr(first, name), getattr(full, name), rtol=1e-9, atol=1e-12), name
    assert np.all(np.isnan(first.vanna)) and np.all(np.isnan(first.charm))


def test_vega_and_rho_match_quantlib_bumps():
    # Vega and rho against central differences of QuantLib's QdFp high-precision prices
    # (the same bumps: 0.1 vol point, 1 basis point), per 1 percentage point.
    rng = np.random.default_rng(7)
    n = 60
    S = rng.uniform(50, 500, n)
    days = rng.integers(5, 731, n)
    K = S * rng.uniform(0.6, 1.4, n)
    r, q = rng.uniform(0.005, 0.08, n), rng.uniform(0.0, 0.03, n)
    sig, call = rng.uniform(0.1, 0.8, n), rng.random(n) < 0.5
    g = american.greeks(S, K, days / 365.0, r, q, sig, call, second_order=False)
    for i in range(n):
        def npv(rate, vol, i=i):
            return QuantLibAmerican(S[i], K[i], days[i], rate, q[i], vol, call[i]).npv()
        vega = (npv(r[i], sig[i] + 1e-3) - npv(r[i], sig[i] - 1e-3)) / 2e-3 / 100
        rho = (npv(r[i] + 1e-4, sig[i]) - npv(r[i] - 1e-4, sig[i])) / 2e-4 / 100
        assert g.vega[i] == pytest.approx(vega, abs=5e-4)
        assert g.rho[i] == pytest.approx(rho, abs=3e-3)


def test_a_full_pool_keeps_the_tables_its_groups_use(monkeypatch):
    # A chain's Greeks look up four tables per group (the boundary, the rate-bumped and the
    # two scaled ones): a pool with room for all of them but not for as many again is not
    # emptied when the groups ask again (it was: room was reserved for every group, found
    # or not, and the US-200 universe re-solved every table at every tick).
    from deltastream.pricing import _boundary_tables as tables

    monkeypatch.setattr(tables, "MAX_SLOTS", 16)
    pool = tables.BoundaryTables(capacity=4)
    T = np.repeat(np.linspace(0.1, 0.5, 5), tables.MIN_GROUP)
    r = np.full(T.shape, 0.05)
    q = np.full(T.shape, 0.01)
    eligible = np.ones(T.shape, dtype=bool)
    first = [pool.slots(T, r + k * 1e-6, q, eligible) for k in range(3)]
    pool.solved[first[0], 0] = True
    assert pool.used == 15 and pool.coef.shape[0] == 16
    for k in range(3):
        np.testing.assert_array_equal(pool.slots(T, r + k * 1e-6, q, eligible), first[k])
    assert pool.used == 15 and pool.solved[first[0], 0].all()
    # New groups beyond MAX_SLOTS empty it: every group gets a fresh slot.
    fresh = pool.slots(T, r + 3e-6, q, eligible)
    assert pool.used == 5 and not pool.solved.any()
    assert sorted(set(fresh.tolist())) == list(range(5))
