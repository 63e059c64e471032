"""Position and loss limits, configured charges and starting cash in the paper-trading
service, on SQLite and PostgreSQL, with figures computed here from the quoted bid/ask/mid:
orders past a limit are stored REJECTED and raise with the limit and the figures, resting
orders count toward open lots, closing orders always pass, a modification is checked too.
IDX: INR, lot 50, tick 0.05, 500 units at the touch."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from deltastream.papertrade.config import trading_config
from deltastream.papertrade.service import (
    MarginRejected,
    ModifyRequest,
    OrderRequest,
    PaperTrading,
    quote_of,
)
from deltastream.settings import Settings
from deltastream.store.trading import SqlTradingStore
from deltastream.trading.charges import IndiaCharges, to_cents
from deltastream.trading.limits import Limits
from tests.papertrade.conftest import NOW, make_service
from tests.papertrade.test_service import (
    atm_call,
    buy,
    india_buy_charges,
    india_sell_charges,
)

D = Decimal


def sell(symbol: str, quantity: int = 50) -> OrderRequest:
    return OrderRequest(side="SELL", quantity=quantity, order_type="MARKET", price="",
                        symbol=symbol)


def rejected(service, user, request) -> MarginRejected:
    with pytest.raises(MarginRejected) as caught:
        service.place(user, request)
    error = caught.value
    assert error.limit is not None and error.order.status == "REJECTED"
    assert error.order.reason == str(error.limit)
    [stored] = [o for o in service.orders(user) if o.id == error.order.id]
    assert stored.status == "REJECTED"
    return error


def test_open_lots_count_resting_orders_and_closing_always_passes(
        store_db, engine, users):
    ann, bob = users
    service = make_service(store_db, engine, limits={"INR": Limits(max_open_lots=4)})
    symbol, _ = atm_call(engine)
    assert service.place(ann, buy(symbol, 100)).status == "FILLED"        # 2 lots held
    resting = service.place(ann, OrderRequest(side="BUY", quantity=50, order_type="LIMIT",
                                              price="0.05", symbol=symbol))
    assert resting.status == "PENDING"                                     # 1 lot resting
    error = rejected(service, ann, buy(symbol, 100))                       # 3 + 2 > 4
    limit = error.limit
    assert (limit.name, limit.limit, limit.current, limit.after) == ("max_open_lots", 4, 3, 5)
    assert service.place(ann, buy(symbol, 50)).status == "FILLED"         # 4 lots: at it
    # Selling what is held reduces: allowed; the other user's account has its own count.
    assert service.place(ann, sell(symbol, 150)).status == "FILLED"
    assert service.place(bob, buy(symbol, 200)).status == "FILLED"
    # A modification is checked too: the resting lot raised to 5 lots.
    with pytest.raises(MarginRejected) as caught:
        service.modify(ann, resting.id, ModifyRequest(quantity=250))
    assert (caught.value.limit.current, caught.value.limit.after) == (0, 5)
    assert service.order(ann, resting.id).quantity == 50


def test_gross_exposure_marks_positions_at_the_mid(store_db, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    mid = quote_of(engine.latest("IDX"), contract).mid
    service = make_service(store_db, engine,
                           limits={"INR": Limits(max_gross_exposure=150 * mid)})
    assert service.place(ann, buy(symbol, 100)).status == "FILLED"
    error = rejected(service, ann, buy(symbol, 100))
    assert (error.limit.current, error.limit.after) == (100 * mid, 200 * mid)
    assert error.limit.unit == "INR"
    assert service.place(ann, buy(symbol, 50)).status == "FILLED"         # 150 x mid


def test_the_days_loss_refuses_new_risk_and_lets_positions_close(store_db, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    quote = quote_of(engine.latest("IDX"), contract)
    first = india_buy_charges(100, quote.ask)
    # After buying 100 at the ask the day has lost the charges and the half spread.
    loss = first + 100 * (quote.ask - quote.mid)
    service = make_service(store_db, engine,
                           limits={"INR": Limits(max_daily_loss=loss + D("1"))})
    assert service.place(ann, buy(symbol, 100)).status == "FILLED"
    # (The portfolio shows it in paise; the check keeps the mid's decimals.)
    assert service.accounts(ann)["INR"].total_pnl == -to_cents(loss)
    error = rejected(service, ann, buy(symbol, 50))
    cost = india_buy_charges(50, quote.ask) + 50 * (quote.ask - quote.mid)
    assert (error.limit.name, error.limit.current, error.limit.after) == (
        "max_daily_loss", loss, loss + cost)
    assert service.place(ann, sell(symbol, 100)).status == "FILLED"


def test_the_days_loss_counts_a_carried_position_from_the_previous_close(
        store_db, engine, users):
    # Bought yesterday, held overnight: today's loss is the move from the previous
    # session's close to the mid, not the whole loss since the purchase; what is sold
    # today counts at its price, with its charges.
    ann, _ = users
    symbol, contract = atm_call(engine)
    quote = quote_of(engine.latest("IDX"), contract)
    close = quote.previous_close
    assert close is not None and close != quote.ask
    clock = [NOW - timedelta(days=1)]
    service = PaperTrading(SqlTradingStore(store_db), engine.latest, lambda: engine.symbols,
                           now=lambda: clock[0],
                           limits={"INR": Limits(max_daily_loss=D("1000000"))})
    assert service.place(ann, buy(symbol, 100)).status == "FILLED"
    bought = india_buy_charges(100, quote.ask)
    # Yesterday it lost the half spread and the charges.
    assert service.limit_usage(ann, "INR").day_loss == bought + 100 * (quote.ask - quote.mid)
    clock[0] = NOW
    assert service.limit_usage(ann, "INR").day_loss == -100 * (quote.mid - close)
    assert service.place(ann, sell(symbol, 50)).status == "FILLED"
    received = 50 * quote.bid - india_sell_charges(50, quote.bid)
    assert service.limit_usage(ann, "INR").day_loss == -(
        received + 50 * quote.mid - 100 * close)
    # The order check starts from the same figure: a limit a paisa short of the loss after
    # another buy (its charges and half spread added) refuses it.
    loss = -(received + 50 * quote.mid - 100 * close)
    after = loss + india_buy_charges(50, quote.ask) + 50 * (quote.ask - quote.mid)
    assert after > D("0.01")
    limited = PaperTrading(SqlTradingStore(store_db), engine.latest, lambda: engine.symbols,
                           now=lambda: clock[0],
                           limits={"INR": Limits(max_daily_loss=after - D("0.01"))})
    error = rejected(limited, ann, buy(symbol, 50))
    assert (error.limit.name, error.limit.current, error.limit.after) == (
        "max_daily_loss", loss, after)


def test_configured_charges_and_starting_cash(store_db, engine, users):
    ann, _ = users
    symbol, contract = atm_call(engine)
    ask = quote_of(engine.latest("IDX"), contract).ask
    config = trading_config(Settings(paper_starting_cash_inr=250_000,
                                     charges_india_brokerage_per_order=0,
                                     charges_india_gst_rate=0.12))
    assert config.starting_cash == {"INR": D("250000"), "USD": D("100000")}
    assert config.india_charges == IndiaCharges(brokerage_per_order=D("0"),
                                                gst_rate=D("0.12"))
    assert config.limits["INR"] == Limits(500, D("50000000"), D("500000"))
    service = make_service(store_db, engine, starting_cash=config.starting_cash,
                           limits=config.limits, india_charges=config.india_charges)
    service.place(ann, buy(symbol, 100))
    # No brokerage; 12 % GST on the exchange and SEBI charges; stamp duty as before.
    premium = 100 * ask
    exchange = (premium * D("0.0003503")).quantize(D("0.01"), "ROUND_HALF_UP")
    sebi = (premium * D("0.000001")).quantize(D("0.01"), "ROUND_HALF_UP")
    gst = ((exchange + sebi) * D("0.12")).quantize(D("0.01"), "ROUND_HALF_UP")
    stamp = (premium * D("0.00003")).quantize(D("0.01"), "ROUND_HALF_UP")
    account = service.accounts(ann)["INR"]
    assert account.charges == exchange + sebi + gst + stamp
    assert account.cash == D("250000") - premium - account.charges
