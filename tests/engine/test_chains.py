"""Chain snapshots built from market quotes: each solved volatility reprices its quote under the
product's model, the Greeks are the pricing module's at that volatility (European) or agree
with the price's finite differences (American; a mid at the intrinsic value of an option the
model exercises gets the exercise region's Greeks), and PCR, the ATM strike and max pain equal a
recomputation from the snapshot's own arrays."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.core.snapshot import ChainSnapshot
from deltastream.core.types import IVStatus
from deltastream.engine.chains import build_snapshots, solve_and_price
from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.pricing import american
from deltastream.pricing import black_scholes_merton as bsm
from tests.support.specs import EUROPEAN, START, spec, terms

AMERICAN = spec("AMR", 195.0, 2.5, 0.01, True, strikes_each_side=10)


@pytest.fixture(scope="module")
def snapshots() -> dict[str, ChainSnapshot]:
    """The sixth tick of a two-product market (some order flow has traded by then)."""
    clock = FixedClock(START)
    engine = Engine([EUROPEAN, AMERICAN],
                    {"IDX": terms(EUROPEAN), "AMR": terms(AMERICAN, "USD", 100)},
                    seed=11, clock=clock, tick_interval=1.0, history=100)
    for _ in range(5):
        engine.tick()
        clock.advance(60.0)
    return engine.tick()


def _solved(side) -> np.ndarray:
    return side.iv_status == IVStatus.OK


@pytest.mark.parametrize("product", ["IDX", "AMR"])
def test_each_solved_volatility_reprices_its_mid(snapshots, product):
    snap = snapshots[product]
    model = american if snap.terms.exercise_style == "american" else bsm
    checked = 0
    for chain in snap.chains:
        for is_call, side in ((True, chain.calls), (False, chain.puts)):
            ok = _solved(side)
            assert ok.sum() > len(ok) // 2, "most quotes have a volatility"
            repriced = model.price(chain.spot, chain.strikes[ok], chain.time_to_expiry,
                                   chain.rate, chain.dividend_yield, side.iv[ok], is_call)
            np.testing.assert_allclose(repriced, side.mid[ok], rtol=0, atol=1e-7 * chain.spot)
            assert np.all(np.isnan(side.iv[~ok]))
            checked += int(ok.sum())
    assert checked > 0


def test_european_greeks_are_the_analytical_greeks_at_the_solved_volatility(snapshots):
    snap = snapshots["IDX"]
    for chain in snap.chains:
        for is_call, side in ((True, chain.calls), (False, chain.puts)):
            ok = _solved(side)
            g = bsm.greeks(chain.spot, chain.strikes[ok], chain.time_to_expiry, chain.rate,
                           chain.dividend_yield, side.iv[ok], is_call)
            for name in ("delta", "gamma", "theta", "vega", "rho"):
                np.testing.assert_allclose(getattr(side, name)[ok], getattr(g, name),
                                           rtol=1e-9, atol=1e-12, err_msg=name)


def test_american_greeks_are_finite_differences_of_the_price_at_the_solved_volatility(
        snapshots):
    # The reference: central differences of the American price with steps of our own (a
    # tenth of the pricer's spot step), so the pricer's bump scheme is checked, not copied.
    snap = snapshots["AMR"]
    for chain in snap.chains:
        s, t, r, q = chain.spot, chain.time_to_expiry, chain.rate, chain.dividend_yield
        for is_call, side in ((True, chain.calls), (False, chain.puts)):
            ok = _solved(side)
            k, vol = chain.strikes[ok], side.iv[ok]
            h, dv, dr = 1e-4 * s, 1e-4, 1e-5
            delta = (american.price(s + h, k, t, r, q, vol, is_call)
                     - american.price(s - h, k, t, r, q, vol, is_call)) / (2 * h)
            vega = (american.price(s, k, t, r, q, vol + dv, is_call)
                    - american.price(s, k, t, r, q, vol - dv, is_call)) / (2 * dv) * 0.01
            rho = (american.price(s, k, t, r + dr, q, vol, is_call)
                   - american.price(s, k, t, r - dr, q, vol, is_call)) / (2 * dr) * 0.01
            np.testing.assert_allclose(side.delta[ok], delta, rtol=0, atol=1e-3)
            np.testing.assert_allclose(side.vega[ok], vega, rtol=1e-3, atol=1e-5)
            np.testing.assert_allclose(side.rho[ok], rho, rtol=0, atol=1e-6)


def test_a_mid_at_an_exercised_options_intrinsic_value_gets_the_exercise_greeks():
    # Deep in-the-money puts at a 6 % rate quoted at their intrinsic value: no volatility is
    # implied, but the position is K - S (delta -1, nothing else moves), not unknown; the
    # calls and the near-the-money puts are solved as usual.
    spot, strikes = 100.0, np.array([60.0, 70.0, 100.0, 250.0, 300.0])
    t, r, q, vol = 0.25, 0.06, 0.0, np.full(5, 0.3)
    calls = american.price(spot, strikes, t, r, q, vol, True)
    puts = np.where(strikes >= 250.0, strikes - spot,
                    american.price(spot, strikes, t, r, q, vol, False))
    iv, status, g = solve_and_price(True, np.full(5, spot), np.stack([calls, puts]), strikes,
                                    np.full(5, t), np.full(5, r), np.full(5, q), vol)
    exercised = np.zeros((2, 5), dtype=bool)
    exercised[1, 3:] = True
    assert np.all(status[exercised] == IVStatus.EARLY_EXERCISE)
    assert np.all(np.isnan(iv[exercised]))
    np.testing.assert_array_equal(g.delta[exercised], -1.0)
    for name in ("gamma", "theta", "vega", "rho"):
        np.testing.assert_array_equal(getattr(g, name)[exercised], 0.0, err_msg=name)
    np.testing.assert_allclose(iv[~exercised], 0.3, rtol=0, atol=1e-8)
    assert np.all(status[~exercised] == IVStatus.OK)


def test_put_call_ratios_are_sums_of_the_chains_own_arrays(snapshots):
    for snap in snapshots.values():
        for chain in snap.chains:
            call_oi, put_oi = chain.calls.open_interest.sum(), chain.puts.open_interest.sum()
            call_vol, put_vol = chain.calls.volume.sum(), chain.puts.volume.sum()
            assert chain.pcr_oi == (pytest.approx(put_oi / call_oi) if call_oi > 0 else None)
            assert chain.pcr_volume == (pytest.approx(put_vol / call_vol) if call_vol > 0
                                        else None)


def test_atm_strike_is_the_strike_nearest_the_forward(snapshots):
    for snap in snapshots.values():
        for chain in snap.chains:
            distance = np.abs(chain.strikes - chain.forward)
            nearest = chain.strikes[np.flatnonzero(distance == distance.min())[0]]
            assert chain.atm_strike == nearest
            i = int(np.flatnonzero(chain.strikes == nearest)[0])
            assert chain.atm_straddle_price == pytest.approx(chain.calls.mid[i]
                                                             + chain.puts.mid[i])


def test_max_pain_is_the_least_payout_settlement_by_brute_force(snapshots):
    for snap in snapshots.values():
        for chain in snap.chains:
            k = chain.strikes
            call_oi, put_oi = chain.calls.open_interest, chain.puts.open_interest
            if call_oi.sum() + put_oi.sum() == 0:
                assert chain.max_pain_strike is None
                continue
            # Payout to holders if the underlying settles at each listed strike.
            payout = [float(np.sum(call_oi * np.maximum(s - k, 0))
                            + np.sum(put_oi * np.maximum(k - s, 0))) for s in k]
            least = min(payout)
            assert chain.max_pain_strike == k[payout.index(least)]   # ties to the lowest


def test_snapshot_arrays_are_read_only_and_carry_the_sequence(snapshots):
    for snap in snapshots.values():
        assert snap.sequence == 6
        for a in (snap.strikes, snap.offsets, snap.forwards, snap.times, snap.pcr_oi,
                  snap.atm_index, snap.max_pain_index, *snap.contracts.fields):
            assert not a.flags.writeable
        with pytest.raises(ValueError):
            snap.chains[0].calls.iv[0] = 0.5


def test_building_twice_from_the_same_quotes_gives_equal_snapshots():
    clock = FixedClock(START)
    engine = Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=5, clock=clock,
                    tick_interval=1.0, history=10)
    quotes = engine.market.advance(clock.now())
    items = [(engine.terms[s], q) for s, q in quotes.items()]
    a, b = build_snapshots(items, 1)["IDX"], build_snapshots(items, 2)["IDX"]
    assert (a.sequence, b.sequence) == (1, 2)
    for x, y in zip(a.contracts.fields, b.contracts.fields, strict=True):
        np.testing.assert_array_equal(x, y)
