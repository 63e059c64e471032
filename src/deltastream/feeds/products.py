"""The contract terms and expiry instants an imported chain is priced with.

A product of the catalogue keeps its terms (rate, dividend yield, exercise style, exchange,
currency, tick size, strike step) and its calendar: expiry instants are its exchange's close
on expiry day, in its time zone, earlier on a half day (:mod:`deltastream.calendars`). One
exception: the lot size the file states (a bhavcopy's ``NewBrdLotQty``, a multiplier column)
wins over the catalogue's, because lot sizes change over the years and an old file carries
the lot of its own day.

Any other product is created from the data, with its market's defaults:

======================  ==================================  ===================================
                        NSE / BSE (India)                   Cboe and US exchanges
======================  ==================================  ===================================
recognised by           exchange NSE, BSE, NFO, BFO;        exchange CBOE, NYSE, NASDAQ, ...
                        else currency INR                   (:data:`US_EXCHANGES`); else USD
exercise style          European                            American; European for the index
                                                            roots of :data:`US_INDEX_ROOTS`
currency                INR                                 USD
time zone, close        Asia/Kolkata, 15:30                 America/New_York, 16:00
holidays, half days     XBOM (exchange_calendars)           XNYS
rate                    the catalogue's NIFTY rate (else    the catalogue's rate of its first
                        its first INR product's)            USD product
premium tick            0.05                                0.01
lot size, no file's     1                                   100 (the US standard multiplier)
======================  ==================================  ===================================

The file's own exercise style (``ImportedChain.exercise_style``), when it states one, wins
over the market's. A product of neither market is European (unless the file says), in the
currency the file names, on UTC with a 16:00 close and no holidays, at the rate of the
catalogue's first product in that currency (else 0), premium tick 0.01, lot size 1. The
dividend yield of a created product is 0: the importer implies each expiry's own from the
fitted forward (:mod:`deltastream.feeds.build`). The strike step is the most common
difference between adjacent strikes of an expiry (1 when no expiry lists two strikes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import cast

import numpy as np

from ..calendars import ListingCalendar, expiry_instant, listing_for
from ..catalog import Catalog
from ..catalog.defaults import INDIA, US
from ..core.snapshot import ContractTerms
from ..core.types import ExerciseStyle
from ..engine.setup import contract_terms
from .records import ImportedChain

ExpiryInstant = Callable[[date], datetime]

INDIAN_EXCHANGES = frozenset({"NSE", "BSE", "NFO", "BFO"})
US_EXCHANGES = frozenset({
    "CBOE", "C2", "CBOE C2", "BZX", "CBOE BZX", "EDGX", "CBOE EDGX", "OPRA", "NYSE",
    "NYSE ARCA", "ARCA", "NYSE AMERICAN", "AMEX", "NASDAQ", "ISE", "GEMX", "MRX", "PHLX",
    "BOX", "MIAX", "PEARL", "EMERALD", "BATS", "US"})
# US option roots on indices: European and cash-settled (equity and ETF options are American).
US_INDEX_ROOTS = frozenset({"SPX", "SPXW", "SPXPM", "XSP", "NDX", "NDXP", "XND", "RUT",
                            "RUTW", "MRUT", "VIX", "VIXW", "DJX", "OEX", "XEO"})
# Catalogue products whose rate an Indian product created from data takes, in order.
INDIAN_RATE_FROM = ("NIFTY",)
US_LOT_SIZE = 100
FALLBACK_STRIKE_STEP = 1.0


@dataclass(frozen=True)
class Market:
    """Defaults of a market for products created from data."""

    exchange: str            # written when the file names none
    currency: str
    timezone: str
    close: time
    calendar_code: str | None   # exchange_calendars code; None: weekends only, no half days
    tick_size: float
    lot_size: int
    default_rate: float      # when the catalogue has no product of the currency


INDIA_MARKET = Market("NSE", "INR", "Asia/Kolkata", time(15, 30), "XBOM", 0.05, 1,
                      cast(float, INDIA["rate"]))
US_MARKET = Market("CBOE", "USD", "America/New_York", time(16, 0), "XNYS", 0.01, US_LOT_SIZE,
                   cast(float, US["rate"]))
OTHER_MARKET = Market("", "", "UTC", time(16, 0), None, 0.01, 1, 0.0)


def market_of(exchange: str, currency: str) -> Market:
    """The market of a product created from data: by exchange, else by currency."""
    name, money = exchange.strip().upper(), currency.strip().upper()
    if name in INDIAN_EXCHANGES or (name not in US_EXCHANGES and money == "INR"):
        return INDIA_MARKET
    if name in US_EXCHANGES or money == "USD":
        return US_MARKET
    return replace(OTHER_MARKET, exchange=name, currency=money)


def product_terms(chain: ImportedChain, catalog: Catalog
                  ) -> tuple[ContractTerms, ExpiryInstant]:
    """The terms ``chain`` is priced with and the expiry instant (UTC) of each of its
    expiry dates: the catalogue product of the same symbol when there is one, else a product
    created from the data with its market's defaults (module docstring)."""
    product = catalog.get(chain.product)
    lot = chain.lot_size if chain.lot_size is not None and chain.lot_size > 0 else None
    if product is not None:
        terms = contract_terms(product)
        if lot is not None:
            terms = replace(terms, lot_size=int(lot))
        return terms, listing_for(product).expiry_instant
    market = market_of(chain.exchange, chain.currency)
    style = (chain.exercise_style or "").strip().lower()
    if style not in (ExerciseStyle.EUROPEAN, ExerciseStyle.AMERICAN):
        style = (ExerciseStyle.AMERICAN if market is US_MARKET
                 and chain.product.upper() not in US_INDEX_ROOTS else ExerciseStyle.EUROPEAN)
    currency = market.currency or chain.currency.strip().upper()
    terms = ContractTerms(
        symbol=chain.product, exercise_style=ExerciseStyle(style).value,
        rate=_rate(catalog, market, currency), dividend_yield=0.0, currency=currency,
        lot_size=int(lot) if lot is not None else market.lot_size,
        strike_step=strike_step(chain.expiry, chain.strike), tick_size=market.tick_size,
        exchange=chain.exchange.strip().upper() or market.exchange,
        timezone=market.timezone)
    if market.calendar_code is None:
        return terms, functools.partial(expiry_instant, close=market.close,
                                        timezone=market.timezone)
    listing = ListingCalendar((), market.calendar_code, market.timezone, market.close)
    return terms, listing.expiry_instant


def _rate(catalog: Catalog, market: Market, currency: str) -> float:
    if market is INDIA_MARKET:
        for symbol in INDIAN_RATE_FROM:
            product = catalog.get(symbol)
            if product is not None:
                return product.rate
    for product in catalog:
        if product.currency.upper() == currency:
            return product.rate
    return market.default_rate


def strike_step(expiries: np.ndarray, strikes: np.ndarray) -> float:
    """The most common difference between adjacent listed strikes of one expiry (ties: the
    smaller), over all expiries; :data:`FALLBACK_STRIKE_STEP` when no expiry lists two."""
    k = np.asarray(strikes, dtype=np.float64)
    e = np.asarray(expiries)
    ok = np.isfinite(k) & (k > 0)
    k, e = k[ok], e[ok]
    order = np.lexsort((k, e))
    k, e = k[order], e[order]
    same = (e[1:] == e[:-1]) & (k[1:] > k[:-1])
    # Rounded to a millionth: decimal strikes (1172.5, 0.35) differ by float noise.
    gaps = np.round((k[1:] - k[:-1])[same], 6)
    if gaps.size == 0:
        return FALLBACK_STRIKE_STEP
    values, counts = np.unique(gaps, return_counts=True)
    return float(values[np.argmax(counts)])
