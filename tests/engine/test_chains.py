"""Chain snapshots built from market quotes: each solved volatility reprices its quote under the
product's model, the Greeks are the pricing module's at that volatility (European) or the
price's finite differences (American), and PCR, the ATM strike and max pain equal a
recomputation from the snapshot's own arrays."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.core.snapshot import ChainSnapshot
from deltastream.core.types import IVStatus
from deltastream.engine.chains import build_snapshots
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
