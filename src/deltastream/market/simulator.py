"""The simulated market: one coherent, reproducible market per product.

Each product owns a ``numpy.random.Generator`` seeded from the configured seed and the
product's symbol, so a seed and a sequence of clock times reproduce every quote exactly, and
adding a product does not change the others. Each call to :meth:`ProductMarket.advance` moves
the spot process to the given time, rolls the session when the exchange's date changes,
lists and delists expiries, and quotes every listed contract off the product's SSVI surface.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from ..pricing import american
from ..pricing import black_scholes_merton as bsm
from . import flow, quotes, spot, surface
from .book import CALL, PUT, ExpiryBook, ExpiryQuotes, SideQuotes

MAX_SUBSTEP_SECONDS = 60.0
MAX_SUBSTEPS = 20_000
MAX_RELATIVE_SPREAD = 0.5


@dataclass(frozen=True)
class ProductSpec:
    """Everything the simulator needs to know about one product."""

    symbol: str
    timezone: str
    tick_size: float
    strike_step: float
    american: bool
    rate: float
    dividend_yield: float
    start_spot: float
    spot_model: spot.SpotModel
    surface_model: surface.SurfaceModel
    listed_expiries: Callable[[datetime], list[date]]
    time_to_expiry: Callable[[date, datetime], float]
    strikes_each_side: int = 50
    peak_trade_rate: float = 5.0         # lots per second at the money, near expiry
    peak_open_interest: float = 50_000.0  # lots at the money of a fresh expiry
    relative_spread: float = 0.004       # quoted width / premium at the money
    underlying_volume_rate: float = 1_000.0  # units of the underlying per second


@dataclass(frozen=True)
class ProductQuotes:
    """One product at one tick."""

    symbol: str
    timestamp: datetime
    spot: float
    variance: float
    tick_volume: float
    session_volume: float
    expiries: tuple[ExpiryQuotes, ...]


def product_rng(seed: int, symbol: str) -> np.random.Generator:
    """The product's own generator: a stable function of the seed and the symbol."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(symbol.encode())]))


class ProductMarket:
    """The evolving market of one product."""

    def __init__(self, spec: ProductSpec, seed: int) -> None:
        self.spec = spec
        self.rng = product_rng(seed, spec.symbol)
        self.tz = ZoneInfo(spec.timezone)
        self.state = spot.SpotState(spec.start_spot, spec.spot_model.diffusive_variance)
        self.time: datetime | None = None
        self.session_day: date | None = None
        self.session_volume = 0.0
        self.books: dict[date, ExpiryBook] = {}

    def advance(self, now: datetime) -> ProductQuotes:
        """Move the market to ``now`` (never backwards) and quote every listed contract."""
        elapsed = 0.0 if self.time is None else (now - self.time).total_seconds()
        if elapsed > 0.0:
            self._evolve_spot(elapsed)
        if self.time is None or elapsed > 0.0:
            self.time = now
        day = now.astimezone(self.tz).date()
        if self.session_day is not None and day != self.session_day:
            for book in self.books.values():
                book.roll_session()
            self.session_volume = 0.0
        self.session_day = day
        tick_volume = float(self.rng.poisson(self.spec.underlying_volume_rate * elapsed))
        self.session_volume += tick_volume
        listed = self.spec.listed_expiries(now)
        self.books = {e: b for e, b in self.books.items() if e in listed}
        expiry_quotes = self._quote(now, listed, elapsed)
        return ProductQuotes(self.spec.symbol, now, self.state.spot, self.state.variance,
                             tick_volume, self.session_volume, expiry_quotes)

    def _evolve_spot(self, seconds: float) -> None:
        n = min(max(math.ceil(seconds / MAX_SUBSTEP_SECONDS), 1), MAX_SUBSTEPS)
        dt = seconds / spot.SECONDS_PER_YEAR / n
        spots, var = spot.simulate(self.spec.spot_model, self.state, dt, n, self.rng)
        self.state = spot.SpotState(float(spots[-1]), float(var[-1]))

    def _ladder(self) -> np.ndarray:
        step = self.spec.strike_step
        centre = round(self.state.spot / step)
        idx = np.arange(centre - self.spec.strikes_each_side,
                        centre + self.spec.strikes_each_side + 1)
        return idx[idx > 0] * step

    def _ensure_books(self, listed: list[date]) -> None:
        wanted = self._ladder()
        for expiry in listed:
            book = self.books.get(expiry)
            if book is None:
                n = wanted.shape[0]
                self.books[expiry] = ExpiryBook(expiry, wanted, np.full(2 * n, np.nan),
                                                np.full(2 * n, np.nan))
                continue
            low = wanted[wanted < book.strikes[0] - 1e-9]
            high = wanted[wanted > book.strikes[-1] + 1e-9]
            if low.size or high.size:
                book.extend(low, high, np.full(2 * low.size, np.nan),
                            np.full(2 * high.size, np.nan))

    def _quote(self, now: datetime, listed: list[date], elapsed: float
               ) -> tuple[ExpiryQuotes, ...]:
        spec = self.spec
        self._ensure_books(listed)
        books = [self.books[e] for e in listed]
        if not books:
            return ()
        sizes = np.array([len(b) for b in books])
        times = np.array([spec.time_to_expiry(b.expiry, now) for b in books])
        strikes = np.concatenate([b.strikes for b in books])
        t = np.repeat(times, sizes)
        s = self.state.spot
        forward = s * np.exp((spec.rate - spec.dividend_yield) * t)
        sm = spec.spot_model
        theta = surface.atm_total_variance(times, self.state.variance, sm.vol_level,
                                           sm.diffusive_variance, sm.mean_reversion,
                                           spec.surface_model.premium)
        k = np.log(strikes / forward)
        vol = np.sqrt(surface.total_variance(k, np.repeat(theta, sizes), spec.surface_model) / t)
        both = (np.concatenate([strikes, strikes]), np.concatenate([t, t]),
                np.concatenate([vol, vol]))
        is_call = np.repeat([True, False], strikes.shape[0])
        pricer = american.price if spec.american else bsm.price
        mid = pricer(s, both[0], both[1], spec.rate, spec.dividend_yield, both[2], is_call)

        liq = flow.liquidity(k, np.repeat(np.sqrt(theta), sizes), strikes, spec.strike_step, t)
        liq2 = np.concatenate([liq, liq])
        rel_spread = np.minimum(spec.relative_spread / np.sqrt(liq2), MAX_RELATIVE_SPREAD)
        bid, ask = quotes.two_sided(mid, spec.tick_size, rel_spread)

        oi = np.concatenate([b.oi[CALL] for b in books] + [b.oi[PUT] for b in books])
        fresh = np.isnan(oi)
        if fresh.any():
            oi[fresh] = flow.initial_open_interest(liq2[fresh], spec.peak_open_interest, self.rng)
        traded, oi = flow.trade(spec.peak_trade_rate * liq2 * elapsed, oi, self.rng)
        last = np.concatenate([b.last[CALL] for b in books] + [b.last[PUT] for b in books])
        unprinted = np.isnan(last)
        last[unprinted] = np.clip(np.round(mid[unprinted] / spec.tick_size) * spec.tick_size,
                                  bid[unprinted], ask[unprinted])
        last = quotes.last_traded(last, traded > 0, bid, ask, spec.tick_size, self.rng)

        out = []
        n_all = strikes.shape[0]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        for j, book in enumerate(books):
            lo, hi = offsets[j], offsets[j + 1]
            rows = (slice(lo, hi), slice(n_all + lo, n_all + hi))
            for side, sl in zip((CALL, PUT), rows, strict=True):
                if np.isnan(book.prev_oi[side]).any():
                    book.prev_oi[side] = np.where(np.isnan(book.prev_oi[side]), oi[sl],
                                                  book.prev_oi[side])
                book.oi[side] = oi[sl]
                book.volume[side] += traded[sl]
                book.last[side] = last[sl]
                book.prev_last[side] = np.where(np.isnan(book.prev_last[side]), last[sl],
                                                book.prev_last[side])
            sides = [SideQuotes(mid=mid[sl], bid=bid[sl], ask=ask[sl], last=last[sl],
                                volume=book.volume[side].copy(), open_interest=oi[sl],
                                prev_close_oi=book.prev_oi[side].copy(),
                                prev_close_last=book.prev_last[side].copy())
                     for side, sl in zip((CALL, PUT), rows, strict=True)]
            out.append(ExpiryQuotes(book.expiry, float(times[j]), float(forward[lo]),
                                    book.strikes.copy(), vol[lo:hi], sides[0], sides[1]))
        return tuple(out)


class SimulatedMarket:
    """All products of a catalogue, advanced together on one clock."""

    def __init__(self, specs: list[ProductSpec], seed: int) -> None:
        self.seed = seed
        self.products = {s.symbol: ProductMarket(s, seed) for s in specs}

    def advance(self, now: datetime) -> dict[str, ProductQuotes]:
        return {sym: m.advance(now) for sym, m in self.products.items()}
