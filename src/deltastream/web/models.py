"""Response models: the documented shape of every route (OpenAPI), used by the contract tests
to validate real responses. Field descriptions carry the units."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


MARKET_STATUS = ("whether the product's exchange is in session at the snapshot's time: open "
                 "or closed; null for a stored or imported snapshot (no session state)")
MARKET_STATUS_UNTIL = ("when the status changes, ISO-8601 UTC: while open the session's "
                       "close, while closed the next session's open; null with a null status")
MarketStatusLabel = Literal["open", "closed"]


class ErrorResponse(Model):
    error: str
    detail: object | None = None


class VendorGreeks(Model):
    """The Greeks an imported file carried, in the chain's units (null: not in the file)."""

    delta: float | None = Field(description="per 1 unit of spot")
    gamma: float | None = Field(description="per unit of spot")
    theta: float | None = Field(description="per calendar day")
    vega: float | None = Field(description="per 1 volatility point")
    rho: float | None = Field(description="per 1 percentage point of rate")


class Option(Model):
    strike: float
    contract_symbol: str | None = Field(
        description="the contract in its exchange's format: NSE/BSE trading symbol (monthly "
                    "NIFTY26DEC24500CE, weekly NIFTY26D0824500CE) or OCC (AAPL  261211P00212500) "
                    "for the rest; null for a contract the format cannot write")
    last: float = Field(description="last traded premium")
    bid: float
    ask: float
    mid: float = Field(description="model mid price the IV is solved from")
    change: float | None = Field(description="last - previous session's closing premium")
    iv: float | None = Field(description="implied volatility, decimal (0.153); null if none")
    iv_status: str = Field(description="ok, or why no IV could be solved")
    delta: float | None = Field(description="per 1 unit of spot")
    gamma: float | None = Field(description="per unit of spot")
    theta: float | None = Field(description="per calendar day")
    vega: float | None = Field(description="per 1 volatility point")
    rho: float | None = Field(description="per 1 percentage point of rate")
    open_interest: float = Field(description="contracts")
    volume: float = Field(description="contracts traded this session")
    oi_change: float = Field(description="open interest - previous session's closing OI")
    price_source: str = Field(
        description="the price iv was solved from: mid (a two-sided quote; always for the "
                    "live market), settlement, close, last, or none (no usable price: iv null)")
    quality_flags: list[str] = Field(
        description="what is doubtful about the quote, empty when nothing: crossed, locked, "
                    "zero_bid, stale (no trade and no quote), below_intrinsic (the price used "
                    "is below intrinsic value), no_contract (the file lists the strike for "
                    "the other right only)")
    vendor_iv: float | None = Field(
        description="the implied volatility the imported file carried, decimal, beside ours "
                    "and never used in its place; null for the live market or when the file "
                    "had none")
    vendor_greeks: VendorGreeks | None = Field(
        description="the Greeks the imported file carried, in the chain's units; null for "
                    "the live market or when the file had none")


class Chain(Model):
    product: str
    expiry: str
    spot_price: float
    strikes: list[float]
    calls: list[Option]
    puts: list[Option]
    pcr_oi: float | None
    pcr_volume: float | None
    atm_strike: float
    atm_straddle_price: float
    max_pain_strike: float | None
    timestamp: str
    time_to_expiry: float = Field(description="years, ACT/365, to the exact expiry instant")
    rate: float = Field(description="continuous risk-free rate, decimal")
    dividend_yield: float = Field(description="continuous dividend yield, decimal")
    forward: float = Field(description="the forward the chain is priced with (imported "
                                       "chains: implied by put-call parity)")
    forward_residual: float | None = Field(
        description="imported chains: RMS relative residual of the put-call parity fit of "
                    "the forward; null for the live market or without a fit")
    exercise_style: str
    lot_size: int
    currency: str
    strike_step: float
    sequence: int = Field(description="snapshot version, +1 per tick")
    model: str = Field(description="pricing model of iv and the Greeks")
    source: str = Field(description="where the chain's quotes come from: the live feed's "
                                    "source (simulator) or an imported one (/api/data/sources)")
    market_status: MarketStatusLabel | None = Field(description=MARKET_STATUS)
    market_status_until: str | None = Field(description=MARKET_STATUS_UNTIL)


class ChainResponse(Model):
    product: str
    count: int
    chains: list[Chain]
    market_status: MarketStatusLabel | None = Field(description=MARKET_STATUS)
    market_status_until: str | None = Field(description=MARKET_STATUS_UNTIL)
    timezone: str = Field(description="the exchange's IANA time zone (Asia/Kolkata, "
                                      "America/New_York): its sessions and local dates")


class ProductsResponse(Model):
    products: list[str]


class SourceProduct(Model):
    product: str
    # "from" is a Python keyword: the field is named by its alias.
    from_: str | None = Field(alias="from", description="the first stored snapshot, ISO-8601 "
                                                        "UTC; null when none is stored")
    to: str | None = Field(description="the last stored snapshot, ISO-8601 UTC; null when "
                                       "none is stored")
    snapshots: int = Field(ge=0, description="stored snapshots (full chains)")


class Source(Model):
    name: str
    live: bool = Field(description="true for the source the server serves live (the "
                                   "default of every route's source parameter)")
    products: list[SourceProduct]


class SourcesResponse(Model):
    sources: list[Source] = Field(description="the live source first, then the stored "
                                              "ones by name")


class ExpiriesResponse(Model):
    product: str
    expiries: list[str]


class UnderlyingTick(Model):
    id: int
    product: str
    price: float
    timestamp: str


class UnderlyingResponse(Model):
    product: str
    count: int
    ticks: list[UnderlyingTick]


class EngineExit(Model):
    cause: str = Field(description="e.g. 'killed by signal SIGKILL', 'exited with code 1'")
    at: str = Field(description="when the server noticed, ISO-8601 UTC")


class EngineHealth(Model):
    running: bool
    ticks: int
    last_tick_age_seconds: float | None
    last_tick_build_seconds: float | None
    last_error: str | None
    started_at: str | None = Field(description="when the running engine started, ISO-8601 "
                                   "UTC; null until its first tick arrives")
    restarts: int = Field(ge=0, description="times the server supervising the engine "
                          "(deltastream serve) restarted its process after it died; 0 when "
                          "nothing supervises it (an engine in the web process, or "
                          "deltastream engine)")
    last_exit: EngineExit | None = Field(description="how the engine process last died; null "
                                         "if it never did")


class BusHealth(Model):
    kind: str = Field(description="local (engine process of this server) or redis")
    connected: bool
    engine_id: str | None = Field(description="the engine whose ticks are served")
    reconnects: int


class StoreHealth(Model):
    status: str = Field(description="ok, or degraded while reads or writes of the history "
                        "store fail (history routes then answer 503; the live market goes on)")
    backend: str = Field(description="sqlite or postgresql")
    reading: bool = Field(description="false while this server's history reads fail")
    writing: bool | None = Field(description="false while the store writer's writes fail (it "
                                 "retries with back-off; nothing stored is lost); null when "
                                 "the writer runs on another host")
    failing_since: str | None = Field(description="when the current failure began, ISO-8601 "
                                      "UTC; null when ok")
    last_error: str | None = Field(description="the failure, one line; null when ok")
    queue_depth: int | None = Field(description="items waiting to be written (null when the "
                                    "writer runs on another host)")
    dropped: int | None = Field(description="items the writer dropped because its queue was "
                                "full (null when the writer runs on another host)")


class MarketHealth(Model):
    market_status: MarketStatusLabel | None = Field(
        description=MARKET_STATUS + "; null before the product's first snapshot")
    market_status_until: str | None = Field(description=MARKET_STATUS_UNTIL)
    timezone: str | None = Field(description="the exchange's IANA time zone; null before the "
                                             "product's first snapshot")


class HealthResponse(Model):
    status: str = Field(description="healthy; degraded (200: the live market is served but "
                        "the history store fails); unhealthy (503: the engine stalled or is "
                        "not running)")
    service: str
    version: str
    engine: EngineHealth
    products: int
    stale: bool = Field(description="true while the data served is not the live market's: "
                        "the engine is unreachable or has not ticked for stall_after seconds")
    bus: BusHealth | None = Field(description="the bus the engine's ticks arrive on (null "
                                  "when the engine runs in this process)")
    store: StoreHealth | None = Field(description="the history store (null "
                                      "when this server has none)")
    markets: dict[str, MarketHealth] = Field(
        description="per product of the live source, in catalogue order: whether its "
                    "exchange is in session (the live market's last snapshot)")


class PCRPoint(Model):
    pcr_oi: float | None
    pcr_volume: float | None
    spot_price: float
    timestamp: str


class PCRLatest(PCRPoint):
    product: str
    expiry: str


class PCRResponse(Model):
    product: str
    expiry: str
    latest: PCRLatest
    history: list[PCRPoint] | None = None


class SurfaceExpiry(Model):
    expiry: str
    days_to_expiry: int
    time_to_expiry: float
    strikes: list[float]
    call_ivs: list[float | None]
    put_ivs: list[float | None]
    avg_iv: float | None


class SurfaceResponse(Model):
    product: str
    spot_price: float
    expiries: list[SurfaceExpiry]
    timestamp: str


class MaxPainPayout(Model):
    strike: float = Field(description="settlement price the payout is evaluated at")
    call: float = Field(description="sum of call OI x (strike - K)+, price units x contracts")
    put: float = Field(description="sum of put OI x (K - strike)+, price units x contracts")
    total: float = Field(description="call + put; smallest at the max-pain strike")


class MaxPainResponse(Model):
    product: str
    expiry: str
    spot_price: float
    max_pain_strike: float | None
    distance_from_spot: float | None = Field(description="percent of spot")
    timestamp: str
    payouts: list[MaxPainPayout] = Field(
        description="option holders' payout at settlement on each listed strike, ascending")


class Buildup(Model):
    strike: float
    call_oi_change: float
    put_oi_change: float
    call_buildup_type: str | None
    put_buildup_type: str | None


class BuildupResponse(Model):
    product: str
    expiry: str
    spot_price: float
    buildup: list[Buildup]
    timestamp: str


class Candle(Model):
    timestamp: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    ticks: int


class OHLCResponse(Model):
    product: str
    window: int
    candles: list[Candle]


class IVPoint(Model):
    timestamp: str
    atm_iv: float = Field(description="ATM implied volatility of the nearest expiry, decimal")


class IVLookback(Model):
    days: float
    sample_seconds: int = Field(description="one observation (the last ATM IV) per sample")
    # "from" is a Python keyword: the field is named by its alias.
    from_: str = Field(alias="from")
    to: str
    observations: int = Field(description="observations the statistics used")


class IVStatistic(Model):
    value: float | None = Field(description="percent, 0-100; null until enough history")
    observations: int
    reason: str | None = Field(description="why value is null")


class IVHistoryResponse(Model):
    product: str
    expiry_rank: int = Field(description="0: the nearest listed expiry at each tick")
    from_: str | None = Field(alias="from")
    to: str
    interval_seconds: int | None
    count: int
    series: list[IVPoint]
    current: IVPoint | None = Field(description="the newest stored ATM IV up to 'to'")
    lookback: IVLookback
    iv_rank: IVStatistic = Field(description="(current - min) / (max - min) of the lookback")
    iv_percentile: IVStatistic = Field(description="percent of lookback observations below "
                                                   "the current IV")
