"""NSE option-chain JSON, as saved from the NSE website: one underlying at one quote time.

Two shapes are read, told apart record by record:

* legacy ``option-chain-indices`` / ``option-chain-equities``: every expiry in one file;
  each ``records.data[]`` record has ``strikePrice``, ``expiryDate`` and ``CE``/``PE``
  objects quoting ``bidprice``/``bidQty`` and ``askPrice``/``askQty``;
* current ``option-chain-v3``: one expiry per file; a record names its expiry
  ``expiryDates`` (a string) and the objects quote ``buyPrice1``/``buyQuantity1`` and
  ``sellPrice1``/``sellQuantity1``.

Both have ``records.timestamp`` (``04-Dec-2026 15:30:00``, India time) and
``records.underlyingValue``; ``filtered`` (totals of the nearest expiry) is not read.
Either object of a strike may be missing. The product is the objects' ``underlying``; the
exchange NSE, the currency INR, the exercise European; the quote time is the timestamp in
UTC and ``session_date`` its date in India.

Units, as NSE files them: ``openInterest``, ``changeinOpenInterest`` and
``totalTradedVolume`` in contracts (lots); ``impliedVolatility`` in percent (kept as a
decimal, 0 meaning none: NaN); prices in rupees. Bid and ask sizes stay as filed, in units
of the underlying (shares, index units), not contracts: the file does not say its lot size
(``lot_size`` is None; the catalogue supplies it). A zero bid or ask price is no quote (NaN,
its size too); a zero ``lastPrice`` is no trade (NaN). ``change`` is the premium's change
as filed. There is no close, settlement or vendor Greek (NaN).

JSON has no lines: a reject's ``row`` (and ``rows``) is the record's 1-based position in
``records.data``, its ``column`` the key at fault (``CE.lastPrice`` inside an object).
Rejected: an unparseable or non-positive strike, an unparseable expiry or one before the
quote date, a negative price, size, volume or open interest, a second record of the same
(expiry, strike, CE/PE). A file that is not JSON, not this shape, or lacks
``records.timestamp`` raises :class:`~deltastream.feeds.records.FileFormatError` and nothing
of it is read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ...core.types import ExerciseStyle
from ..records import CALL, PUT, FileFormatError, ImportedChain, ParseResult, Reject

FORMAT = "nse-json"
EXCHANGE = "NSE"
CURRENCY = "INR"
EXCHANGE_TIMEZONE = ZoneInfo("Asia/Kolkata")
SIDES = (("CE", CALL), ("PE", PUT))

MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG",
                                      "SEP", "OCT", "NOV", "DEC"), start=1)}
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})")
_TIMESTAMP = re.compile(r"(\d{1,2}-[A-Za-z]{3}-\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?")

# A quote's keys in the legacy shape, then in v3.
BID = ("bidprice", "buyPrice1")
BID_SIZE = ("bidQty", "buyQuantity1")
ASK = ("askPrice", "sellPrice1")
ASK_SIZE = ("askQty", "sellQuantity1")
# Values that may not be negative (change and changeinOpenInterest may).
NON_NEGATIVE = ("lastPrice", "openInterest", "totalTradedVolume", *BID, *BID_SIZE, *ASK,
                *ASK_SIZE)


class _RejectError(Exception):
    """A record or object left out: the key at fault and why."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}")
        self.column = column
        self.reason = reason


def read(data: bytes, file: str, source: str) -> ParseResult:
    """The option chain of an NSE option-chain JSON file (see the module's docstring for its
    shapes, units and what is rejected)."""
    document = _load(data, file)
    records = document.get("records")
    if not isinstance(records, dict):
        raise FileFormatError(file, None, "no 'records' object: not an NSE option-chain JSON")
    items = records.get("data")
    if not isinstance(items, list):
        raise FileFormatError(file, None, "'records.data' is not a list: not an NSE "
                                          "option-chain JSON")
    timestamp = _timestamp(records.get("timestamp"), file)
    session_date = timestamp.astimezone(EXCHANGE_TIMEZONE).date()
    product = _product(items, file)
    result = ParseResult(file=file, format=FORMAT)
    if product is None:
        return result  # a chain without contracts (NSE serves these out of hours)

    rows = _Rows()
    seen: dict[tuple[date, float, int], int] = {}
    for position, item in enumerate(items, start=1):
        sides = [(name, right, item[name]) for name, right in SIDES
                 if isinstance(item.get(name), dict)]
        result.rows_read += len(sides)
        if not sides:
            continue
        try:
            strike, expiry = _contract(item, sides, session_date)
        except _RejectError as e:
            result.rejects.extend(Reject(file, position, e.column, e.reason) for _ in sides)
            continue
        for name, right, quote in sides:
            try:
                values = _quote(name, quote)
                if (first := seen.get((expiry, strike, right))) is not None:
                    raise _RejectError("strikePrice", f"duplicate of record {first} "
                                                      f"(same expiry, strike and {name})")
            except _RejectError as e:
                result.rejects.append(Reject(file, position, e.column, e.reason))
                continue
            seen[(expiry, strike, right)] = position
            rows.add(position, expiry, strike, right, values)

    if len(rows):
        result.chains.append(ImportedChain(
            source=source, product=product, exchange=EXCHANGE, currency=CURRENCY,
            timestamp=timestamp, session_date=session_date,
            underlying_price=_underlying(records, items),
            file=file, lot_size=None, exercise_style=ExerciseStyle.EUROPEAN.value,
            **rows.arrays()))
    return result


def _load(data: bytes, file: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except json.JSONDecodeError as e:
        raise FileFormatError(file, e.lineno, f"not JSON: {e.msg} (column {e.colno})") from None
    except UnicodeDecodeError:
        raise FileFormatError(file, None, "not JSON: not UTF-8 text") from None
    if not isinstance(document, dict):
        raise FileFormatError(file, None, "not an NSE option-chain JSON: the document is not "
                                          "an object")
    return document


def parse_date(text: object) -> date | None:
    """``30-Dec-2026`` (any case of the month) as a date; None if it is not one."""
    if not isinstance(text, str) or not (m := _DATE.fullmatch(text.strip())):
        return None
    month = MONTHS.get(m[2].upper())
    if month is None:
        return None
    try:
        return date(int(m[3]), month, int(m[1]))
    except ValueError:
        return None


def _timestamp(value: object, file: str) -> datetime:
    if value is None:
        raise FileFormatError(file, None, "missing 'records.timestamp' (the quote time)")
    m = _TIMESTAMP.fullmatch(value.strip()) if isinstance(value, str) else None
    day = parse_date(m[1]) if m else None
    if m is None or day is None or int(m[2]) > 23 or int(m[3]) > 59 or int(m[4] or 0) > 59:
        raise FileFormatError(file, None, f"'records.timestamp' {value!r} is not a time like "
                                          "'04-Dec-2026 15:30:00'")
    local = datetime(day.year, day.month, day.day, int(m[2]), int(m[3]), int(m[4] or 0),
                     tzinfo=EXCHANGE_TIMEZONE)
    return local.astimezone(UTC)


def _product(items: list[Any], file: str) -> str | None:
    """The underlying the CE/PE objects name (None when there is no object)."""
    names: dict[str, int] = {}
    objects = 0
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise FileFormatError(file, None, f"records.data[{position - 1}] is not an object")
        for side, _ in SIDES:
            quote = item.get(side)
            if not isinstance(quote, dict):
                continue
            objects += 1
            name = quote.get("underlying")
            if isinstance(name, str) and name.strip():
                names.setdefault(name.strip(), position)
    if objects == 0:
        return None
    if not names:
        raise FileFormatError(file, None, "no CE/PE object in 'records.data' names its "
                                          "'underlying': the product is unknown")
    if len(names) > 1:
        (first, _), (second, at) = list(names.items())[:2]
        raise FileFormatError(file, None, f"records.data[{at - 1}] is on {second!r}, the file "
                                          f"on {first!r}: one file holds one underlying")
    return next(iter(names))


def _number(value: object) -> float | None:
    """A JSON number (or numeric string) as a float; NaN for null, "" or "-" (not given);
    None if it is something else."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if text in ("", "-"):
            return math.nan
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _first_key(item: dict[str, Any], sides: list[tuple[str, int, dict[str, Any]]],
               keys: tuple[str, ...]) -> tuple[str, object]:
    """The record's own value of the first of ``keys`` it has, else its objects' (the
    column named as the file names it)."""
    for key in keys:
        if key in item:
            return key, item[key]
    for name, _, quote in sides:
        for key in keys:
            if key in quote:
                return f"{name}.{key}", quote[key]
    return keys[0], None


def _contract(item: dict[str, Any], sides: list[tuple[str, int, dict[str, Any]]],
              session_date: date) -> tuple[float, date]:
    """The strike and expiry of a record (:class:`_RejectError` if either is unusable)."""
    key, value = _first_key(item, sides, ("strikePrice",))
    strike = _number(value)
    if strike is None or math.isnan(strike):
        raise _RejectError(key, f"{value!r} is not a number")
    if strike <= 0:
        raise _RejectError(key, f"strike {value} is not positive")
    key, value = _first_key(item, sides, ("expiryDate", "expiryDates"))
    expiry = parse_date(value)
    if expiry is None:
        raise _RejectError(key, f"{value!r} is not a date like '30-Dec-2026'")
    if expiry < session_date:
        raise _RejectError(key, f"expiry {value} is before the quote date "
                             f"{session_date:%d-%b-%Y}")
    return strike, expiry


def _value(quote: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, object]:
    for key in keys:
        if key in quote:
            return key, quote[key]
    return keys[0], None


def _quote(name: str, quote: dict[str, Any]) -> dict[str, float]:
    """The row values of one CE/PE object (:class:`_RejectError` if one is unusable)."""
    raw: dict[str, float] = {}
    for keys in (BID, BID_SIZE, ASK, ASK_SIZE, ("lastPrice",), ("change",), ("openInterest",),
                 ("changeinOpenInterest",), ("totalTradedVolume",), ("impliedVolatility",)):
        key, value = _value(quote, keys)
        number = _number(value)
        if number is None:
            raise _RejectError(f"{name}.{key}", f"{value!r} is not a number")
        if key in NON_NEGATIVE and number < 0:
            raise _RejectError(f"{name}.{key}", f"{value} is negative")
        raw[keys[0]] = number
    bid = raw["bidprice"] if raw["bidprice"] > 0 else math.nan
    ask = raw["askPrice"] if raw["askPrice"] > 0 else math.nan
    iv = raw["impliedVolatility"]
    return {
        "bid": bid,
        "ask": ask,
        "bid_size": raw["bidQty"] if bid == bid else math.nan,
        "ask_size": raw["askQty"] if ask == ask else math.nan,
        "last": raw["lastPrice"] if raw["lastPrice"] > 0 else math.nan,
        "change": raw["change"],
        "volume": raw["totalTradedVolume"],
        "open_interest": raw["openInterest"],
        "oi_change": raw["changeinOpenInterest"],
        # Percent on file; 0 is NSE's "none".
        "vendor_iv": iv / 100.0 if iv > 0 else math.nan,
    }


def _underlying(records: dict[str, Any], items: list[Any]) -> float:
    value = _number(records.get("underlyingValue"))
    if value is not None and value > 0:
        return value
    for item in items:
        for side, _ in SIDES:
            quote = item.get(side) if isinstance(item, dict) else None
            if isinstance(quote, dict):
                value = _number(quote.get("underlyingValue"))
                if value is not None and value > 0:
                    return value
    return math.nan


QUOTE_FIELDS = ("bid", "ask", "bid_size", "ask_size", "last", "change", "volume",
                "open_interest", "oi_change", "vendor_iv")
ABSENT_FIELDS = ("close", "settlement", "vendor_delta", "vendor_gamma", "vendor_theta",
                 "vendor_vega", "vendor_rho")


@dataclass
class _Rows:
    """Accepted contracts, column by column."""

    position: list[int] = field(default_factory=list)
    expiry: list[date] = field(default_factory=list)
    strike: list[float] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(
        default_factory=lambda: {name: [] for name in QUOTE_FIELDS})

    def __len__(self) -> int:
        return len(self.position)

    def add(self, position: int, expiry: date, strike: float, right: int,
            values: dict[str, float]) -> None:
        self.position.append(position)
        self.expiry.append(expiry)
        self.strike.append(strike)
        self.right.append(right)
        for name in QUOTE_FIELDS:
            self.values[name].append(values[name])

    def arrays(self) -> dict[str, Any]:
        """The per-row fields of an ImportedChain."""
        n = len(self)
        out: dict[str, Any] = {
            "expiry": np.array(self.expiry, dtype="datetime64[D]"),
            "strike": np.array(self.strike, dtype=np.float64),
            "right": np.array(self.right, dtype=np.int8),
            "rows": np.array(self.position, dtype=np.int64),
        }
        out.update({name: np.array(self.values[name], dtype=np.float64)
                    for name in QUOTE_FIELDS})
        out.update({name: np.full(n, np.nan) for name in ABSENT_FIELDS})
        return out
