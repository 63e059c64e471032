"""The at-the-money term structure of the simulated market: a single stock's earnings bump
and the crush after it, and index term structures that slope with the current variance.

Each expected figure is the closed form of the model: the expected integrated variance of
the spot process scaled by the implied premium,

    theta(T) = premium^2 (sigma_L^2 T + (v - v_d)(1 - exp(-kappa T)) / kappa)
               + sum of move^2 over the earnings events between now and T,

read off the quoted smile at the forward (the SSVI smile through the nearest strike's quote).
The surface does not depend on the exercise style, so the quotes are priced European (fast).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import pytest
from scipy.optimize import brentq

from deltastream.catalog import load_catalog
from deltastream.core.types import TradingHours
from deltastream.engine.setup import product_spec
from deltastream.market import surface
from deltastream.market.book import ProductQuotes
from deltastream.market.checkpoint import capture, restore
from deltastream.market.events import NO_EVENTS
from deltastream.market.simulator import PendingQuotes, ProductMarket, ProductSpec, quote_batch
from deltastream.market.spot import SpotState
from deltastream.market.surface import SurfaceModel

CATALOG = load_catalog()
SEED = 11
# AAPL reports on Thursday 2027-01-28 after the close: Friday 01-29 (00:00 ET = 05:00 UTC)
# is the event's session. "Now" is Monday 2027-01-25, 10:00 ET.
NOW = datetime(2027, 1, 25, 15, 0, tzinfo=UTC)
EVENT = datetime(2027, 1, 29, 5, 0, tzinfo=UTC)
AAPL_MOVE = 0.04


def spec(symbol: str) -> ProductSpec:
    return dataclasses.replace(product_spec(CATALOG[symbol], 30), american=False)


def closed_form_theta(s: ProductSpec, variance: float, times: np.ndarray,
                      events_variance: np.ndarray | float = 0.0) -> np.ndarray:
    m = s.spot_model
    kappa, level = m.mean_reversion, m.diffusive_variance
    diffusive = m.vol_level**2 * times + (variance - level) * (1 - np.exp(-kappa * times)) / kappa
    return s.surface_model.premium**2 * diffusive + events_variance


def atm_total_variance(strikes: np.ndarray, vols: np.ndarray, forward: float, t: float,
                       model: SurfaceModel) -> float:
    """theta, the total variance at k = 0, that the quoted smile implies: the SSVI smile
    through the quote of the strike nearest the forward (w rises with theta at fixed k)."""
    k = np.log(strikes / forward)
    near = int(np.argmin(np.abs(k)))
    quoted_w = vols[near] ** 2 * t
    return float(brentq(lambda th: float(surface.total_variance(k[near], th, model)) - quoted_w,
                        1e-9, 10.0, xtol=1e-15, rtol=1e-13))


def atm_by_expiry(q: ProductQuotes, model: SurfaceModel) -> np.ndarray:
    return np.array([atm_total_variance(q.strikes[lo:hi], q.surface_vol[lo:hi], q.forwards[i],
                                        q.times[i], model)
                     for i, (lo, hi) in enumerate(pairwise(q.offsets.tolist()))])


def quoted(s: ProductSpec, now: datetime, variance: float | None = None) -> ProductQuotes:
    market = ProductMarket(s, SEED)
    if variance is not None:
        market.state = SpotState(s.start_spot, variance)
    return market.advance(now)


def test_aapl_term_structure_shows_the_earnings_bump():
    s = spec("AAPL")
    q = quoted(s, NOW)
    theta = atm_by_expiry(q, s.surface_model)
    spans = np.array([e.isoformat() >= "2027-01-29" for e in q.expiries])
    assert spans.any() and not spans.all()
    expected = closed_form_theta(s, s.spot_model.diffusive_variance, q.times,
                                 np.where(spans, AAPL_MOVE**2, 0.0))
    np.testing.assert_allclose(theta, expected, rtol=1e-9)
    iv = np.sqrt(theta / q.times)
    before, after = int(np.flatnonzero(spans)[0]) - 1, int(np.flatnonzero(spans)[0])
    assert [q.expiries[before].isoformat(), q.expiries[after].isoformat()] == [
        "2027-01-27", "2027-01-29"]
    # The first expiry after the event is bid up by the event's variance: from ~29 % to
    # ~47 % with 4.25 days to go; the kink then decays as sqrt(move^2 / T) shrinks.
    assert iv[before] < 0.30 and iv[after] > 0.45
    diffusive_gap = (closed_form_theta(s, s.spot_model.diffusive_variance, q.times[after:after + 1])
                     - closed_form_theta(s, s.spot_model.diffusive_variance,
                                         q.times[before:before + 1]))[0]
    assert theta[after] - theta[before] == pytest.approx(AAPL_MOVE**2 + diffusive_gap, rel=1e-8)
    assert np.all(np.diff(iv[after:]) < 0)


def test_total_variance_does_not_fall_with_expiry_across_the_event():
    q = quoted(spec("AAPL"), NOW)
    grid = np.linspace(-0.15, 0.15, 61)
    w = []
    for i, (lo, hi) in enumerate(pairwise(q.offsets.tolist())):
        k = np.log(q.strikes[lo:hi] / q.forwards[i])
        assert k[0] < grid[0] and k[-1] > grid[-1]
        w.append(np.interp(grid, k, q.surface_vol[lo:hi] ** 2 * q.times[i]))
    assert np.all(np.diff(np.array(w), axis=0) >= 0)


def test_the_spot_jumps_on_the_event_and_the_bump_is_gone_after_it():
    s = spec("AAPL")
    event, twin = ProductMarket(s, SEED), ProductMarket(dataclasses.replace(s, events=NO_EVENTS),
                                                        SEED)
    # Thursday 15:00 ET, before the announcement; then Friday's open, 09:30 ET.
    before, after = datetime(2027, 1, 28, 20, 0, tzinfo=UTC), datetime(2027, 1, 29, 14, 30,
                                                                       tzinfo=UTC)
    pending = event.begin(before)
    twin.begin(before)
    assert pending is not None and event.state == twin.state
    front = atm_total_variance(*_front(pending), s.surface_model)
    no_event = closed_form_theta(s, event.state.variance, pending.times[:1])[0]
    assert front == pytest.approx(no_event + AAPL_MOVE**2, rel=1e-9)
    assert math.sqrt(front / pending.times[0]) > 0.75   # ~80 % for the day it spans

    pending = event.begin(after)
    twin.begin(after)
    # The twin stops where the event market draws its jump: the next normal of its generator.
    draw = copy.deepcopy(twin.rng)
    expected = AAPL_MOVE * draw.standard_normal() - 0.5 * AAPL_MOVE**2
    assert pending is not None
    assert math.log(event.state.spot / twin.state.spot) == pytest.approx(expected, abs=1e-12)
    assert event.state.variance == twin.state.variance
    # The crush: the expiry that spanned the event is back on the diffusive term structure.
    front = atm_total_variance(*_front(pending), s.surface_model)
    assert pending.times[0] < 7 / 24 / 365
    assert front == pytest.approx(
        closed_form_theta(s, event.state.variance, pending.times[:1])[0], rel=1e-9)


def _front(pending: PendingQuotes) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The nearest expiry's strikes, surface vols, forward and time, quoted now."""
    quote_batch([pending])
    lo, hi = pending.market.book.offsets[:2].tolist()
    strikes = pending.market.book.strikes[lo:hi]
    return strikes, pending.vol[lo:hi], pending.forwards[0], pending.times[0]


@pytest.mark.parametrize(("symbol", "now"), [("NIFTY", datetime(2026, 12, 2, 5, 0, tzinfo=UTC)),
                                             ("SPY", datetime(2026, 12, 2, 15, 0, tzinfo=UTC))])
def test_index_term_structure_slopes_up_in_calm_and_inverts_after_a_shock(symbol, now):
    s = spec(symbol)
    level = s.spot_model.diffusive_variance
    ivs = {}
    for name, variance in [("calm", 0.4 * level), ("level", level), ("shock", 4.0 * level)]:
        q = quoted(s, now, variance)
        theta = atm_by_expiry(q, s.surface_model)
        np.testing.assert_allclose(theta, closed_form_theta(s, variance, q.times), rtol=1e-9)
        ivs[name] = np.sqrt(theta / q.times)
        assert len(q.expiries) >= 5
    assert np.all(np.diff(ivs["calm"]) > 0)
    assert np.all(np.diff(ivs["shock"]) < 0)
    # At its level the variance has nowhere to revert: flat at premium x vol_level.
    np.testing.assert_allclose(ivs["level"], s.surface_model.premium * s.spot_model.vol_level,
                               rtol=1e-9)
    # The short end moves with the shock, the long end much less.
    assert ivs["shock"][0] - ivs["calm"][0] > 2 * (ivs["shock"][-1] - ivs["calm"][-1])


def test_in_exchange_hours_the_jump_comes_with_the_first_quote_after_the_open():
    s = dataclasses.replace(product_spec(CATALOG["AAPL"], 30, hours=TradingHours.EXCHANGE),
                            american=False)
    event, twin = ProductMarket(s, SEED), ProductMarket(dataclasses.replace(s, events=NO_EVENTS),
                                                        SEED)
    # Thursday 15:00 ET in session; 03:00 ET Friday (closed: quoted as of Thursday's close);
    # Friday 09:31 ET, the first quote after the open.
    for when in [datetime(2027, 1, 28, 20, 0, tzinfo=UTC), datetime(2027, 1, 29, 8, 0, tzinfo=UTC)]:
        event.begin(when)
        twin.begin(when)
        assert event.state == twin.state
    opened = datetime(2027, 1, 29, 14, 31, tzinfo=UTC)
    pending = event.begin(opened)
    twin.begin(opened)
    draw = copy.deepcopy(twin.rng)
    expected = AAPL_MOVE * draw.standard_normal() - 0.5 * AAPL_MOVE**2
    assert pending is not None and pending.now == opened
    assert math.log(event.state.spot / twin.state.spot) == pytest.approx(expected, abs=1e-12)
    front = atm_total_variance(*_front(pending), s.surface_model)
    assert front == pytest.approx(
        closed_form_theta(s, event.state.variance, pending.times[:1])[0], rel=1e-9)


def test_a_market_restored_before_the_event_jumps_as_the_uninterrupted_one_does():
    s = spec("AAPL")
    running = ProductMarket(s, SEED)
    before, after = datetime(2027, 1, 28, 20, 0, tzinfo=UTC), datetime(2027, 1, 29, 14, 31,
                                                                       tzinfo=UTC)
    running.advance(before)
    checkpoint = capture(running)
    restored = ProductMarket(s, SEED)
    restore(restored, checkpoint)
    a, b = running.advance(after), restored.advance(after)
    assert a.spot == b.spot
    np.testing.assert_array_equal(a.mid, b.mid)
    np.testing.assert_array_equal(a.surface_vol, b.surface_vol)
    # And that is the jump: the same state without the event, then the event's draw.
    twin = ProductMarket(dataclasses.replace(s, events=NO_EVENTS), SEED)
    restore(twin, checkpoint)
    twin.begin(after)
    expected = AAPL_MOVE * copy.deepcopy(twin.rng).standard_normal() - 0.5 * AAPL_MOVE**2
    assert math.log(b.spot / twin.state.spot) == pytest.approx(expected, abs=1e-12)
