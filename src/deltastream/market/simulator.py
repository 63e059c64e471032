"""The simulated market: one coherent, reproducible market per product.

Each product owns a ``numpy.random.Generator`` seeded from the configured seed and the
product's symbol, so a seed and a sequence of clock times reproduce every quote exactly, and
adding a product does not change the others. Each call to :meth:`ProductMarket.advance` moves
the spot process to the given time, rolls the session, lists and delists expiries, and quotes
every listed contract off the product's SSVI surface.

A product with exchange sessions (``ProductSpec.sessions``) trades only within them: its
market time is the clock's time in a session and the last close outside one, so a closed
market is quoted once as of its close and then stays (same quotes, no volume, no spot move)
until the next open, where the spot moves by one overnight gap (a normal log-return whose
variance is ``overnight_gap`` times the instantaneous variance over the closed years) and the
session rolls. Without sessions the market trades around the clock and rolls at local
midnight.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from ..calendars.sessions import ExchangeSessions, Session
from ..core.types import MarketStatus
from ..pricing import american
from ..pricing import black_scholes_merton as bsm
from . import flow, quotes, spot, surface
from .book import SIDES, ProductBook, ProductQuotes
from .events import NO_EVENTS, EventSchedule, apply_jumps

MAX_SUBSTEP_SECONDS = 60.0
MAX_SUBSTEPS = 20_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    expiry_instant: Callable[[date], datetime]   # the exact expiry time (aware)
    strikes_each_side: int = 50
    order_flow: flow.FlowProfile = flow.DEFAULT_PROFILE  # volume, OI, put/call per session
    relative_spread: float = 0.004       # width added per unit of intrinsic value, deep ITM
    spread_ticks: float = 1.0            # width in ticks of the most liquid contracts
    underlying_volume_rate: float = 1_000.0  # units of the underlying per second
    events: EventSchedule = NO_EVENTS    # scheduled spot jumps (earnings), in the surface too
    # The exchange's sessions (None: trading around the clock, sessions rolling at local
    # midnight) and the close-to-open move's variance over the closed time's share.
    sessions: ExchangeSessions | None = None
    overnight_gap: float = 1.0


def product_rng(seed: int, symbol: str) -> np.random.Generator:
    """The product's own generator: a stable function of the seed and the symbol."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(symbol.encode())]))


def _epoch_us(t: datetime) -> int:
    """Integer microseconds since the epoch: exact differences, as timedelta has."""
    return (t - EPOCH) // timedelta(microseconds=1)


class ProductMarket:
    """The evolving market of one product.

    A tick has three steps so that a whole market can be quoted in one batch:
    :meth:`begin` moves the spot and the listing to ``now``, :func:`quote_batch` prices the
    contracts of many products at once, and :func:`trade_batch` draws their order flow and
    updates their books. :meth:`advance` runs the three for this product alone.
    """

    def __init__(self, spec: ProductSpec, seed: int) -> None:
        self.spec = spec
        self.rng = product_rng(seed, spec.symbol)
        self.tz = ZoneInfo(spec.timezone)
        self.state = spot.SpotState(spec.start_spot, spec.spot_model.diffusive_variance)
        self.time: datetime | None = None
        self._events_seen: datetime | None = None  # market time of the last quote
        self.session_day: date | None = None
        self.session_volume = 0.0
        self.book = ProductBook()
        # The log spot's average over recent trading (flow.next_anchor): the order flow's
        # reference for the recent return; None before the first trade.
        self.spot_anchor: float | None = None
        self._listed: list[date] = []
        self._listed_day: date | None = None
        self._listed_until = 0
        self._instants: dict[date, int] = {}
        # Whether the exchange is in session at the last begin, until when (open: the
        # session's close, None around the clock; closed: the next open), and the quotes
        # the market stands on while closed.
        self.status = MarketStatus.OPEN
        self.status_until: datetime | None = None
        self.last_quotes: ProductQuotes | None = None

    def advance(self, now: datetime) -> ProductQuotes:
        """Move the market to ``now`` (never backwards) and quote every listed contract."""
        begun = self.begin(now)
        if begun is None:
            return self.standing_quotes()
        pending = [begun]
        self.last_quotes = trade_batch(pending, quote_batch(pending))[0]
        return self.last_quotes

    def standing_quotes(self) -> ProductQuotes:
        """The quotes of a closed market: the last ones, with nothing traded since."""
        assert self.last_quotes is not None
        return dataclasses.replace(self.last_quotes, tick_volume=0.0)

    def begin(self, now: datetime) -> PendingQuotes | None:
        """Evolve the spot to ``now``, roll the session, list and delist expiries. None: the
        exchange is closed and this market was already quoted at its close (its last
        quotes, :attr:`last_quotes`, stand)."""
        if self._events_seen is None:   # a fresh market, or one restored to self.time
            self._events_seen = self.time
        if self.spec.sessions is None:
            self.status, self.status_until = MarketStatus.OPEN, None
            return self._begin_around_the_clock(now)
        return self._begin_in_sessions(now, self.spec.sessions)

    def _begin_in_sessions(self, now: datetime, sessions: ExchangeSessions
                           ) -> PendingQuotes | None:
        self.status, self.status_until = sessions.status(now)
        current = sessions.current(now)
        session = current if current is not None else sessions.previous_close(now)
        market_time = now if current is not None else session.close
        if self.time is not None and market_time <= self.time:
            if current is None and self.last_quotes is not None:
                return None
            market_time = self.time
        trading = 0.0
        if self.time is not None and market_time > self.time:
            rolled, trading = self._through_sessions(sessions.between(self.time, market_time),
                                                     market_time)
            if rolled:
                self.book.roll_session()
                self.session_volume = 0.0
        self.time = market_time
        self.session_day = session.day
        tick_volume = float(self.rng.poisson(self.spec.underlying_volume_rate * trading))
        self.session_volume += tick_volume
        return self._list_and_ladder(market_time, session.day, trading, tick_volume)

    def _through_sessions(self, sessions: list[Session], until: datetime) -> tuple[bool, float]:
        """Move the spot from :attr:`time` to ``until`` across ``sessions`` (those open in
        between): diffusion while open, one overnight gap at each open. Returns whether a
        session opened, and the seconds traded in the last session."""
        assert self.time is not None
        at, rolled, trading = self.time, False, 0.0
        for session in sessions:
            if session.open > at:
                self._overnight_gap((session.open - at).total_seconds())
                at, rolled = session.open, True
            end = min(session.close, until)
            trading = max((end - at).total_seconds(), 0.0)
            if trading > 0.0:
                self._evolve_spot(trading)
            at = end
        return rolled, trading

    def _overnight_gap(self, closed_seconds: float) -> None:
        # One draw for the whole closed time: its share of variance at the current rate,
        # scaled by the catalogue's overnight_gap; the drift keeps the forward's carry.
        years = closed_seconds / spot.SECONDS_PER_YEAR
        variance = self.spec.overnight_gap * self.state.variance * years
        log_return = (self.spec.spot_model.drift * years - 0.5 * variance
                      + math.sqrt(variance) * float(self.rng.standard_normal()))
        self.state = spot.SpotState(self.state.spot * math.exp(log_return), self.state.variance)

    def _begin_around_the_clock(self, now: datetime) -> PendingQuotes:
        elapsed = 0.0 if self.time is None else (now - self.time).total_seconds()
        if elapsed > 0.0:
            self._evolve_spot(elapsed)
        if self.time is None or elapsed > 0.0:
            self.time = now
        day = now.astimezone(self.tz).date()
        if self.session_day is not None and day != self.session_day:
            self.book.roll_session()
            self.session_volume = 0.0
        self.session_day = day
        # Trading accrues within the current session only: a step across a session open
        # (an accelerated clock, a restart after hours) trades only since that open.
        local = now.astimezone(self.tz)
        since_open = (local - local.replace(hour=0, minute=0, second=0, microsecond=0)
                      ).total_seconds()
        trading = min(elapsed, since_open)
        tick_volume = float(self.rng.poisson(self.spec.underlying_volume_rate * trading))
        self.session_volume += tick_volume
        return self._list_and_ladder(now, day, trading, tick_volume)

    def _list_and_ladder(self, now: datetime, day: date, trading: float,
                         tick_volume: float) -> PendingQuotes:
        # Scheduled jumps (earnings) up to the market's time: while closed, none after the
        # close; at the open, those of the closed time.
        self.state = apply_jumps(self.spec.events, self.state, self._events_seen, now, self.rng)
        self._events_seen = now
        now_us = _epoch_us(now)
        listed = self._listing(now, day, now_us)
        step, each_side = self.spec.strike_step, self.spec.strikes_each_side
        centre = round(self.state.spot / step)
        low, high = max(centre - each_side, 1) * step, (centre + each_side) * step
        if not self.book.covers(listed, low, high):
            self.book.relist(listed, self._ladder(centre))
        instants = np.array([self._instants[e] for e in listed], dtype=np.int64)
        times = (instants - now_us) / 1e6 / spot.SECONDS_PER_YEAR
        return PendingQuotes(self, now, trading, tick_volume, times)

    def _listing(self, now: datetime, day: date, now_us: int) -> list[date]:
        # The listing changes only when the exchange's day changes or an expiry passes.
        if day != self._listed_day or now_us >= self._listed_until or not self._listed:
            self._listed = self.spec.listed_expiries(now)
            self._listed_day = day
            for e in self._listed:
                if e not in self._instants:
                    self._instants[e] = _epoch_us(self.spec.expiry_instant(e))
            self._listed_until = min((self._instants[e] for e in self._listed), default=0)
        return self._listed

    def _evolve_spot(self, seconds: float) -> None:
        n = min(max(math.ceil(seconds / MAX_SUBSTEP_SECONDS), 1), MAX_SUBSTEPS)
        dt = seconds / spot.SECONDS_PER_YEAR / n
        spots, var = spot.simulate(self.spec.spot_model, self.state, dt, n, self.rng)
        self.state = spot.SpotState(float(spots[-1]), float(var[-1]))

    def _ladder(self, centre: int) -> np.ndarray:
        step = self.spec.strike_step
        idx = np.arange(centre - self.spec.strikes_each_side,
                        centre + self.spec.strikes_each_side + 1)
        return idx[idx > 0] * step


class PendingQuotes:
    """One product between :meth:`ProductMarket.begin` and :func:`trade_batch`: the
    contracts to quote, then (filled in by :func:`quote_batch`) their quotes. Per-contract
    arrays cover calls then puts."""

    def __init__(self, market: ProductMarket, now: datetime, trading_seconds: float,
                 tick_volume: float, times: np.ndarray) -> None:
        self.market = market
        self.now = now
        self.trading_seconds = trading_seconds   # of this session, since the last tick
        self.tick_volume = tick_volume
        self.times = times
        self.forwards = np.empty(0)
        self.contract_times = self.vol = self.liquidity = np.empty(0)
        self.mid = self.bid = self.ask = np.empty((2, 0))


def _per_contract(pending: list[PendingQuotes], value: Callable[[PendingQuotes], float],
                  sizes: np.ndarray) -> np.ndarray:
    return np.repeat(np.array([value(p) for p in pending], dtype=np.float64), sizes)


@dataclass(frozen=True)
class QuoteBatch:
    """The quotes of many products side by side: product ``p`` owns columns
    ``cols[p]:cols[p + 1]`` of each per-contract array (of each row of the two-row ones)."""

    cols: np.ndarray
    liquidity: np.ndarray
    mid: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    tick: np.ndarray    # per product
    scale: np.ndarray   # per product: 10 ** decimals of the tick


def quote_batch(pending: list[PendingQuotes]) -> QuoteBatch:
    """Quote every contract of ``pending`` (products of one exercise style) in one batch:
    surface volatility, model mid, and a two-sided quote on each product's tick."""
    books = [p.market.book for p in pending]
    n_product = np.array([len(b) for b in books])
    n_expiry = np.array([len(b.expiries) for b in books])
    times = np.concatenate([p.times for p in pending])
    expiry_sizes = np.concatenate([b.sizes for b in books])
    strikes = np.concatenate([b.strikes for b in books])
    t = np.repeat(times, expiry_sizes)

    def per_expiry(value: Callable[[PendingQuotes], float]) -> np.ndarray:
        return _per_contract(pending, value, n_expiry)

    def per_contract(value: Callable[[PendingQuotes], float]) -> np.ndarray:
        return _per_contract(pending, value, n_product)

    def per_product(value: Callable[[PendingQuotes], float]) -> np.ndarray:
        return np.array([value(p) for p in pending], dtype=np.float64)

    s_e = per_expiry(lambda p: p.market.state.spot)
    r_e = per_expiry(lambda p: p.market.spec.rate)
    q_e = per_expiry(lambda p: p.market.spec.dividend_yield)
    forward_e = s_e * np.exp((r_e - q_e) * times)
    # SSVI's theta(T): the at-the-money total implied variance of each expiry.
    atm_total_var = surface.atm_total_variance(
        times, per_expiry(lambda p: p.market.state.variance),
        per_expiry(lambda p: p.market.spec.spot_model.vol_level),
        per_expiry(lambda p: p.market.spec.spot_model.diffusive_variance),
        per_expiry(lambda p: p.market.spec.spot_model.mean_reversion),
        per_expiry(lambda p: p.market.spec.surface_model.premium))
    # Scheduled events (earnings) still ahead add their variance to the expiries after them.
    if any(p.market.spec.events for p in pending):
        atm_total_var += np.concatenate([
            p.market.spec.events.variance_before(_epoch_us(p.now), p.times) for p in pending])
    phi = surface.ssvi_phi(atm_total_var,
                           per_expiry(lambda p: p.market.spec.surface_model.curvature),
                           per_expiry(lambda p: p.market.spec.surface_model.decay))
    s, r, q, forward, atm_total_var_c, phi_c = (
        np.repeat(a, expiry_sizes) for a in (s_e, r_e, q_e, forward_e, atm_total_var, phi))
    k = np.log(strikes / forward)
    vol = np.sqrt(surface.ssvi_total_variance(
        k, atm_total_var_c, per_contract(lambda p: p.market.spec.surface_model.skew), phi_c) / t)

    if pending[0].market.spec.american:
        mid = american.price(s, strikes, t, r, q, vol, SIDES)   # (2, n): calls, puts
    else:
        mid = bsm.call_put_prices(s, strikes, t, r, q, vol)
    liq = flow.liquidity(k, np.sqrt(atm_total_var_c), strikes,
                         per_contract(lambda p: p.market.spec.strike_step), t)
    tick = per_product(lambda p: p.market.spec.tick_size)
    tick_c = np.repeat(tick, n_product)
    # Implied over long-run implied variance of each expiry: spreads widen in a fast market.
    variance_ratio_e = atm_total_var / times / (
        per_expiry(lambda p: p.market.spec.surface_model.premium
                   * p.market.spec.spot_model.vol_level) ** 2)
    width = quotes.spread_ticks(
        tick_c, per_contract(lambda p: p.market.spec.spread_ticks), liq,
        np.repeat(variance_ratio_e, expiry_sizes), k, np.sqrt(atm_total_var_c),
        np.exp(-r * t) * np.abs(forward - strikes),
        per_contract(lambda p: p.market.spec.relative_spread))
    scale = quotes.grid_scale(tick)
    bid, ask = quotes.two_sided(mid, tick_c, width, np.repeat(scale, n_product))
    lo_c = lo_e = 0
    for p, n, ne in zip(pending, n_product.tolist(), n_expiry.tolist(), strict=True):
        cols = slice(lo_c, lo_c + n)
        p.forwards = forward_e[lo_e:lo_e + ne]
        p.contract_times = t[cols]
        p.vol = vol[cols]
        p.liquidity = liq[cols]
        p.mid, p.bid, p.ask = mid[:, cols], bid[:, cols], ask[:, cols]
        lo_c += n
        lo_e += ne
    return QuoteBatch(np.concatenate([[0], np.cumsum(n_product)]), liq, mid, bid, ask, tick,
                      scale)


def trade_batch(pending: list[PendingQuotes], quoted: QuoteBatch) -> list[ProductQuotes]:
    """Trade on the quotes of ``pending`` (as :func:`quote_batch` made them) in one batch:
    open interest, volume and last prints move, and each product's quotes for this tick are
    returned. Each product draws from its own generator only."""
    books = [p.market.book for p in pending]
    cols = quoted.cols
    oi = np.concatenate([b.oi for b in books], axis=1)
    last = np.concatenate([b.last for b in books], axis=1)
    profiles = [p.market.spec.order_flow for p in pending]
    moods = [_sentiment(p) for p in pending]
    plan = flow.plan(cols, np.concatenate([b.strikes for b in books]),
                     np.repeat(np.concatenate([p.forwards for p in pending]),
                               np.concatenate([b.sizes for b in books])),
                     np.concatenate([p.vol for p in pending]),
                     np.concatenate([p.contract_times for p in pending]), profiles, moods)
    for i, p in enumerate(pending):
        if books[i].has_unknown:
            cut = slice(cols[i], cols[i + 1])
            _fill_unknown(p, oi[:, cut], last[:, cut], plan.target[:, cut])
    # Each product trades its session's share of this tick's trading seconds.
    rate = plan.session_volume * np.repeat(
        [p.trading_seconds / f.session_seconds for p, f in zip(pending, profiles, strict=True)],
        np.diff(cols))
    traded, oi, last = flow.FlowBatch(cols, flow.OPEN_SHARE, flow.CLOSE_SHARE).run(
        rate, oi, [p.market.rng for p in pending],
        (quoted.bid, quoted.ask, last, quoted.tick, quoted.scale), plan)
    for p, f in zip(pending, profiles, strict=True):
        market = p.market
        market.spot_anchor = flow.next_anchor(
            market.spot_anchor if market.spot_anchor is not None
            else math.log(market.state.spot),
            math.log(market.state.spot), p.trading_seconds, f.session_seconds)
    out = []
    for i, p in enumerate(pending):
        market, book, lo, hi = p.market, books[i], cols[i], cols[i + 1]
        book.trade(oi[:, lo:hi], traded[:, lo:hi], last[:, lo:hi])
        out.append(ProductQuotes(
            symbol=market.spec.symbol, timestamp=p.now, spot=market.state.spot,
            variance=market.state.variance, tick_volume=p.tick_volume,
            session_volume=market.session_volume, expiries=tuple(book.expiries),
            offsets=book.offsets, times=p.times, forwards=p.forwards, strikes=book.strikes,
            contract_times=p.contract_times, surface_vol=p.vol, mid=p.mid, bid=p.bid,
            ask=p.ask, last=book.last, volume=book.volume, open_interest=book.oi,
            prev_close_oi=book.prev_oi, prev_close_last=book.prev_last))
    return out


def _sentiment(p: PendingQuotes) -> float:
    """The product's recent return in standard deviations of a day's move (0 before its
    first trade): what the order flow's put/call preference follows."""
    market = p.market
    if market.spot_anchor is None:
        return 0.0
    return flow.sentiment(math.log(market.state.spot), market.spot_anchor,
                          market.spec.spot_model.vol_level)


def _fill_unknown(p: PendingQuotes, oi: np.ndarray, last: np.ndarray,
                  target: np.ndarray) -> None:
    """In place: open interest for freshly listed contracts (about their flow target), and a
    first print at the mid (on the tick, inside the spread) for contracts that never
    printed."""
    spec = p.market.spec
    fresh = np.isnan(oi)
    if fresh.any():
        oi[fresh] = flow.initial_open_interest(target[fresh], p.market.rng)
    unprinted = np.isnan(last)
    if unprinted.any():
        last[unprinted] = np.clip(np.round(p.mid[unprinted] / spec.tick_size) * spec.tick_size,
                                  p.bid[unprinted], p.ask[unprinted])


class SimulatedMarket:
    """All products of a catalogue, advanced together on one clock and quoted in one batch
    per exercise style."""

    def __init__(self, specs: list[ProductSpec], seed: int) -> None:
        self.seed = seed
        self.products = {s.symbol: ProductMarket(s, seed) for s in specs}
        self.standing: frozenset[str] = frozenset()

    def advance(self, now: datetime) -> dict[str, ProductQuotes]:
        """Every product's quotes at ``now``; :attr:`standing` names the closed products
        whose quotes are their last ones (nothing was quoted or traded for them)."""
        begun = {symbol: m.begin(now) for symbol, m in self.products.items()}
        pending = [p for p in begun.values() if p is not None]
        self.standing = frozenset(s for s, p in begun.items() if p is None)
        quoted: dict[str, ProductQuotes] = {}
        for american_style in (False, True):
            group = [p for p in pending if p.market.spec.american == american_style]
            if group:
                quoted.update((q.symbol, q) for q in trade_batch(group, quote_batch(group)))
        for symbol, q in quoted.items():
            self.products[symbol].last_quotes = q
        return {symbol: quoted[symbol] if symbol in quoted
                else self.products[symbol].standing_quotes() for symbol in self.products}
