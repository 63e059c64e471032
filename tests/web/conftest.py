"""An app on a real engine, ticked by hand on a fixed clock (deterministic, no thread)."""

from __future__ import annotations

import pytest

from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.web import create_app
from tests.support.specs import EUROPEAN, START, spec, terms

SECOND = spec("SEC", 595.0, 1.0, 0.01, False, strikes_each_side=60)


@pytest.fixture()
def engine() -> Engine:
    clock = FixedClock(START)
    return Engine([EUROPEAN, SECOND], {"IDX": terms(EUROPEAN), "SEC": terms(SECOND, "USD", 100)},
                  seed=3, clock=clock, tick_interval=1.0, history=500)


@pytest.fixture()
def client(engine):
    app = create_app(Settings(), feed=engine, start_feed=False)
    for _ in range(5):
        engine.tick()
        engine.clock.advance(1.0)
    return app.test_client()
