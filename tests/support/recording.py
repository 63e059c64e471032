"""A small engine that records into a store: two products, a fixed clock and half-hour
steps, so that a few dozen ticks cross midnight."""

from __future__ import annotations

from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings

from .specs import EUROPEAN, START, spec, terms

SMALL = spec("SML", 595.0, 1.0, 0.01, False, strikes_each_side=8)

STEP = 1800.0     # 30 minutes: 40 ticks cross midnight (UTC products)

TICKS = 40


def make_engine() -> Engine:
    return Engine([EUROPEAN, SMALL], {"IDX": terms(EUROPEAN), "SML": terms(SMALL, "USD", 100)},
                  seed=7, clock=FixedClock(START), tick_interval=1.0, history=500)


def settings_for(tmp_path, **overrides) -> Settings:
    return Settings(hours="always", data_dir=tmp_path, clock="fixed", clock_start=START.isoformat(),
                    archive_every=3600.0, **overrides)
