"""An engine whose snapshots carry a session state set by the test, as the live market's do:
the simulated market's snapshots stamped with ``market_status`` and ``market_status_until``
(the web layer serves what the snapshot says; when the state changes is the market's
business, tested in tests/market)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from deltastream.core.snapshot import ChainSnapshot
from deltastream.core.types import MarketStatus
from deltastream.engine.runner import Engine, SimulatorProvider
from deltastream.market.clock import FixedClock
from tests.support.specs import EUROPEAN, START, spec, terms

SECOND = spec("SEC", 595.0, 1.0, 0.01, True, strikes_each_side=30)


class Sessions:
    """The simulated market, every snapshot stamped with :attr:`status` and :attr:`until`
    as they are when it is made (a test changes them between ticks)."""

    def __init__(self, inner: SimulatorProvider, status: MarketStatus | None,
                 until: datetime | None) -> None:
        self.inner = inner
        self.source = inner.source
        self.symbols = inner.symbols
        self.status = status
        self.until = until

    def snapshots(self, now: datetime, sequence: int) -> dict[str, ChainSnapshot]:
        return {p: dataclasses.replace(s, market_status=self.status,
                                       market_status_until=self.until)
                for p, s in self.inner.snapshots(now, sequence).items()}

    def describe(self) -> str:
        return self.inner.describe()


def session_engine(status: MarketStatus | None, until: datetime | None) -> Engine:
    """IDX (INR, Asia/Kolkata) and SEC (USD, America/New_York) on a fixed clock at START."""
    products = {"IDX": terms(EUROPEAN), "SEC": terms(SECOND, "USD", 100)}
    products["IDX"] = dataclasses.replace(products["IDX"], timezone="Asia/Kolkata")
    products["SEC"] = dataclasses.replace(products["SEC"], timezone="America/New_York")
    provider = Sessions(SimulatorProvider([EUROPEAN, SECOND], products, seed=3), status, until)
    return Engine(provider=provider, clock=FixedClock(START), tick_interval=1.0, history=100)


def sessions(engine: Engine) -> Sessions:
    provider = engine.provider
    assert isinstance(provider, Sessions)
    return provider
