"""Reads of the stored history. Every read is bounded by a row limit (at most
:data:`MAX_LIMIT`) and returns rows oldest first.

Every read is of one source (keyword ``source``, default ``simulator``: the simulated
market): an imported or recorded source is a history of its own, never mixed with another's
rows of the same product and time. :func:`sources` lists what each source holds.

Time ranges are inclusive at both ends (``start <= t <= end``); None leaves that end open.
When a range holds more rows than ``limit``, ``newest=True`` (the default) returns the newest
``limit`` of them and ``newest=False`` the oldest. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

from ..analytics.candles import Candle
from ..core.snapshot import SIMULATOR_SOURCE, ChainSnapshot
from ..core.snapshot_codec import decode_snapshot
from .rows import epoch_us, from_epoch_us
from .schema import (
    chain_archive,
    chain_summaries,
    market_state,
    session_close,
    underlying_ticks,
)

MAX_LIMIT = 100_000
# Archived chains fetched per query by archived_snapshots (each a few hundred KB decoded).
ARCHIVE_PAGE = 16
# Bucketed reads over at most this many buckets seek each bucket's last row.
MAX_BUCKET_SEEKS = 10_000


@dataclass(frozen=True)
class Tick:
    """One tick of the underlying: price in the product's currency, volume traded since
    the previous tick."""

    product: str
    sequence: int
    timestamp: datetime
    price: float
    volume: float
    source: str = SIMULATOR_SOURCE


@dataclass(frozen=True)
class Summary:
    """One expiry's chain statistics at one tick (see :mod:`deltastream.store.schema`)."""

    product: str
    expiry: date
    expiry_rank: int
    sequence: int
    timestamp: datetime
    spot: float
    pcr_oi: float | None
    pcr_volume: float | None
    max_pain_strike: float | None
    atm_strike: float
    atm_iv: float | None
    atm_straddle: float | None
    call_oi: float
    put_oi: float
    call_volume: float
    put_volume: float
    source: str = SIMULATOR_SOURCE


@dataclass(frozen=True)
class SessionClose:
    """A contract's open interest (contracts) and last premium at a session's close."""

    expiry: date
    strike: float
    right: str          # "C" | "P"
    close_oi: float
    close_last: float | None


class SavedState(NamedTuple):
    """The market's last checkpoint of a product."""

    sequence: int
    timestamp: datetime
    payload: bytes


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: {limit} is out of range (accepted: 1-{MAX_LIMIT})")
    return limit


def in_range(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    out = []
    if start is not None:
        out.append(column >= epoch_us(start))
    if end is not None:
        out.append(column <= epoch_us(end))
    return out


def _oldest_first(rows: Sequence[Any], newest: bool) -> list[Any]:
    return list(rows[::-1] if newest else rows)


def _tick(row: Any) -> Tick:
    return Tick(product=row.product, sequence=int(row.sequence),
                timestamp=from_epoch_us(row.ts), price=float(row.price),
                volume=float(row.volume), source=row.source)


def _of(table: sa.FromClause, source: str, product: str) -> list[Any]:
    # The leading columns of every history table's primary key.
    return [table.c.source == source, table.c.product == product]


def ticks(db_engine: sa.Engine, product: str, start: datetime | None = None,
          end: datetime | None = None, limit: int = 1000, newest: bool = True, *,
          source: str = SIMULATOR_SOURCE) -> list[Tick]:
    """The underlying's ticks of ``product`` in the range, oldest first."""
    t = underlying_ticks
    order = t.c.ts.desc() if newest else t.c.ts.asc()
    stmt = (sa.select(t).where(*_of(t, source, product), *in_range(t.c.ts, start, end))
            .order_by(order).limit(_check_limit(limit)))
    with db_engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [_tick(r) for r in _oldest_first(rows, newest)]


class TickColumns(NamedTuple):
    """Ticks as parallel lists, oldest first: sequence, microseconds since the epoch, price,
    volume (cheaper than :class:`Tick` objects for serving many)."""

    sequence: list[int]
    ts: list[int]
    price: list[float]
    volume: list[float]


def tick_columns(db_engine: sa.Engine, product: str, start: datetime | None = None,
                 end: datetime | None = None, limit: int = 1000,
                 newest: bool = True, *, source: str = SIMULATOR_SOURCE) -> TickColumns:
    """What :func:`ticks` returns, as columns."""
    t = underlying_ticks
    order = t.c.ts.desc() if newest else t.c.ts.asc()
    stmt = (sa.select(t.c.sequence, t.c.ts, t.c.price, t.c.volume)
            .where(*_of(t, source, product), *in_range(t.c.ts, start, end))
            .order_by(order).limit(_check_limit(limit)))
    with db_engine.connect() as conn:
        rows = _oldest_first(conn.execute(stmt).all(), newest)
    if not rows:
        return TickColumns([], [], [], [])
    seq, ts, price, volume = (list(c) for c in zip(*rows, strict=True))
    return TickColumns(seq, ts, price, volume)


def last_tick(db_engine: sa.Engine, product: str, *,
              source: str = SIMULATOR_SOURCE) -> Tick | None:
    """The newest stored tick of ``product``."""
    found = ticks(db_engine, product, limit=1, source=source)
    return found[0] if found else None


def candles(db_engine: sa.Engine, product: str, width_seconds: int,
            start: datetime | None = None, end: datetime | None = None,
            limit: int = 1000, *, source: str = SIMULATOR_SOURCE) -> list[Candle]:
    """OHLC candles of ``product``'s stored ticks in the range, ``width_seconds`` wide and
    starting on multiples of the width since the epoch; windows without ticks are left out.
    The newest ``limit`` candles, oldest first. Aggregated in SQL; open and close are the
    prices of each window's first and last tick."""
    if width_seconds < 1:
        raise ValueError("width_seconds must be >= 1")
    t = underlying_ticks
    width = int(width_seconds) * 1_000_000
    bucket = (t.c.ts // sa.literal(width, sa.BigInteger)).label("bucket")
    agg = (sa.select(bucket, sa.func.min(t.c.ts).label("first_ts"),
                     sa.func.max(t.c.ts).label("last_ts"), sa.func.max(t.c.price).label("high"),
                     sa.func.min(t.c.price).label("low"), sa.func.sum(t.c.volume).label("volume"),
                     sa.func.count().label("ticks"))
           .where(*_of(t, source, product), *in_range(t.c.ts, start, end))
           .group_by(bucket).order_by(bucket.desc()).limit(_check_limit(limit))
           .subquery("candles"))
    first, last = t.alias("first_tick"), t.alias("last_tick")
    stmt = (sa.select(agg.c.bucket, agg.c.high, agg.c.low, agg.c.volume, agg.c.ticks,
                      first.c.price.label("open"), last.c.price.label("close"))
            .join(first, sa.and_(*_of(first, source, product), first.c.ts == agg.c.first_ts))
            .join(last, sa.and_(*_of(last, source, product), last.c.ts == agg.c.last_ts))
            .order_by(agg.c.bucket))
    with db_engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [Candle(start=float(int(r.bucket) * int(width_seconds)), open=float(r.open),
                   high=float(r.high), low=float(r.low), close=float(r.close),
                   volume=float(r.volume), ticks=int(r.ticks)) for r in rows]


def _summary(row: Any) -> Summary:
    values = row._asdict()
    values["timestamp"] = from_epoch_us(values.pop("ts"))
    return Summary(**values)


def _bucketed(db_engine: sa.Engine, conditions: list[Any], start: datetime | None,
              end: datetime | None, interval_seconds: float | None, limit: int,
              newest: bool) -> list[Any]:
    """Summary rows matching ``conditions`` in the range; with an interval, only the last
    row of each interval-long bucket (buckets start at multiples of the interval since the
    epoch). Bucketing happens in SQL (integer division of the microsecond time)."""
    s = chain_summaries
    where = [*conditions, *in_range(s.c.ts, start, end)]
    _check_limit(limit)
    if (interval_seconds is not None and interval_seconds > 0 and start is not None
            and end is not None):
        width = max(1, round(interval_seconds * 1_000_000))
        lo, hi = epoch_us(start), epoch_us(end)
        if lo <= hi and (hi - lo) // width < MAX_BUCKET_SEEKS:
            return _bucketed_by_seeks(db_engine, conditions, lo, hi, width, limit, newest)
    if interval_seconds is None or interval_seconds <= 0:
        order = s.c.ts.desc() if newest else s.c.ts.asc()
        stmt = sa.select(s).where(*where).order_by(order).limit(limit)
    else:
        width = max(1, round(interval_seconds * 1_000_000))
        last = sa.func.max(s.c.ts)
        buckets = (sa.select(last).where(*where)
                   .group_by(s.c.ts // sa.literal(width, sa.BigInteger))
                   .order_by(last.desc() if newest else last.asc()).limit(limit))
        # IN (not a join): each bucket's row is then one index seek.
        stmt = (sa.select(s).where(*conditions, s.c.ts.in_(buckets))
                .order_by(s.c.ts.desc() if newest else s.c.ts.asc()))
    with db_engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return _oldest_first(rows, newest)


def _bucketed_by_seeks(db_engine: sa.Engine, conditions: list[Any], lo: int, hi: int,
                       width: int, limit: int, newest: bool) -> list[Any]:
    """:func:`_bucketed` for a bounded range: one index seek for the last row of each bucket
    (a recursive list of bucket ends) instead of aggregating every row of the range."""
    s = chain_summaries
    ends = sa.select(sa.literal((hi // width) * width + width, sa.BigInteger).label("hi")
                     ).cte("bucket_ends", recursive=True)
    ends = ends.union_all(sa.select((ends.c.hi - width).label("hi"))
                          .where(ends.c.hi - width > lo))
    last = (sa.select(sa.func.max(s.c.ts))
            .where(*conditions, s.c.ts >= ends.c.hi - width, s.c.ts < ends.c.hi,
                   s.c.ts >= lo, s.c.ts <= hi)
            .scalar_subquery())
    with db_engine.connect() as conn:
        marks = sorted(ts for ts in conn.execute(sa.select(last).select_from(ends)).scalars()
                       if ts is not None)
        chosen = marks[-limit:] if newest else marks[:limit]
        if not chosen:
            return []
        rows = conn.execute(sa.select(s).where(*conditions, s.c.ts.in_(chosen))
                            .order_by(s.c.ts.asc())).all()
    return list(rows)


def _expiry_conditions(product: str, expiry: date | None, source: str) -> list[Any]:
    s = chain_summaries
    # A literal 0 (not a bound parameter), so the planner can use the partial index.
    return [*_of(s, source, product),
            s.c.expiry_rank == sa.literal_column("0") if expiry is None
            else s.c.expiry == expiry]


def summaries(db_engine: sa.Engine, product: str, expiry: date | None = None,
              start: datetime | None = None, end: datetime | None = None,
              interval_seconds: float | None = None, limit: int = 1000,
              newest: bool = True, *, source: str = SIMULATOR_SOURCE) -> list[Summary]:
    """Chain summaries of ``product`` for ``expiry`` (None: the nearest listed expiry at each
    tick, rank 0), oldest first; with ``interval_seconds``, the last of each interval."""
    rows = _bucketed(db_engine, _expiry_conditions(product, expiry, source), start, end,
                     interval_seconds, limit, newest)
    return [_summary(r) for r in rows]


def atm_iv_series(db_engine: sa.Engine, product: str, start: datetime | None = None,
                  end: datetime | None = None, limit: int = 1000,
                  interval_seconds: float | None = None, newest: bool = True, *,
                  source: str = SIMULATOR_SOURCE) -> list[tuple[datetime, float]]:
    """(time, ATM IV as a decimal) of the nearest expiry, where the IV solved, oldest first;
    with ``interval_seconds``, the last solved value of each interval (e.g. 86400: daily)."""
    s = chain_summaries
    conditions = [*_expiry_conditions(product, None, source), s.c.atm_iv.is_not(None)]
    rows = _bucketed(db_engine, conditions, start, end, interval_seconds, limit, newest)
    return [(from_epoch_us(r.ts), float(r.atm_iv)) for r in rows]


def _archive_times_around(conn: sa.Connection, product: str, target: int,
                          source: str) -> list[int]:
    # The archive times (epoch microseconds) nearest before-or-at and after ``target``.
    a = chain_archive
    before = (sa.select(a.c.ts).where(*_of(a, source, product), a.c.ts <= target)
              .order_by(a.c.ts.desc()).limit(1))
    after = (sa.select(a.c.ts).where(*_of(a, source, product), a.c.ts > target)
             .order_by(a.c.ts.asc()).limit(1))
    return [ts for ts in (conn.scalar(before), conn.scalar(after)) if ts is not None]


def archive_times_around(db_engine: sa.Engine, product: str, at: datetime, *,
                         source: str = SIMULATOR_SOURCE) -> list[datetime]:
    """The instants of the archived chains of ``product`` nearest ``at``: the last at or
    before it and the first after it (either may be missing)."""
    with db_engine.connect() as conn:
        return [from_epoch_us(ts)
                for ts in _archive_times_around(conn, product, epoch_us(at), source)]


def archived_snapshot_nearest(db_engine: sa.Engine, product: str, at: datetime,
                              max_distance: timedelta | None = None, *,
                              source: str = SIMULATOR_SOURCE) -> ChainSnapshot | None:
    """The archived full chain of ``product`` nearest in time to ``at`` (the earlier one on
    a tie), or None when there is none (within ``max_distance``, if given)."""
    a = chain_archive
    target = epoch_us(at)
    with db_engine.connect() as conn:
        candidates = _archive_times_around(conn, product, target, source)
        if not candidates:
            return None
        best = min(candidates, key=lambda ts: (abs(ts - target), ts))
        if max_distance is not None and abs(best - target) > max_distance / timedelta(
                microseconds=1):
            return None
        payload = conn.scalar(sa.select(a.c.payload).where(*_of(a, source, product),
                                                           a.c.ts == best))
    return decode_snapshot(payload) if payload is not None else None


def latest_archived(db_engine: sa.Engine, product: str, source: str,
                    at_or_before: datetime | None = None) -> ChainSnapshot | None:
    """The newest archived full chain of ``product`` from ``source`` (at or before
    ``at_or_before``, if given), or None when there is none. One primary-key seek."""
    a = chain_archive
    stmt = sa.select(a.c.payload).where(*_of(a, source, product))
    if at_or_before is not None:
        stmt = stmt.where(a.c.ts <= epoch_us(at_or_before))
    with db_engine.connect() as conn:
        payload = conn.scalar(stmt.order_by(a.c.ts.desc()).limit(1))
    return decode_snapshot(payload) if payload is not None else None


def archive_range(db_engine: sa.Engine, product: str, source: str
                  ) -> tuple[datetime, datetime] | None:
    """The times of the first and the last archived chain of ``product`` from ``source``,
    or None when it has none."""
    a = chain_archive
    # Two scalar subqueries: each is one seek at an end of the key range (min and max in
    # one select would read the whole range on SQLite).
    first = sa.select(sa.func.min(a.c.ts)).where(*_of(a, source, product)).scalar_subquery()
    last = sa.select(sa.func.max(a.c.ts)).where(*_of(a, source, product)).scalar_subquery()
    with db_engine.connect() as conn:
        row = conn.execute(sa.select(first, last)).one()
    if row[0] is None:
        return None
    return from_epoch_us(row[0]), from_epoch_us(row[1])


@dataclass(frozen=True)
class SourceProduct:
    """A product's archived chains in one source: the first and last times (UTC) and how
    many there are."""

    product: str
    first: datetime
    last: datetime
    snapshots: int


@dataclass(frozen=True)
class SourceInfo:
    """A source of stored history and its products (sorted by name)."""

    name: str
    products: list[SourceProduct]


def sources(db_engine: sa.Engine) -> list[SourceInfo]:
    """Every source with archived chains, sorted by name, with each product's range and
    count. One grouped scan of the archive's primary-key index, in key order (no sort, the
    payloads never read): measured ~9 ms over 62,000 archived chains (a year of 240
    products' daily chains) on SQLite and on PostgreSQL."""
    a = chain_archive
    stmt = (sa.select(a.c.source, a.c.product, sa.func.min(a.c.ts), sa.func.max(a.c.ts),
                      sa.func.count())
            .group_by(a.c.source, a.c.product).order_by(a.c.source, a.c.product))
    with db_engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out: list[SourceInfo] = []
    for source, product, first, last, n in rows:
        if not out or out[-1].name != source:
            out.append(SourceInfo(name=source, products=[]))
        out[-1].products.append(SourceProduct(product=product, first=from_epoch_us(first),
                                              last=from_epoch_us(last), snapshots=int(n)))
    return out


def archived_snapshots(db_engine: sa.Engine, source: str, start: datetime | None = None,
                       end: datetime | None = None, products: Sequence[str] | None = None
                       ) -> Iterator[ChainSnapshot]:
    """The archived full chains of ``source`` in the (inclusive) range, oldest first (by
    time, then product), of ``products`` only if given.

    Read :data:`ARCHIVE_PAGE` chains per query, each query its own short read: a slow
    consumer (a replay at market speed) holds no transaction open between pages, so it never
    keeps a writer waiting."""
    a = chain_archive
    where = [a.c.source == source, *in_range(a.c.ts, start, end)]
    if products is not None:
        chosen = sorted(set(products))
        if not chosen:
            return
        where.append(a.c.product.in_(chosen))
    after: tuple[int, str] | None = None
    while True:
        stmt = sa.select(a.c.ts, a.c.product, a.c.payload).where(*where)
        if after is not None:
            # Keyset: past the last (time, product) read; ts >= first for the index.
            stmt = stmt.where(a.c.ts >= after[0],
                              sa.or_(a.c.ts > after[0], a.c.product > after[1]))
        with db_engine.connect() as conn:
            page = conn.execute(stmt.order_by(a.c.ts, a.c.product).limit(ARCHIVE_PAGE)).all()
        for row in page:
            yield decode_snapshot(row.payload)
        if len(page) < ARCHIVE_PAGE:
            return
        after = (int(page[-1].ts), str(page[-1].product))


def session_closes(db_engine: sa.Engine, product: str, session_date: date,
                   limit: int = MAX_LIMIT, *,
                   source: str = SIMULATOR_SOURCE) -> list[SessionClose]:
    """Every contract's close of ``product`` on ``session_date``, by expiry, strike and
    right (C before P)."""
    c = session_close
    stmt = (sa.select(c.c.expiry, c.c.strike, c.c.right, c.c.close_oi, c.c.close_last)
            .where(*_of(c, source, product), c.c.session_date == session_date)
            .order_by(c.c.expiry, c.c.strike, c.c.right).limit(_check_limit(limit)))
    with db_engine.connect() as conn:
        return [SessionClose(expiry=r.expiry, strike=float(r.strike), right=r.right,
                             close_oi=float(r.close_oi),
                             close_last=None if r.close_last is None else float(r.close_last))
                for r in conn.execute(stmt)]


def last_session_date(db_engine: sa.Engine, product: str, before: date | None = None, *,
                      source: str = SIMULATOR_SOURCE) -> date | None:
    """The newest session of ``product`` with stored closes (strictly before ``before``,
    if given)."""
    c = session_close
    stmt = sa.select(sa.func.max(c.c.session_date)).where(*_of(c, source, product))
    if before is not None:
        stmt = stmt.where(c.c.session_date < before)
    with db_engine.connect() as conn:
        return conn.scalar(stmt)


def load_states(db_engine: sa.Engine, limit: int = 1000) -> dict[str, SavedState]:
    """The simulated market's saved checkpoint per product: ``{product: (sequence, time,
    payload)}`` (checkpoints have no source)."""
    m = market_state
    stmt = sa.select(m).order_by(m.c.product).limit(_check_limit(limit))
    with db_engine.connect() as conn:
        return {r.product: SavedState(int(r.sequence), from_epoch_us(r.ts), bytes(r.payload))
                for r in conn.execute(stmt)}


def count_rows(db_engine: sa.Engine, kind: str, product: str, start: datetime | None = None,
               end: datetime | None = None, *, source: str = SIMULATOR_SOURCE) -> int:
    """How many rows an export of ``kind`` (ticks | summaries | chains) of ``product`` in the
    range writes; for chains an estimate: archives in the range times the contracts of the
    newest of them."""
    table = {"ticks": underlying_ticks, "summaries": chain_summaries,
             "chains": chain_archive}.get(kind)
    if table is None:
        raise ValueError(f"kind: {kind!r} is not one of ticks, summaries, chains")
    where = [*_of(table, source, product), *in_range(table.c.ts, start, end)]
    with db_engine.connect() as conn:
        n = int(conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where)) or 0)
        if kind != "chains" or n == 0:
            return n
        payload = conn.scalar(sa.select(table.c.payload).where(*where)
                              .order_by(table.c.ts.desc()).limit(1))
    if payload is None:     # pruned meanwhile
        return n
    return n * 2 * int(decode_snapshot(payload).strikes.size)
