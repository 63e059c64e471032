"""Assemble an engine from settings: catalogue, calendars, market model, clock, hours.

With ``hours`` EXCHANGE (the default setting) each product trades in its exchange's sessions
(``calendars.sessions``); ALWAYS keeps every product trading around the clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from ..calendars import HolidayFileError, HolidayTable, holiday_table, listing_for, sessions_for
from ..calendars.sessions import regular_open
from ..catalog import Catalog, Product, load_catalog
from ..core.times import parse_utc
from ..core.types import ClockKind, TradingHours
from ..market.checkpoint import MarketCheckpoint, restore, set_previous_closes
from ..market.clock import AcceleratedClock, FixedClock, MarketClock, RealClock
from ..market.events import earnings_schedule
from ..market.flow import FlowProfile
from ..market.simulator import ProductSpec
from ..market.spot import SpotModel
from ..market.surface import SurfaceModel
from ..settings import Settings, SettingsError
from .chains import ContractTerms
from .runner import Engine


def product_spec(p: Product, strikes_each_side: int,
                 extra_holidays: frozenset[date] = frozenset(),
                 holidays: HolidayTable | None = None,
                 hours: TradingHours = TradingHours.ALWAYS) -> ProductSpec:
    """The simulated market of ``p``: in its exchange's sessions (``hours`` EXCHANGE) or
    around the clock (ALWAYS, the default here: a spec built for a test or a bench trades
    at any hour unless asked otherwise; the server's default comes from the settings)."""
    listing = listing_for(p, extra_holidays, holidays)
    sessions = (sessions_for(p, extra_holidays, holidays) if hours == TradingHours.EXCHANGE
                else None)
    return ProductSpec(
        symbol=p.symbol, timezone=p.timezone, tick_size=p.tick_size, strike_step=p.strike_step,
        american=p.american, rate=p.rate, dividend_yield=p.dividend_yield, start_spot=p.spot,
        spot_model=SpotModel(vol_level=p.vol_level, mean_reversion=p.mean_reversion,
                             vol_of_vol=p.vol_of_vol, spot_vol_correlation=p.spot_vol_correlation,
                             jump_intensity=p.jump_intensity, jump_mean=p.jump_mean,
                             jump_std=p.jump_std, drift=p.rate - p.dividend_yield),
        surface_model=SurfaceModel(skew=p.skew, curvature=p.curvature, premium=p.iv_premium),
        listed_expiries=listing.expiries_for, expiry_instant=listing.expiry_instant,
        strikes_each_side=strikes_each_side, order_flow=flow_profile(p),
        relative_spread=p.relative_spread,
        spread_ticks=p.spread_ticks, events=earnings_schedule(p.earnings, p.timezone),
        underlying_volume_rate=p.underlying_volume_rate, sessions=sessions,
        overnight_gap=p.overnight_gap)


def flow_profile(p: Product) -> FlowProfile:
    """The order flow of ``p`` per session of its exchange (open to close; the calendar's
    regular open when the catalogue gives none). A catalogue that sizes flow the older way
    (peak_trade_rate, peak_open_interest) gets volume and open interest from those."""
    opens = p.open if p.open is not None else regular_open(p.calendar_code)
    session = (datetime.combine(date.min, p.close) - datetime.combine(date.min, opens)
               ).total_seconds()
    volume = (p.session_volume if p.session_volume is not None
              else (p.peak_trade_rate if p.peak_trade_rate is not None else 5.0) * 20 * session)
    open_interest = (p.open_interest if p.open_interest is not None
                     else (p.peak_open_interest * 40 if p.peak_open_interest is not None
                           else 2e6))
    return FlowProfile(
        session_seconds=session, session_volume=volume, open_interest=open_interest,
        put_call_oi=p.put_call_oi, put_call_volume=p.put_call_volume,
        put_call_sensitivity=p.put_call_sensitivity,
        round_strikes=(p.round_strikes if p.round_strikes is not None
                       else (2 * p.strike_step, 10 * p.strike_step)),
        round_strike_interest=p.round_strike_interest, oi_reversion=p.oi_reversion)


def contract_terms(p: Product) -> ContractTerms:
    return ContractTerms(symbol=p.symbol, exercise_style=p.exercise_style, rate=p.rate,
                         dividend_yield=p.dividend_yield, currency=p.currency,
                         lot_size=p.lot_size, strike_step=p.strike_step, tick_size=p.tick_size,
                         exchange=p.exchange, timezone=p.timezone)


def make_clock(settings: Settings, not_before: datetime | None = None) -> MarketClock:
    """The configured clock; an accelerated or fixed one starts no earlier than
    ``not_before`` (a resumed market never goes back in time)."""
    if settings.clock == ClockKind.REAL:
        return RealClock()
    try:
        start = (parse_utc(settings.clock_start) if settings.clock_start
                 else datetime.now(UTC))
    except ValueError as exc:
        raise SettingsError(f"clock_start: {settings.clock_start!r} is not an ISO-8601 "
                            "time") from exc
    if not_before is not None and start < not_before:
        start = not_before
    if settings.clock == ClockKind.FIXED:
        return FixedClock(start)
    return AcceleratedClock(start, settings.clock_speed)


def build_engine(catalog: Catalog, settings: Settings, clock: MarketClock | None = None
                 ) -> Engine:
    products = list(catalog)
    try:
        holidays = frozenset(date.fromisoformat(d) for d in settings.extra_holidays)
    except ValueError as exc:
        raise SettingsError(f"extra_holidays: {exc}") from exc
    try:
        table = holiday_table(settings.holidays_file)
    except HolidayFileError as exc:
        raise SettingsError(f"holidays_file: {exc}") from exc
    hours = settings.hours
    # In exchange hours every product may be closed at once: the engine then re-announces
    # its latest snapshots (as a quiet replay does) so that health sees it running.
    return Engine([product_spec(p, p.strikes_each_side or settings.strikes_each_side, holidays,
                                table, hours)
                   for p in products],
                  {p.symbol: contract_terms(p) for p in products}, settings.seed,
                  clock or make_clock(settings), settings.tick_interval,
                  settings.underlying_history, settings.engine_threads,
                  republish_after=(settings.stall_after / 2 if hours == TradingHours.EXCHANGE
                                   else None))


def engine_from_settings(settings: Settings) -> Engine:
    return build_engine(load_catalog(settings.catalog), settings)


def resume(engine: Engine, settings: Settings,
           checkpoints: dict[str, tuple[int, MarketCheckpoint]],
           closes: dict[str, list[tuple[date, float, str, float, float | None]]]
           ) -> datetime | None:
    """Continue ``engine``'s market from stored state, before its first tick: each product
    with a checkpoint (sequence, state) takes it over, then the stored close of its previous
    session (``closes``: expiry, strike, right, open interest, last premium), so open
    interest and premium changes are measured against the stored close. Sequence numbers
    continue after the newest stored one, and an accelerated or fixed clock starts at the
    newest stored time. Returns that time, or None when there was nothing to resume."""
    if not checkpoints:
        return None
    for product, (_, checkpoint) in checkpoints.items():
        market = engine.market.products[product]
        restore(market, checkpoint)
        if closes.get(product):
            set_previous_closes(market, closes[product])
    newest = max(c.time for _, c in checkpoints.values())
    engine.resume_sequence(max(seq for seq, _ in checkpoints.values()))
    engine.clock = make_clock(settings, not_before=newest)
    return newest
