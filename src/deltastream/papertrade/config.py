"""Paper trading's per-market configuration from the settings: starting cash, position and
loss limits (:mod:`deltastream.trading.limits`) and the charge schedules
(:mod:`deltastream.trading.charges`), keyed by the market's currency (INR: the Indian products,
USD: the US ones).

Units: money ``Decimal`` in the market's currency (settings are floats: each is read through
its shortest decimal text, so 0.0003503 is exactly 0.0003503); limits in lots (open lots) or
the currency; rates as fractions. Every process that builds a
:class:`~deltastream.papertrade.service.PaperTrading` (the web routes, the engine's matcher)
builds it here so they agree on charges and limits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from ..core.snapshot import ChainSnapshot
from ..settings import Settings
from ..store.trading import SqlTradingStore
from ..trading.charges import IndiaCharges, USCharges
from ..trading.limits import Limits
from .service import PaperTrading


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value)).normalize()


@dataclass(frozen=True)
class TradingConfig:
    """What the settings configure of paper trading (module docstring)."""

    starting_cash: Mapping[str, Decimal]
    limits: Mapping[str, Limits]
    india_charges: IndiaCharges
    us_charges: USCharges


def trading_config(settings: Settings) -> TradingConfig:
    """The paper-trading configuration the settings give."""
    s = settings
    return TradingConfig(
        starting_cash={"INR": _decimal(s.paper_starting_cash_inr),
                       "USD": _decimal(s.paper_starting_cash_usd)},
        limits={"INR": Limits(s.paper_max_open_lots_inr,
                              _decimal(s.paper_max_gross_exposure_inr),
                              _decimal(s.paper_max_daily_loss_inr)),
                "USD": Limits(s.paper_max_open_lots_usd,
                              _decimal(s.paper_max_gross_exposure_usd),
                              _decimal(s.paper_max_daily_loss_usd))},
        india_charges=IndiaCharges(
            brokerage_per_order=_decimal(s.charges_india_brokerage_per_order),
            stt_sell_rate=_decimal(s.charges_india_stt_sell_rate),
            transaction_rate=_decimal(s.charges_india_transaction_rate),
            sebi_rate=_decimal(s.charges_india_sebi_rate),
            gst_rate=_decimal(s.charges_india_gst_rate),
            stamp_buy_rate=_decimal(s.charges_india_stamp_buy_rate)),
        us_charges=USCharges(
            commission_per_contract=_decimal(s.charges_us_commission_per_contract),
            orf_per_contract=_decimal(s.charges_us_orf_per_contract),
            clearing_per_contract=_decimal(s.charges_us_clearing_per_contract),
            finra_taf_sell_per_contract=_decimal(s.charges_us_finra_taf_sell_per_contract),
            sec_fee_sell_rate=_decimal(s.charges_us_sec_fee_sell_rate)))


def configured_service(store: SqlTradingStore, latest: Callable[[str], ChainSnapshot | None],
                       products: Callable[[], Sequence[str]], settings: Settings, *,
                       now: Callable[[], datetime] = lambda: datetime.now(UTC)
                       ) -> PaperTrading:
    """A :class:`PaperTrading` with the settings' starting cash, limits and charges."""
    config = trading_config(settings)
    return PaperTrading(store, latest, products, now=now, starting_cash=config.starting_cash,
                        limits=config.limits, india_charges=config.india_charges,
                        us_charges=config.us_charges)
