"""Replay: an engine's market made of the snapshots a source stored or imported.

:class:`ReplayProvider` is a :class:`~deltastream.core.protocols.MarketProvider` (and a
:class:`~deltastream.engine.runner.Scheduled` one): at market time ``now`` it hands out the
stored snapshots of its source that are due (timestamp <= now) and not handed out yet, each
exactly once and in order of time, renumbered with the engine's sequence and keeping their
own market time. Snapshots of one timestamp (every product of a bhavcopy) make one tick;
several due timestamps are handed out one per call, oldest first, so the engine publishes
each as its own tick.

The replay starts with the market as it stood at ``start``: the newest snapshot of each
product at or before it. When the range is exhausted the market stands still (the engine
keeps serving the last snapshots) and the log says so once.

Memory is bounded: the archive is read as the replay needs it, a page of a few chains at a
time (:func:`deltastream.store.history.archived_snapshots`, which holds no transaction open
between pages), never the whole range at once. Times are timezone-aware UTC.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..core.snapshot import ChainSnapshot
from ..core.times import format_utc
from ..store import history

log = logging.getLogger(__name__)


class ReplayError(ValueError):
    """A replay that cannot run: its source is not stored or its range holds nothing. The
    message is one line naming what was asked and what the store has."""


@dataclass(frozen=True)
class ReplayRange:
    """What a replay of ``source`` covers: its products (those with snapshots in the range,
    in the store's order) and the market times it runs from and to (inclusive)."""

    source: str
    products: list[str]
    start: datetime
    end: datetime


def _iso(t: datetime) -> str:
    return format_utc(t)


def replay_range(db: sa.Engine, source: str, start: datetime | None = None,
                 end: datetime | None = None) -> ReplayRange:
    """The range a replay of ``source`` between ``start`` and ``end`` (None: the source's
    first and last snapshots) covers. Raises :class:`ReplayError` when the source is not
    stored (listing those that are) or has no snapshot in the range (saying what it has)."""
    known = {info.name: info for info in history.sources(db)}
    info = known.get(source)
    if info is None or not info.products:
        stored = ", ".join(sorted(known)) or "none (deltastream import stores some)"
        raise ReplayError(f"--replay: no stored snapshots of source {source!r}; stored "
                          f"sources: {stored}")
    first = min(p.first for p in info.products)
    last = max(p.last for p in info.products)
    if start is not None and end is not None and start > end:
        raise ReplayError(f"--from {_iso(start)} is after --to {_iso(end)}")
    begin = first if start is None else start
    finish = last if end is None else end
    products = [p.product for p in info.products if p.first <= finish and p.last >= begin]
    if not products:
        asked = (f"from {_iso(begin)} to {_iso(finish)}" if start is not None and end is not None
                 else f"from {_iso(begin)} on" if start is not None else f"up to {_iso(finish)}")
        raise ReplayError(f"--from/--to: source {source!r} has no snapshot {asked} (it has "
                          f"{_iso(first)} to {_iso(last)})")
    return ReplayRange(source, products, begin, finish)


class ReplayProvider:
    """The stored snapshots of ``source`` from ``start`` to ``end`` (None: the source's first
    and last), as a market provider (see the module's description). Raises
    :class:`ReplayError` as :func:`replay_range` does."""

    def __init__(self, db: sa.Engine, source: str, start: datetime | None = None,
                 end: datetime | None = None) -> None:
        self.db = db
        self.range = replay_range(db, source, start, end)
        self.source = source
        self.symbols = list(self.range.products)
        # The market as it stood at the start, then the range, read as it is needed: the
        # store reads the archive a page at a time, holding nothing open between pages.
        self._snaps: Iterator[ChainSnapshot] = itertools.chain(
            self._opening(), history.archived_snapshots(
                db, source, start=self.range.start, end=self.range.end,
                products=self.symbols))
        self._next: ChainSnapshot | None = None     # read, not handed out yet
        self._read_all = False
        self._said_end = False
        self.published = 0              # snapshots handed out

    @property
    def start(self) -> datetime:
        return self.range.start

    @property
    def end(self) -> datetime:
        return self.range.end

    def describe(self) -> str:
        return (f"a replay of {self.source!r} ({len(self.symbols)} products) from "
                f"{_iso(self.start)} to {_iso(self.end)}")

    def _opening(self) -> list[ChainSnapshot]:
        """Each product's newest snapshot before the start, oldest first."""
        before = []
        for product in self.symbols:
            snap = history.latest_archived(self.db, product, self.source,
                                           at_or_before=self.range.start)
            if snap is not None and snap.timestamp < self.range.start:
                before.append(snap)
        return sorted(before, key=lambda s: (s.timestamp, s.product))

    def _peek(self) -> ChainSnapshot | None:
        if self._next is None and not self._read_all:
            self._next = next(self._snaps, None)
            self._read_all = self._next is None
        return self._next

    def next_due(self) -> datetime | None:
        """The market time of the next snapshot to hand out (None: the replay is over)."""
        upcoming = self._peek()
        return None if upcoming is None else upcoming.timestamp

    def snapshots(self, now: datetime, sequence: int) -> dict[str, ChainSnapshot]:
        """The snapshots of the oldest due timestamp, numbered ``sequence`` (empty when none
        is due)."""
        upcoming = self._peek()
        if upcoming is None or upcoming.timestamp > now:
            return {}
        due = upcoming.timestamp
        out: dict[str, ChainSnapshot] = {}
        while upcoming is not None and upcoming.timestamp == due:
            out[upcoming.product] = dataclasses.replace(upcoming, sequence=sequence)
            self._next = None
            upcoming = self._peek()
        self.published += len(out)
        if upcoming is None and not self._said_end:
            self._said_end = True
            log.info("the replay of %r reached its end at %s (%d snapshots); the market "
                     "stands still", self.source, _iso(due), self.published)
        return out

    def close(self) -> None:
        self.db.dispose()
