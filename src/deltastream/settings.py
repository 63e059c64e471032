"""Configuration in one place: one immutable settings object.

Values come from (highest first) command-line flags, ``DELTASTREAM_*`` environment variables
and the defaults below. Safe defaults: bind 127.0.0.1, debug off, port 8001.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from .core.types import ClockKind, EngineMode, LogFormat, LogLevel, Role, choices

ENV_PREFIX = "DELTASTREAM_"
# Variables with the prefix that are read elsewhere, not settings.
_NOT_SETTINGS = frozenset({"DELTASTREAM_TEST_POSTGRES"})
# Store table -> the setting holding its retention in days.
RETENTION_SETTINGS = {"underlying_ticks": "retention_ticks_days",
                      "chain_summaries": "retention_summaries_days",
                      "chain_archive": "retention_archive_days",
                      "session_close": "retention_session_close_days"}


class SettingsError(ValueError):
    """A configuration value is invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8001
    public_url: str | None = None       # the server's URL as clients reach it (OpenAPI servers)
    seed: int = 42
    catalog: Path | None = None
    tick_interval: float = 1.0          # seconds between engine ticks
    clock: str = ClockKind.REAL         # a ClockKind
    clock_speed: float = 1.0            # market seconds per wall second (accelerated clock)
    clock_start: str | None = None      # ISO-8601 start of an accelerated or fixed clock
    data_dir: Path = Path("data")
    strikes_each_side: int = 50         # listed strikes above and below the money per expiry
    cors_origins: tuple[str, ...] = ("*",)
    underlying_history: int = 100_000   # ticks kept per product in memory
    stall_after: float = 10.0           # seconds without a tick before health reports 503
    max_connections: int = 10_000       # concurrent client connections per web worker
    header_timeout: float = 10.0        # seconds a client may take to send a request's headers
    keepalive_timeout: float = 60.0     # seconds an idle keep-alive connection is kept open
    log_format: str = LogFormat.TEXT    # a LogFormat
    log_level: str = LogLevel.INFO      # a LogLevel
    access_log: bool = False            # one log line per request
    engine_threads: int = 1             # cores the engine's numeric kernels may use
    engine_mode: str = EngineMode.PROCESS  # an EngineMode: its own process, or the web one's
    role: str = Role.ALL                # a Role: engine + web, or web only (engine elsewhere)
    web_workers: int = 1                # web server processes
    redis_url: str | None = None        # bus between engine and web processes (else local),
                                        # also Socket.IO's message queue
    redis_prefix: str = "deltastream"   # key prefix, so deployments can share a Redis
    engine_lease: float = 2.0           # seconds an engine's writer lease lasts unrenewed
    engine_niceness: int = 5            # CPU priority the engine process gives up to requests
    engine_max_restarts: int = 5        # engine process restarts within engine_restart_window
    engine_restart_window: float = 300.0  # seconds; one more crash within it stops the server
    engine_restart_delay: float = 1.0   # seconds before the first restart, doubled per crash
    extra_holidays: tuple[str, ...] = field(default_factory=tuple)
    stream_client_buffer: int = 64     # pending live messages per client before dropping
    stream_replay_ticks: int = 60      # recent ticks kept for Server-Sent Events resume
    stream_heartbeat: float = 15.0     # seconds of silence before an SSE keep-alive comment
    stream_strikes: int = 21           # strikes in a live chain_update (as the REST default)
    # History store. database_url None: the SQLite file deltastream.db under data_dir.
    database_url: str | None = None
    archive_every: float = 300.0        # market seconds between full-chain archives (0: every tick)
    archive_tolerance: float | None = None  # seconds chain?at= may be from an archive
                                            # (default: the archive interval)
    retention_ticks_days: float = 30.0  # 0 keeps a table's rows forever
    retention_summaries_days: float = 365.0
    retention_archive_days: float = 30.0
    retention_session_close_days: float = 365.0
    prune_every: float = 3600.0         # seconds between background prunes
    history_max_range_days: float = 31.0  # widest from/to span a history request may ask for
    iv_lookback_days: float = 365.0     # default lookback of IV rank and IV percentile
    store_queue: int = 2000             # snapshots the store writer holds before dropping

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.port <= 65535, "port", "1-65535"),
            (0 < self.tick_interval <= 3600, "tick_interval", "(0, 3600] seconds"),
            (self.clock in choices(ClockKind), "clock", f"one of {', '.join(choices(ClockKind))}"),
            (0 < self.clock_speed <= 1e6, "clock_speed", "(0, 1e6]"),
            (5 <= self.strikes_each_side <= 200, "strikes_each_side", "5-200"),
            (100 <= self.underlying_history <= 10_000_000, "underlying_history",
             "100-10,000,000"),
            (self.stall_after > 0, "stall_after", "> 0 seconds"),
            (1 <= self.max_connections <= 100_000, "max_connections", "1-100,000"),
            (0.5 <= self.header_timeout <= 3600, "header_timeout", "0.5-3600 seconds"),
            (0.5 <= self.keepalive_timeout <= 3600, "keepalive_timeout", "0.5-3600 seconds"),
            (self.log_format in choices(LogFormat), "log_format",
             " or ".join(choices(LogFormat))),
            (self.log_level in choices(LogLevel), "log_level",
             f"one of {', '.join(choices(LogLevel))}"),
            (1 <= self.engine_threads <= 256, "engine_threads", "1-256"),
            (self.engine_mode in choices(EngineMode), "engine_mode",
             " or ".join(choices(EngineMode))),
            (self.role in choices(Role), "role", " or ".join(choices(Role))),
            (1 <= self.web_workers <= 64, "web_workers", "1-64"),
            (bool(self.redis_prefix) and len(self.redis_prefix) <= 100, "redis_prefix",
             "1-100 characters"),
            (0.5 <= self.engine_lease <= 60, "engine_lease", "0.5-60 seconds"),
            (0 <= self.engine_niceness <= 19, "engine_niceness", "0-19"),
            (0 <= self.engine_max_restarts <= 1000, "engine_max_restarts", "0-1000"),
            (1 <= self.engine_restart_window <= 86_400, "engine_restart_window",
             "1-86,400 seconds"),
            (0.05 <= self.engine_restart_delay <= 30, "engine_restart_delay",
             "0.05-30 seconds"),
            (self.redis_url is None or self.redis_url.startswith(("redis://", "rediss://",
                                                                  "unix://")),
             "redis_url", "a redis://, rediss:// or unix:// URL"),
            (4 <= self.stream_client_buffer <= 10_000, "stream_client_buffer", "4-10,000"),
            (1 <= self.stream_replay_ticks <= 3600, "stream_replay_ticks", "1-3600"),
            (0.1 <= self.stream_heartbeat <= 300, "stream_heartbeat", "0.1-300 seconds"),
            (1 <= self.stream_strikes <= 201, "stream_strikes", "1-201"),
            (self.public_url is None or self.public_url.startswith(("http://", "https://")),
             "public_url", "an http:// or https:// URL"),
            (self.database_url is None or bool(self.database_url.strip()), "database_url",
             "a SQLAlchemy URL, e.g. postgresql+psycopg://user@host:5432/db"),
            (0 <= self.archive_every <= 86_400, "archive_every", "0-86,400 seconds"),
            (self.archive_tolerance is None or 0 <= self.archive_tolerance <= 31_536_000,
             "archive_tolerance", "0-31,536,000 seconds"),
            *((0 <= getattr(self, name) <= 36_500, name, "0-36,500 days (0: keep forever)")
              for name in RETENTION_SETTINGS.values()),
            (1 <= self.prune_every <= 86_400, "prune_every", "1-86,400 seconds"),
            (0 < self.history_max_range_days <= 3660, "history_max_range_days",
             "(0, 3660] days"),
            (1 <= self.iv_lookback_days <= 3660, "iv_lookback_days", "1-3660 days"),
            (10 <= self.store_queue <= 1_000_000, "store_queue", "10-1,000,000"),
        ]
        for ok, name, accepted in checks:
            if not ok:
                raise SettingsError(
                    f"{name}: {getattr(self, name)!r} is out of range (accepted: {accepted})")

    def public_base_url(self) -> str:
        """The URL clients reach the server at: ``public_url``, or the bound address (the
        loopback address when bound to every interface)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def archive_tolerance_seconds(self) -> float:
        """How far (seconds) ``chain?at=`` may lie from the archive it is answered with."""
        if self.archive_tolerance is not None:
            return self.archive_tolerance
        return max(self.archive_every, self.tick_interval)

    def retention(self) -> dict[str, timedelta]:
        """How long each store table keeps its rows (tables kept forever are left out)."""
        return {table: timedelta(days=getattr(self, name))
                for table, name in RETENTION_SETTINGS.items() if getattr(self, name) > 0}

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with the given (non-None) values replaced."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


# Settings whose default is None, and the type a value of theirs has.
_OPTIONAL_KINDS: dict[str, type] = {"archive_tolerance": float}


def _convert(name: str, raw: str, default: Any) -> Any:
    kind = type(default) if default is not None else _OPTIONAL_KINDS.get(name, str)
    if name == "catalog":
        return Path(raw)
    if name == "database_url":
        return raw
    if isinstance(default, Path):
        return Path(raw)
    if isinstance(default, tuple):
        return tuple(v.strip() for v in raw.split(",") if v.strip())
    try:
        if kind is bool:
            return raw.strip().lower() in ("1", "true", "yes", "on")
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}: cannot read {raw!r} as "
                            f"{kind.__name__}") from exc


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """One warning per ``DELTASTREAM_*`` variable that names no setting (a typo would
    otherwise be ignored silently), with the closest valid name."""
    env = os.environ if environ is None else environ
    valid = [ENV_PREFIX + f.name.upper() for f in fields(Settings)]
    out = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in valid or name in _NOT_SETTINGS:
            continue
        # Compared without the prefix, which every name shares.
        close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX),
                                          [v.removeprefix(ENV_PREFIX) for v in valid], n=1)
        hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else ""
        out.append(f"{name} is not a DeltaStream setting (ignored){hint}")
    return out


def from_env(environ: dict[str, str] | None = None) -> Settings:
    """Defaults overridden by ``DELTASTREAM_<NAME>`` environment variables."""
    env = os.environ if environ is None else environ
    base = Settings()
    values = {}
    for f in fields(Settings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _convert(f.name, raw, getattr(base, f.name))
    return base.with_overrides(**values)
