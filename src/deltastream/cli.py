"""Command-line interface: ``deltastream <command>``."""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from .core.times import parse_utc
from .core.types import (
    ClockKind,
    EngineMode,
    ExportFormat,
    HistoryKind,
    LogFormat,
    LogLevel,
    Role,
    TradingHours,
    choices,
)
from .settings import Settings, SettingsError, from_env, unknown_variables

# Heavy modules (NumPy, the pricing kernels, SQLAlchemy, the web stack) are imported inside
# the command that needs them, so ``deltastream --help`` answers at once.

_DEFAULTS = Settings()
F = TypeVar("F", bound=Callable[..., Any])


def _setting(*decls: str, shown: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """A flag for the setting of its name, defaulting to the setting's default (which help
    shows, or ``shown`` where that is None). Only a flag given on the command line overrides
    the setting's ``DELTASTREAM_*`` variable (:func:`_given`)."""
    name = decls[-1] if not decls[-1].startswith("-") else (
        decls[0].split("/")[0].removeprefix("--").replace("-", "_"))
    default = getattr(_DEFAULTS, name)
    if isinstance(default, str):
        default = str(default)      # a choice's plain value, not its enum member
    return click.option(*decls, default=default, show_default=shown or True, **kwargs)


def _given(options: dict[str, object]) -> dict[str, object]:
    """The options given on the command line (the others are the settings' defaults, which
    the environment may override)."""
    ctx = click.get_current_context()
    return {name: value for name, value in options.items()
            if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT}


# Options ``serve`` and ``engine`` share.
_seed = _setting("--seed", type=int, help="Seed of the simulated market.")
_catalog = _setting("--catalog", type=click.Path(dir_okay=False, path_type=Path),
                    shown="the built-in products", help="TOML file adding or changing products.")
_holidays = _setting("--holidays", "holidays_file",
                     type=click.Path(dir_okay=False, path_type=Path),
                     shown="the shipped table",
                     help="TOML holiday table adding exchange holidays to the shipped one.")
_hours = _setting("--hours", type=click.Choice(choices(TradingHours)),
                  help="exchange: each product trades in its exchange's sessions (quotes stand "
                       "while closed); always: around the clock (a demo mode).")
_tick_interval = _setting("--tick-interval", type=click.FloatRange(0, 3600, min_open=True),
                          help="Seconds between engine ticks.")
_log_format = _setting("--log-format", type=click.Choice(choices(LogFormat)),
                       help="Log lines for people (text) or one JSON object per line (json).")
_log_level = _setting("--log-level", type=click.Choice(choices(LogLevel)),
                      help="Least severe records logged.")
_archive_every = _setting("--archive-every", type=click.FloatRange(0, 86_400),
                          help="Market seconds between full-chain archives (0: every tick).")
_sqlite_default = "SQLite deltastream.db in the data directory"


def _store_location(command: F) -> F:
    """--database-url and --data-dir for the commands that open the history store themselves
    (export, import): plain options, read by the command (environment as the default)."""
    command = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                           default=None, help="Data directory holding the SQLite store.")(command)
    return click.option("--database-url", default=None,
                        help="History store URL (default: DELTASTREAM_DATABASE_URL, or the "
                             "SQLite file in the data directory).")(command)


# The optional extras (pyproject.toml) by the top-level modules they install: a command that
# needs a missing one ends with one line naming the extra.
_EXTRA_OF_MODULE = {
    **dict.fromkeys(("flask", "apiflask", "flask_cors", "flask_socketio", "socketio",
                     "engineio", "simple_websocket", "wsproto", "gunicorn", "gevent",
                     "sqlalchemy", "alembic", "prometheus_client"), "server"),
    "psycopg": "postgres", "redis": "redis", "pyarrow": "parquet",
}


class _Commands(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            extra = _EXTRA_OF_MODULE.get((exc.name or "").partition(".")[0])
            if extra is None:
                raise
            raise click.ClickException(
                f"{ctx.invoked_subcommand} needs the {extra} extra (no module {exc.name!r}): "
                f"pip install 'deltastream[{extra}]'") from None


@click.group(cls=_Commands)
@click.version_option(package_name="deltastream")
def main() -> None:
    """DeltaStream: option chains with prices, implied volatility, Greeks and analytics."""


@main.command()
@_setting("--host", help="Address to bind (beyond loopback only behind a proxy you trust).")
@_setting("--port", type=click.IntRange(1, 65535), help="Port.")
@_seed
@_catalog
@_holidays
@_tick_interval
@_setting("--strikes-each-side", type=click.IntRange(5, 200),
          help="Strikes listed above and below the money per expiry.")
@_hours
@_setting("--clock", type=click.Choice(choices(ClockKind)), help="Market clock.")
@_setting("--clock-speed", type=click.FloatRange(0, 1e6, min_open=True),
          help="Market seconds per wall second for --clock accelerated.")
@_setting("--data-dir", type=click.Path(path_type=Path),
          help="Directory for everything the server writes.")
@_setting("--workers", "web_workers", type=click.IntRange(1, 64), help="Web server processes.")
@_setting("--role", type=click.Choice(choices(Role)),
          help="all: engine and web; web: serve an engine running elsewhere.")
@_setting("--redis-url", shown="the data directory's local socket",
          help="Redis bus between engine and web processes.")
@_setting("--database-url", shown=_sqlite_default,
          help="History store: a SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db.")
@_archive_every
@_setting("--retention-ticks-days", type=click.FloatRange(0, 36_500),
          help="Days of underlying ticks kept (0: forever).")
@_setting("--retention-summaries-days", type=click.FloatRange(0, 36_500),
          help="Days of chain summaries kept (0: forever).")
@_setting("--retention-archive-days", type=click.FloatRange(0, 36_500),
          help="Days of archived full chains kept (0: forever).")
@_setting("--retention-session-close-days", type=click.FloatRange(0, 36_500),
          help="Days of session closes kept (0: forever).")
@_setting("--history-max-range-days", type=click.FloatRange(0, 3660, min_open=True),
          help="Widest from/to range in days a history request may ask for.")
@_setting("--engine-mode", type=click.Choice(choices(EngineMode)),
          help="Run the engine in its own process or in the web process.")
@_log_format
@_log_level
@_setting("--access-log/--no-access-log", help="One log line per request.")
@_setting("--replay", "replay_source", shown="the simulated market",
          help="Run on the stored or imported snapshots of this source (deltastream "
               "import), replayed on an accelerated clock.")
@_setting("--from", "replay_from", shown="the source's first snapshot",
          help="Market time the replay starts at, ISO-8601; UTC when no offset.")
@_setting("--to", "replay_to", shown="the source's last snapshot",
          help="Market time the replay ends at, ISO-8601; UTC when no offset.")
@_setting("--speed", "replay_speed", type=click.FloatRange(0, 100_000, min_open=True),
          help="Market seconds per wall second of the replay.")
@_setting("--feed-url", "feed_urls", multiple=True, shown="none",
          help="Run on this URL serving NSE option-chain JSON (with symbol=), polled in the "
               "background; repeat for more symbols or expiries.")
@_setting("--feed-interval", type=click.FloatRange(0.05, 3600),
          help="Seconds between two requests of each feed URL.")
@_setting("--news-feed", "news_feeds", multiple=True, shown="none",
          help="RSS or Atom feed whose headlines /api/ai/sentiment scores; repeat for more "
               "(at most 20).")
@_setting("--news-refresh", type=click.FloatRange(1, 86_400),
          help="Seconds between two fetches of each news feed.")
@_setting("--news-timeout", type=click.FloatRange(0.1, 120),
          help="Seconds a news feed's fetch may take.")
@_setting("--llm-url", shown="none (offline answers)",
          help="OpenAI-compatible server (e.g. a local llama.cpp or Ollama) the chat phrases "
               "its answers with; its key is read from the variable named by "
               "DELTASTREAM_LLM_KEY_ENV (default DELTASTREAM_LLM_KEY).")
@_setting("--llm-model", help="Model name sent to --llm-url.")
def serve(**options: object) -> None:
    """Run the API server on the simulated market, a replay of stored snapshots (--replay)
    or a polled NSE option-chain feed (--feed-url).

    Every option is also a DELTASTREAM_<NAME> environment variable (e.g. DELTASTREAM_PORT);
    an option given on the command line wins."""
    settings = _settings(options, bind=True)
    _check_market(settings)
    from .runtime.server import serve as run_server

    if settings.role == Role.ALL and settings.engine_mode == EngineMode.THREAD:
        from .runtime.logs import announce_kernel_compilation

        # The engine ticks in the (forked) web worker, which inherits this.
        announce_kernel_compilation()

    run_server(settings)


@main.command()
@_seed
@_catalog
@_holidays
@_tick_interval
@_hours
@_setting("--data-dir", type=click.Path(path_type=Path),
          help="Directory for everything the engine writes.")
@_setting("--redis-url", shown="the data directory's local socket",
          help="Publish to this Redis (several engines: one writes, the others stand by).")
@_setting("--database-url", shown=_sqlite_default,
          help="History store the engine records into and resumes from.")
@_archive_every
@_log_format
@_log_level
def engine(**options: object) -> None:
    """Run the market engine alone, publishing to web processes (serve --role web).

    Every option is also a DELTASTREAM_<NAME> environment variable. The market is the
    simulated one unless DELTASTREAM_REPLAY_SOURCE or DELTASTREAM_FEED_URLS names another
    (serve's --replay and --feed-url; give the web processes the same)."""
    import signal
    import threading

    settings = _settings(options)
    from .runtime.logs import announce_kernel_compilation

    # Before the engine's modules load (one compiles a table as it is imported).
    announce_kernel_compilation()
    _check_market(settings)
    from .bus.local import EngineLockedError
    from .runtime.market import MarketError
    from .runtime.publishing import run_publishing_engine

    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        run_publishing_engine(settings, stopped)
    except (EngineLockedError, MarketError) as exc:
        # A standby builds its market once it takes over, possibly long after the check.
        raise click.ClickException(str(exc)) from None


def _settings(options: dict[str, object], bind: bool = False) -> Settings:
    from .calendars import HolidayFileError, holiday_table
    from .catalog import CatalogError, load_catalog
    from .runtime.logs import configure as configure_logging
    from .store.database import StoreUnavailable, open_configured

    try:
        settings = from_env().with_overrides(**_given(options))
        # The log's format before anything logs (the store's migration line among the first).
        configure_logging(settings)
        load_catalog(settings.catalog)
        holiday_table(settings.holidays_file)
        if settings.redis_url:
            import redis  # noqa: F401  (the redis extra: missing, it is one line, not a worker's)
        _check_data_dir(settings.data_dir)
        if settings.redis_url is None and (not bind or settings.role == Role.ALL):
            _check_engine_lock(settings.data_dir, serving=bind)
        # Reach (and migrate) the history store before anything starts: an unusable
        # database is a one-line error, not a traceback from a worker.
        if bind:
            _check_port(settings.host, settings.port)
        open_configured(settings).dispose()
    except (SettingsError, CatalogError, HolidayFileError, StoreUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    for warning in startup_warnings(settings, bind):
        logging.getLogger("deltastream").warning(warning)
    hours = market_hours_line(settings)
    if hours:
        logging.getLogger("deltastream").info(hours)
    return settings


def _check_market(settings: Settings) -> None:
    """Fail in one line, before the engine starts, when the configured market cannot run: a
    replay together with a feed, a replay of a source the store lacks or of a range without
    snapshots, a feed URL naming no symbol (:func:`deltastream.runtime.market.check_market`,
    which also logs what the engine will run on)."""
    from .runtime.market import MarketError, check_market

    try:
        check_market(settings)
    except MarketError as exc:
        raise click.ClickException(str(exc)) from None


def startup_warnings(settings: Settings, bind: bool) -> list[str]:
    """What a start-up should warn about: ``DELTASTREAM_*`` variables that name no setting,
    and (for a server) an address beyond loopback."""
    warnings = unknown_variables()
    if bind and settings.host not in LOOPBACK_HOSTS:
        warnings.append(f"binding {settings.host}: the server is reachable from other machines "
                        "(it has no authentication; put it behind a proxy you trust)")
    return warnings + calendar_warnings(settings)


def calendar_warnings(settings: Settings) -> list[str]:
    """The simulated market's products whose listed expiries, at the market's start, pass
    the last date any holiday source covers (exchange_calendars, the shipped table,
    --holidays)."""
    if settings.replay_source or settings.feed_urls:
        return []       # a replay or a feed lists what its data lists
    from .calendars import holiday_table, horizon_warnings
    from .catalog import load_catalog

    holidays = frozenset(date.fromisoformat(d) for d in settings.extra_holidays)
    return horizon_warnings(load_catalog(settings.catalog), _market_start(settings),
                            holidays, holiday_table(settings.holidays_file))


def market_hours_line(settings: Settings) -> str | None:
    """When the simulated market trades, and each product's session state at its start
    (open until its close, closed until its next open; UTC); None for a replay or a feed."""
    if settings.replay_source or settings.feed_urls:
        return None
    if settings.hours == TradingHours.ALWAYS:
        return "market hours: always (every product trades around the clock)"
    from .calendars import holiday_table, sessions_for
    from .catalog import load_catalog

    start = _market_start(settings)
    holidays = frozenset(date.fromisoformat(d) for d in settings.extra_holidays)
    table = holiday_table(settings.holidays_file)
    states = []
    for product in load_catalog(settings.catalog):
        status, until = sessions_for(product, holidays, table).status(start)
        states.append(f"{product.symbol} {status} until "
                      f"{until.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    return ("market hours: exchange sessions (closed markets keep their last quotes; "
            f"--hours always trades around the clock): {', '.join(states)}")


def _market_start(settings: Settings) -> datetime:
    """The market clock's start: --clock-start for a fixed or accelerated clock, else now."""
    return (parse_utc(settings.clock_start)
            if settings.clock_start and settings.clock != ClockKind.REAL else datetime.now(UTC))


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _check_data_dir(data_dir: Path) -> None:
    """Fail in one line, creating nothing, when the data directory cannot be used."""
    why = unusable_directory(data_dir)
    if why is not None:
        raise click.ClickException(f"data directory {data_dir} cannot be used: {why}; "
                                   "choose another --data-dir")


def unusable_directory(path: Path) -> str | None:
    """Why ``path`` cannot be used as a writable directory (it, or the directories it would
    be created in), or None when it can. Only looks; creates nothing."""
    path = path.absolute()
    name_max = os.pathconf("/", "PC_NAME_MAX")
    for part in path.parts:
        if len(os.fsencode(part)) > name_max:
            return (f"the name {part[:16]}… has {len(os.fsencode(part))} bytes, more than "
                    f"the {name_max} a file name may have")
    existing = path
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        where = "it" if existing == path else str(existing)
        return f"{where} is a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return ("it is not writable" if existing == path
                else f"{existing} is not writable, so it cannot be created")
    return None


def _check_engine_lock(data_dir: Path, serving: bool) -> None:
    """Fail in one line, before anything starts, when an engine already runs on the data
    directory (a second engine there would fail, and its web processes would serve the
    first one's ticks unknowingly)."""
    from .bus.local import engine_lock_holder, engine_lock_message

    holder = engine_lock_holder(data_dir)
    if holder is not None:
        more = " (web processes for it: serve --role web)" if serving else ""
        raise click.ClickException(f"{engine_lock_message(data_dir.absolute(), holder)}; stop "
                                   f"it or choose another --data-dir{more}")


def _check_port(host: str, port: int) -> None:
    """Fail in one line, before anything is created, when the address cannot be bound."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As gunicorn binds: an address in TIME_WAIT is free, one being listened on is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = "is in use" if error.errno == errno.EADDRINUSE else f"({error.strerror})"
            raise click.ClickException(f"cannot listen on {host}:{port}: the address "
                                       f"{reason}; choose another --port or stop the server "
                                       "using it") from None


@main.command()
@click.option("--spot", type=click.FloatRange(min=0, min_open=True), default=24500.0,
              show_default=True, help="Underlying price.")
@click.option("--strike-step", type=click.FloatRange(min=0, min_open=True), default=50.0,
              show_default=True, help="Distance between listed strikes.")
@click.option("--strikes", type=click.IntRange(1, 201), default=11, show_default=True,
              help="Number of strikes around the at-the-money strike.")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=7.0,
              show_default=True, help="Calendar days to expiry (ACT/365).")
@click.option("--vol", type=click.FloatRange(min=0, min_open=True), default=0.13,
              show_default=True, help="Volatility, annualised decimal.")
@click.option("--rate", type=float, default=0.055, show_default=True,
              help="Risk-free rate, continuous decimal.")
@click.option("--dividend-yield", type=float, default=0.012, show_default=True,
              help="Dividend yield, continuous decimal.")
def price(spot: float, strike_step: float, strikes: int, days: float, vol: float, rate: float,
          dividend_yield: float) -> None:
    """Price a European chain and solve its implied volatility back from the prices."""
    import numpy as np

    from .core.types import labels
    from .pricing import black_scholes_merton as bsm
    from .pricing.implied_vol import implied_vol

    atm = round(spot / strike_step) * strike_step
    ks = atm + strike_step * (np.arange(strikes) - strikes // 2)
    t = days / 365.0
    header = (f"{'strike':>10} {'call':>10} {'iv':>8} {'delta':>7} {'gamma':>9} {'theta':>8} "
              f"{'vega':>7} | {'put':>10} {'iv':>8} {'delta':>7}")
    click.echo(f"spot {spot}  T {t:.6f} y  vol {vol}  r {rate}  q {dividend_yield}  "
               "(theta per day, vega per vol point)")
    click.echo(header)
    call = bsm.greeks(spot, ks, t, rate, dividend_yield, vol, True)
    put = bsm.greeks(spot, ks, t, rate, dividend_yield, vol, False)
    call_iv, call_status = implied_vol(call.price, spot, ks, t, rate, dividend_yield, True)
    put_iv, put_status = implied_vol(put.price, spot, ks, t, rate, dividend_yield, False)
    for i, k in enumerate(ks):
        civ = f"{call_iv[i]:8.4f}" if call_status[i] == 0 else f"{labels(call_status[i]):>8}"
        piv = f"{put_iv[i]:8.4f}" if put_status[i] == 0 else f"{labels(put_status[i]):>8}"
        click.echo(f"{k:10.2f} {call.price[i]:10.4f} {civ} {call.delta[i]:7.4f} "
                   f"{call.gamma[i]:9.6f} {call.theta[i]:8.4f} {call.vega[i]:7.4f} | "
                   f"{put.price[i]:10.4f} {piv} {put.delta[i]:7.4f}")


@main.command("catalog-schema")
def catalog_schema() -> None:
    """Print the JSON Schema of a catalogue file (--catalog; docs/catalog.md)."""
    import json

    from .catalog import catalog_json_schema

    click.echo(json.dumps(catalog_json_schema(), indent=2))


@main.command("settings-schema")
def settings_schema() -> None:
    """Print the JSON Schema of the settings: each one's type, default, range and meaning
    (as a flag --<name> or a DELTASTREAM_<NAME> environment variable)."""
    import json

    from .settings import settings_json_schema

    click.echo(json.dumps(settings_json_schema(), indent=2))


def _utc_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_utc(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time "
                                 "(e.g. 2026-11-25T09:15:00Z)", param_hint=name) from None


@main.command()
@click.option("--product", required=True, help="Product symbol, e.g. NIFTY.")
@click.option("--what", type=click.Choice(choices(HistoryKind)), required=True,
              help="Underlying ticks, per-expiry chain summaries, or archived full chains.")
@click.option("--from", "start", default=None,
              help="Start (inclusive), ISO-8601; UTC when no offset. Default: the oldest.")
@click.option("--to", "end", default=None,
              help="End (inclusive), ISO-8601; UTC when no offset. Default: the newest.")
@click.option("--format", "fmt", type=click.Choice(choices(ExportFormat)), default="csv",
              show_default=True, help="Output format.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write (it appears only once complete).")
@_store_location
def export(product: str, what: str, start: str | None, end: str | None, fmt: str, out: Path,
           database_url: str | None, data_dir: Path | None) -> None:
    """Export stored history of one product to CSV or Parquet."""
    from .store import history
    from .store.database import DB_FILE, StoreUnavailable, configured_url, open_database
    from .store.export import check_format, export_rows, stored_products

    check_format(fmt)
    begin, finish = _utc_time(start, "--from"), _utc_time(end, "--to")
    if begin is not None and finish is not None and begin > finish:
        raise click.BadParameter(f"{start} is after --to {end}", param_hint="--from")
    try:
        settings = from_env().with_overrides(database_url=database_url, data_dir=data_dir)
        if settings.database_url is None and not (settings.data_dir / DB_FILE).exists():
            raise click.ClickException(f"no history store in {settings.data_dir.resolve()} "
                                       "(give --data-dir or --database-url)")
        store = open_database(configured_url(settings))
    except (SettingsError, StoreUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        total = history.count_rows(store, what, product, begin, finish)
        if total == 0 and product not in (stored := stored_products(store)):
            import difflib

            close = difflib.get_close_matches(product, stored, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise click.ClickException(
                f"--product: no history of {product!r} in the store{hint}; it has "
                f"{', '.join(stored) if stored else 'no products yet'}")
        with click.progressbar(length=total, label=f"{product} {what}", file=sys.stderr,
                               show_pos=True) as bar:
            done = [0]

            def progress(rows: int) -> None:
                step = min(rows, total) - done[0]
                if step > 0:
                    bar.update(step)
                    done[0] += step

            written = export_rows(store, what, product, begin, finish, out, fmt, progress)
    finally:
        store.dispose()
    click.echo(f"{written} rows of {product} {what} written to {out}")


# The formats of `deltastream import` (deltastream.feeds.importer.FORMATS, spelled here so
# that --help loads no importer).
IMPORT_FORMATS = ("nse-json", "udiff", "cboe-eod", "long")


@main.command("import")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--source", default=None,
              help="Source name the imported chains are stored under (1-32 letters, digits, "
                   "_ or -). Default: nse or bse for NSE/BSE files, cboe for Cboe, imported "
                   "for the long format.")
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS), default=None,
              help="Read every file in this format. Default: detected per file.")
@click.option("--rejects", "rejects_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None,
              help="CSV of the rows left out (file, row, column, reason). Default: "
                   "imports/rejects-<UTC time>.csv in the data directory, when there are any.")
@click.option("--catalog", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML file adding or changing products (default: DELTASTREAM_CATALOG, or "
                   "the built-in products).")
@_store_location
def import_(paths: tuple[str, ...], source: str | None, fmt: str | None,
            rejects_file: Path | None, catalog: Path | None, database_url: str | None,
            data_dir: Path | None) -> None:
    """Import option-chain files (files, globs, folders, zips): NSE option-chain JSON, NSE/BSE
    UDiFF F&O bhavcopies, Cboe option EOD summaries, or the long format (README).

    Files holding parts of one chain (same source, product and quote time, e.g. NSE's one
    expiry per file) are merged, also into a chain stored by an earlier import; re-importing
    a file changes nothing. A malformed file is reported (exit status 1) and nothing of it is
    stored; the other files are still imported."""
    import time

    from .catalog import CatalogError, load_catalog
    from .feeds.importer import check_source, import_files
    from .feeds.paths import DATA_SUFFIXES, expand
    from .feeds.records import FileFormatError
    from .store.database import (
        StoreUnavailable,
        configured_url,
        describe,
        is_fault,
        open_database,
    )

    started = time.perf_counter()
    if source is not None:
        try:
            check_source(source)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--source") from None
    skipped: list[str] = []
    try:
        files = expand(list(paths), skipped)
    except FileFormatError as exc:      # a typo, or a pattern matching nothing
        raise click.BadParameter(str(exc), param_hint="PATH") from None
    try:
        settings = from_env().with_overrides(database_url=database_url, data_dir=data_dir,
                                             catalog=catalog)
        products = load_catalog(settings.catalog)
        if settings.database_url is None:
            _check_data_dir(settings.data_dir)
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = open_database(configured_url(settings))
    except (SettingsError, CatalogError, StoreUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        if sys.stderr.isatty():
            with click.progressbar(length=len(files), label="importing", file=sys.stderr,
                                   show_pos=True) as bar:
                def progress(done: int, total: int) -> None:
                    bar.update(done - bar.pos)

                summary = import_files(files, store, products, source, fmt, progress)
        else:
            # A log or a pipe gets the summary only (click would still print the label).
            summary = import_files(files, store, products, source, fmt)
    except Exception as exc:
        if not is_fault(exc):
            raise
        # Each file is its own transaction: the files before this one are stored.
        raise click.ClickException(f"cannot write to the history store: {describe(exc)}; "
                                   "the files before the failing one were imported, run "
                                   "the same command again to import the rest") from None
    finally:
        store.dispose()
    spent = summary.seconds
    click.echo(f"{summary.files} files, {summary.rows_read:,} rows read, "
               f"{summary.contracts_stored:,} contracts stored, {summary.snapshots_stored:,} "
               f"snapshots stored, {summary.snapshots_present:,} already present, "
               f"{summary.rows_rejected:,} rows rejected, {summary.snapshots_merged:,} stored "
               "snapshots merged with new rows in "
               f"{time.perf_counter() - started:.1f} s (parse {spent['parse']:.1f} s, price "
               f"{spent['price']:.1f} s, store {spent['store']:.1f} s)")
    if skipped:
        click.echo(f"{len(skipped):,} files in folders or archives skipped, not named "
                   f"{', '.join(DATA_SUFFIXES)}: {', '.join(skipped[:3])}"
                   + (", ..." if len(skipped) > 3 else ""))
    if summary.rejects or rejects_file is not None:
        path = rejects_file or (settings.data_dir / "imports" /
                                f"rejects-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv")
        _write_rejects(path, summary.rejects)
        click.echo(f"{len(summary.rejects):,} rejects listed in {path}")
    for line in summary.failed:
        click.echo(f"error: {line}", err=True)
    if summary.failed:
        sys.exit(1)


def _write_rejects(path: Path, rejects: list[Any]) -> None:
    """The reject report, CSV with a header: file, row, column, reason."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("file", "row", "column", "reason"))
        writer.writerows((r.file, r.row, r.column, r.reason) for r in rejects)
