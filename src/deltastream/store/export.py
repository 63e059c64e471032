"""Export stored history to CSV or Parquet, streamed in chunks (memory bounded by the chunk,
not by the range).

Kinds: ``ticks`` (the underlying), ``summaries`` (per tick and expiry) and ``chains`` (the
archived full chains, one row per contract and archive time), of one source (``simulator``,
the simulated market, unless another is named). Times are UTC: ISO-8601 with a
trailing ``Z`` in CSV, ``timestamp[us, UTC]`` in Parquet; prices in the product's currency,
IV as a decimal, theta per calendar day, vega and rho per percentage point. Undefined
numbers are empty (CSV) or null (Parquet). The file appears under ``path`` only once complete.
CSV is written with the standard library; pyarrow (the ``parquet`` extra) is imported only
when Parquet is written.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from ..core.snapshot import SIMULATOR_SOURCE, ChainSnapshot
from ..core.snapshot_codec import decode_snapshot
from ..core.types import HistoryKind, labels
from .history import in_range
from .rows import from_epoch_us
from .schema import chain_archive, chain_summaries, underlying_ticks

if TYPE_CHECKING:
    import pyarrow as pa

KINDS = tuple(HistoryKind)
FORMATS = ("csv", "parquet")
CHUNK_ROWS = 10_000

Columns = dict[str, Any]   # column name -> list or 1-D array, all of one length

# The columns of each kind and their types: str, i16, i64, f64, date (a day), ts (UTC
# microseconds). Parquet stores them with these types; CSV writes them as text.
_F = "f64"
_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "ticks": (("product", "str"), ("sequence", "i64"), ("timestamp", "ts"), ("price", _F),
              ("volume", _F)),
    "summaries": (
        ("product", "str"), ("expiry", "date"), ("expiry_rank", "i16"), ("sequence", "i64"),
        ("timestamp", "ts"), ("spot", _F), ("pcr_oi", _F), ("pcr_volume", _F),
        ("max_pain_strike", _F), ("atm_strike", _F), ("atm_iv", _F), ("atm_straddle", _F),
        ("call_oi", _F), ("put_oi", _F), ("call_volume", _F), ("put_volume", _F)),
    "chains": (
        ("product", "str"), ("sequence", "i64"), ("timestamp", "ts"), ("expiry", "date"),
        ("time_to_expiry", _F), ("spot", _F), ("forward", _F), ("strike", _F),
        ("right", "str"), ("last", _F), ("bid", _F), ("ask", _F), ("mid", _F),
        ("change", _F), ("iv", _F), ("iv_status", "str"), ("delta", _F), ("gamma", _F),
        ("theta", _F), ("vega", _F), ("rho", _F), ("open_interest", _F), ("volume", _F),
        ("oi_change", _F)),
}
_NAMES = {kind: [name for name, _ in columns] for kind, columns in _COLUMNS.items()}
_SIDE_COLUMNS = ("last", "bid", "ask", "mid", "change", "iv", "delta", "gamma", "theta",
                 "vega", "rho", "open_interest", "volume", "oi_change")


def _rows_to_columns(kind: str, rows: Sequence[Any]) -> Columns:
    names = _NAMES[kind]
    cols: Columns = {name: [] for name in names}
    for row in rows:
        values = row._asdict()
        values["timestamp"] = values.pop("ts")
        for name in names:
            cols[name].append(values[name])
    return cols


def _table_chunks(db_engine: sa.Engine, kind: str, source: str, product: str,
                  start: datetime | None, end: datetime | None,
                  chunk_rows: int) -> Iterator[Columns]:
    table = underlying_ticks if kind == HistoryKind.TICKS else chain_summaries
    order = [table.c.ts] if kind == HistoryKind.TICKS else [table.c.ts, table.c.expiry]
    stmt = (sa.select(table).where(table.c.source == source, table.c.product == product,
                                   *in_range(table.c.ts, start, end)).order_by(*order))
    with db_engine.connect() as conn:
        result = conn.execution_options(yield_per=chunk_rows).execute(stmt)
        for part in result.partitions():
            yield _rows_to_columns(kind, part)


def _snapshot_columns(snap: ChainSnapshot, ts: int) -> Columns:
    """One row per contract of ``snap``: calls then puts of each expiry, ascending strikes."""
    parts: list[Columns] = []
    for chain in snap.chains:
        n = chain.strikes.size
        for right, side in (("C", chain.calls), ("P", chain.puts)):
            cols: Columns = {
                "product": [snap.product] * n, "sequence": [int(snap.sequence)] * n,
                "timestamp": [ts] * n, "expiry": [chain.expiry] * n,
                "time_to_expiry": np.full(n, chain.time_to_expiry), "spot": np.full(n, snap.spot),
                "forward": np.full(n, chain.forward), "strike": chain.strikes,
                "right": [right] * n, "iv_status": labels(side.iv_status).tolist()}
            for name in _SIDE_COLUMNS:
                cols[name] = np.asarray(getattr(side, name), dtype=np.float64)
            parts.append(cols)
    return _concat(parts)


def _concat(parts: list[Columns]) -> Columns:
    out: Columns = {}
    for name in _NAMES["chains"]:
        values = [p[name] for p in parts]
        if values and isinstance(values[0], np.ndarray):
            out[name] = np.concatenate(values)
        else:
            out[name] = [v for chunk in values for v in chunk]
    return out


def _length(cols: Columns) -> int:
    return len(next(iter(cols.values()))) if cols else 0


def _chain_chunks(db_engine: sa.Engine, source: str, product: str, start: datetime | None,
                  end: datetime | None, chunk_rows: int) -> Iterator[Columns]:
    a = chain_archive
    stmt = (sa.select(a.c.ts, a.c.payload)
            .where(a.c.source == source, a.c.product == product,
                   *in_range(a.c.ts, start, end)).order_by(a.c.ts))
    pending: list[Columns] = []
    size = 0
    with db_engine.connect() as conn:
        # One archived chain (hundreds of KB decoded) at a time.
        for row in conn.execution_options(yield_per=1).execute(stmt):
            cols = _snapshot_columns(decode_snapshot(row.payload), int(row.ts))
            pending.append(cols)
            size += _length(cols)
            if size >= chunk_rows:
                yield _concat(pending)
                pending, size = [], 0
    if pending:
        yield _concat(pending)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _iso_z(us: int) -> str:
    return from_epoch_us(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _CsvSink:
    def __init__(self, path: Path, names: list[str]) -> None:
        self.names = names
        self.file = path.open("w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file)
        self.writer.writerow(names)

    def write(self, cols: Columns) -> None:
        lists = [cols[n].tolist() if isinstance(cols[n], np.ndarray) else cols[n]
                 for n in self.names]
        ts = self.names.index("timestamp")
        lists[ts] = [_iso_z(v) for v in lists[ts]]
        self.writer.writerows([[_csv_value(v) for v in row] for row in zip(*lists, strict=True)])

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()


def _arrow() -> Any:
    """pyarrow, which only Parquet export needs (the ``parquet`` extra)."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError("Parquet export needs pyarrow: pip install "
                                  "'deltastream[parquet]'", name=exc.name) from None
    return pyarrow


def check_format(fmt: str) -> None:
    """Raise before any work if ``fmt`` cannot be written here: ValueError for an unknown
    format, ModuleNotFoundError naming the extra for Parquet without pyarrow."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt: {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        _arrow()


def _arrow_schema(kind: str) -> pa.Schema:
    arrow = _arrow()
    types = {"str": arrow.string(), "i16": arrow.int16(), "i64": arrow.int64(),
             "f64": arrow.float64(), "date": arrow.date32(),
             "ts": arrow.timestamp("us", tz="UTC")}
    return arrow.schema([(name, types[tag]) for name, tag in _COLUMNS[kind]])


class _ParquetSink:
    def __init__(self, path: Path, kind: str) -> None:
        self.arrow = _arrow()
        self.schema = _arrow_schema(kind)
        self.writer = self.arrow.parquet.ParquetWriter(str(path), self.schema)
        self.closed = False

    def write(self, cols: Columns) -> None:
        # NaN (undefined) is stored as null, like NULL in the database.
        arrow = self.arrow
        arrays = [arrow.array(cols[f.name], type=f.type,
                              from_pandas=arrow.types.is_floating(f.type))
                  for f in self.schema]
        self.writer.write_batch(arrow.record_batch(arrays, schema=self.schema))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()


def stored_products(db_engine: sa.Engine, *, source: str = SIMULATOR_SOURCE) -> list[str]:
    """The products that have any stored history (ticks, summaries or archived chains) from
    ``source``, sorted."""
    stmt = sa.union(*(sa.select(t.c.product).where(t.c.source == source).distinct()
                      for t in (underlying_ticks, chain_summaries, chain_archive)))
    with db_engine.connect() as conn:
        return sorted(str(p) for p in conn.scalars(stmt))


def export_rows(db_engine: sa.Engine, kind: str, product: str, start: datetime | None,
                end: datetime | None, path: Path, fmt: str = "csv",
                progress: Callable[[int], None] | None = None,
                chunk_rows: int = CHUNK_ROWS, *, source: str = SIMULATOR_SOURCE) -> int:
    """Write the ``kind`` rows of ``product`` from ``source`` in the (inclusive) range to
    ``path`` as ``fmt`` (``csv`` | ``parquet``), oldest first, ``chunk_rows`` rows at a
    time; ``progress`` gets the running row count after each chunk. Returns the number of
    rows written."""
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    check_format(fmt)
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    sink: _CsvSink | _ParquetSink = (_CsvSink(partial, _NAMES[kind]) if fmt == "csv"
                                     else _ParquetSink(partial, kind))
    chunks = (_chain_chunks(db_engine, source, product, start, end, chunk_rows)
              if kind == HistoryKind.CHAINS
              else _table_chunks(db_engine, kind, source, product, start, end, chunk_rows))
    total = 0
    try:
        for cols in chunks:
            n = _length(cols)
            if n == 0:
                continue
            sink.write(cols)
            total += n
            if progress is not None:
                progress(total)
        sink.close()
        os.replace(partial, path)
    except BaseException:
        sink.close()
        partial.unlink(missing_ok=True)
        raise
    return total
