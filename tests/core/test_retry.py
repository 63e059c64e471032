"""Back-off for an unreachable server: delays, and an outage in a few log lines."""

from __future__ import annotations

import itertools
import logging

import pytest

from deltastream.core.retry import Backoff, reason

REFUSED = ConnectionRefusedError(111, "Connection refused")
LOG = logging.getLogger("tests.retry")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _backoff(clock: FakeClock, jitter: float = 1.0, **kwargs: object) -> Backoff:
    """A back-off whose jitter draws the top of its range (by default)."""
    return Backoff("redis://127.0.0.1:1/0", LOG, clock=clock, jitter=lambda: jitter,
                   **kwargs)  # type: ignore[arg-type]


def _messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOG.name]


def test_delays_double_from_half_a_second_to_the_cap():
    clock = FakeClock()
    backoff = _backoff(clock)
    delays = [backoff.failed(REFUSED) for _ in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_draws_from_the_upper_half_of_each_delay():
    clock = FakeClock()
    low = _backoff(clock, jitter=0.0)
    assert [low.failed(REFUSED) for _ in range(8)] == [0.25, 0.5, 1, 2, 4, 8, 15, 15]


def test_an_attempt_is_due_when_its_delay_has_passed():
    clock = FakeClock()
    backoff = _backoff(clock)
    assert backoff.due() and not backoff.down
    backoff.failed(REFUSED)
    backoff.failed(REFUSED)                   # next attempt in 1 s
    assert not backoff.due() and backoff.remaining() == 1.0
    clock.now += 0.6
    assert not backoff.due() and backoff.remaining() == pytest.approx(0.4)
    clock.now += 0.4
    assert backoff.due()
    backoff.succeeded()
    assert backoff.due() and not backoff.down
    assert backoff.failed(REFUSED) == 0.5   # a new outage starts over


def test_an_outage_is_one_line_a_summary_a_minute_and_one_line_when_back(caplog):
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    backoff = _backoff(clock)
    # The server is back 73 s into the outage; attempts come as the back-off spaces them
    # (0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5, 61.5 s; the one at 91.5 s succeeds).
    while clock.now < 1073:
        clock.now += backoff.failed(REFUSED)
    assert clock.now == 1091.5
    backoff.succeeded()
    assert _messages(caplog) == [
        (logging.WARNING, "cannot reach redis://127.0.0.1:1/0: Connection refused; "
                          "retrying with back-off"),
        (logging.WARNING, "still cannot reach redis://127.0.0.1:1/0: 7 attempts in the last "
                          "62 s (Connection refused)"),
        (logging.INFO, "reached redis://127.0.0.1:1/0 again after 92 s"),
    ]


def test_a_long_outage_is_summarised_at_most_once_a_minute(caplog):
    clock = FakeClock()
    backoff = _backoff(clock, summary_every=60.0)
    times = []
    for _ in range(400):       # about 3 hours of 30 s delays
        caplog.clear()
        clock.now += backoff.failed(REFUSED)
        if _messages(caplog):
            times.append(clock.now)
    assert len(times) > 100
    assert all(b - a >= 60 for a, b in itertools.pairwise(times))


def test_a_success_while_reachable_logs_nothing(caplog):
    backoff = _backoff(FakeClock())
    backoff.succeeded()
    backoff.succeeded()
    assert _messages(caplog) == []


def test_quiet_reports_at_debug_only(caplog):
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    backoff = _backoff(clock, quiet=True)
    backoff.failed(REFUSED)
    clock.now += 100
    backoff.failed(REFUSED)
    backoff.succeeded()
    assert _messages(caplog) == []


def test_the_reason_is_the_operating_systems_words_when_there_are_some():
    try:
        try:
            raise REFUSED
        except OSError as exc:
            raise RuntimeError("Error 111 connecting to 127.0.0.1:1. Connection refused.") \
                from exc
    except RuntimeError as wrapped:
        assert reason(wrapped) == "Connection refused"
    assert reason(TimeoutError("Timeout connecting to server\nmore")) == \
        "Timeout connecting to server"
    assert reason(RuntimeError()) == "RuntimeError"


def test_the_first_delay_must_be_positive_and_within_the_cap():
    with pytest.raises(ValueError, match="first back-off"):
        Backoff("x", LOG, first=0)
    with pytest.raises(ValueError, match="first back-off"):
        Backoff("x", LOG, first=40, cap=30)
