"""Cboe DataShop "Option EOD Summary" CSV files (US listed options), with or without Calcs
(``UnderlyingOptionsEODCalcs_YYYY-MM-DD.csv`` / ``UnderlyingOptionsEODQuotes_...``).

One row per option series and quote date; columns by name, in any order, extra ones ignored.
Required: ``underlying_symbol, quote_date, root, expiration, strike, option_type, close,
trade_volume, bid_size_1545, bid_1545, ask_size_1545, ask_1545, underlying_bid_1545,
underlying_ask_1545, open_interest``; read when present (the Calcs columns):
``active_underlying_price_1545, implied_volatility_1545, delta_1545, gamma_1545, theta_1545,
vega_1545, rho_1545``.

What is imported, and how:

* One :class:`~deltastream.feeds.records.ImportedChain` per underlying and quote date. The
  product is ``underlying_symbol`` without the caret Cboe puts before an index (``^SPX`` ->
  ``SPX``); exchange ``CBOE``, currency USD, lot size 100 (the standard multiplier).
  Indices (a ``^`` symbol, or a root of SPX, SPXW, NDX, NDXP, RUT, RUTW, XSP, VIX, VIXW, ...)
  are European and cash-settled; everything else is an American equity or ETF option.
* Quote time: the 15:45 America/New_York snapshot, in UTC. On a half day (NYSE early close)
  Cboe takes that snapshot 15 minutes before the close (12:45) since 2020-02-05; before that
  the market had closed by 15:45 and the quotes are the closing ones (the close is taken).
  The columns keep their ``1545`` names either way.
* Quotes from the 15:45 snapshot: ``bid_1545``/``ask_1545`` and their sizes (contracts). Cboe
  writes 0 for a side nobody quotes: a zero ask is no offer (NaN); a zero bid with an offer is
  a zero bid (kept: the builder flags it); both zero is no quote (both NaN).
* ``close`` is the last trade of the session, so it fills both ``last`` and ``close``; 0
  (no trade) is NaN. No settlement price, premium change or OI change (NaN).
  ``trade_volume`` and ``open_interest`` are contracts (Cboe's open interest is the
  previous night's, as OCC publishes it).
* Underlying price: the mid of ``underlying_bid_1545``/``underlying_ask_1545`` when both are
  quoted (Cboe writes 0 for indices without a licence for their quotes), else
  ``active_underlying_price_1545``; the chain's is the median over its rows.
* Vendor IV and Greeks (the Calcs, at 15:45) go to the ``vendor_*`` fields in the chain's
  units. Cboe's implied volatility is a decimal, its delta and gamma per unit of the
  underlying, theta per calendar day and vega per volatility point, as the chain's; its rho
  is per unit of the rate (1.00 = 100 percentage points) and is divided by 100. (Checked on a
  published row: a deep in-the-money SPY call of 11 days, S 118.85, K 88, IV 0.6222, filed
  theta -0.010105, vega 0.001421, rho 2.634754 against Black-Scholes' -0.01009 per day,
  0.00145 per point and 2.64 per unit.) An implied volatility of 0 or empty means Cboe
  could not solve one: the IV and that row's Greeks are NaN.
* The EOD snapshot (``bid_eod``, ``ask_eod``, ...), open/high/low, VWAP and Cboe's implied
  underlying price are not imported: one chain is one instant, the one Cboe's Calcs use.

Rows left out (a :class:`~deltastream.feeds.records.Reject` naming line and column): a
malformed number or date, an empty key field, ``option_type`` other than C/P, a strike <= 0,
an expiration before the quote date, a negative price, size, volume or open interest, an
adjusted option (a root ending in a digit, ``AAPL1``: a non-standard deliverable), and a
series listed under two roots. Cboe lists a third-Friday SPX expiry under both SPX
(AM-settled: settles on the open's prices) and SPXW (PM-settled: settles at the close); the
two are different contracts with one (expiration, strike, type). The PM-settled root is kept,
as the chain's expiry instant is the exchange's close on the expiry day; the AM one is
rejected saying so. Among other duplicates the root equal to the underlying is kept, then
the first in the file. An AM-settled series listed alone is kept, its time to expiry counted
to the close (6.5 hours longer than to its settlement).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from ...calendars import trading_days
from ..records import CALL, PUT, ROW_FIELDS, ImportedChain, ParseResult
from .long_format import (
    RowChecks,
    Table,
    chain_columns,
    codes_of,
    first_of_each,
    groups,
    per_value,
    read_csv_table,
)

FORMAT = "cboe-eod"
EXCHANGE = "CBOE"
CURRENCY = "USD"
MULTIPLIER = 100
OPTION_TYPES = {"c": CALL, "p": PUT}

REQUIRED = ("underlying_symbol", "quote_date", "root", "expiration", "strike", "option_type",
            "close", "trade_volume", "bid_size_1545", "bid_1545", "ask_size_1545", "ask_1545",
            "underlying_bid_1545", "underlying_ask_1545", "open_interest")
CALCS = ("active_underlying_price_1545", "implied_volatility_1545", "delta_1545",
         "gamma_1545", "theta_1545", "vega_1545", "rho_1545")
TEXT_COLUMNS = ("underlying_symbol", "quote_date", "root", "expiration", "option_type")
NUMBER_COLUMNS = tuple(c for c in REQUIRED + CALCS if c not in TEXT_COLUMNS)
NON_NEGATIVE = ("close", "trade_volume", "bid_size_1545", "bid_1545", "ask_size_1545",
                "ask_1545", "underlying_bid_1545", "underlying_ask_1545",
                "active_underlying_price_1545", "implied_volatility_1545", "open_interest")

# Index option roots (European, cash-settled), and the PM-settled ones among them.
INDEX_ROOTS = frozenset({"SPX", "SPXW", "SPXPM", "NDX", "NDXP", "XND", "RUT", "RUTW", "MRUT",
                         "XSP", "VIX", "VIXW", "DJX", "OEX", "XEO"})
PM_SETTLED_ROOTS = frozenset({"SPXW", "SPXPM", "NDXP", "XND", "RUTW", "MRUT", "XSP", "VIXW"})

ZONE = ZoneInfo("America/New_York")
SNAPSHOT = time(15, 45)
# Since this date Cboe takes the "1545" snapshot 15 minutes before an early close.
EARLY_CLOSE_SNAPSHOT_FROM = date(2020, 2, 5)
# Cboe's rho is per unit of the rate; the chain's per percentage point.
RHO_PER_POINT = 0.01


@lru_cache(maxsize=4096)
def snapshot_time(day: date) -> datetime:
    """The UTC instant of the "1545" snapshot of ``day`` (see the module docstring)."""
    regular = datetime.combine(day, SNAPSHOT, tzinfo=ZONE).astimezone(UTC)
    early = trading_days("XNYS", frozenset()).early_close(day)
    if early is None:
        return regular
    early = early.astimezone(UTC)
    return early - timedelta(minutes=15) if day >= EARLY_CLOSE_SNAPSHOT_FROM else early


def _upper(value: object) -> str:
    return str(value).strip().upper()


def _rank(root: str, product: str) -> int:
    # Among one series listed under several roots: PM-settled, then the standard root.
    return 0 if root in PM_SETTLED_ROOTS else 1 if root == product else 2


def _adjusted(root: str, symbol: str) -> bool:
    # OCC appends a digit to the root of an adjusted series (AAPL1); some symbols end in one.
    return bool(root) and root[-1].isdigit() and not symbol[-1:].isdigit()


def read(data: bytes, file: str, source: str) -> ParseResult:
    """Parse a Cboe Option EOD Summary CSV file."""
    table = read_csv_table(data, file, TEXT_COLUMNS, NUMBER_COLUMNS, REQUIRED)
    n = len(table)
    result = ParseResult(file=file, format=FORMAT, rows_read=n)
    if n == 0:
        return result
    checks = RowChecks(file, table.rows)
    text = table.text

    symbol = per_value(text["underlying_symbol"], _upper)
    product = per_value(symbol, lambda s: s.removeprefix("^"))
    root = per_value(text["root"], _upper)
    # Each (root, product) pair once: whether it is adjusted, and its rank among duplicates.
    pair = np.fromiter(zip(root.tolist(), product.tolist(), strict=True), dtype=object,
                       count=n)
    checks.missing(symbol, "underlying_symbol")
    quote_date = checks.dates(text["quote_date"], "quote_date")
    checks.missing(root, "root")
    expiration = checks.dates(text["expiration"], "expiration")
    strike = checks.strikes(table, "strike")
    right = checks.rights(text["option_type"], "option_type", OPTION_TYPES, "C or P")
    checks.bad_numbers(table, [c for c in NUMBER_COLUMNS if c != "strike"])
    checks.non_negative(table, NON_NEGATIVE)
    checks.fail(expiration < quote_date, "expiration",
                lambda i: f"{expiration[i]} is before the quote date {quote_date[i]}")
    checks.fail(per_value(pair, lambda rp: _adjusted(*rp), bool), "root",
                lambda i: (f"{root[i]} is an adjusted series (non-standard deliverable); "
                           "not imported"))

    # One series under two roots: keep the PM-settled one, then the standard root.
    ok_rows = np.flatnonzero(checks.ok)
    under_codes, _ = codes_of(product)
    preference = per_value(pair, lambda rp: _rank(*rp), np.int64)
    day_numbers = quote_date.view(np.int64)
    kept, _ = first_of_each([under_codes[ok_rows], day_numbers[ok_rows],
                             expiration[ok_rows].view(np.int64), strike[ok_rows],
                             right[ok_rows]], preference[ok_rows])
    keeper = dict(zip(ok_rows.tolist(), ok_rows[kept].tolist(), strict=True))

    def duplicate(i: int) -> str:
        k = keeper[i]
        where = table.where(k)
        if root[k] == root[i]:
            return f"duplicate of {where}"
        why = ("PM-settled: it expires at the close, as the chain's expiry time assumes"
               if root[k] in PM_SETTLED_ROOTS else
               "the underlying's standard root" if root[k] == product[k] else
               "the first in the file")
        return f"the same series as {where}, whose root {root[k]} is kept ({why})"

    checks.fail(ok_rows[kept != np.arange(kept.shape[0])], "root", duplicate)

    columns = _row_fields(table, expiration, strike, right)
    spot = _underlying(table)
    ok = checks.ok
    ok_rows = np.flatnonzero(ok)
    for index in groups(under_codes[ok], day_numbers[ok]):
        rows = ok_rows[index]
        first = int(rows[0])
        day: date = quote_date[first].astype(object)
        prices = spot[rows][~np.isnan(spot[rows])]
        index_option = symbol[first].startswith("^") or bool(INDEX_ROOTS & set(root[rows]))
        result.chains.append(ImportedChain(
            source=source, product=str(product[first]), exchange=EXCHANGE, currency=CURRENCY,
            timestamp=snapshot_time(day), session_date=day,
            underlying_price=float(np.median(prices)) if prices.size else math.nan,
            file=file, lot_size=MULTIPLIER,
            exercise_style="european" if index_option else "american",
            **chain_columns(columns, rows)))
    result.rejects = checks.rejects()
    return result


def _row_fields(table: Table, expiration: np.ndarray, strike: np.ndarray,
                right: np.ndarray) -> dict[str, np.ndarray]:
    bid = table.numbers["bid_1545"].copy()
    ask = table.numbers["ask_1545"].copy()
    # Cboe writes 0 for an unquoted side: no offer is no ask; no bid and no offer, no quote.
    no_quote = (bid == 0) & (ask == 0)
    bid[no_quote] = np.nan
    ask[ask == 0] = np.nan
    traded = table.numbers["close"].copy()
    traded[traded == 0] = np.nan
    iv = table.number("implied_volatility_1545").copy()
    unsolved = ~(iv > 0)
    iv[unsolved] = np.nan

    def greek(name: str, scale: float = 1.0) -> np.ndarray:
        values = table.number(name) * scale
        values[unsolved] = np.nan
        return values

    columns = {
        "expiry": expiration, "strike": strike, "right": right, "bid": bid, "ask": ask,
        "bid_size": table.numbers["bid_size_1545"], "ask_size": table.numbers["ask_size_1545"],
        "last": traded, "close": traded, "settlement": np.full(len(table), np.nan),
        "change": np.full(len(table), np.nan), "volume": table.numbers["trade_volume"],
        "open_interest": table.numbers["open_interest"],
        "oi_change": np.full(len(table), np.nan), "vendor_iv": iv,
        "vendor_delta": greek("delta_1545"), "vendor_gamma": greek("gamma_1545"),
        "vendor_theta": greek("theta_1545"), "vendor_vega": greek("vega_1545"),
        "vendor_rho": greek("rho_1545", RHO_PER_POINT), "rows": table.rows,
    }
    assert set(columns) == set(ROW_FIELDS)
    return columns


def _underlying(table: Table) -> np.ndarray:
    """Each row's underlying price: the 15:45 mid, else Cboe's active underlying price."""
    bid = table.numbers["underlying_bid_1545"]
    ask = table.numbers["underlying_ask_1545"]
    active = table.number("active_underlying_price_1545")
    quoted = (bid > 0) & (ask >= bid)
    return np.where(quoted, (bid + ask) / 2, np.where(active > 0, active, np.nan))
