"""Brokerage and statutory charges on a fill, per market, configurable.

Units: money ``Decimal`` in the market's currency; every component is rounded half-up to 0.01
(paise, cents) on its own, and the total is their sum. ``quantity`` is in units of the
underlying; ``premium`` = quantity x price is the fill's turnover. Charges are computed once per
fill (each partial fill is an executed leg of its own) and never again: a position's realised
P&L and the cash ledger both take :attr:`Charges.total` from the fill that produced it.

Defaults (approximate; rates change, configure them: the ``charges_*`` settings,
docs/deployment.md, Paper trading):

India, NSE index options (Zerodha's published charges, zerodha.com/charges, 2025):

* brokerage: flat Rs 20 per executed order leg;
* STT: 0.1 % of the premium on sells (Finance Act 2024, from 1 Oct 2024);
* exchange transaction charges: 0.03503 % of the premium (NSE, from 1 Oct 2024);
* SEBI turnover fee: Rs 10 per crore = 0.0001 % of the premium;
* GST: 18 % of brokerage + transaction charges + SEBI fee;
* stamp duty: 0.003 % of the premium on buys (Indian Stamp Act, from 1 Jul 2020).

US listed options (typical discount-broker schedule, e.g. Interactive Brokers' and Schwab's
published pricing, 2025):

* commission: $0.65 per contract (a contract is ``contract_size`` = 100 units);
* options regulatory fee (ORF): about $0.023 per contract, both sides (the exchanges' ORF,
  reset each half year);
* OCC clearing fee: $0.025 per contract;
* FINRA trading activity fee: $0.00279 per contract on sells;
* SEC section 31 fee: on sale proceeds, $0 per million since 14 May 2025 (it was $27.80);
  configurable.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .orders import Side

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half-up to 0.01 of its currency."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class IndiaCharges:
    """NSE/BSE option charges (defaults in the module docstring); rates are decimals."""

    brokerage_per_order: Decimal = Decimal("20")
    stt_sell_rate: Decimal = Decimal("0.001")
    transaction_rate: Decimal = Decimal("0.0003503")
    sebi_rate: Decimal = Decimal("0.000001")
    gst_rate: Decimal = Decimal("0.18")
    stamp_buy_rate: Decimal = Decimal("0.00003")


@dataclass(frozen=True)
class USCharges:
    """US listed-option charges (defaults in the module docstring)."""

    commission_per_contract: Decimal = Decimal("0.65")
    orf_per_contract: Decimal = Decimal("0.023")
    clearing_per_contract: Decimal = Decimal("0.025")
    finra_taf_sell_per_contract: Decimal = Decimal("0.00279")
    sec_fee_sell_rate: Decimal = Decimal("0")
    contract_size: int = 100


@dataclass(frozen=True)
class Charges:
    """One fill's charges by component (each rounded to 0.01); ``total`` is their sum."""

    brokerage: Decimal
    taxes: Decimal           # STT (India) or SEC fee (US)
    exchange: Decimal        # transaction charges (India) or ORF + clearing (US)
    regulatory: Decimal      # SEBI fee (India) or FINRA TAF (US)
    gst: Decimal
    stamp_duty: Decimal

    @property
    def total(self) -> Decimal:
        return (self.brokerage + self.taxes + self.exchange + self.regulatory + self.gst
                + self.stamp_duty)


def india_charges(side: Side, quantity: int, price: Decimal,
                  schedule: IndiaCharges = IndiaCharges()) -> Charges:
    """Charges on one Indian option fill of ``quantity`` units at ``price``."""
    premium = quantity * price
    brokerage = to_cents(schedule.brokerage_per_order)
    transaction = to_cents(premium * schedule.transaction_rate)
    sebi = to_cents(premium * schedule.sebi_rate)
    return Charges(
        brokerage=brokerage,
        taxes=to_cents(premium * schedule.stt_sell_rate) if side is Side.SELL else CENT * 0,
        exchange=transaction,
        regulatory=sebi,
        gst=to_cents((brokerage + transaction + sebi) * schedule.gst_rate),
        stamp_duty=(to_cents(premium * schedule.stamp_buy_rate) if side is Side.BUY
                    else CENT * 0),
    )


def us_charges(side: Side, quantity: int, price: Decimal,
               schedule: USCharges = USCharges()) -> Charges:
    """Charges on one US option fill of ``quantity`` units (whole contracts) at ``price``."""
    if quantity % schedule.contract_size:
        raise ValueError(f"{quantity} units is not whole contracts of {schedule.contract_size}")
    contracts = quantity // schedule.contract_size
    selling = side is Side.SELL
    return Charges(
        brokerage=to_cents(contracts * schedule.commission_per_contract),
        taxes=to_cents(quantity * price * schedule.sec_fee_sell_rate) if selling else CENT * 0,
        exchange=to_cents(contracts * (schedule.orf_per_contract
                                       + schedule.clearing_per_contract)),
        regulatory=(to_cents(contracts * schedule.finra_taf_sell_per_contract) if selling
                    else CENT * 0),
        gst=CENT * 0,
        stamp_duty=CENT * 0,
    )


def fill_charges(currency: str, side: Side, quantity: int, price: Decimal,
                 india: IndiaCharges = IndiaCharges(), us: USCharges = USCharges()) -> Charges:
    """The charges of one fill in the market of ``currency`` (INR: India, USD: US)."""
    if currency == "INR":
        return india_charges(side, quantity, price, india)
    if currency == "USD":
        return us_charges(side, quantity, price, us)
    raise ValueError(f"no charge schedule for currency {currency!r}")
