"""Response models of the paper-trading routes (OpenAPI) and the accepted query values.

Units: money and prices are JSON numbers in the contract's currency (INR or USD), rounded to
0.01 for money (prices keep their tick; average prices 4 decimals); quantities are units of
the underlying (a NIFTY lot is 65, a US contract 100); times ISO-8601 UTC.
"""

from __future__ import annotations

from pydantic import Field

from .models import Model

ORDER_STATUSES = ("PENDING", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "REJECTED")
CURRENCIES = ("INR", "USD")
# P&L periods: the window of fills counted, in days (None: since the account opened).
PERIODS: dict[str, int | None] = {"1d": 1, "1w": 7, "1m": 30, "3m": 91, "1y": 365, "all": None}
MAX_LIMIT = 1000


class ContractOut(Model):
    """The contract as every trade route and account event states it (``symbol`` and
    routes_trade's ``_contract_fields``)."""

    symbol: str
    product: str
    expiry: str | None = Field(description="YYYY-MM-DD; null for the underlying")
    strike: float | None
    option_type: str | None = Field(description="CE or PE; null for the underlying")
    currency: str


class OrderOut(ContractOut):
    order_id: int
    id: int
    placed_at: str = Field(description="ISO-8601 UTC")
    updated_at: str = Field(description="ISO-8601 UTC")
    side: str = Field(description="BUY or SELL")
    quantity: int = Field(description="units of the underlying")
    order_type: str = Field(description="MARKET, LIMIT, STOP or STOP_LIMIT")
    price: float | None = Field(description="the limit price; null for a market order")
    stop_price: float | None
    time_in_force: str = Field(description="DAY or IOC")
    status: str = Field(description="PENDING, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED")
    filled_quantity: int
    avg_fill_price: float | None = Field(description="null until something fills")
    after_market: bool = Field(description="queued while the market was closed")
    reason: str | None = Field(description="why it was rejected or cancelled")


class OrdersOut(Model):
    orders: list[OrderOut]


class TradeOut(ContractOut):
    trade_id: int
    id: int
    order_id: int = Field(description="the order it filled (a SETTLEMENT order at expiry)")
    side: str = Field(description="BUY or SELL")
    quantity: int = Field(description="units of the underlying")
    price: float = Field(description="per unit, in the contract's currency")
    charges: float = Field(description="brokerage, taxes and fees of this fill")
    filled_at: str = Field(description="ISO-8601 UTC")


class TradesOut(Model):
    trades: list[TradeOut]


class PositionOut(ContractOut):
    quantity: int = Field(description="signed units: long > 0, short < 0")
    avg_entry_price: float = Field(description="weighted average cost per unit")
    current_price: float | None = Field(description="the live mid; null without a quote")
    unrealized_pnl: float
    realized_pnl: float = Field(description="gross of charges, by weighted average cost")
    charges: float
    delta: float = Field(description="quantity x delta per unit (per 1 of spot)")
    gamma: float
    theta: float = Field(description="per calendar day")
    vega: float = Field(description="per volatility point")


class PositionsOut(Model):
    positions: list[PositionOut]


class AccountOut(Model):
    currency: str
    starting_cash: float
    cash_balance: float
    total_pnl: float = Field(description="net realised + unrealised")
    realized_pnl: float = Field(description="net of charges")
    unrealized_pnl: float = Field(description="open units marked at the mid")
    charges: float
    margin_used: float
    margin_available: float = Field(description="cash_balance - margin_used")
    positions_value: float = Field(description="sum of quantity x mid")


class PortfolioOut(AccountOut):
    accounts: dict[str, AccountOut] = Field(description="every currency's account")


class PnlPoint(Model):
    date: str = Field(description="YYYY-MM-DD (UTC)")
    realized_pnl: float = Field(description="net of charges, booked that day")


class PnlOut(Model):
    currency: str
    period: str
    realized_pnl: float = Field(description="net of charges, booked in the period")
    charges: float
    unrealized_pnl: float = Field(description="now")
    total_pnl: float
    history: list[PnlPoint]


class PerformanceOut(Model):
    currency: str
    trades: int = Field(description="fills")
    orders: int
    winning_trades: int = Field(description="fills that realised a gain net of charges")
    losing_trades: int
    win_rate: float | None = Field(description="winning / (winning + losing); null before any")
    realized_pnl: float
    charges: float
    turnover: float = Field(description="sum of units x price over fills")
    return_pct: float = Field(description="total P&L / starting cash x 100")


class GreeksOut(Model):
    delta: float
    gamma: float
    theta: float
    vega: float


class RiskOut(Model):
    currency: str
    margin_used: float
    margin_available: float
    margin_utilisation: float = Field(description="margin_used / cash_balance (0 without cash)")
    open_positions: int
    open_orders: int
    greeks: GreeksOut
    gross_exposure: float = Field(description="sum of |quantity| x mid over the open positions")
    daily_loss: float = Field(description="the UTC day's loss marked to market: -(cash the "
                                          "day's fills moved, charges included, + positions' "
                                          "value now at the mids - their value at the "
                                          "previous close); negative: a gain")
    limits: dict[str, float] = Field(description="the account's limits: max_margin = the "
                                     "cash; max_open_lots (per contract and side), "
                                     "max_gross_exposure, max_daily_loss (0: no limit)")


class ResetOut(Model):
    reset: bool
    portfolio: PortfolioOut
