"""What the web layer reads: the engine's latest snapshots, tick history and summaries.

The web layer holds no financial logic: it selects from snapshots the engine built.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from datetime import date

from ..engine.feed import SnapshotFeed
from ..engine.snapshot import ChainSnapshot, ExpiryChain
from ..engine.threads import real_lock
from .cache import ResponseCache
from .errors import APIError, not_found


@dataclass(frozen=True)
class SummaryPoint:
    epoch_seconds: float
    spot: float
    pcr_oi: float | None
    pcr_volume: float | None


class SummaryHistory:
    """Per (product, expiry) bounded series of chain summaries, fed by the engine."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._series: dict[tuple[str, date], deque[SummaryPoint]] = {}
        self._lock = real_lock()

    def record(self, snap: ChainSnapshot) -> None:
        ts = snap.timestamp.timestamp()
        with self._lock:
            live = {(snap.product, c.expiry) for c in snap.chains}
            for key in [k for k in self._series if k[0] == snap.product and k not in live]:
                del self._series[key]
            for c in snap.chains:
                series = self._series.setdefault((snap.product, c.expiry),
                                                 deque(maxlen=self.capacity))
                series.append(SummaryPoint(ts, c.spot, c.pcr_oi, c.pcr_volume))

    def series(self, product: str, expiry: date, limit: int) -> list[SummaryPoint]:
        with self._lock:
            points = list(self._series.get((product, expiry), ()))
        return points[-limit:]


class MarketService:
    def __init__(self, engine: SnapshotFeed, stall_after: float,
                 summary_capacity: int = 3600) -> None:
        self.engine = engine
        self.stall_after = stall_after
        self.cache = ResponseCache()
        self.summaries = SummaryHistory(summary_capacity)
        engine.subscribe(self.summaries.record)

    @property
    def products(self) -> list[str]:
        return self.engine.symbols

    def snapshot(self, product: str) -> ChainSnapshot:
        if product not in self.engine.symbols:
            raise not_found(f"unknown product '{product}'", {"valid_products": self.products})
        snap = self.engine.latest(product)
        if snap is None:
            raise APIError(503, "market data not available yet", {"retry_after_seconds": 1})
        return snap

    def select(self, snap: ChainSnapshot, expiry: date | None, limit: int = 1
               ) -> list[ExpiryChain]:
        """``limit`` chains from ``expiry`` (default: the nearest) onwards."""
        chains = list(snap.chains)
        if not chains:
            raise not_found(f"no listed expiries for '{snap.product}'", {"expiries": []})
        start = 0
        if expiry is not None:
            found = [i for i, c in enumerate(chains) if c.expiry == expiry]
            if not found:
                raise not_found(f"expiry {expiry.isoformat()} is not listed for "
                                f"'{snap.product}'",
                                {"expiries": [c.expiry.isoformat() for c in chains]})
            start = found[0]
        return chains[start:start + limit]

    def last_tick_age(self) -> float | None:
        last = self.engine.status().last_tick_monotonic
        return None if last is None else time.monotonic() - last
