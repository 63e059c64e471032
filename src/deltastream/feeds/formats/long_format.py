"""The long format: one row per option contract, in CSV or Parquet, so that any vendor's file
is one column mapping away from an import.

Columns (header names case-insensitive, in any order; other columns are ignored):

=================  ========  ==============================================================
column             required  meaning
=================  ========  ==============================================================
underlying         yes       the product (``NIFTY``, ``SPY``)
quote_time         yes       ISO-8601 date and time of the quotes; without an offset it is
                             UTC (``2026-11-19T15:30:00+05:30``, ``2027-03-16 19:45:00``)
expiry             yes       ``YYYY-MM-DD``, the day the option expires (as listed, i.e.
                             already moved for a holiday)
strike             yes       in the product's currency, > 0
option_type        yes       ``C``/``P``/``call``/``put`` (any case; NSE's ``CE``/``PE`` too)
bid, ask           yes       best bid and offer, in the product's currency per unit of the
                             underlying (a premium, not times the multiplier)
last               yes       last traded price
volume             yes       contracts traded in the session
open_interest      yes       open contracts
underlying_price   yes       the underlying's price at ``quote_time``
bid_size,          no        contracts at the best bid and offer
ask_size
close, settlement  no        the session's closing and settlement prices
change             no        premium change on the previous session's close
oi_change          no        change of open interest on the previous session, contracts
multiplier         no        units of the underlying per contract (the lot size), a whole
                             number > 0
exercise_style     no        ``european`` or ``american``
exchange           no        ``NSE``, ``BSE``, ``CBOE``, ...: the market (upper-cased)
currency           no        ``INR``, ``USD``, ...; default ``INR`` on NSE/BSE, ``USD`` on a
                             US exchange
iv                 no        the vendor's implied volatility, a decimal (0.145 for 14.5 %)
delta, gamma,      no        the vendor's Greeks in the chain's units: delta and gamma per
theta, vega, rho             unit of the underlying, theta per calendar day, vega per
                             volatility point, rho per percentage point of the rate
=================  ========  ==============================================================

An empty cell (or ``NaN``) is a value the file does not give; ``0`` is zero (a zero bid is a
quote). One :class:`~deltastream.feeds.records.ImportedChain` per (underlying, quote_time
instant). The chain-level columns (``multiplier``, ``exercise_style``, ``exchange``,
``currency``) must agree within a chain: a row that disagrees with the chain's first row is
rejected. ``underlying_price`` is the median of the chain's rows (vendors that stamp each row
with its own underlying print disagree in the last digits). The session date is the quote
time's date at the exchange (Asia/Kolkata for NSE/BSE, America/New_York for US exchanges),
else the date as written.

Parquet files (recognised by their ``PAR1`` magic) carry the same columns, typed or as text;
timestamps without a time zone are UTC. Reading them needs pyarrow (the ``parquet`` extra).
A rejected row is named by its line in a CSV file (the header is line 1) and by its 1-based
record position in a Parquet file.

This module also holds the tabular reading shared with the vendor CSV formats
(:func:`read_csv_table`): a header, then columns converted chunk by chunk so a large file is
never held as Python rows.
"""

from __future__ import annotations

import csv
import gc
import io
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ..records import CALL, PUT, ROW_FIELDS, FileFormatError, ImportedChain, ParseResult, Reject

FORMAT = "long"

REQUIRED = ("underlying", "quote_time", "expiry", "strike", "option_type", "bid", "ask", "last",
            "volume", "open_interest", "underlying_price")
OPTIONAL = ("bid_size", "ask_size", "close", "settlement", "change", "oi_change", "multiplier",
            "exercise_style", "exchange", "currency", "iv", "delta", "gamma", "theta", "vega",
            "rho")
TEXT_COLUMNS = ("underlying", "quote_time", "expiry", "option_type", "exercise_style",
                "exchange", "currency")
NUMBER_COLUMNS = tuple(c for c in REQUIRED + OPTIONAL if c not in TEXT_COLUMNS)

# Columns that fill an ImportedChain field of another name.
FIELD_OF = {"iv": "vendor_iv", "delta": "vendor_delta", "gamma": "vendor_gamma",
            "theta": "vendor_theta", "vega": "vendor_vega", "rho": "vendor_rho"}
# Prices, sizes and counts cannot be negative (change and oi_change can).
NON_NEGATIVE = ("bid", "ask", "last", "close", "settlement", "volume", "open_interest",
                "bid_size", "ask_size", "iv")
OPTION_TYPES = {"c": CALL, "call": CALL, "ce": CALL, "p": PUT, "put": PUT, "pe": PUT}
EXERCISE_STYLES = ("european", "american")
INDIAN_EXCHANGES = frozenset({"NSE", "BSE"})
US_EXCHANGES = frozenset({"CBOE", "C2", "NYSE", "NYSE ARCA", "ARCA", "AMEX", "NYSE AMERICAN",
                          "NASDAQ", "ISE", "PHLX", "BOX", "MIAX", "OPRA"})
EXCHANGE_ZONES = {**{x: "Asia/Kolkata" for x in INDIAN_EXCHANGES},
                  **{x: "America/New_York" for x in US_EXCHANGES}}
EXCHANGE_CURRENCIES = {**{x: "INR" for x in INDIAN_EXCHANGES},
                       **{x: "USD" for x in US_EXCHANGES}}

# Rows converted to columns at a time: bounds the Python objects alive while reading.
CHUNK_ROWS = 65_536
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- tabular reading, shared with the vendor CSV formats ----------------------------------

@dataclass
class Table:
    """Columns of a file: ``text`` columns as object arrays of ``str`` (empty: missing),
    ``numbers`` as float64 (NaN: missing), ``bad`` the cells of a number column that are not
    numbers (row index -> cell as written). ``rows`` is each row's line (CSV) or record
    position (Parquet), 1-based. Columns a file lacks are absent from the dictionaries."""

    file: str
    rows: np.ndarray
    unit: str = "line"      # what ``rows`` counts: "line" (CSV) or "record" (Parquet)
    text: dict[str, np.ndarray] = field(default_factory=dict)
    numbers: dict[str, np.ndarray] = field(default_factory=dict)
    bad: dict[str, dict[int, str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def number(self, name: str) -> np.ndarray:
        """A number column, all NaN when the file does not have it."""
        values = self.numbers.get(name)
        return values if values is not None else np.full(len(self), np.nan)

    def not_numbers(self, name: str) -> np.ndarray:
        """Mask of the cells of a number column that are not numbers."""
        mask = np.zeros(len(self), dtype=bool)
        mask[list(self.bad.get(name, {}))] = True
        return mask

    def where(self, index: int) -> str:
        """How a report names row ``index``: ``line 12`` or ``record 11``."""
        return f"{self.unit} {self.rows[index]}"


def parse_numbers(cells: Iterable[Any]) -> tuple[np.ndarray, dict[int, str]]:
    """Float64 values of text cells, and the cells that are not numbers (index -> text).

    An empty cell or ``nan`` is NaN (missing); infinities are not numbers."""
    cells = cells if isinstance(cells, list | tuple) else list(cells)
    bad: dict[int, str] = {}
    try:
        # numpy parses the whole column at C speed.
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        try:
            # Empty cells, the usual cause, read as NaN.
            values = np.array([c or "nan" for c in cells], dtype=np.float64)
        except (TypeError, ValueError):
            # Something else than a number or an empty cell: find it, cell by cell.
            values = np.empty(len(cells))
            for i, cell in enumerate(cells):
                stripped = cell.strip() if isinstance(cell, str) else cell
                if stripped == "" or stripped is None:
                    values[i] = math.nan
                    continue
                try:
                    values[i] = float(stripped)
                except (TypeError, ValueError):
                    values[i] = math.nan
                    bad[i] = str(cell)
    infinite = np.flatnonzero(np.isinf(values))
    for k in infinite.tolist():
        bad[k] = str(cells[k])
    values[infinite] = math.nan
    return values, bad


def parse_dates(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``datetime64[D]`` of ``YYYY-MM-DD`` text cells (NaT for empty or malformed ones), and a
    mask of the malformed ones. Each distinct text is parsed once (a chain has few dates)."""
    codes, distinct = codes_of(cells)
    parsed = np.full(len(distinct), np.datetime64("NaT"), dtype="datetime64[D]")
    wrong = np.zeros(len(distinct), dtype=bool)
    for k, cell in enumerate(distinct):
        text = str(cell).strip()
        if not text:
            continue
        try:
            if not _DATE.fullmatch(text):
                raise ValueError(text)
            parsed[k] = np.datetime64(date.fromisoformat(text), "D")
        except ValueError:
            wrong[k] = True
    return parsed[codes], wrong[codes]


def _intern(cells: tuple[str, ...]) -> np.ndarray:
    # One str object per distinct value: a million rows of "SPXW" hold one string.
    seen: dict[str, str] = {}
    return np.array([seen.setdefault(c, c) for c in cells], dtype=object)


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Reading holds millions of short strings and tuples, none of them in cycles: the cyclic
    # collector would scan the growing heap again and again (more than half the time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _require_columns(file: str, line: int | None, names: Collection[str],
                     required: Collection[str]) -> None:
    """Raise :class:`FileFormatError` naming every required column the header lacks."""
    missing = [c for c in required if c not in names]
    if missing:
        raise FileFormatError(file, line, f"missing required column(s): {', '.join(missing)}")


def read_csv_table(data: bytes, file: str, text_columns: Collection[str],
                   number_columns: Collection[str], required: Collection[str]) -> Table:
    """Read a CSV file with a header row into a :class:`Table` of the named columns.

    Header names are matched stripped and lower-cased; blank lines are skipped. Raises
    :class:`FileFormatError` for text that is not UTF-8, a file with no header, a missing
    required column (all named), a column named twice, or a row whose number of fields
    differs from the header's (its line)."""
    with _collector_paused():
        return _read_csv_table(data, file, text_columns, number_columns, required)


def _read_csv_table(data: bytes, file: str, text_columns: Collection[str],
                    number_columns: Collection[str], required: Collection[str]) -> Table:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(file, _line_of_offset(data, exc.start),
                              "not UTF-8 text") from None
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            header = next(reader, None)
        if header is None:
            raise FileFormatError(file, None, "empty file: no header row")
        header_line = reader.line_num
        names = [h.strip().lower() for h in header]
        _require_columns(file, header_line, names, required)
        wanted = [c for c in (*text_columns, *number_columns) if c in names]
        for name in wanted:
            if names.count(name) > 1:
                raise FileFormatError(file, header_line, f"column {name} appears twice")
        take = itemgetter(*[names.index(c) for c in wanted])
        width = len(names)
        table = Table(file, np.empty(0, dtype=np.int64))
        parts: dict[str, list[np.ndarray]] = {c: [] for c in wanted}
        lines: list[int] = []
        chunk: list[Any] = []

        def flush() -> None:
            columns = list(zip(*chunk, strict=True)) if len(wanted) > 1 else [
                tuple(chunk)]
            start = sum(p.shape[0] for p in parts[wanted[0]]) if wanted else 0
            for name, cells in zip(wanted, columns, strict=True):
                if name in number_columns:
                    values, bad = parse_numbers(cells)
                    parts[name].append(values)
                    if bad:
                        table.bad.setdefault(name, {}).update(
                            {start + i: text for i, text in bad.items()})
                else:
                    parts[name].append(_intern(cells))
            chunk.clear()

        for row in reader:
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                raise FileFormatError(file, reader.line_num,
                                      f"{len(row)} fields where the header has {width}")
            chunk.append(take(row))
            lines.append(reader.line_num)
            if len(chunk) == CHUNK_ROWS:
                flush()
        if chunk:
            flush()
    except csv.Error as exc:
        raise FileFormatError(file, reader.line_num, f"not CSV: {exc}") from None
    table.rows = np.array(lines, dtype=np.int64)
    for name in wanted:
        kind = table.numbers if name in number_columns else table.text
        empty = np.empty(0, dtype=np.float64 if name in number_columns else object)
        kind[name] = np.concatenate(parts[name]) if parts[name] else empty
    return table


def read_parquet_table(data: bytes, file: str, text_columns: Collection[str],
                       number_columns: Collection[str], required: Collection[str]) -> Table:
    """Read a Parquet file into a :class:`Table` of the named columns (names matched
    lower-cased). Typed columns are taken as they are (timestamps and dates become ISO-8601
    text for the text columns); text columns are parsed like CSV cells."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise FileFormatError(file, None, "reading Parquet needs pyarrow: pip install "
                              "'deltastream[parquet]'") from None
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        names = {n.strip().lower(): n for n in parquet.schema_arrow.names}
        _require_columns(file, None, names, required)
        wanted = [c for c in (*text_columns, *number_columns) if c in names]
        arrow = parquet.read(columns=[names[c] for c in wanted])
    except (pa.ArrowException, OSError) as exc:
        raise FileFormatError(file, None, f"not a readable Parquet file: {exc}") from None
    table = Table(file, np.arange(1, arrow.num_rows + 1, dtype=np.int64), unit="record")
    for name in wanted:
        column = arrow.column(names[name]).combine_chunks()
        kind = column.type
        if name in number_columns:
            if pa.types.is_integer(kind) or pa.types.is_floating(kind) or \
                    pa.types.is_decimal(kind) or pa.types.is_boolean(kind):
                table.numbers[name] = np.asarray(
                    pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False),
                    dtype=np.float64)
            elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                values, bad = parse_numbers(column.to_pylist())
                table.numbers[name] = values
                if bad:
                    table.bad[name] = bad
            else:
                raise FileFormatError(file, None, f"column {name} has type {kind}; "
                                      "a number (or its text) is needed")
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            table.text[name] = np.array(["" if v is None else v for v in column.to_pylist()],
                                        dtype=object)
        else:
            # Dates, timestamps and the like: each distinct value written once as ISO text.
            distinct = pc.unique(column)
            texts = np.array(["" if v is None else (v.isoformat() if hasattr(v, "isoformat")
                                                    else str(v))
                              for v in distinct.to_pylist()], dtype=object)
            positions = pc.index_in(column, value_set=distinct).to_numpy(zero_copy_only=False)
            table.text[name] = texts[np.asarray(positions, dtype=np.int64)]
    return table


# --- rejects ------------------------------------------------------------------------------

class RowChecks:
    """The first problem of each row: later checks do not overwrite an earlier reason."""

    def __init__(self, file: str, rows: np.ndarray) -> None:
        self.file = file
        self.rows = rows
        self.rejected = np.zeros(rows.shape[0], dtype=bool)
        self.found: dict[int, tuple[str, str]] = {}

    @property
    def ok(self) -> np.ndarray:
        return ~self.rejected

    def fail(self, mask: np.ndarray | Iterable[int], column: str,
             reason: str | Callable[[int], str]) -> None:
        """Reject the rows of ``mask`` (a boolean mask or indices) not rejected yet."""
        if isinstance(mask, np.ndarray) and mask.dtype == bool:
            indices = np.flatnonzero(mask & ~self.rejected)
        else:
            indices = np.asarray(list(mask), dtype=np.int64)
            indices = indices[~self.rejected[indices]] if indices.size else indices
        for i in np.unique(indices).tolist():
            self.found[i] = (column, reason(i) if callable(reason) else reason)
        self.rejected[indices] = True

    def bad_numbers(self, table: Table, columns: Iterable[str]) -> None:
        for name in columns:
            for i, text in sorted(table.bad.get(name, {}).items()):
                self.fail([i], name, f"not a number: {text!r}")

    def non_negative(self, table: Table, columns: Iterable[str]) -> None:
        for name in columns:
            values = table.number(name)
            self.fail(values < 0, name, partial(_below_zero, values))

    def missing(self, values: np.ndarray, column: str) -> None:
        self.fail(per_value(values, lambda v: not str(v).strip(), bool), column,
                  "missing (empty)")

    def positive(self, values: np.ndarray, column: str) -> None:
        """Reject the rows whose value is <= 0 (NaN is not checked here)."""
        self.fail(values <= 0, column, lambda i: f"must be > 0 (got {values[i]:g})")

    def dates(self, cells: np.ndarray, column: str) -> np.ndarray:
        """``datetime64[D]`` of a ``YYYY-MM-DD`` text column (NaT where it is not one),
        rejecting an empty cell, then a malformed one."""
        values, malformed = parse_dates(cells)
        self.missing(cells, column)
        self.fail(malformed, column, lambda i: f"not a date YYYY-MM-DD: {cells[i]!r}")
        return values

    def strikes(self, table: Table, column: str) -> np.ndarray:
        """The strike column, rejecting a cell that is not a number, an empty one, then a
        strike <= 0."""
        strike = table.numbers[column]
        self.bad_numbers(table, [column])
        self.fail(np.isnan(strike) & ~table.not_numbers(column), column, "missing (empty)")
        self.positive(strike, column)
        return strike

    def rights(self, cells: np.ndarray, column: str, names: Mapping[str, int],
               accepted: str) -> np.ndarray:
        """CALL/PUT (int8) of an option-type column, cells matched stripped and lower-cased
        against ``names``; any other cell is rejected as ``'X' is not <accepted>`` and is -1."""
        kinds = per_value(cells, lambda v: names.get(str(v).strip().lower(), -1), np.int64)
        self.fail(kinds < 0, column, lambda i: f"{cells[i]!r} is not {accepted}")
        return kinds.astype(np.int8)

    def rejects(self) -> list[Reject]:
        return [Reject(self.file, int(self.rows[i]), column, reason)
                for i, (column, reason) in sorted(self.found.items())]


def per_value(values: np.ndarray, function: Callable[[Any], Any], dtype: Any = object
              ) -> np.ndarray:
    """``function`` of each cell, called once per distinct value (text columns have few)."""
    codes, distinct = codes_of(values)
    results = np.empty(len(distinct), dtype=dtype)
    results[:] = [function(v) for v in distinct]
    return results[codes]


def first_of_each(keys: list[np.ndarray], preference: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """For rows grouped by equal ``keys``, the index of the row kept for each row (the
    lowest ``preference``, then the first): ``kept[i] == i`` for the kept ones."""
    n = keys[0].shape[0]
    order_keys = [np.arange(n)]
    if preference is not None:
        order_keys.append(preference)
    order = np.lexsort([*order_keys, *reversed(keys)])
    kept = np.empty(n, dtype=np.int64)
    if n == 0:
        return kept, order
    sorted_keys = [k[order] for k in keys]
    starts = np.ones(n, dtype=bool)
    starts[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in sorted_keys])
    group_first = order[np.flatnonzero(starts)]
    kept[order] = group_first[np.cumsum(starts) - 1]
    return kept, order


def chain_columns(columns: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, Any]:
    """The per-row fields of one chain: ``index`` rows in (expiry, strike, right) order."""
    order = index[np.lexsort((columns["right"][index], columns["strike"][index],
                              columns["expiry"][index]))]
    return {name: np.ascontiguousarray(columns[name][order]) for name in ROW_FIELDS}


def groups(*codes: np.ndarray) -> list[np.ndarray]:
    """Row indices of each distinct combination of the integer ``codes``, in order of first
    appearance."""
    if codes[0].shape[0] == 0:
        return []
    stacked = np.stack(codes, axis=1)
    _, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    parts = np.split(order, bounds)
    return sorted(parts, key=lambda p: int(p[0]))


def codes_of(values: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """Integer codes of values (equal values, equal codes) and the distinct values."""
    distinct: dict[Any, int] = {}
    codes = np.fromiter((distinct.setdefault(v, len(distinct)) for v in values),
                        dtype=np.int64, count=values.shape[0])
    return codes, list(distinct)


# --- the long format ----------------------------------------------------------------------

def _quote_time(text: str) -> datetime:
    text = text.strip()
    if len(text) <= 10:
        raise ValueError("no time of day")
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def read(data: bytes, file: str, source: str) -> ParseResult:
    """Parse a long-format file (CSV, or Parquet by its ``PAR1`` magic)."""
    reader = read_parquet_table if data[:4] == b"PAR1" else read_csv_table
    table = reader(data, file, TEXT_COLUMNS, NUMBER_COLUMNS, REQUIRED)
    n = len(table)
    checks = RowChecks(file, table.rows)
    result = ParseResult(file=file, format=FORMAT, rows_read=n)
    if n == 0:
        return result
    text = table.text

    underlying = per_value(text["underlying"], _stripped)
    checks.missing(underlying, "underlying")

    times_text = per_value(text["quote_time"], _stripped)
    time_codes, distinct_times = codes_of(times_text)
    written: list[datetime | None] = []
    for t in distinct_times:
        try:
            written.append(_quote_time(t))
        except ValueError:
            written.append(None)
    checks.fail(np.array([w is None for w in written], dtype=bool)[time_codes], "quote_time",
                lambda i: (f"not an ISO-8601 date and time: {times_text[i]!r} (e.g. "
                           "2026-11-19T15:30:00+05:30; without an offset it is UTC)"))

    expiry = checks.dates(text["expiry"], "expiry")
    strike = checks.strikes(table, "strike")
    right = checks.rights(text["option_type"], "option_type", OPTION_TYPES,
                          "one of C, P, call, put, CE, PE")

    checks.bad_numbers(table, [c for c in NUMBER_COLUMNS if c != "strike"])
    checks.non_negative(table, NON_NEGATIVE)
    spot = table.numbers["underlying_price"]
    checks.positive(spot, "underlying_price")
    multiplier = table.number("multiplier")
    fractional = ~np.isnan(multiplier) & (multiplier != np.round(multiplier))
    checks.fail((multiplier <= 0) | fractional, "multiplier",
                lambda i: f"must be a whole number > 0 (got {multiplier[i]:g})")

    empty = np.full(n, "", dtype=object)
    style = per_value(text.get("exercise_style", empty), lambda v: str(v).strip().lower())
    checks.fail(per_value(style, lambda v: v not in ("", *EXERCISE_STYLES), bool),
                "exercise_style",
                lambda i: f"{style[i]!r} is not one of {', '.join(EXERCISE_STYLES)}")
    exchange = per_value(text.get("exchange", empty), lambda v: str(v).strip().upper())
    currency = per_value(text.get("currency", empty), lambda v: str(v).strip().upper())

    # The instant (UTC) and, per row, the session date at its exchange.
    instants = np.array([-1 if w is None else int(w.timestamp() * 1_000_000)
                         for w in written], dtype=np.int64)[time_codes]
    exchange_codes, exchanges = codes_of(exchange)
    pairs, inverse = np.unique(np.stack([time_codes, exchange_codes], axis=1), axis=0,
                               return_inverse=True)
    session_of_pair = np.full(pairs.shape[0], np.datetime64("NaT"), dtype="datetime64[D]")
    for k, (time_code, exchange_code) in enumerate(pairs.tolist()):
        when = written[time_code]
        if when is not None:
            zone = EXCHANGE_ZONES.get(exchanges[exchange_code])
            local = when.astimezone(ZoneInfo(zone)) if zone else when
            session_of_pair[k] = np.datetime64(local.date(), "D")
    session = session_of_pair[inverse.reshape(-1)]
    checks.fail(expiry < session, "expiry",
                lambda i: f"{expiry[i]} is before the quote date {session[i]}")

    # The chain-level columns agree with the chain's first row.
    ok_rows = np.flatnonzero(checks.ok)
    under_codes, _ = codes_of(underlying)
    first_of = np.full(n, -1, dtype=np.int64)
    for index in groups(under_codes[ok_rows], instants[ok_rows]):
        first_of[ok_rows[index]] = ok_rows[index[0]]
    for name, values in (("multiplier", multiplier), ("exercise_style", style),
                         ("exchange", exchange), ("currency", currency)):
        mine, theirs = values[ok_rows], values[first_of[ok_rows]]
        same = mine == theirs
        if values.dtype.kind == "f":
            same |= np.isnan(mine) & np.isnan(theirs)
        checks.fail(ok_rows[~same], name, partial(_differs, table, values, first_of))

    ok = checks.ok
    kept, _ = first_of_each([under_codes[ok], instants[ok], expiry[ok].view(np.int64),
                             strike[ok], right[ok]])
    ok_rows = np.flatnonzero(ok)
    duplicates = ok_rows[kept != np.arange(kept.shape[0])]
    first_row = dict(zip(ok_rows.tolist(), ok_rows[kept].tolist(), strict=True))
    checks.fail(duplicates, "strike",
                lambda i: (f"duplicate of {table.where(first_row[i])} (same underlying, "
                           "quote_time, expiry, strike and option_type)"))

    columns: dict[str, np.ndarray] = {"expiry": expiry, "strike": strike, "right": right,
                                      "rows": table.rows}
    for name in ROW_FIELDS:
        if name not in columns:
            column = next((c for c, f in FIELD_OF.items() if f == name), name)
            columns[name] = table.number(column)

    ok = checks.ok
    ok_rows = np.flatnonzero(ok)
    for index in groups(under_codes[ok], instants[ok]):
        rows = ok_rows[index]
        first = int(rows[0])
        when = written[time_codes[first]]
        assert when is not None
        prices = spot[rows][~np.isnan(spot[rows])]
        lot = multiplier[first]
        chain_exchange = str(exchange[first])
        result.chains.append(ImportedChain(
            source=source, product=str(underlying[first]), exchange=chain_exchange,
            currency=str(currency[first]) or EXCHANGE_CURRENCIES.get(chain_exchange, ""),
            timestamp=when.astimezone(UTC),
            session_date=session[first].astype(object),
            underlying_price=float(np.median(prices)) if prices.size else math.nan,
            file=file, lot_size=None if math.isnan(lot) else int(lot),
            exercise_style=str(style[first]) or None,
            **chain_columns(columns, rows)))
    result.rejects = checks.rejects()
    return result


def _stripped(value: Any) -> str:
    return str(value).strip()


def _below_zero(values: np.ndarray, i: int) -> str:
    return f"must be >= 0 (got {values[i]:g})"


def _differs(table: Table, values: np.ndarray, first_of: np.ndarray, i: int) -> str:
    first = int(first_of[i])
    return (f"{_shown(values[i])} differs from {_shown(values[first])} on "
            f"{table.where(first)} of the same chain")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return "(empty)" if math.isnan(value) else f"{value:g}"
    return repr(value) if value else "(empty)"

