"""Per-contract state of a product's listed contracts, and the quotes made from it each tick.

A product's contracts live in flat arrays: expiry ``j`` occupies columns
``offsets[j]:offsets[j + 1]`` (strikes ascending within it), row 0 holds calls and row 1 puts.
Flat arrays let one tick quote every contract of every product with a few array operations;
the layout changes only when an expiry is listed or delisted or a ladder is extended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

CALL = 0
PUT = 1
# Pricing inputs of shape (n,) broadcast against this give calls in row 0 and puts in row 1.
SIDES = np.array([[True], [False]])


@dataclass(frozen=True)
class ProductQuotes:
    """What the market shows for one product at one tick.

    Per-expiry arrays (``times``, ``forwards``) have one entry per expiry; per-contract arrays
    are flat over all expiries, and the two-row ones hold calls (row 0) and puts (row 1).
    """

    symbol: str
    timestamp: datetime
    spot: float
    variance: float
    tick_volume: float
    session_volume: float
    expiries: tuple[date, ...]
    offsets: np.ndarray           # expiry j: columns offsets[j]:offsets[j + 1]
    times: np.ndarray             # years to each expiry instant
    forwards: np.ndarray          # forward price of each expiry
    strikes: np.ndarray
    contract_times: np.ndarray    # years to expiry of each contract (strike column)
    surface_vol: np.ndarray       # the volatility each contract was quoted from
    mid: np.ndarray               # (2, n)
    bid: np.ndarray
    ask: np.ndarray
    last: np.ndarray
    volume: np.ndarray            # contracts traded this session
    open_interest: np.ndarray     # contracts
    prev_close_oi: np.ndarray     # open interest at the previous session's close
    prev_close_last: np.ndarray   # last print at the previous session's close


class ProductBook:
    """Mutable per-contract state of one product: strike ladders, open interest, session
    volume, last prints and the previous session's closing values.

    NaN marks a value not known yet: the open interest of a freshly listed expiry, the last
    print of a contract that never printed, a closing value from before the contract existed.
    """

    def __init__(self) -> None:
        self.expiries: list[date] = []
        self._set_layout([])

    def _set_layout(self, parts: list[tuple[np.ndarray, ...]]) -> None:
        """Lay out per-expiry pieces (strikes, oi, volume, last, prev_oi, prev_last)."""
        sizes = [p[0].shape[0] for p in parts]
        self.sizes = np.array(sizes, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        if not parts:
            parts = [(np.empty(0), *(np.empty((2, 0)) for _ in range(5)))]
        self.strikes = np.concatenate([p[0] for p in parts])
        self.oi, self.volume, self.last, self.prev_oi, self.prev_last = (
            np.concatenate([p[i] for p in parts], axis=1) for i in range(1, 6))
        # The strike range every expiry's ladder covers, for a cheap check each tick.
        self.span = ((float(self.strikes[self.offsets[:-1]].max()),
                      float(self.strikes[self.offsets[1:] - 1].min())) if sizes else None)
        self.has_unknown = True

    def trade(self, oi: np.ndarray, traded: np.ndarray, last: np.ndarray) -> None:
        """Record a tick's trading: new open interest, volume added, new last prints (each
        two-row); closing values not known yet take today's."""
        self.oi = oi
        self.volume = self.volume + traded
        self.last = last
        if self.has_unknown:
            self.prev_oi = np.where(np.isnan(self.prev_oi), oi, self.prev_oi)
            self.prev_last = np.where(np.isnan(self.prev_last), last, self.prev_last)
            self.has_unknown = False

    def __len__(self) -> int:
        return self.strikes.shape[0]

    def roll_session(self) -> None:
        """Close the session: today's values become the reference, volume starts again."""
        self.prev_oi = self.oi.copy()
        self.prev_last = self.last.copy()
        # New arrays, never in place: published quotes share the old ones.
        self.volume = np.zeros_like(self.volume)
        self.has_unknown = bool(np.isnan(self.prev_oi).any() or np.isnan(self.prev_last).any())

    def covers(self, expiries: list[date], low: float, high: float) -> bool:
        """True when exactly ``expiries`` are listed and every ladder spans [low, high]."""
        if expiries != self.expiries or self.span is None:
            return expiries == self.expiries
        return self.span[0] <= low + 1e-9 and self.span[1] >= high - 1e-9

    def relist(self, expiries: list[date], ladder: np.ndarray) -> None:
        """List exactly ``expiries``: delisted ones go, new ones get ``ladder`` with unknown
        open interest, and existing ladders are extended to span ``ladder`` with new strikes
        that start with no open interest."""
        kept = {e: j for j, e in enumerate(self.expiries)}
        parts: list[tuple[np.ndarray, ...]] = []
        for expiry in expiries:
            j = kept.get(expiry)
            if j is None:
                n = ladder.shape[0]
                unknown = np.full((2, n), np.nan)
                parts.append((ladder.astype(np.float64), unknown, np.zeros((2, n)),
                               unknown, unknown, unknown))
                continue
            cols = slice(self.offsets[j], self.offsets[j + 1])
            strikes = self.strikes[cols]
            low = ladder[ladder < strikes[0] - 1e-9]
            high = ladder[ladder > strikes[-1] + 1e-9]
            zl, zh = np.zeros((2, low.size)), np.zeros((2, high.size))
            nl, nh = np.full((2, low.size), np.nan), np.full((2, high.size), np.nan)

            def widen(a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
                return np.concatenate([lo, a, hi], axis=1)

            parts.append((np.concatenate([low, strikes, high]),
                          widen(self.oi[:, cols], zl, zh), widen(self.volume[:, cols], zl, zh),
                          widen(self.last[:, cols], nl, nh), widen(self.prev_oi[:, cols], zl, zh),
                          widen(self.prev_last[:, cols], nl, nh)))
        self.expiries = list(expiries)
        self._set_layout(parts)

