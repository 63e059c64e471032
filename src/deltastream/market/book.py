"""Per-expiry state of a product's listed contracts and the quotes made from it each tick."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

CALL = 0
PUT = 1


@dataclass(frozen=True)
class SideQuotes:
    """Quotes and flow of one side (calls or puts), index-aligned with the strikes."""

    mid: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    last: np.ndarray
    volume: np.ndarray
    open_interest: np.ndarray
    prev_close_oi: np.ndarray
    prev_close_last: np.ndarray


@dataclass(frozen=True)
class ExpiryQuotes:
    """What the market shows for one expiry at one tick."""

    expiry: date
    time_to_expiry: float
    forward: float
    strikes: np.ndarray
    surface_vol: np.ndarray
    calls: SideQuotes
    puts: SideQuotes


class ExpiryBook:
    """Mutable per-contract state of one expiry: the strike ladder, open interest, session
    volume, last prints and the previous session's closing values (row 0 calls, row 1 puts)."""

    def __init__(self, expiry: date, strikes: np.ndarray, open_interest: np.ndarray,
                 last: np.ndarray) -> None:
        n = strikes.shape[0]
        self.expiry = expiry
        self.strikes = strikes.astype(np.float64)
        self.oi = open_interest.astype(np.float64).reshape(2, n)
        self.volume = np.zeros((2, n))
        self.last = last.astype(np.float64).reshape(2, n)
        self.prev_oi = self.oi.copy()
        self.prev_last = self.last.copy()

    def __len__(self) -> int:
        return self.strikes.shape[0]

    def roll_session(self) -> None:
        """Close the session: today's values become the reference, volume starts again."""
        self.prev_oi = self.oi.copy()
        self.prev_last = self.last.copy()
        self.volume[:] = 0.0

    def extend(self, low: np.ndarray, high: np.ndarray, low_last: np.ndarray,
               high_last: np.ndarray) -> None:
        """List new strikes below and above the ladder; they start with no open interest and
        their first mid as the reference premium."""
        self.strikes = np.concatenate([low, self.strikes, high])
        nl, nh = low.shape[0], high.shape[0]
        zeros_l, zeros_h = np.zeros((2, nl)), np.zeros((2, nh))
        self.oi = np.concatenate([zeros_l, self.oi, zeros_h], axis=1)
        self.volume = np.concatenate([zeros_l, self.volume, zeros_h], axis=1)
        self.prev_oi = np.concatenate([zeros_l, self.prev_oi, zeros_h], axis=1)
        low_last = low_last.reshape(2, nl)
        high_last = high_last.reshape(2, nh)
        self.last = np.concatenate([low_last, self.last, high_last], axis=1)
        self.prev_last = np.concatenate([low_last, self.prev_last, high_last], axis=1)
