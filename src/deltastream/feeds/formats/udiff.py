"""NSE and BSE UDiFF F&O bhavcopy: the exchanges' end-of-day CSV of every derivative contract.

The file (``BhavCopy_NSE_FO_0_0_0_YYYYMMDD_F_0000.csv``, the BSE one alike) has a header row
and one row per contract, 34 columns (``TradDt, BizDt, Sgmt, Src, FinInstrmTp, ..., Rsvd4``);
columns are found by their header name. Rows of ``FinInstrmTp`` ``IDO`` (index option) and
``STO`` (stock option) with ``OptnTp`` ``CE``/``PE`` are options; ``IDF``/``STF`` rows are
futures, whose settlement price (else close) goes into ``ImportedChain.futures`` of their
``TckrSymb``; other rows are not read. One file holds one trade date and every underlying of
it: one :class:`~deltastream.feeds.records.ImportedChain` per ``TckrSymb``.

Units, as the exchanges file them (checked against ``TtlTrfVal``, the traded value, which is
contracts x lot x (strike + premium) on NSE and quantity x (strike + premium) on BSE):

* ``OpnIntrst`` and ``ChngInOpnIntrst`` are in units of the underlying (shares, index units)
  on both exchanges: divided by the row's ``NewBrdLotQty`` into contracts.
* ``TtlTradgVol`` is in contracts on NSE and in units on BSE (divided by the lot size there).
* Prices (``ClsPric``, ``SttlmPric``, ``LastPric``, ``PrvsClsgPric``, ``UndrlygPric``) are in
  rupees per unit. The file writes 0.00 for a price it does not have (an option never trades
  at zero): 0 and empty cells are NaN. ``change`` is ``ClsPric - PrvsClsgPric``.
* There are no bid/ask quotes nor vendor IVs or Greeks: those arrays are all NaN.

The quote time is the session's close, 15:30 Asia/Kolkata on ``TradDt``, in UTC. ``XpryDt``
is the expiry as listed: an expiry moved off an exchange holiday appears as the moved date and
is kept. ``lot_size`` of a chain is the most common ``NewBrdLotQty`` of its options (after a
lot-size revision old and new contracts differ; each row is converted with its own).

Invariants: a malformed file (not UTF-8, not CSV, a required column missing, a row with a
different number of fields than the header, two trade dates or exchanges) raises
:class:`~deltastream.feeds.records.FileFormatError` naming the file and line, and nothing of
it is read. A bad option row becomes a :class:`~deltastream.feeds.records.Reject` (its line,
the column at fault, the reason) and the rest is read: a cell that is not a number or date,
an ``OptnTp`` other than CE/PE, a strike <= 0, an expiry before the trade date, a lot size
that is not a positive whole number, a negative price, open interest or volume, neither a
settlement nor a close price, a second row of the same contract. Rows keep the file's order.
The parse works on whole columns (about half a second for a full day of 60,000 options).
"""

from __future__ import annotations

import csv
import io
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from ...core.types import ExerciseStyle
from ..records import CALL, PUT, FileFormatError, ImportedChain, ParseResult, Reject

FORMAT = "udiff"

OPTION_TYPES = ("IDO", "STO")
FUTURE_TYPES = ("IDF", "STF")
RIGHTS = {"CE": CALL, "PE": PUT}
CURRENCY = "INR"
EXCHANGE_TIMEZONE = ZoneInfo("Asia/Kolkata")
SESSION_CLOSE = time(15, 30)
# Exchanges whose TtlTradgVol is in units of the underlying rather than contracts.
VOLUME_IN_UNITS = frozenset({"BSE"})

PRICE_COLUMNS = ("ClsPric", "LastPric", "PrvsClsgPric", "UndrlygPric", "SttlmPric")
COUNT_COLUMNS = ("OpnIntrst", "ChngInOpnIntrst", "TtlTradgVol", "NewBrdLotQty")
REQUIRED_COLUMNS = ("TradDt", "Src", "FinInstrmTp", "TckrSymb", "XpryDt", "StrkPric",
                    "OptnTp", *PRICE_COLUMNS, *COUNT_COLUMNS)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def read(data: bytes, file: str, source: str) -> ParseResult:
    """The option chains of a UDiFF F&O bhavcopy, one per underlying (see the module's
    docstring for columns, units and what is rejected)."""
    table = _table(_decode(data, file), file)
    col = _column_indices(table.header, table.header_line, file)
    result = ParseResult(file=file, format=FORMAT)
    line = table.line
    if line.size == 0:
        return result

    def cells(name: str) -> list[str]:
        return table.column(col[name])

    trade_date = _single_date(cells("TradDt"), line, "TradDt", "trade date", file)
    exchange = _single_value(cells("Src"), line, "Src", "exchange", file)

    kind = np.char.strip(np.asarray(cells("FinInstrmTp"), dtype=str))
    future = _picker(np.flatnonzero(np.isin(kind, FUTURE_TYPES)), line.size)
    futures = _futures({name: future(cells(name))
                        for name in ("TckrSymb", "XpryDt", "SttlmPric", "ClsPric")})

    opt = np.flatnonzero(np.isin(kind, OPTION_TYPES))
    result.rows_read = int(opt.size)
    if opt.size == 0:
        return result
    option = _picker(opt, line.size)
    options = _Options(lambda name: option(cells(name)), line[opt], trade_date, exchange)
    result.rejects = options.rejects(file)
    keep = ~options.rejected
    if not keep.any():
        return result
    result.chains = options.chains(keep, futures, trade_date, exchange, file, source)
    return result


@dataclass(frozen=True)
class _Table:
    """A CSV file's cells by column: ``column(i)`` lists column ``i``'s cells, a row each;
    ``line`` is each row's 1-based line in the file."""

    header: list[str]
    header_line: int
    line: np.ndarray
    column: Callable[[int], list[str]]


def _picker(index: np.ndarray, n: int) -> Callable[[list[str]], list[str]]:
    """Takes the cells at ``index`` (sorted positions among ``n`` rows) out of a column."""
    if index.size == n:
        return lambda cells: cells
    if index.size == 0:
        return lambda cells: []
    if index.size == 1:
        k = int(index[0])
        return lambda cells: [cells[k]]
    get = operator.itemgetter(*index.tolist())
    return lambda cells: list(get(cells))


def _decode(data: bytes, file: str) -> str:
    try:
        # utf-8-sig: a byte-order mark some tools write before the header is not a column.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise FileFormatError(file, line, f"not UTF-8 text (byte 0x{data[e.start]:02x}): not a "
                                          "UDiFF bhavcopy CSV") from None
    if (nul := text.find("\0")) >= 0:
        raise FileFormatError(file, text.count("\n", 0, nul) + 1,
                              "not text (a NUL byte): not a UDiFF bhavcopy CSV")
    return text


def _table(text: str, file: str) -> _Table:
    """The header, its line and the non-blank rows; every row must have the header's number
    of fields."""
    if '"' in text:
        return _csv_table(text, file)
    # Bhavcopies quote nothing: a record is a line and its fields are between commas. The
    # body is split in one call and each column is a strided slice of the cells (several
    # times faster than splitting row by row, or the csv module).
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # Blank lines carry nothing.
    kept = [n for n, text_line in enumerate(lines) if text_line and not text_line.isspace()]
    if not kept:
        raise FileFormatError(file, None, "empty file: no UDiFF header row")
    header = [name.strip() for name in lines[kept[0]].split(",")]
    width = len(header)
    body_index = kept[1:]
    body = [lines[n] for n in body_index]
    commas = np.fromiter((b.count(",") for b in body), dtype=np.int64, count=len(body))
    wrong = np.flatnonzero(commas != width - 1)
    if wrong.size:
        i = int(wrong[0])
        raise FileFormatError(file, body_index[i] + 1, _width_error(int(commas[i]) + 1, width))
    flat = ",".join(body).split(",") if body else []
    return _Table(header, kept[0] + 1, np.asarray(body_index, dtype=np.int64) + 1,
                  lambda i: flat[i::width])


def _csv_table(text: str, file: str) -> _Table:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    header_line = width = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines carry nothing
            if header is None:
                header = [name.strip() for name in row]
                header_line, width = reader.line_num, len(header)
            elif len(row) != width:
                raise FileFormatError(file, reader.line_num, _width_error(len(row), width))
            else:
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as e:
        # line_num counts the lines read, the one in error included.
        raise FileFormatError(file, max(1, reader.line_num), f"not CSV: {e}") from None
    if header is None:
        raise FileFormatError(file, None, "empty file: no UDiFF header row")
    return _Table(header, header_line, np.asarray(lines, dtype=np.int64),
                  lambda i: [r[i] for r in rows])


def _width_error(fields: int, width: int) -> str:
    return f"{fields} field{'' if fields == 1 else 's'} where the header has {width}"


def _column_indices(header: list[str], header_line: int, file: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(name, i)
    missing = [name for name in REQUIRED_COLUMNS if name not in index]
    if missing:
        raise FileFormatError(file, header_line,
                              f"missing required columns: {', '.join(missing)} "
                              "(not a UDiFF F&O bhavcopy?)")
    return index


def _parse_date(text: str) -> date | None:
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _single_value(values: list[str], line: np.ndarray, name: str, what: str,
                  file: str) -> str:
    first = values[0].strip()
    if not first:
        raise FileFormatError(file, int(line[0]), f"{name} is empty: no {what}")
    if len(set(values)) > 1:
        for i, value in enumerate(values):
            if value.strip() != first:
                raise FileFormatError(file, int(line[i]),
                                      f"{name} {value.strip()!r} differs from {first!r} on "
                                      f"line {line[0]}: one file holds one {what}")
    return first


def _single_date(values: list[str], line: np.ndarray, name: str, what: str,
                 file: str) -> date:
    text = _single_value(values, line, name, what, file)
    day = _parse_date(text)
    if day is None:
        raise FileFormatError(file, int(line[0]), f"{name} {text!r} is not a date (YYYY-MM-DD)")
    return day


def _numbers(cells: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Floats of text cells (NaN where empty), and where a cell is not a number."""
    try:
        out = np.array(cells, dtype=np.float64)
    except ValueError:
        # A column with an empty or bad cell comes here: cell by cell.
        out = np.array([_float(c) for c in cells], dtype=np.float64)
    bad = np.zeros(out.size, dtype=bool)
    for i in np.flatnonzero(~np.isfinite(out)).tolist():
        # NaN from an empty cell is "not given"; from any other text ("x", "nan", "inf")
        # it is not a number.
        bad[i] = bool(cells[i].strip()) and not math.isfinite(_float(cells[i]))
    return out, bad


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _float(text: str) -> float:
    """The number in a cell; NaN if it is empty or not a number."""
    try:
        return float(text) if text.strip() else math.nan
    except ValueError:
        return math.nan


def _dates(values: np.ndarray) -> np.ndarray:
    """datetime64[D] of YYYY-MM-DD cells, NaT where a cell is not such a date (parsed once
    per distinct value: a file has a few dozen expiries)."""
    distinct, inverse = np.unique(values, return_inverse=True)
    parsed = np.array([np.datetime64(d) if (d := _parse_date(str(v))) else np.datetime64("NaT")
                       for v in distinct], dtype="datetime64[D]")
    return parsed[inverse.reshape(-1)]


def _futures(cells: dict[str, list[str]]) -> dict[str, dict[date, float]]:
    """Settlement price (else close) of each future by symbol and expiry; a futures row
    without a usable expiry or price is left out of the map (futures only cross-check the
    fitted forward)."""
    out: dict[str, dict[date, float]] = {}
    for symbol, expiry_text, settlement_text, close_text in zip(
            cells["TckrSymb"], cells["XpryDt"], cells["SttlmPric"], cells["ClsPric"],
            strict=True):
        expiry = _parse_date(expiry_text.strip())
        settlement, close = _float(settlement_text), _float(close_text)
        price = settlement if settlement > 0 else close
        if expiry is None or not (price > 0 and math.isfinite(price)):
            continue
        out.setdefault(symbol.strip(), {}).setdefault(expiry, price)
    return out


def _says(values: np.ndarray | list[str], template: str) -> Callable[[int], str]:
    """A reject's reason about the cell of row ``i``."""
    return lambda i: template.format(str(values[i]).strip())


class _Options:
    """The option rows of a file as column arrays, their checks and the chains they make."""

    def __init__(self, cells: Callable[[str], list[str]], line: np.ndarray, trade_date: date,
                 exchange: str) -> None:
        def column(name: str) -> np.ndarray:
            return np.char.strip(np.asarray(cells(name), dtype=str))

        self.line = line
        self.n = int(line.size)
        self.rejected = np.zeros(self.n, dtype=bool)
        self._rejects: list[tuple[int, str, str]] = []

        self.symbol = column("TckrSymb")
        expiry_text = column("XpryDt")
        self.expiry = _dates(expiry_text)
        strike_text = cells("StrkPric")
        self.strike, bad_strike = _numbers(strike_text)
        right_text = column("OptnTp")
        self.right = np.where(right_text == "PE", PUT, CALL).astype(np.int8)
        text = {name: cells(name) for name in (*PRICE_COLUMNS, *COUNT_COLUMNS)}
        number: dict[str, np.ndarray] = {}
        bad: dict[str, np.ndarray] = {}
        for name, values in text.items():
            number[name], bad[name] = _numbers(values)

        self._check(self.symbol == "", "TckrSymb", lambda i: "no symbol")
        self._check(np.isnat(self.expiry), "XpryDt",
                    _says(expiry_text, "{!r} is not a date (YYYY-MM-DD)"))
        self._check(bad_strike | np.isnan(self.strike), "StrkPric",
                    _says(strike_text, "{!r} is not a number"))
        self._check(~np.isin(right_text, tuple(RIGHTS)), "OptnTp",
                    _says(right_text, "{!r} is not CE or PE"))
        for name in (*PRICE_COLUMNS, *COUNT_COLUMNS):
            self._check(bad[name], name, _says(text[name], "{!r} is not a number"))
        self._check(~(self.strike > 0), "StrkPric", _says(strike_text, "strike {} is not positive"))
        trade_day = np.datetime64(trade_date, "D")
        self._check(self.expiry < trade_day, "XpryDt",
                    _says(expiry_text, f"expiry {{}} is before the trade date {trade_date}"))
        lot = number["NewBrdLotQty"]
        self._check(~(lot > 0) | (lot != np.floor(lot)), "NewBrdLotQty",
                    _says(text["NewBrdLotQty"], "lot size {!r} is not a positive whole number"))
        for name in ("ClsPric", "LastPric", "PrvsClsgPric", "SttlmPric", "UndrlygPric",
                     "OpnIntrst", "TtlTradgVol"):
            self._check(number[name] < 0, name, _says(text[name], "{} is negative"))

        # The exchange writes 0.00 for a price it does not have.
        price = {name: np.where(number[name] > 0, number[name], np.nan)
                 for name in PRICE_COLUMNS}
        self._check(np.isnan(price["SttlmPric"]) & np.isnan(price["ClsPric"]), "SttlmPric",
                    lambda i: "no settlement price and no close price")
        self._check_duplicates()

        self.lot = lot
        self.close = price["ClsPric"]
        self.settlement = price["SttlmPric"]
        self.last = price["LastPric"]
        self.change = price["ClsPric"] - price["PrvsClsgPric"]
        self.underlying = price["UndrlygPric"]
        safe_lot = np.where(lot > 0, lot, np.nan)
        self.open_interest = number["OpnIntrst"] / safe_lot
        self.oi_change = number["ChngInOpnIntrst"] / safe_lot
        volume = number["TtlTradgVol"]
        self.volume = volume / safe_lot if exchange in VOLUME_IN_UNITS else volume

    def _check(self, failed: np.ndarray, column: str, reason: Callable[[int], str]) -> None:
        """Rejects rows where ``failed`` holds (each row once, for its first failed check);
        ``reason(i)`` words it."""
        new = np.flatnonzero(failed & ~self.rejected)
        if new.size == 0:
            return
        self.rejected[new] = True
        for i in new:
            self._rejects.append((int(i), column, reason(int(i))))

    def _check_duplicates(self) -> None:
        live = np.flatnonzero(~self.rejected)
        if live.size < 2:
            return
        # Sort by contract, then line: a repeat follows its first occurrence.
        order = live[np.lexsort((self.line[live], self.right[live], self.strike[live],
                                 self.expiry[live], self.symbol[live]))]
        same = ((self.symbol[order[1:]] == self.symbol[order[:-1]])
                & (self.expiry[order[1:]] == self.expiry[order[:-1]])
                & (self.strike[order[1:]] == self.strike[order[:-1]])
                & (self.right[order[1:]] == self.right[order[:-1]]))
        if not same.any():
            return
        # The first occurrence of each run of equal contracts.
        starts = np.where(np.concatenate(([True], ~same)), np.arange(order.size), 0)
        first = order[np.maximum.accumulate(starts)]
        failed = np.zeros(self.n, dtype=bool)
        failed[order[1:][same]] = True
        first_of = dict(zip(order.tolist(), first.tolist(), strict=True))
        self._check(failed, "StrkPric",
                    lambda i: f"duplicate of line {self.line[first_of[i]]} (same symbol, "
                              "expiry, strike and option type)")

    def rejects(self, file: str) -> list[Reject]:
        return [Reject(file, int(self.line[i]), column, reason)
                for i, column, reason in sorted(self._rejects)]

    def chains(self, keep: np.ndarray, futures: dict[str, dict[date, float]],
               trade_date: date, exchange: str, file: str, source: str) -> list[ImportedChain]:
        timestamp = datetime.combine(trade_date, SESSION_CLOSE,
                                     EXCHANGE_TIMEZONE).astimezone(UTC)
        kept = np.flatnonzero(keep)
        symbols, group = np.unique(self.symbol[kept], return_inverse=True)
        group = group.reshape(-1)
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(symbols.size + 1))
        chains: list[ImportedChain] = []
        for g, symbol in enumerate(symbols.tolist()):
            idx = kept[order[bounds[g]:bounds[g + 1]]]
            n = int(idx.size)
            lots, counts = np.unique(self.lot[idx], return_counts=True)
            underlying = self.underlying[idx]
            finite = underlying[np.isfinite(underlying)]
            own_futures = futures.get(symbol, {})
            chains.append(ImportedChain(
                source=source, product=symbol, exchange=exchange, currency=CURRENCY,
                timestamp=timestamp, session_date=trade_date,
                underlying_price=float(finite[0]) if finite.size else float("nan"),
                expiry=self.expiry[idx], strike=self.strike[idx], right=self.right[idx],
                bid=_nan(n), ask=_nan(n), bid_size=_nan(n), ask_size=_nan(n),
                last=self.last[idx], close=self.close[idx], settlement=self.settlement[idx],
                change=self.change[idx], volume=self.volume[idx],
                open_interest=self.open_interest[idx], oi_change=self.oi_change[idx],
                vendor_iv=_nan(n), vendor_delta=_nan(n), vendor_gamma=_nan(n),
                vendor_theta=_nan(n), vendor_vega=_nan(n), vendor_rho=_nan(n),
                rows=self.line[idx], file=file, futures=dict(sorted(own_futures.items())),
                lot_size=int(lots[np.argmax(counts)]),
                exercise_style=ExerciseStyle.EUROPEAN.value))
        return chains
