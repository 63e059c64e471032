"""Paper-trading routes (``/api/trade/*``): place and cancel orders, list them, and the
portfolio, positions, P&L, performance and risk of the authenticated user (access token or API
key, :func:`deltastream.web.routes_auth.current_user`). The flow and the money rules are
:mod:`deltastream.papertrade.service`'s; units are :mod:`deltastream.web.trade_models`'.

Contract shapes kept: ``POST /api/trade/order`` takes ``symbol``, ``side``, ``quantity``,
``order_type`` or ``orderType``, ``price`` (empty for a market order) and answers the order;
``GET /api/trade/orders`` ``{"orders": [...]}`` with ``order_id``, ``placed_at``, ...;
``portfolio`` ``cash_balance``, ``total_pnl``, ...; ``positions`` ``{"positions": [...]}``.
Added: explicit contract fields (product, expiry, strike, option_type), ``stop_price``,
``time_in_force``, ``after_market``, the ``Idempotency-Key`` header (a retry answers the
order first placed with it, 200 instead of 201), ``currency`` on the reports (INR default),
``POST /api/trade/reset``, ``PATCH /api/trade/order/<id>`` (modify an open order's quantity,
price or stop price; :meth:`deltastream.papertrade.service.PaperTrading.modify`).

Answers: 400 names the field and what it accepts; 404 for an order that is not the user's
(another user's included); 409 when the market is closed (with ``next_open``), when the
margin does not cover the order or it would pass a position or loss limit (with the figures;
a new order is stored REJECTED, a refused modification leaves the order as it was) or when
the order to cancel or modify is no longer open; 503 without a store or before the product's
first quote.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

from apiflask import APIBlueprint, APIFlask
from flask import Flask, Response, current_app, request

from ..core.threads import real_lock
from ..core.times import format_utc
from ..papertrade.config import configured_service
from ..papertrade.service import (
    AccountView,
    MarginRejected,
    MarketClosed,
    ModifyRequest,
    NoQuote,
    NotCancellable,
    OrderNotFound,
    OrderRequest,
    PaperTrading,
    PositionView,
    TradeError,
    from_micros,
    micros,
    realisations,
)
from ..store.trading import ContractRef, FillRow, OrderRow, SqlTradingStore
from ..trading.charges import to_cents
from ..trading.positions import portfolio_greeks
from . import trade_models as models
from .errors import APIError
from .json import json_response
from .routes_auth import TOKEN_OR_KEY, auth_state, current_user
from .state import app_state

bp = APIBlueprint("trade", __name__, tag="Paper trading")
EXTENSION_KEY = "deltastream.trading"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
NO_STORE = "paper trading needs the server's store, which this server does not have"

_ERRORS = {
    400: "a field breaks its rule: the detail names it (parameter) and what it accepts",
    401: "missing, invalid or expired credentials (WWW-Authenticate: Bearer)",
    404: "no such order of this user",
    409: "market closed (detail.next_open), margin short (detail.required, "
         "detail.available) or a position or loss limit passed (detail.name, detail.limit, "
         "detail.current, detail.after; a new order is stored REJECTED either way), or "
         "order no longer open",
    503: "no store on this server, or no live quote of the product yet",
}


def _errors(*codes: int) -> dict[int, str]:
    return {code: _ERRORS[code] for code in codes}


class TradeState:
    """An app's paper-trading service, built at first use over the app's store and feed; its
    clock is the account service's (tests pin it there)."""

    def __init__(self) -> None:
        self._service: PaperTrading | None = None
        self._lock = real_lock()

    def service(self, app: Flask) -> PaperTrading | None:
        store = auth_state(app).store
        if store is None:
            return None
        with self._lock:
            if self._service is None:
                feed = app_state(app).service.feed
                accounts = auth_state(app)
                self._service = configured_service(
                    SqlTradingStore(store), feed.latest, lambda: list(feed.symbols),
                    app_state(app).settings, now=lambda: accounts.now())
            return self._service


def init_trade(app: APIFlask) -> None:
    """Register the trading routes on ``app`` (after :func:`routes_auth.init_auth`)."""
    app.extensions[EXTENSION_KEY] = TradeState()
    app.register_blueprint(bp)


def trading_service(app: Flask | None = None) -> PaperTrading:
    """The app's paper-trading service; 503 without a store."""
    the_app = app or current_app
    state: TradeState = the_app.extensions[EXTENSION_KEY]
    service = state.service(the_app)
    if service is None:
        raise APIError(503, NO_STORE)
    return service


def _bad(field: str, message: str, accepted: str | None) -> Response:
    return json_response({"error": f"invalid parameter '{field}': {message}",
                          "detail": {"parameter": field, "accepted": accepted}}, 400)


@bp.errorhandler(TradeError)
def _trade_error(error: TradeError) -> Response:
    return _bad(error.field, error.message, error.accepted)


@bp.errorhandler(MarketClosed)
def _market_closed(error: MarketClosed) -> Response:
    return json_response({"error": str(error), "detail": {
        "reason": "market_closed", "product": error.product,
        "next_open": None if error.next_open is None else format_utc(error.next_open)}}, 409)


@bp.errorhandler(MarginRejected)
def _margin(error: MarginRejected) -> Response:
    if error.limit is not None:
        limit = error.limit
        return json_response({"error": f"order refused: {limit}", "detail": {
            "reason": "limit", "name": limit.name, "limit": float(limit.limit),
            "current": float(limit.current), "after": float(limit.after),
            "unit": limit.unit, "order": order_dict(error.order)}}, 409)
    return json_response({"error": f"insufficient margin: {error}", "detail": {
        "reason": "margin", "required": float(error.required),
        "available": float(error.available), "order": order_dict(error.order)}}, 409)


@bp.errorhandler(NoQuote)
def _no_quote(error: NoQuote) -> Response:
    return json_response({"error": f"no live quote of {error} yet", "detail": None}, 503)


@bp.errorhandler(OrderNotFound)
def _not_found(error: OrderNotFound) -> Response:
    return json_response({"error": f"no order {error} of this user", "detail": None}, 404)


@bp.errorhandler(NotCancellable)
def _not_open(error: NotCancellable) -> Response:
    return json_response({"error": str(error), "detail": {
        "reason": "not_open", "order": order_dict(error.order)}}, 409)


# Serialisation.

def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _iso(at: int) -> str:
    return format_utc(from_micros(at))


def _contract_fields(c: ContractRef) -> dict[str, Any]:
    """A contract as every trade route and account event states it."""
    return {"product": c.product, "expiry": None if c.expiry is None else c.expiry.isoformat(),
            "strike": _num(c.strike),
            "option_type": None if c.right is None else ("CE" if c.right == "call" else "PE"),
            "currency": c.currency}


def order_dict(order: OrderRow) -> dict[str, Any]:
    c = order.contract
    return {
        "order_id": order.id, "id": order.id, "placed_at": _iso(order.placed_at),
        "updated_at": _iso(order.updated_at), "symbol": order.symbol,
        **_contract_fields(c), "side": order.side, "quantity": order.quantity,
        "order_type": order.order_type, "price": _num(order.limit_price),
        "stop_price": _num(order.stop_price), "time_in_force": order.time_in_force,
        "status": order.status, "filled_quantity": order.filled_quantity,
        "avg_fill_price": _num(order.avg_fill_price), "after_market": order.after_market,
        "reason": order.reason}


def trade_dict(fill: FillRow, symbol: str) -> dict[str, Any]:
    """A fill as the trades route lists it and ``trade_update`` sends it."""
    c = fill.contract
    return {
        "trade_id": fill.id, "id": fill.id, "order_id": fill.order_id, "symbol": symbol,
        **_contract_fields(c), "side": fill.side, "quantity": fill.quantity,
        "price": float(fill.price), "charges": float(fill.charges),
        "filled_at": _iso(fill.filled_at)}


def _position_dict(view: PositionView) -> dict[str, Any]:
    c, p, q = view.contract, view.position, view.quote
    units = p.quantity
    return {
        "symbol": view.symbol, **_contract_fields(c), "quantity": units,
        "avg_entry_price": float(p.average_cost.quantize(Decimal("0.0001"))),
        "current_price": _num(view.current_price), "unrealized_pnl": float(view.unrealised),
        "realized_pnl": float(to_cents(p.realised)), "charges": float(p.charges),
        "delta": 0.0 if q is None else units * q.delta,
        "gamma": 0.0 if q is None else units * q.gamma,
        "theta": 0.0 if q is None else units * q.theta,
        "vega": 0.0 if q is None else units * q.vega}


def _account_dict(account: AccountView) -> dict[str, Any]:
    value = sum((v.current_price * v.position.quantity for v in account.positions
                 if v.current_price is not None), Decimal(0))
    return {"currency": account.currency, "starting_cash": float(account.starting_cash),
            "cash_balance": float(account.cash), "total_pnl": float(account.total_pnl),
            "realized_pnl": float(to_cents(account.net_realised)),
            "unrealized_pnl": float(account.unrealised), "charges": float(account.charges),
            "margin_used": float(account.margin_used),
            "margin_available": float(account.margin_available),
            "positions_value": float(to_cents(value))}


# Query parameters.

def _currency() -> str:
    value = request.args.get("currency", "INR").strip().upper()
    if value not in models.CURRENCIES:
        raise TradeError("currency", f"{value!r} is not a market's currency",
                         " or ".join(models.CURRENCIES))
    return value


def _report_request() -> tuple[int, str, PaperTrading]:
    """The preamble of the report routes: the signed-in user's id (401 first), the
    ?currency= asked for (400) and the service (503)."""
    user, _ = current_user()
    currency = _currency()
    return user.id, currency, trading_service()


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise TradeError("body", "must be a JSON object", "a JSON object with the order")
    return body


def _idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not 0 < len(key.strip()) <= MAX_IDEMPOTENCY_KEY:
        raise TradeError(IDEMPOTENCY_HEADER, "must be 1-255 characters", "1-255 characters")
    return None if key is None else key.strip()


# A modification's fields, each spelling -> the field named in errors.
_MODIFIABLE = {"quantity": "quantity", "price": "price", "stop_price": "stop_price",
               "stopPrice": "stop_price"}


def _modify_request(body: dict[str, Any]) -> ModifyRequest:
    unknown = sorted(set(body) - set(_MODIFIABLE))
    if unknown:
        raise TradeError(unknown[0], "cannot be modified (cancel and place a new order)",
                         "quantity, price, stop_price")
    if not body:
        raise TradeError("body", "names nothing to change", "quantity, price, stop_price")
    values = {_MODIFIABLE[k]: v for k, v in body.items()}
    return ModifyRequest(**values)


def _order_request(body: dict[str, Any]) -> OrderRequest:
    order_type = body.get("order_type", body.get("orderType", "MARKET"))
    after_market = body.get("after_market", body.get("afterMarket", False))
    if not isinstance(after_market, bool):
        raise TradeError("after_market", "must be a boolean", "true or false")
    symbol = body.get("symbol")
    if symbol is not None and not isinstance(symbol, str):
        raise TradeError("symbol", "must be a string", "a contract symbol")
    if "side" not in body:
        raise TradeError("side", "is required", "BUY or SELL")
    if "quantity" not in body:
        raise TradeError("quantity", "is required", "a positive whole multiple of the lot size")
    return OrderRequest(
        side=body["side"], quantity=body["quantity"],
        order_type=order_type.upper() if isinstance(order_type, str) else order_type,
        price=body.get("price"), stop_price=body.get("stop_price", body.get("stopPrice")),
        time_in_force=body.get("time_in_force", body.get("timeInForce", "DAY")),
        symbol=symbol, product=body.get("product"), expiry=body.get("expiry"),
        strike=body.get("strike"),
        option_type=body.get("option_type", body.get("optionType")),
        after_market=after_market)


# Routes.

@bp.post("/api/trade/order")
@bp.output(models.OrderOut, status_code=201)
@bp.doc(summary="Place an order (body: symbol, side, quantity, order_type|orderType, price; "
             "optional stop_price, time_in_force DAY|IOC, after_market, or product/expiry/"
             "strike/option_type instead of symbol); header Idempotency-Key makes a retry "
             "answer the first order (200)", responses=_errors(400, 401, 409, 503),
        security=TOKEN_OR_KEY)
def place_order() -> Response:
    user, _ = current_user()
    body = _json_body()
    key = _idempotency_key()
    service = trading_service()
    if key is not None:
        existing = service.store.order_by_key(user.id, key)
        if existing is not None:
            return json_response(order_dict(existing), 200)
    order = service.place(user.id, _order_request(body), key)
    return json_response(order_dict(order), 201)


@bp.patch("/api/trade/order/<int:order_id>")
@bp.output(models.OrderOut)
@bp.doc(summary="Modify an open order of the user (body: any of quantity, price, "
             "stop_price|stopPrice; quantity is the order's total, at least what has "
             "filled): the amended order, matched again at once and its margin checked; "
             "header Idempotency-Key makes a retry answer the order as it stands",
        responses=_errors(400, 401, 404, 409, 503), security=TOKEN_OR_KEY)
def modify_order(order_id: int) -> Response:
    user, _ = current_user()
    changes = _modify_request(_json_body())
    key = _idempotency_key()
    return json_response(order_dict(trading_service().modify(user.id, order_id, changes,
                                                             key)))


@bp.delete("/api/trade/order/<int:order_id>")
@bp.output(models.OrderOut)
@bp.doc(summary="Cancel an open order of the user: the cancelled order",
        responses=_errors(401, 404, 409, 503), security=TOKEN_OR_KEY)
def cancel_order(order_id: int) -> Response:
    user, _ = current_user()
    return json_response(order_dict(trading_service().cancel(user.id, order_id)))


@bp.get("/api/trade/orders")
@bp.output(models.OrdersOut)
@bp.doc(summary="The user's orders, newest first (query: status, limit 1-1000, default 100)",
        responses=_errors(400, 401, 503), security=TOKEN_OR_KEY)
def list_orders() -> Response:
    user, _ = current_user()
    status = request.args.get("status")
    if status is not None:
        status = status.strip().upper()
        if status not in models.ORDER_STATUSES:
            raise TradeError("status", f"{status!r} is not an order status",
                             ", ".join(models.ORDER_STATUSES))
    orders = trading_service().orders(user.id, status, _limit())
    return json_response({"orders": [order_dict(o) for o in orders]})


def _limit() -> int:
    raw = request.args.get("limit", "100")
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= models.MAX_LIMIT:
        raise TradeError("limit", f"{raw!r} is not a whole number in range",
                         f"1-{models.MAX_LIMIT}")
    return limit


@bp.get("/api/trade/trades")
@bp.output(models.TradesOut)
@bp.doc(summary="The user's trades (one per fill, settlements at expiry included), newest "
        "first (query: limit 1-1000, default 100)",
        responses=_errors(400, 401, 503), security=TOKEN_OR_KEY)
def list_trades() -> Response:
    user, _ = current_user()
    trades = trading_service().trades(user.id, _limit())
    return json_response({"trades": [trade_dict(fill, symbol) for fill, symbol in trades]})


@bp.get("/api/trade/portfolio")
@bp.output(models.PortfolioOut)
@bp.doc(summary="Cash, P&L and margin of the account in ?currency= (INR default), and of "
             "every currency under accounts", responses=_errors(400, 401, 503),
        security=TOKEN_OR_KEY)
def portfolio() -> Response:
    user_id, currency, service = _report_request()
    return json_response(_portfolio(service, user_id, currency))


def _portfolio(service: PaperTrading, user_id: int, currency: str) -> dict[str, Any]:
    accounts = {c: _account_dict(a) for c, a in service.accounts(user_id).items()}
    return {**accounts[currency], "accounts": accounts}


@bp.get("/api/trade/positions")
@bp.output(models.PositionsOut)
@bp.doc(summary="Open positions (every currency) marked at the live mid, with Greeks "
             "(quantity x per-unit Greek)", responses=_errors(401, 503), security=TOKEN_OR_KEY)
def positions() -> Response:
    user, _ = current_user()
    views = [v for a in trading_service().accounts(user.id).values() for v in a.positions
             if v.position.quantity]
    return json_response({"positions": [_position_dict(v) for v in views]})


@bp.get("/api/trade/pnl")
@bp.output(models.PnlOut)
@bp.doc(summary="P&L over ?period= (1d, 1w, 1m, 3m, 1y, all; default all) in ?currency=: "
             "realised net of charges booked in the period, unrealised now, and the daily "
             "realised history", responses=_errors(400, 401, 503), security=TOKEN_OR_KEY)
def pnl() -> Response:
    user_id, currency, service = _report_request()
    period = request.args.get("period", "all").strip().lower()
    if period not in models.PERIODS:
        raise TradeError("period", f"{period!r} is not a period", ", ".join(models.PERIODS))
    days = models.PERIODS[period]
    since = None if days is None else micros(service.now() - timedelta(days=days))
    events = [r for r in realisations(service.store.fills(user_id))
              if r.currency == currency and (since is None or r.at >= since)]
    daily: dict[str, Decimal] = defaultdict(Decimal)
    for event in events:
        daily[from_micros(event.at).astimezone(UTC).date().isoformat()] += event.net
    realised = sum((e.net for e in events), Decimal(0))
    account = service.accounts(user_id)[currency]
    return json_response({
        "currency": currency, "period": period, "realized_pnl": float(to_cents(realised)),
        "charges": float(sum((e.charges for e in events), Decimal(0))),
        "unrealized_pnl": float(account.unrealised),
        "total_pnl": float(to_cents(realised) + account.unrealised),
        "history": [{"date": d, "realized_pnl": float(to_cents(v))}
                    for d, v in sorted(daily.items())]})


@bp.get("/api/trade/performance")
@bp.output(models.PerformanceOut)
@bp.doc(summary="Trading statistics in ?currency=: fills, winning and losing fills (net of "
             "charges), win rate, turnover, return on the starting cash",
        responses=_errors(400, 401, 503), security=TOKEN_OR_KEY)
def performance() -> Response:
    user_id, currency, service = _report_request()
    fills = [f for f in service.store.fills(user_id) if f.contract.currency == currency]
    closing = [r for r in realisations(fills) if r.realised != 0]
    wins = sum(1 for r in closing if r.net > 0)
    losses = sum(1 for r in closing if r.net <= 0)
    account = service.accounts(user_id)[currency]
    orders = [o for o in service.orders(user_id, limit=models.MAX_LIMIT)
              if o.contract.currency == currency]
    return json_response({
        "currency": currency, "trades": len(fills), "orders": len(orders),
        "winning_trades": wins, "losing_trades": losses,
        "win_rate": None if wins + losses == 0 else wins / (wins + losses),
        "realized_pnl": float(to_cents(account.net_realised)),
        "charges": float(account.charges),
        "turnover": float(to_cents(sum((f.quantity * f.price for f in fills), Decimal(0)))),
        "return_pct": float(account.total_pnl / account.starting_cash * 100)})


@bp.get("/api/trade/risk")
@bp.output(models.RiskOut)
@bp.doc(summary="Margin used and available, utilisation, open positions and orders, portfolio "
             "Greeks, gross exposure, the day's loss and the account's limits in ?currency=",
        responses=_errors(400, 401, 503), security=TOKEN_OR_KEY)
def risk() -> Response:
    user_id, currency, service = _report_request()
    account = service.accounts(user_id)[currency]
    open_views = [v for v in account.positions if v.position.quantity]
    greeks = portfolio_greeks(
        (v.position.quantity, 1.0, v.quote.delta, v.quote.gamma, v.quote.theta, v.quote.vega)
        for v in open_views if v.quote is not None)
    open_orders = [o for o in service.orders(user_id, limit=models.MAX_LIMIT)
                   if o.contract.currency == currency
                   and o.status in ("PENDING", "PARTIALLY_FILLED")]
    usage = service.limit_usage(user_id, currency)
    return json_response({
        "currency": currency, "margin_used": float(account.margin_used),
        "margin_available": float(account.margin_available),
        "margin_utilisation": (float(account.margin_used / account.cash)
                               if account.cash > 0 else 0.0),
        "open_positions": len(open_views), "open_orders": len(open_orders),
        "greeks": {"delta": greeks.delta, "gamma": greeks.gamma, "theta": greeks.theta,
                   "vega": greeks.vega},
        "gross_exposure": float(to_cents(usage.gross)),
        "daily_loss": float(to_cents(usage.day_loss)),
        "limits": {"max_margin": float(account.cash), **_limits(service, currency)}})


def _limits(service: PaperTrading, currency: str) -> dict[str, float]:
    limits = service.limits.get(currency)
    if limits is None:
        return {}
    return {"max_open_lots": float(limits.max_open_lots),
            "max_gross_exposure": float(limits.max_gross_exposure),
            "max_daily_loss": float(limits.max_daily_loss)}


@bp.post("/api/trade/reset")
@bp.output(models.ResetOut)
@bp.doc(summary="Reset the account: every order and fill deleted, cash back to the starting "
             "amounts", responses=_errors(401, 503), security=TOKEN_OR_KEY)
def reset() -> Response:
    user, _ = current_user()
    service = trading_service()
    service.reset(user.id)
    return json_response({"reset": True, "portfolio": _portfolio(service, user.id, "INR")})
