"""Scheduled events: instants, the variance they add to each expiry, the jump they cause."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from deltastream.catalog.earnings import Earnings, EarningsTiming
from deltastream.market import surface
from deltastream.market.events import (
    NO_EVENTS,
    EventSchedule,
    apply_jumps,
    earnings_schedule,
)
from deltastream.market.spot import SECONDS_PER_YEAR, SpotState

NEW_YORK = ZoneInfo("America/New_York")
DAY_US = 86_400 * 10**6


def us(t: datetime) -> int:
    return round(t.timestamp() * 1e6)


def test_an_earnings_event_starts_at_midnight_of_the_session_it_moves():
    schedule = earnings_schedule(Earnings(date(2026, 1, 29), 13, 0.04), "America/New_York")
    first = [datetime.fromtimestamp(t / 1e6, UTC).astimezone(NEW_YORK)
             for t in schedule.instants_us[:5]]
    assert first == [datetime(2026, 1, 30, tzinfo=NEW_YORK), datetime(2026, 5, 1, tzinfo=NEW_YORK),
                     datetime(2026, 7, 31, tzinfo=NEW_YORK),
                     datetime(2026, 10, 30, tzinfo=NEW_YORK),
                     datetime(2027, 1, 29, tzinfo=NEW_YORK)]
    assert set(schedule.moves) == {0.04} and len(schedule.moves) >= 4 * 29
    before = earnings_schedule(Earnings(date(2026, 1, 29), 13, 0.04,
                                        EarningsTiming.BEFORE_OPEN), "Asia/Kolkata")
    assert datetime.fromtimestamp(before.instants_us[0] / 1e6, UTC) == datetime(
        2026, 1, 28, 18, 30, tzinfo=UTC)   # 2026-01-29 00:00 IST
    assert earnings_schedule(None, "America/New_York") is NO_EVENTS


def test_event_variance_is_the_sum_over_events_strictly_inside_each_expiry():
    # Closed form: events at 0.01 and 0.26 years with variances a and b.
    a, b = 0.0016, 0.0025
    times = np.array([0.005, 0.01, 0.02, 0.26, 0.3])
    got = surface.event_variance(times, [-0.1, 0.01, 0.26], [0.09, a, b])
    np.testing.assert_allclose(got, [0.0, 0.0, a, a, a + b], rtol=0, atol=1e-15)


def test_the_schedule_adds_only_events_after_now():
    now = us(datetime(2027, 1, 25, 15, tzinfo=UTC))
    schedule = EventSchedule((now - DAY_US, now, now + 2 * DAY_US, now + 93 * DAY_US),
                             (0.05, 0.05, 0.04, 0.03))
    times = np.array([1.0, 3.0, 100.0]) * DAY_US / 1e6 / SECONDS_PER_YEAR
    np.testing.assert_allclose(schedule.variance_before(now, times),
                               [0.0, 0.04**2, 0.04**2 + 0.03**2], rtol=1e-15)
    np.testing.assert_array_equal(NO_EVENTS.variance_before(now, times), 0.0)
    assert schedule.moves_between(now - DAY_US, now) == [0.05]
    assert schedule.moves_between(now, now + 2 * DAY_US) == [0.04]


def test_the_jump_is_a_martingale_draw_with_the_move_as_its_std():
    schedule = EventSchedule((us(datetime(2027, 1, 29, 5, tzinfo=UTC)),), (0.04,))
    before, after = datetime(2027, 1, 28, tzinfo=UTC), datetime(2027, 1, 30, tzinfo=UTC)
    state = SpotState(200.0, 0.05)
    rng = np.random.default_rng(3)
    jumps = np.array([apply_jumps(schedule, state, before, after, rng).spot
                      for _ in range(20_000)]) / 200.0
    log_jumps = np.log(jumps)
    # Sample std within 3 % (its standard error is 0.5 %); E[S] unchanged within 3 se.
    assert np.std(log_jumps) == pytest.approx(0.04, rel=0.03)
    assert abs(np.mean(jumps) - 1.0) < 3 * 0.04 / np.sqrt(jumps.size)
    # The same generator state gives the same jump: move z - move^2 / 2.
    z = np.random.default_rng(5).standard_normal()
    jumped = apply_jumps(schedule, state, before, after, np.random.default_rng(5))
    assert np.log(jumped.spot / 200.0) == pytest.approx(0.04 * z - 0.0008, abs=1e-15)
    assert jumped.variance == 0.05


def test_no_jump_outside_the_window_or_on_a_first_quote():
    schedule = EventSchedule((us(datetime(2027, 1, 29, 5, tzinfo=UTC)),), (0.04,))
    state = SpotState(200.0, 0.05)
    rng = np.random.default_rng(3)
    draws = rng.bit_generator.state
    for after, until in [(datetime(2027, 1, 29, 5, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)),
                         (datetime(2027, 1, 20, tzinfo=UTC), datetime(2027, 1, 29, 4, tzinfo=UTC)),
                         (None, datetime(2027, 2, 1, tzinfo=UTC))]:
        assert apply_jumps(schedule, state, after, until, rng) is state
    assert rng.bit_generator.state == draws


@pytest.mark.parametrize(("instants", "moves"), [((2, 1), (0.1, 0.1)), ((1,), (0.0,)),
                                                 ((1, 2), (0.1,))])
def test_a_malformed_schedule_is_rejected(instants, moves):
    with pytest.raises(ValueError):
        EventSchedule(instants, moves)
