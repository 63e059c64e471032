"""Which market a server's engine runs on, from the settings: the simulated market (the
default), a replay of a stored or imported source (``replay_source``: on an accelerated clock
at ``replay_speed`` from ``replay_from``, neither recorded again nor resumed), or NSE
option-chain JSON polled from ``feed_urls`` (recorded under ``feed_source``, on the wall
clock).

A web process needs the products its engine serves before the first tick: the catalogue's,
the replayed source's (those with snapshots in the range), or the feed URLs' symbols.
"""

from __future__ import annotations

import logging
from datetime import datetime

from ..catalog import load_catalog
from ..core.protocols import MarketProvider
from ..core.times import format_utc, parse_utc
from ..engine.runner import Engine
from ..engine.setup import engine_from_settings
from ..feeds.replay import ReplayError, ReplayProvider, ReplayRange, replay_range
from ..market.clock import AcceleratedClock, MarketClock, RealClock
from ..settings import Settings
from ..store.database import open_configured

log = logging.getLogger(__name__)


class MarketError(ValueError):
    """A market that cannot run as configured (one line saying why)."""


def simulated(settings: Settings) -> bool:
    """Whether the engine runs the simulated market (the only one recorded with its
    checkpoints and resumed)."""
    return not settings.replay_source and not settings.feed_urls


def recorded(settings: Settings) -> bool:
    """Whether the engine's snapshots are stored (a replay's already are)."""
    return not settings.replay_source


def _utc(value: str | None) -> datetime | None:
    return None if value is None else parse_utc(value)


def _replay_range(settings: Settings) -> ReplayRange:
    assert settings.replay_source is not None
    db = open_configured(settings)
    try:
        return replay_range(db, settings.replay_source, _utc(settings.replay_from),
                            _utc(settings.replay_to))
    except ReplayError as exc:
        raise MarketError(str(exc)) from None
    finally:
        db.dispose()


def check_market(settings: Settings) -> str:
    """One line saying what the engine will run on; raises :class:`MarketError` when it
    cannot (a replay and a feed both configured, a replay of a source the store does not
    hold or of a range without snapshots, a feed URL naming no symbol)."""
    if settings.replay_source and settings.feed_urls:
        raise MarketError("--replay and --feed-url: choose one market (a replay of stored "
                          "snapshots or a live feed)")
    if settings.replay_source:
        r = _replay_range(settings)
        line = (f"replaying {r.source!r} ({', '.join(r.products)}) from {format_utc(r.start)} to "
                f"{format_utc(r.end)} at {settings.replay_speed:g}x")
    elif settings.feed_urls:
        from ..feeds.nse_poll import poll_symbols

        try:
            symbols = poll_symbols(settings.feed_urls)
        except ValueError as exc:
            raise MarketError(f"--feed-url: {exc}") from None
        line = (f"polling {len(settings.feed_urls)} feed URL(s) every "
                f"{settings.feed_interval:g} s for {', '.join(symbols)} as source "
                f"{settings.feed_source!r}")
    else:
        return "the simulated market"
    log.info("%s", line)
    return line


def market_symbols(settings: Settings) -> list[str]:
    """The products the configured engine serves, in a stable order."""
    if settings.replay_source:
        return list(_replay_range(settings).products)
    if settings.feed_urls:
        from ..feeds.nse_poll import poll_symbols

        return poll_symbols(settings.feed_urls)
    return load_catalog(settings.catalog).symbols


def engine_for(settings: Settings) -> Engine:
    """The engine of the configured market (its clock starts now)."""
    if simulated(settings):
        return engine_from_settings(settings)
    provider: MarketProvider
    if settings.replay_source:
        try:
            replay = ReplayProvider(open_configured(settings), settings.replay_source,
                                    _utc(settings.replay_from), _utc(settings.replay_to))
        except ReplayError as exc:
            raise MarketError(str(exc)) from None
        provider, speed = replay, settings.replay_speed
        clock: MarketClock = AcceleratedClock(replay.start, speed)
    else:
        # The feed's modules (JSON reader, pricing of imported chains) load only for it.
        from ..feeds.nse_poll import NSEPollingProvider

        provider = NSEPollingProvider(settings.feed_urls, settings.feed_interval,
                                      load_catalog(settings.catalog), settings.feed_source,
                                      user_agent=settings.feed_user_agent)
        clock, speed = RealClock(), 1.0
    return Engine(provider=provider, clock=clock, tick_interval=settings.tick_interval,
                  history=settings.underlying_history, compute_threads=settings.engine_threads,
                  clock_speed=speed, republish_after=settings.stall_after / 2)
