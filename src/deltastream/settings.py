"""Configuration in one place: one immutable, validated settings object.

Values come from (highest first) command-line flags, ``DELTASTREAM_*`` environment variables
and the defaults below. Safe defaults: bind 127.0.0.1, debug off, port 8001.

:class:`Settings` is a pydantic model: each field declares its type, default, accepted range
and description, which also give the settings' JSON Schema (``deltastream settings-schema``,
docs/settings.schema.json). Invalid values raise :class:`SettingsError`, naming every invalid
setting and what it accepts, one line each. Units are in each field's description (seconds,
market seconds, days, counts); numbers must be finite.

The environment is read by pydantic-settings: ``DELTASTREAM_<NAME>`` for the setting ``name``
(names compared case-insensitively), numbers, booleans (1/true/yes/on or 0/false/no/off),
paths, comma-separated values for the list settings (``cors_origins``, ``extra_holidays``,
``feed_urls``, ``auth_cors_origins``, ``news_feeds``); an empty value leaves an optional
setting unset.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, get_args

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import AfterValidator, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .core.times import parse_utc
from .core.types import (
    SOURCE_NAME_PATTERN,
    SOURCE_NAMES,
    ClockKind,
    EngineMode,
    LogFormat,
    LogLevel,
    Role,
    TradingHours,
)

ENV_PREFIX = "DELTASTREAM_"
# Variables with the prefix that are read elsewhere, not settings.
# DELTASTREAM_JWT_SECRET is a secret: read by deltastream.accounts, never part of the settings
# (nor of their schema, logs or the settings shown).
# DELTASTREAM_LLM_KEY (llm_key_env's default) is the chat endpoint's key: a secret too.
_NOT_SETTINGS = frozenset({"DELTASTREAM_TEST_POSTGRES", "DELTASTREAM_TEST_ARTIFACTS",
                           "DELTASTREAM_JWT_SECRET", "DELTASTREAM_LLM_KEY"})
# Store table -> the setting holding its retention in days.
RETENTION_SETTINGS = {"underlying_ticks": "retention_ticks_days",
                      "chain_summaries": "retention_summaries_days",
                      "chain_archive": "retention_archive_days",
                      "session_close": "retention_session_close_days"}


class SettingsError(ValueError):
    """Invalid configuration: ``errors`` has one line per invalid setting, each naming it (or
    the environment variable it was read from) and what it accepts. The message is that line
    when there is one, else a count followed by the lines, indented."""

    def __init__(self, errors: str | Sequence[str],
                 validation_error: ValidationError | None = None) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        # pydantic's errors, from which from_env words them for the variables it read.
        self.validation_error = validation_error
        if len(self.errors) == 1:
            message = self.errors[0]
        else:
            message = "\n  ".join([f"{len(self.errors)} invalid settings:", *self.errors])
        super().__init__(message)


@dataclass(frozen=True)
class Unit:
    """Annotation: the unit a numeric setting's accepted range is stated in."""

    name: str


@dataclass(frozen=True)
class Accepted:
    """Annotation: what a setting accepts, in words, where its type and constraints do not
    say it."""

    text: str


def _iso_time(value: str | None) -> str | None:
    if value is not None:
        parse_utc(value)
    return value


def _iso_dates(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        date.fromisoformat(value)
    return values


Seconds = Annotated[float, Unit("seconds")]
Days = Annotated[float, Unit("days")]
RetentionDays = Annotated[float, Field(ge=0, le=36_500),
                          Accepted("0-36,500 days (0: keep forever)")]
# Lists: comma-separated in the environment (pydantic-settings would read JSON otherwise).
CommaSeparated = Annotated[tuple[str, ...], NoDecode, Accepted("a comma-separated list")]
# A Flask-Limiter rate: "5 per minute", "20/hour", "100 per 15 minutes".
RATE_LIMIT_PATTERN = r"^\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?$"
RateLimit = Annotated[str, Field(pattern=RATE_LIMIT_PATTERN),
                      Accepted("a rate such as '5 per minute', '20/hour' or "
                               "'100 per 15 minutes'")]
BROWSER_USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/131.0.0.0 Safari/537.36")


class Settings(BaseSettings):
    """Every setting of a DeltaStream process. ``Settings(**values)`` is the defaults with
    ``values`` replaced (the environment is read by :func:`from_env` only)."""

    model_config = SettingsConfigDict(
        title="DeltaStream settings", frozen=True, extra="forbid", allow_inf_nan=False,
        env_prefix=ENV_PREFIX, case_sensitive=False)

    host: str = Field("127.0.0.1", description="Address to bind (beyond loopback only behind "
                                               "a proxy you trust).")
    port: Annotated[int, Accepted("1-65535")] = Field(
        8001, ge=1, le=65535, description="TCP port the server listens on.")
    public_url: Annotated[str | None, Accepted("an http:// or https:// URL")] = Field(
        None, pattern=r"^https?://",
        description="The server's URL as clients reach it (OpenAPI servers); unset: the "
                    "bound address.")
    seed: int = Field(42, description="Seed of the simulated market.")
    catalog: Path | None = Field(None, description="TOML file adding or changing products "
                                                   "(docs/catalog.md); unset: the built-in "
                                                   "products.")
    tick_interval: Seconds = Field(1.0, gt=0, le=3600,
                                   description="Seconds between engine ticks.")
    clock: ClockKind = Field(ClockKind.REAL, description="Market clock: wall time, wall time "
                                                         "sped up, or time standing still.")
    clock_speed: float = Field(1.0, gt=0, le=1e6, description="Market seconds per wall second "
                                                              "(accelerated clock).")
    hours: TradingHours = Field(TradingHours.EXCHANGE, description=(
        "When the simulated market trades: each product in its exchange's sessions (closed "
        "nights, weekends and holidays, quotes standing), or always (around the clock, "
        "sessions rolling at local midnight; a demo mode)."))
    clock_start: Annotated[str | None, AfterValidator(_iso_time),
                           Accepted("an ISO-8601 time, e.g. 2026-11-25T09:15:00Z")] = Field(
        None, description="ISO-8601 start of an accelerated or fixed clock (UTC when it has "
                          "no offset); unset: now.")
    data_dir: Path = Field(Path("data"), description="Directory for everything the server "
                                                     "writes.")
    strikes_each_side: int = Field(50, ge=5, le=200, description="Listed strikes above and "
                                                                 "below the money per expiry.")
    cors_origins: CommaSeparated = Field(("*",), description="Origins allowed to read /api/* "
                                                             "cross-origin ('*': any).")
    underlying_history: int = Field(100_000, ge=100, le=10_000_000,
                                    description="Ticks kept per product in memory.")
    stall_after: Seconds = Field(10.0, gt=0, description="Seconds without a tick before health "
                                                         "reports 503.")
    max_connections: int = Field(10_000, ge=1, le=100_000,
                                 description="Concurrent client connections per web worker.")
    header_timeout: Seconds = Field(10.0, ge=0.5, le=3600,
                                    description="Seconds a client may take to send a "
                                                "request's headers.")
    keepalive_timeout: Seconds = Field(60.0, ge=0.5, le=3600,
                                       description="Seconds an idle keep-alive connection is "
                                                   "kept open.")
    log_format: LogFormat = Field(LogFormat.TEXT, description="Log lines for people (text) or "
                                                              "one JSON object per line (json).")
    log_level: LogLevel = Field(LogLevel.INFO, description="Least severe records logged.")
    access_log: bool = Field(False, description="One log line per request.")
    engine_threads: int = Field(1, ge=1, le=256, description="Cores the engine's numeric "
                                                             "kernels may use.")
    engine_mode: EngineMode = Field(EngineMode.PROCESS, description="Run the engine in its own "
                                                                    "process or in the web "
                                                                    "one's.")
    role: Role = Field(Role.ALL, description="all: engine and web; web: serve an engine running "
                                             "elsewhere.")
    web_workers: int = Field(1, ge=1, le=64, description="Web server processes.")
    redis_url: Annotated[str | None, Accepted("a redis://, rediss:// or unix:// URL")] = Field(
        None, pattern=r"^(redis|rediss|unix)://",
        description="Redis bus between engine and web processes, also Socket.IO's message "
                    "queue; unset: the data directory's local socket.")
    redis_prefix: str = Field("deltastream", min_length=1, max_length=100,
                              description="Redis key prefix, so deployments can share a "
                                          "Redis.")
    engine_lease: Seconds = Field(2.0, ge=0.5, le=60, description="Seconds an engine's writer "
                                                                  "lease lasts unrenewed.")
    engine_niceness: int = Field(5, ge=0, le=19, description="CPU priority the engine process "
                                                             "gives up to requests.")
    engine_max_restarts: int = Field(5, ge=0, le=1000,
                                     description="Engine process restarts within "
                                                 "engine_restart_window; one more crash stops "
                                                 "the server.")
    engine_restart_window: Seconds = Field(300.0, ge=1, le=86_400,
                                           description="Seconds over which the engine "
                                                       "process's crashes are counted.")
    engine_restart_delay: Seconds = Field(1.0, ge=0.05, le=30,
                                          description="Seconds before the first restart, "
                                                      "doubled per crash.")
    extra_holidays: Annotated[tuple[Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")], ...],
                              NoDecode, AfterValidator(_iso_dates),
                              Accepted("dates YYYY-MM-DD, comma-separated")] = Field(
        (), description="Market holidays (YYYY-MM-DD) beyond the exchange calendars'.")
    holidays_file: Path | None = Field(None, description="TOML holiday table adding to the "
                                                         "shipped one (docs/catalog.md, "
                                                         "Holidays); unset: the shipped "
                                                         "table only.")
    stream_client_buffer: int = Field(64, ge=4, le=10_000,
                                      description="Pending live messages per client before "
                                                  "dropping.")
    stream_replay_ticks: int = Field(60, ge=1, le=3600, description="Recent ticks kept for "
                                                                    "Server-Sent Events "
                                                                    "resume.")
    stream_heartbeat: Seconds = Field(15.0, ge=0.1, le=300,
                                      description="Seconds of silence before an SSE "
                                                  "keep-alive comment.")
    stream_strikes: int = Field(21, ge=1, le=201, description="Strikes in a live chain_update "
                                                              "(as the REST default).")
    database_url: Annotated[str | None, Accepted(
        "a SQLAlchemy URL, e.g. postgresql+psycopg://user@host:5432/db")] = Field(
        None, pattern=r"\S",
        description="History store (a SQLAlchemy URL); unset: the SQLite file deltastream.db "
                    "in data_dir.")
    archive_every: Annotated[float, Unit("market seconds")] = Field(
        300.0, ge=0, le=86_400,
        description="Market seconds between full-chain archives (0: every tick).")
    archive_tolerance: Annotated[float | None, Unit("seconds")] = Field(
        None, ge=0, le=31_536_000,
        description="Seconds chain?at= may lie from the archive it is answered with; unset: "
                    "the archive interval.")
    retention_ticks_days: RetentionDays = Field(30.0, description="Days of underlying ticks "
                                                                  "kept (0: forever).")
    retention_summaries_days: RetentionDays = Field(365.0, description="Days of chain "
                                                                       "summaries kept (0: "
                                                                       "forever).")
    retention_archive_days: RetentionDays = Field(30.0, description="Days of archived full "
                                                                    "chains kept (0: "
                                                                    "forever).")
    retention_session_close_days: RetentionDays = Field(365.0, description="Days of session "
                                                                           "closes kept (0: "
                                                                           "forever).")
    prune_every: Seconds = Field(3600.0, ge=1, le=86_400, description="Seconds between "
                                                                      "background prunes.")
    history_max_range_days: Days = Field(31.0, gt=0, le=3660,
                                         description="Widest from/to span in days a history "
                                                     "request may ask for.")
    iv_lookback_days: Days = Field(365.0, ge=1, le=3660,
                                   description="Default lookback in days of IV rank and IV "
                                               "percentile.")
    # The market pulse's words (deltastream.insights.pulse.PulseThresholds; docs/deployment.md).
    pulse_ticks: int = Field(600, ge=10, le=1000, description="Latest underlying ticks the "
                             "pulse's spot move and realised volatility are measured over.")
    pulse_pcr_points: int = Field(500, ge=2, le=10_000, description="Latest PCR points "
                                  "(snapshots) the pulse's PCR change is measured over.")
    pulse_flat_move_pct: float = Field(0.1, ge=0, le=100, description="Spot move (percent, "
                                       "absolute) under which the pulse calls it flat.")
    pulse_iv_rich_ratio: float = Field(1.2, gt=0, le=10, description="ATM IV over realised "
                                       "volatility at or above which implied is 'rich'.")
    pulse_iv_cheap_ratio: float = Field(0.8, gt=0, le=10, description="ATM IV over realised "
                                        "volatility at or below which implied is 'cheap'.")
    pulse_pcr_high: float = Field(1.2, gt=0, le=100, description="PCR (OI) at or above which "
                                  "positioning is 'put-heavy'.")
    pulse_pcr_low: float = Field(0.8, ge=0, le=100, description="PCR (OI) at or below which "
                                 "positioning is 'call-heavy'.")
    pulse_pcr_change: float = Field(0.05, ge=0, le=100, description="PCR change (absolute) "
                                    "from which it is 'rising' or 'falling'.")
    pulse_max_pain_near_pct: float = Field(0.5, ge=0, le=100, description="Distance of max "
                                           "pain from spot (percent) within which it is "
                                           "'near spot'.")
    pulse_iv_rank_high: float = Field(70.0, ge=0, le=100, description="IV rank at or above "
                                      "which IV is 'elevated'.")
    pulse_iv_rank_low: float = Field(30.0, ge=0, le=100, description="IV rank at or below "
                                     "which IV is 'subdued'.")
    pulse_term_points: float = Field(0.5, ge=0, le=100, description="Front minus back ATM IV "
                                     "(vol points) beyond which the term structure is "
                                     "'inverted' or 'upward sloping'.")
    pulse_skew_points: float = Field(1.0, ge=0, le=100, description="25-delta risk reversal "
                                     "(vol points) beyond which puts or calls are 'bid'.")
    llm_url: Annotated[str | None, Accepted("an http:// or https:// URL")] = Field(
        None, pattern=r"^https?://", description="OpenAI-compatible server the chat may "
        "phrase its answers with (POST <url>/v1/chat/completions; e.g. a local llama.cpp or "
        "Ollama); unset: offline answers only.")
    llm_model: str = Field("local", min_length=1, max_length=200,
                           description="Model name sent to llm_url.")
    llm_key_env: str = Field("DELTASTREAM_LLM_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                             description="Environment variable holding llm_url's API key "
                                         "(sent as a Bearer token when set).")
    llm_timeout: Seconds = Field(20.0, gt=0, le=600, description="Seconds to wait for "
                                 "llm_url before answering offline.")
    store_queue: int = Field(2000, ge=10, le=1_000_000,
                             description="Snapshots the store writer holds before dropping.")
    replay_source: Annotated[str | None, Accepted(SOURCE_NAMES)] = Field(
        None, pattern=SOURCE_NAME_PATTERN,
        description="Run the market on the stored or imported snapshots of this source "
                    "(replayed on an accelerated clock, neither recorded again nor resumed); "
                    "unset: the simulated market.")
    replay_from: Annotated[str | None, AfterValidator(_iso_time),
                           Accepted("an ISO-8601 time, e.g. 2026-12-04T09:15:00Z")] = Field(
        None, description="ISO-8601 market time a replay starts at (UTC when it has no "
                          "offset); unset: the source's first snapshot.")
    replay_to: Annotated[str | None, AfterValidator(_iso_time),
                         Accepted("an ISO-8601 time, e.g. 2026-12-04T15:30:00Z")] = Field(
        None, description="ISO-8601 market time a replay ends at (UTC when it has no "
                          "offset); unset: the source's last snapshot.")
    replay_speed: float = Field(60.0, gt=0, le=100_000,
                                description="Market seconds per wall second of a replay.")
    feed_urls: Annotated[tuple[Annotated[str, Field(pattern=r"^https?://")], ...], NoDecode,
                         Accepted("http(s) URLs, comma-separated")] = Field(
        (), description="Run the market on these URLs serving NSE option-chain JSON (one per "
                        "symbol or expiry, each naming its symbol=), polled in the "
                        "background; unset: the simulated market.")
    feed_interval: Seconds = Field(15.0, ge=0.05, le=3600,
                                   description="Seconds between two requests of each "
                                               "feed URL (errors back off up to 5 minutes).")
    feed_source: Annotated[str, Accepted(SOURCE_NAMES)] = Field(
        "nse-live", pattern=SOURCE_NAME_PATTERN,
        description="Source name the polled feed's snapshots are served and stored under.")
    feed_user_agent: str = Field(
        BROWSER_USER_AGENT, min_length=1, max_length=512,
        description="User-Agent header of the feed's requests (NSE's site answers browsers "
                    "only).")
    # Headline sentiment (deltastream.insights.headlines; docs/deployment.md).
    news_feeds: Annotated[tuple[Annotated[str, Field(pattern=r"^https?://")], ...], NoDecode,
                          Accepted("at most 20 http(s) URLs, comma-separated")] = Field(
        (), max_length=20,
        description="RSS or Atom feeds whose headlines /api/ai/sentiment scores (Loughran-"
                    "McDonald word lists); unset: none, and the answer says so.")
    news_refresh: Seconds = Field(600.0, ge=1, le=86_400,
                                  description="Seconds between two fetches of each news feed "
                                              "(a failing one backs off from min(this, 60 s) "
                                              "up to an hour).")
    news_timeout: Seconds = Field(10.0, ge=0.1, le=120,
                                  description="Seconds a news feed's fetch may take before it "
                                              "is abandoned.")

    access_token_ttl: Seconds = Field(900.0, ge=60, le=86_400,
                                      description="Seconds an access token (JWT) is valid.")
    refresh_token_ttl: Days = Field(30.0, gt=0, le=365,
                                    description="Days a refresh token is valid (each use "
                                                "rotates it and starts a new period).")
    auth_cors_origins: Annotated[
        tuple[Annotated[str, Field(pattern=r"^https?://[^/\s*]+$")], ...], NoDecode,
        Accepted("origins (scheme://host[:port]), comma-separated; never '*'")] = Field(
        (), description="Origins allowed to call /api/auth/* and /api/trade/* cross-origin "
                        "(Authorization header, no cookies); unset: the server's own origin "
                        "(public_url or the bound address) only.")
    login_limit_account: RateLimit = Field(
        "5 per minute", description="Failed logins allowed per account (email) before 429.")
    login_limit_address: RateLimit = Field(
        "20 per minute", description="Failed logins allowed per client address before 429.")
    password_hash_memory_kib: int = Field(
        65_536, ge=1024, le=4_194_304,
        description="KiB of memory per argon2id password hash (RFC 9106: 65536).")
    password_hash_time_cost: int = Field(3, ge=1, le=20,
                                         description="Passes per argon2id password hash.")
    forwarded_hops: int = Field(0, ge=0, le=5,
                                description="Proxies in front of the server whose "
                                            "X-Forwarded-For is trusted for a client's address "
                                            "(the per-address login limit); 0: the connection's "
                                            "address.")

    # Paper trading, per market (INR: the Indian products, USD: the US ones); money in the
    # market's currency. Limits of 0 are off (deltastream.trading.limits).
    paper_starting_cash_inr: Annotated[float, Unit("INR")] = Field(
        1_000_000.0, ge=1000, le=1e12,
        description="Cash a new (or reset) paper-trading account starts with in INR.")
    paper_starting_cash_usd: Annotated[float, Unit("USD")] = Field(
        100_000.0, ge=100, le=1e11,
        description="Cash a new (or reset) paper-trading account starts with in USD.")
    paper_max_open_lots_inr: Annotated[int, Accepted("0-1,000,000 lots (0: no limit)")] = Field(
        500, ge=0, le=1_000_000,
        description="Lots an INR account may hold on one side of one contract (position plus "
                    "that side's open orders); 0: no limit.")
    paper_max_open_lots_usd: Annotated[int, Accepted("0-1,000,000 contracts (0: no limit)")
                                       ] = Field(
        500, ge=0, le=1_000_000,
        description="Contracts a USD account may hold on one side of one contract (position "
                    "plus that side's open orders); 0: no limit.")
    paper_max_gross_exposure_inr: Annotated[float, Accepted("0-1e13 INR (0: no limit)")] = Field(
        50_000_000.0, ge=0, le=1e13,
        description="Gross open exposure of an INR account: sum of |units| x mid over its "
                    "positions (premium of options, notional of the underlying); 0: no limit.")
    paper_max_gross_exposure_usd: Annotated[float, Accepted("0-1e12 USD (0: no limit)")] = Field(
        5_000_000.0, ge=0, le=1e12,
        description="Gross open exposure of a USD account (as for INR); 0: no limit.")
    paper_max_daily_loss_inr: Annotated[float, Accepted("0-1e12 INR (0: no limit)")] = Field(
        500_000.0, ge=0, le=1e12,
        description="Loss of the UTC day (realised net of charges + unrealised now) past which "
                    "an INR account's orders are refused, closing orders excepted; 0: no "
                    "limit.")
    paper_max_daily_loss_usd: Annotated[float, Accepted("0-1e11 USD (0: no limit)")] = Field(
        50_000.0, ge=0, le=1e11,
        description="As paper_max_daily_loss_inr for a USD account; 0: no limit.")
    charges_india_brokerage_per_order: Annotated[float, Unit("INR")] = Field(
        20.0, ge=0, le=10_000, description="Brokerage per executed Indian order leg (INR).")
    charges_india_stt_sell_rate: float = Field(
        0.001, ge=0, le=0.1, description="STT on Indian option sells, fraction of the premium.")
    charges_india_transaction_rate: float = Field(
        0.0003503, ge=0, le=0.1,
        description="Exchange transaction charges, fraction of the premium (NSE).")
    charges_india_sebi_rate: float = Field(
        0.000001, ge=0, le=0.1, description="SEBI turnover fee, fraction of the premium.")
    charges_india_gst_rate: float = Field(
        0.18, ge=0, le=1,
        description="GST on brokerage + transaction charges + SEBI fee, fraction.")
    charges_india_stamp_buy_rate: float = Field(
        0.00003, ge=0, le=0.1,
        description="Stamp duty on Indian option buys, fraction of the premium.")
    charges_us_commission_per_contract: Annotated[float, Unit("USD")] = Field(
        0.65, ge=0, le=100, description="Commission per US option contract (USD).")
    charges_us_orf_per_contract: Annotated[float, Unit("USD")] = Field(
        0.023, ge=0, le=100,
        description="Options regulatory fee per US contract, both sides (USD).")
    charges_us_clearing_per_contract: Annotated[float, Unit("USD")] = Field(
        0.025, ge=0, le=100, description="OCC clearing fee per US contract (USD).")
    charges_us_finra_taf_sell_per_contract: Annotated[float, Unit("USD")] = Field(
        0.00279, ge=0, le=100,
        description="FINRA trading activity fee per US contract sold (USD).")
    charges_us_sec_fee_sell_rate: float = Field(
        0.0, ge=0, le=0.1,
        description="SEC section 31 fee on US sale proceeds, fraction (0 since 14 May 2025).")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_error_lines(exc), exc) from None

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments only: the flags are merged over the environment by the CLI
        # (from_env, then with_overrides), so constructing never reads the environment.
        return (init_settings,)

    @field_validator("cors_origins", "extra_holidays", "feed_urls", "auth_cors_origins",
                     "news_feeds", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def public_base_url(self) -> str:
        """The URL clients reach the server at: ``public_url``, or the bound address (the
        loopback address when bound to every interface)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def auth_origins(self) -> tuple[str, ...]:
        """The origins allowed to call the account and trading routes cross-origin:
        ``auth_cors_origins``, or else the server's own origin."""
        return self.auth_cors_origins or (self.public_base_url(),)

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
        """A copy with the given (non-None) values replaced, validated."""
        given = {k: v for k, v in values.items() if v is not None}
        return Settings(**{**dict(self), **given})


# pydantic's error types for a value that cannot be read as the type expected, and the type.
_UNREADABLE = {"int_parsing": "an integer", "int_type": "an integer",
               "int_from_float": "an integer", "float_parsing": "a number",
               "float_type": "a number", "bool_parsing": "a boolean", "bool_type": "a boolean",
               "string_type": "text", "path_type": "a path"}
_TYPES: dict[Any, str] = {str: "text", int: "an integer", float: "a number", Path: "a path"}
_OUT_OF_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal",
                 "finite_number", "string_too_short", "string_too_long"}


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if abs(value) >= 10_000 else str(value)


def accepted(name: str) -> str:
    """What the setting ``name`` accepts, in words (its range and unit, its choices, ...)."""
    info: FieldInfo = Settings.model_fields[name]
    marks = {type(m): m for m in info.metadata}
    if Accepted in marks:
        return str(marks[Accepted].text)
    kind = info.annotation
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        values = [member.value for member in kind]
        return (" or ".join(values) if len(values) == 2
                else f"one of {', '.join(values)}")
    if kind is bool:
        return "1/true/yes/on or 0/false/no/off"
    if MinLen in marks or MaxLen in marks:
        low = marks[MinLen].min_length if MinLen in marks else 0
        return f"{low}-{marks[MaxLen].max_length} characters"
    unit = f" {marks[Unit].name}" if Unit in marks else ""
    # (bound, inclusive) at each end, None where unbounded.
    low = ((marks[Ge].ge, True) if Ge in marks else (marks[Gt].gt, False) if Gt in marks
           else None)
    high = ((marks[Le].le, True) if Le in marks else (marks[Lt].lt, False) if Lt in marks
            else None)
    if low is None:
        if high is None:
            # A plain (or optional) value: its type.
            types = [t for t in get_args(kind) if t is not type(None)] or [kind]
            return _TYPES.get(types[0], str(types[0])) + unit
        return f"{'<=' if high[1] else '<'} {_number(high[0])}{unit}"
    if high is None:
        return f"{'>=' if low[1] else '>'} {_number(low[0])}{unit}"
    if low[1] and high[1]:
        return f"{_number(low[0])}-{_number(high[0])}{unit}"
    return (f"{'[' if low[1] else '('}{_number(low[0])}, "
            f"{_number(high[0])}{']' if high[1] else ')'}{unit}")


def _error_line(error: ErrorDetails, variables: Mapping[str, str]) -> str:
    name = str(error["loc"][0]) if error["loc"] else ""
    kind, got = error["type"], error.get("input")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(name, list(Settings.model_fields), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"{name}: not a setting{hint}"
    allowed = accepted(name) if name in Settings.model_fields else error["msg"]
    expected = _UNREADABLE.get(kind)
    if name in variables:
        if expected is not None:
            return f"{variables[name]}: cannot read {got!r} as {expected} (accepted: {allowed})"
        name = variables[name]
    verb = ("is out of range" if kind in _OUT_OF_RANGE
            else f"is not {expected}" if expected is not None else "is not valid")
    return f"{name}: {got!r} {verb} (accepted: {allowed})"


def _error_lines(exc: ValidationError, variables: Mapping[str, str] | None = None
                 ) -> list[str]:
    """One line per invalid setting (a setting's first error: a list's items may add more)."""
    lines: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        lines.setdefault(name, _error_line(error, variables or {}))
    return list(lines.values())


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping of variables (the
    process's environment by default). An empty value leaves an optional setting unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # The source reads os.environ; from_env(environ) reads the mapping it is given.
        if self.case_sensitive:
            return dict(self._environ)
        return {name.lower(): value for name, value in self._environ.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        value, key, complex_ = super().get_field_value(field, field_name)
        if value == "" and field.default is None:
            value = None
        return value, key, complex_


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults overridden by ``DELTASTREAM_<NAME>`` environment variables (of ``environ``,
    default the process's environment). Raises :class:`SettingsError` naming each invalid
    variable."""
    env = os.environ if environ is None else environ
    values = _Environment(env)()
    spelled = {name.upper(): name for name in env}
    variables = {name: spelled.get(ENV_PREFIX + name.upper(), ENV_PREFIX + name.upper())
                 for name in values}
    try:
        return Settings(**values)
    except SettingsError as exc:
        if exc.validation_error is None:
            raise
        # Each value read from the environment named by its variable.
        raise SettingsError(_error_lines(exc.validation_error, variables),
                            exc.validation_error) from None


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``DELTASTREAM_*`` variable that names no setting (a typo would
    otherwise be ignored silently), with the closest valid name."""
    env = os.environ if environ is None else environ
    valid = [name.upper() for name in Settings.model_fields]
    out = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in _NOT_SETTINGS:
            continue
        setting = upper.removeprefix(ENV_PREFIX)
        if setting in valid:
            continue
        # Compared without the prefix, which every name shares.
        close = difflib.get_close_matches(setting, valid, n=1)
        hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else ""
        out.append(f"{name} is not a DeltaStream setting (ignored){hint}")
    return out


def settings_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the settings: each setting's type, default,
    accepted range and description."""
    schema = Settings.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": schema.pop("title"),
            "description": ("DeltaStream's settings, each given as a command-line flag "
                            "(--<name>, where the command has it) or an environment variable "
                            "DELTASTREAM_<NAME>; list settings are comma-separated there."),
            **{key: value for key, value in schema.items() if key != "description"}}
