"""Merging rows of one chain that arrive in several files, and with the snapshot already
stored for it.

A chain is identified by its source, product and quote time. NSE's
website, for one, saves its option chain one expiry per file: every file of a moment is a
part of the same chain. :func:`merge_rows` joins two parts before pricing; a contract
(expiry, strike, right) both give is kept once when its rows are equal, and otherwise taken
from the later part, the earlier row being reported as a
:class:`~deltastream.feeds.records.Reject` ("superseded by <file> line N"). Within one part a
contract listed twice keeps its first row, as :func:`~deltastream.feeds.build.build_snapshot`
does.

A stored snapshot is turned back into the rows it was priced from by
:func:`chain_from_snapshot`, so that new rows can be merged into it and the union priced
again. What a snapshot keeps of its rows is exactly what pricing uses:

* bid, ask, last, change, oi_change and the vendor's IV and Greeks as filed;
* volume and open interest with a missing value as 0 (pricing counts it 0 too);
* the served ``mid`` under its :class:`~deltastream.core.types.PriceSource`'s field: the
  settlement price, the close or the last trade (a two-sided quote's mid comes back from its
  bid and ask), so the same price is chosen again;
* the spot as the underlying's price, and each expiry's forward that was not fitted from
  parity (it came from a future or the carried spot) as that expiry's future, so it is used
  again where parity still cannot be fitted;
* the product's lot size, exercise style, exchange and currency from its terms.

Not kept, hence not given back: a settlement or close price that was not the price used,
bid and ask sizes, the file's line numbers (0) and the session date (the quote time's UTC
date instead; pricing does not read it). Rebuilding a snapshot's rows and pricing them again
under the same terms gives the same snapshot, bit for bit.

:func:`covers` says whether a stored snapshot already holds every contract of a new one with
the same quotes, so that re-importing a file is recognised without pricing anything again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.snapshot import ChainSnapshot, OptionSide
from ..core.types import PriceSource, QuoteFlag
from .records import CALL, PUT, ROW_FIELDS, ImportedChain, Reject

# Row fields a merge compares to tell an identical row from a different one (the file's
# line number is where a row is, not what it says).
_VALUE_FIELDS = tuple(f for f in ROW_FIELDS if f != "rows")
_SNAPSHOT_FIELDS = tuple(OptionSide.__dataclass_fields__)
# Fields of a stored contract that come from its file (the rest are computed from them):
# two snapshots agreeing on these for a contract were priced from the same quotes.
_FILED_SIDE_FIELDS = ("bid", "ask", "last", "mid", "change", "open_interest", "volume",
                      "oi_change")
_FILED_QUALITY_FIELDS = ("price_source", "vendor_iv", "vendor_delta", "vendor_gamma",
                         "vendor_theta", "vendor_vega", "vendor_rho")
# Where a row came from when it is not a file's: the stored snapshot.
STORED = -1


@dataclass(frozen=True)
class Rows:
    """An imported chain and where each of its rows came from: ``origin[i]`` indexes
    ``files`` (:data:`STORED` for a row rebuilt from the stored snapshot), and the chain's
    ``rows`` hold the line in that file."""

    chain: ImportedChain
    files: tuple[str, ...]
    origin: np.ndarray

    @classmethod
    def of_file(cls, chain: ImportedChain, file: str) -> Rows:
        return cls(chain, (file,), np.zeros(len(chain), dtype=np.intp))

    @classmethod
    def of_store(cls, chain: ImportedChain) -> Rows:
        return cls(chain, (), np.full(len(chain), STORED, dtype=np.intp))


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise equality where NaN equals NaN."""
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        with np.errstate(invalid="ignore"):
            return (a == b) | (np.isnan(a) & np.isnan(b))
    return np.asarray(a == b)


def merge_rows(earlier: Rows, later: Rows) -> tuple[Rows, list[Reject]]:
    """The union of two parts of one chain (module docstring) and the rejects of the earlier
    part's rows the later one superseded with different values (rows rebuilt from the store
    are superseded without a reject: they are no file's rows). Chain-level values are the
    later part's, except where it has none: the underlying price, futures of other expiries,
    lot size and exercise style then come from the earlier part."""
    a, b = earlier.chain, later.chain
    n_a = len(a)
    columns = {f: np.concatenate([np.asarray(getattr(a, f)), np.asarray(getattr(b, f))])
               for f in ROW_FIELDS}
    columns["expiry"] = columns["expiry"].astype("datetime64[D]")
    columns["right"] = columns["right"].astype(np.int8)
    part = np.repeat(np.array([0, 1]), [n_a, len(b)])
    position = np.arange(part.size)
    expiry = columns["expiry"].astype(np.int64)
    strike, right = columns["strike"].astype(np.float64), columns["right"]
    # One group per contract; in each, the later part first, then the file's order.
    order = np.lexsort((position, -part, right, strike, expiry))
    e, k, r = expiry[order], strike[order], right[order]
    head = np.ones(order.size, dtype=bool)
    head[1:] = (e[1:] != e[:-1]) | (k[1:] != k[:-1]) | (r[1:] != r[:-1])
    group = np.cumsum(head) - 1
    winner = order[head]
    kept: dict[str, Any] = {f: v[winner] for f, v in columns.items()}

    # Earlier rows of a contract the later part gives: reported when they differ.
    lost = order[~head]
    lost_winner = winner[group[~head]]
    superseded = (part[lost] == 0) & (part[lost_winner] == 1)
    lost, lost_winner = lost[superseded], lost_winner[superseded]
    differs = np.zeros(lost.size, dtype=bool)
    first_difference = np.full(lost.size, -1)
    for i, f in enumerate(_VALUE_FIELDS):
        unequal = ~_same(columns[f][lost], columns[f][lost_winner])
        first_difference = np.where(unequal & ~differs, i, first_difference)
        differs |= unequal
    shifted = np.where(later.origin == STORED, STORED, later.origin + len(earlier.files))
    origin = np.concatenate([earlier.origin, shifted])
    files = earlier.files + later.files
    rejects = []
    for loser, by, field in zip(lost[differs].tolist(), lost_winner[differs].tolist(),
                                first_difference[differs].tolist(), strict=True):
        if origin[loser] == STORED:
            continue
        rejects.append(Reject(files[origin[loser]], int(columns["rows"][loser]),
                              _VALUE_FIELDS[field],
                              f"superseded by {files[origin[by]]} line "
                              f"{int(columns['rows'][by])}"))

    underlying = b.underlying_price if np.isfinite(b.underlying_price) else a.underlying_price
    chain = dataclasses.replace(
        b, underlying_price=underlying, futures={**a.futures, **b.futures},
        lot_size=b.lot_size if b.lot_size is not None else a.lot_size,
        exercise_style=b.exercise_style or a.exercise_style, **kept)
    return Rows(chain, files, origin[winner]), rejects


def chain_from_snapshot(snap: ChainSnapshot) -> ImportedChain:
    """The rows ``snap`` was priced from, as far as it keeps them (module docstring). A
    snapshot without quality arrays (not an import) takes its two-sided quotes' mids as
    quotes and every other mid as a settlement price."""
    fields = dict(zip(_SNAPSHOT_FIELDS, snap.contracts.fields, strict=True))
    n = snap.strikes.size
    bid, ask, mid = fields["bid"], fields["ask"], fields["mid"]
    if snap.quality is None:
        with np.errstate(invalid="ignore"):
            two_sided = (bid > 0) & (ask > 0) & (ask > bid)
        source = np.where(two_sided, PriceSource.MID,
                          np.where(mid > 0, PriceSource.SETTLEMENT, PriceSource.NONE))
        listed = np.ones((2, n), dtype=bool)
        vendor = {f: np.full((2, n), np.nan) for f in _FILED_QUALITY_FIELDS[1:]}
    else:
        q = snap.quality
        source = np.asarray(q.price_source)
        listed = (np.asarray(q.flags) & int(QuoteFlag.NO_CONTRACT)) == 0
        vendor = {f: np.asarray(getattr(q, f)) for f in _FILED_QUALITY_FIELDS[1:]}
    right_of, column = np.nonzero(listed)
    seg = np.repeat(np.arange(len(snap.expiry_dates)), np.diff(snap.offsets))[column]

    def pick(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64)[right_of, column]

    used = source[right_of, column]
    price = pick(mid)
    nan = np.full(right_of.size, np.nan)
    expiries = np.array(snap.expiry_dates, dtype="datetime64[D]")
    residuals = (np.full(len(snap.expiry_dates), np.nan) if snap.forward_residuals is None
                 else np.asarray(snap.forward_residuals))
    terms = snap.terms
    return ImportedChain(
        source=snap.source, product=snap.product, exchange=terms.exchange,
        currency=terms.currency, timestamp=snap.timestamp,
        session_date=snap.timestamp.date(), underlying_price=float(snap.spot),
        expiry=expiries[seg], strike=np.asarray(snap.strikes, dtype=np.float64)[column],
        right=np.where(right_of == 0, CALL, PUT).astype(np.int8),
        bid=pick(bid), ask=pick(ask), bid_size=nan.copy(), ask_size=nan.copy(),
        last=pick(fields["last"]),
        close=np.where(used == PriceSource.CLOSE, price, np.nan),
        settlement=np.where(used == PriceSource.SETTLEMENT, price, np.nan),
        change=pick(fields["change"]), volume=pick(fields["volume"]),
        open_interest=pick(fields["open_interest"]), oi_change=pick(fields["oi_change"]),
        vendor_iv=pick(vendor["vendor_iv"]), vendor_delta=pick(vendor["vendor_delta"]),
        vendor_gamma=pick(vendor["vendor_gamma"]), vendor_theta=pick(vendor["vendor_theta"]),
        vendor_vega=pick(vendor["vendor_vega"]), vendor_rho=pick(vendor["vendor_rho"]),
        rows=np.zeros(right_of.size, dtype=np.int64),
        futures={d: float(f) for d, f, r in zip(snap.expiry_dates, snap.forwards.tolist(),
                                                residuals.tolist(), strict=True)
                 if np.isnan(r)},
        lot_size=terms.lot_size, exercise_style=terms.exercise_style)


def covers(stored: ChainSnapshot, new: ChainSnapshot, underlying_price: float) -> bool:
    """Whether ``stored`` holds every contract ``new`` lists, with the same filed numbers
    (quotes, last, volume, open interest, changes, the price used and where it came from,
    vendor figures), and, when the file gave one (``underlying_price`` finite), the same
    underlying price. Then merging ``new`` into ``stored`` would change nothing. A future's
    price alone does not count: it only stands in for a forward parity cannot give."""
    if np.isfinite(underlying_price) and underlying_price != stored.spot:
        return False
    where = {d: j for j, d in enumerate(stored.expiry_dates)}
    old_columns = []
    for j, day in enumerate(new.expiry_dates):
        k = where.get(day)
        if k is None:
            return False
        lo, hi = int(stored.offsets[k]), int(stored.offsets[k + 1])
        theirs = stored.strikes[lo:hi]
        ours = new.strikes[int(new.offsets[j]):int(new.offsets[j + 1])]
        at = np.searchsorted(theirs, ours)
        if np.any(at >= theirs.size) or np.any(theirs[np.minimum(at, theirs.size - 1)]
                                               != ours):
            return False
        old_columns.append(lo + at)
    columns = (np.concatenate(old_columns) if old_columns
               else np.zeros(0, dtype=np.intp))
    new_sides = dict(zip(_SNAPSHOT_FIELDS, new.contracts.fields, strict=True))
    old_sides = dict(zip(_SNAPSHOT_FIELDS, stored.contracts.fields, strict=True))
    if new.quality is None or stored.quality is None:
        listed = np.ones((2, columns.size), dtype=bool)
        was_listed = listed
        pairs = [(new_sides[f], old_sides[f][:, columns]) for f in _FILED_SIDE_FIELDS]
    else:
        no_contract = int(QuoteFlag.NO_CONTRACT)
        listed = (np.asarray(new.quality.flags) & no_contract) == 0
        was_listed = (np.asarray(stored.quality.flags)[:, columns] & no_contract) == 0
        pairs = ([(new_sides[f], old_sides[f][:, columns]) for f in _FILED_SIDE_FIELDS]
                 + [(getattr(new.quality, f), getattr(stored.quality, f)[:, columns])
                    for f in _FILED_QUALITY_FIELDS])
    if np.any(listed & ~was_listed):
        return False
    return all(bool(np.all(_same(np.asarray(a), np.asarray(b))[listed])) for a, b in pairs)
