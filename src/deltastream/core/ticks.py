"""A bounded in-memory ring of the underlying's ticks per product."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .threads import real_lock


@dataclass(frozen=True)
class UnderlyingTicks:
    """Consecutive ticks of one product, oldest first (parallel arrays)."""

    ids: np.ndarray          # int64, increasing by one per tick
    prices: np.ndarray
    volumes: np.ndarray
    epoch_seconds: np.ndarray


class TickRing:
    """Fixed-capacity ring of (id, price, volume, time) per product; appends are O(1) and the
    memory used never grows past the capacity."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = real_lock()
        self._data: dict[str, np.ndarray] = {}
        self._count: dict[str, int] = {}

    def append(self, product: str, tick_id: int, price: float, volume: float,
               when: datetime) -> None:
        self._append(product, (tick_id, price, volume, when.timestamp()))

    def _append(self, product: str, row: tuple[float, float, float, float]) -> None:
        with self._lock:
            buf = self._buffer(product)
            n = self._count[product]
            if n and buf[0, (n - 1) % self.capacity] >= row[0]:
                # Already held: a reader's starting history may end with the very tick that
                # then arrives on its own (ids increase by one per tick, never repeat).
                return
            buf[:, n % self.capacity] = row
            self._count[product] = n + 1

    def _buffer(self, product: str) -> np.ndarray:
        buf = self._data.get(product)
        if buf is None:
            buf = self._data[product] = np.empty((4, self.capacity))
            self._count[product] = 0
        return buf

    def extend(self, product: str, ticks: UnderlyingTicks) -> None:
        """Append consecutive ticks (oldest first), e.g. the history a reader starts from."""
        rows = np.stack([ticks.ids.astype(np.float64), ticks.prices, ticks.volumes,
                         ticks.epoch_seconds])[:, -self.capacity:]
        with self._lock:
            buf = self._buffer(product)
            n = self._count[product]
            buf[:, (n + np.arange(rows.shape[1])) % self.capacity] = rows
            self._count[product] = n + rows.shape[1]

    def replace(self, product: str, ticks: UnderlyingTicks) -> None:
        """Forget ``product``'s ticks and keep ``ticks`` instead."""
        with self._lock:
            self._data.pop(product, None)
            self._count.pop(product, None)
        self.extend(product, ticks)

    @property
    def products(self) -> list[str]:
        with self._lock:
            return list(self._data)

    def latest(self, product: str, limit: int | None = None) -> UnderlyingTicks:
        """The last ``limit`` ticks (all kept when None), oldest first."""
        with self._lock:
            buf = self._data.get(product)
            n = self._count.get(product, 0)
            kept = min(n, self.capacity)
            take = kept if limit is None else min(limit, kept)
            if buf is None or take == 0:
                empty = np.empty(0)
                return UnderlyingTicks(empty.astype(np.int64), empty, empty, empty)
            idx = (np.arange(n - take, n)) % self.capacity
            rows = buf[:, idx]
        return UnderlyingTicks(rows[0].astype(np.int64), rows[1], rows[2], rows[3])
