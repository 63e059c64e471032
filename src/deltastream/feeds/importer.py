"""Import option-chain files into the store: read, detect the format, parse, price every
chain into a snapshot, and store each file's snapshots in one transaction.

A file is all or nothing: a malformed one (:class:`~deltastream.feeds.records.FileFormatError`:
not its format, truncated, corrupt, an archive that cannot be listed) is listed in
:attr:`ImportSummary.failed` with a one-line error, and nothing of it is stored; the other
files are still imported. Rows a parser leaves out are :class:`Reject` s with their reason;
the rest of their file is imported. A chain that cannot be priced
(:class:`~deltastream.feeds.build.UnpriceableChainError`: no expiry after its quote time, or
nothing to take the underlying's price from) is one reject at its first row (column ``""``,
the reason naming the underlying and why, :attr:`ImportSummary.rows_rejected` counting all
its rows); the file's other chains are imported.

A chain is identified by its source, product and quote time. Files holding parts of one
chain (NSE's website saves its option chain one expiry per file) are merged
(:mod:`deltastream.feeds.merge`):

* within one import, each file's chain is merged with the rows the earlier files gave for
  it before it is priced; a contract given again with different values is taken from the
  later file, and the earlier row is reported as a reject "superseded by <file> line N";
* with the store: when the snapshot of the chain is already stored and the file brings
  contracts it lacks (or the same contracts with other values), the stored snapshot's rows
  and the file's are merged and priced again, and the result replaces the stored snapshot
  (:attr:`ImportSummary.snapshots_merged`). A file whose contracts the stored snapshot
  already holds, as filed, changes nothing (:attr:`ImportSummary.snapshots_present`).

So importing the files of one moment together or one after the other gives the same
snapshot, and re-importing changes no row. The rows of the files of this import are kept for
merging up to :data:`MAX_KEPT_ROWS` rows (the oldest chains dropped first); a chain merged
after its earlier rows were dropped is merged with the stored snapshot instead, the same
data, but the earlier file's superseded rows are then not reported by line. An imported
snapshot's sequence is its quote time in whole epoch seconds.

Counts: ``rows_read`` option rows the files held (accepted or rejected; futures and other
instruments are not rows), ``contracts_stored`` options the store did not hold before. Each
file is stored when it is read, so the parts of one chain in one import count one snapshot
stored (the first file's) and one merge per later file that added to it. Times in
:attr:`ImportSummary.seconds` are wall seconds per phase.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import sqlalchemy as sa

from ..catalog import Catalog
from ..core.snapshot import SIMULATOR_SOURCE, ChainSnapshot
from ..core.types import SOURCE_NAME_PATTERN, SOURCE_NAMES
from ..store.imports import stored_snapshots, write_imported
from ..store.rows import epoch_us
from .build import UnpriceableChainError, build_snapshot
from .detect import detect_format
from .merge import Rows, chain_from_snapshot, covers, merge_rows
from .paths import InputFile
from .products import product_terms
from .records import FileFormatError, ImportedChain, ParseResult, Reject

# The module of each format's parser, under deltastream.feeds.formats.
FORMAT_MODULES = {"nse-json": "nse_json", "udiff": "udiff", "cboe-eod": "cboe_eod",
                  "long": "long_format"}
FORMATS = tuple(FORMAT_MODULES)
_SOURCE_NAME = re.compile(SOURCE_NAME_PATTERN)
# Bytes of a file's start that format detection looks at.
HEAD_BYTES = 64 * 1024
PHASES = ("read", "parse", "price", "store")
# Rows of this import's files kept for merging a later file's part of the same chain
# (~170 bytes a row: ~85 MB; a full day of NSE options is ~59,000 rows).
MAX_KEPT_ROWS = 500_000

Key = tuple[str, str, int]   # source, product, quote time in epoch microseconds


@dataclass
class ImportSummary:
    """What an import did, over all its files."""

    files: int = 0                 # files read (failed ones included)
    rows_read: int = 0
    contracts_stored: int = 0
    snapshots_stored: int = 0
    snapshots_present: int = 0     # already in the store (a re-import): left unchanged
    snapshots_merged: int = 0      # stored snapshots replaced by their merge with new rows
    rows_rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)   # one line per failed file
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))


def check_source(name: str) -> str:
    """``name`` when it can name a source, else ValueError saying what a name may be."""
    if not _SOURCE_NAME.fullmatch(name):
        raise ValueError(f"source {name!r}: a name is {SOURCE_NAMES} "
                         "(e.g. nse, bse, cboe, vendor_eod)")
    if name == SIMULATOR_SOURCE:
        raise ValueError(f"source {name!r} is the simulated market's; choose another name")
    return name


def check_format(name: str) -> str:
    """``name`` when it is a format this importer reads, else ValueError naming them."""
    if name not in FORMAT_MODULES:
        raise ValueError(f"format {name!r}: accepted formats are {', '.join(FORMATS)}")
    return name


def default_source(fmt: str, exchange: str) -> str:
    """The source imported chains are tagged with when none is given: the exchange for
    the exchange's own files (nse, bse; cboe), ``imported`` for the long format."""
    if fmt == "cboe-eod":
        return "cboe"
    if fmt == "long":
        return "imported"
    return "bse" if exchange.upper() == "BSE" else "nse"


def _parser(fmt: str) -> ModuleType:
    return importlib.import_module(f"{__package__}.formats.{FORMAT_MODULES[fmt]}")


def _tagged(result: ParseResult, fmt: str, source: str | None) -> list[ImportedChain]:
    if source is not None:
        return result.chains
    return [c if c.source == (s := default_source(fmt, c.exchange))
            else dataclasses.replace(c, source=s) for c in result.chains]


def _key(chain: ImportedChain) -> Key:
    return chain.source, chain.product, epoch_us(chain.timestamp)


def _price(chain: ImportedChain, catalog: Catalog, file: str) -> ChainSnapshot:
    """The snapshot of ``chain``; UnpriceableChainError for a chain without anything to
    price it from, FileFormatError (the file fails) for any other value pricing refuses."""
    try:
        terms, expiry_instant = product_terms(chain, catalog)
        # The quote time in whole seconds: the same file always gives the same sequence.
        return build_snapshot(chain, terms, expiry_instant, int(chain.timestamp.timestamp()))
    except UnpriceableChainError:
        raise
    except ValueError as exc:
        raise FileFormatError(file, None, f"cannot be priced: {exc}") from exc


def _unpriceable(chain: ImportedChain, file: str, error: UnpriceableChainError) -> Reject:
    first = int(chain.rows.min()) if len(chain) else 0
    return Reject(file, first, "", f"{chain.product} cannot be priced ({len(chain)} rows "
                                   f"left out): {error}")


class _KeptRows:
    """The rows this import's files gave per chain, for merging later files' parts of the
    same chain: at most :data:`MAX_KEPT_ROWS` rows, the least recently merged dropped
    first."""

    def __init__(self) -> None:
        self._chains: OrderedDict[Key, Rows] = OrderedDict()
        self._rows = 0
        self._limit = MAX_KEPT_ROWS

    def get(self, key: Key) -> Rows | None:
        return self._chains.get(key)

    def put(self, key: Key, rows: Rows) -> None:
        old = self._chains.pop(key, None)
        if old is not None:
            self._rows -= len(old.chain)
        self._chains[key] = rows
        self._rows += len(rows.chain)
        while self._rows > self._limit and len(self._chains) > 1:
            _, dropped = self._chains.popitem(last=False)
            self._rows -= len(dropped.chain)


@dataclass
class _FileOutcome:
    """What importing one file gives, applied to the summary once the file is stored."""

    rejects: list[Reject] = field(default_factory=list)
    rows_rejected: int = 0
    present: int = 0
    new: list[ChainSnapshot] = field(default_factory=list)
    merged: list[ChainSnapshot] = field(default_factory=list)
    kept: dict[Key, Rows] = field(default_factory=dict)


def _priced_parts(chains: list[ImportedChain], file: str, catalog: Catalog,
                  kept: _KeptRows, outcome: _FileOutcome) -> dict[Key, tuple[Rows, ChainSnapshot]]:
    """Each chain of the file merged with this import's earlier rows of it, and priced."""
    parts: dict[Key, tuple[Rows, ChainSnapshot]] = {}
    for chain in chains:
        key = _key(chain)
        rows = Rows.of_file(chain, file)
        earlier = parts[key][0] if key in parts else kept.get(key)
        superseded: list[Reject] = []
        if earlier is not None:
            rows, superseded = merge_rows(earlier, rows)
        try:
            snap = _price(rows.chain, catalog, file)
        except UnpriceableChainError as exc:
            outcome.rejects.append(_unpriceable(chain, file, exc))
            outcome.rows_rejected += len(chain)
            continue
        outcome.rejects.extend(superseded)
        outcome.rows_rejected += len(superseded)
        parts[key] = (rows, snap)
    return parts


def _against_store(parts: dict[Key, tuple[Rows, ChainSnapshot]], db: sa.Engine,
                   catalog: Catalog, file: str, outcome: _FileOutcome) -> None:
    """Sort the priced chains into new snapshots, ones the store already holds and merges
    of the stored snapshot with the new rows, priced (the stored rows give the union an
    underlying price and a live expiry, unless the product's terms changed since)."""
    stored = stored_snapshots(db, list(parts))
    for key, (rows, snap) in parts.items():
        old = stored.get(key)
        if old is None:
            outcome.new.append(snap)
        elif covers(old, snap, rows.chain.underlying_price):
            outcome.present += 1
        else:
            union, _ = merge_rows(Rows.of_store(chain_from_snapshot(old)), rows)
            try:
                outcome.merged.append(_price(union.chain, catalog, file))
            except UnpriceableChainError as exc:
                outcome.rejects.append(_unpriceable(rows.chain, file, exc))
                outcome.rows_rejected += len(rows.chain)
                continue
        outcome.kept[key] = rows


def _import_file(item: InputFile, db: sa.Engine, catalog: Catalog, source: str | None,
                 format: str | None, kept: _KeptRows, summary: ImportSummary) -> None:
    # Counts are added to the summary only once the file is stored: a failed file adds
    # nothing but its line in ``failed``.
    spent = summary.seconds
    started = time.perf_counter()
    data = item.read()
    read = time.perf_counter()
    spent["read"] += read - started
    fmt = format or detect_format(item.name, data[:HEAD_BYTES])
    # The parser is told its format's default source; a BSE bhavcopy is re-tagged below
    # from the exchange it names.
    result = _parser(fmt).read(data, item.name, source or default_source(fmt, ""))
    del data
    parsed = time.perf_counter()
    spent["parse"] += parsed - read
    outcome = _FileOutcome(rejects=list(result.rejects), rows_rejected=len(result.rejects))
    parts = _priced_parts(_tagged(result, fmt, source), item.name, catalog, kept, outcome)
    priced = time.perf_counter()
    spent["price"] += priced - parsed
    _against_store(parts, db, catalog, item.name, outcome)
    if outcome.new or outcome.merged:
        counts = write_imported(db, outcome.new, outcome.merged)
        summary.snapshots_stored += counts.snapshots_stored
        summary.snapshots_present += counts.snapshots_present
        summary.snapshots_merged += counts.snapshots_merged
        summary.contracts_stored += counts.contracts_stored
    spent["store"] += time.perf_counter() - priced
    for key, rows in outcome.kept.items():
        kept.put(key, rows)
    summary.snapshots_present += outcome.present
    summary.rows_read += result.rows_read
    summary.rejects.extend(outcome.rejects)
    summary.rows_rejected += outcome.rows_rejected


def import_files(files: list[InputFile], db: sa.Engine, catalog: Catalog,
                 source: str | None, format: str | None,
                 progress: Callable[[int, int], None] | None = None) -> ImportSummary:
    """Import ``files`` (in order) into ``db``; ``source`` tags every snapshot (None: each
    format's default, :func:`default_source`), ``format`` forces the parser (None: detected
    per file). ``progress(files_done, files_total)`` is called after each file.

    Raises ValueError for an invalid ``source`` or ``format`` (before reading anything), and
    what the store raises when writing fails (the files before the failing one stay
    stored)."""
    if source is not None:
        check_source(source)
    if format is not None:
        check_format(format)
    summary = ImportSummary()
    kept = _KeptRows()
    for done, item in enumerate(files, start=1):
        summary.files += 1
        try:
            _import_file(item, db, catalog, source, format, kept, summary)
        except FileFormatError as exc:
            summary.failed.append(str(exc))
        except OSError as exc:
            summary.failed.append(f"{item.name}: cannot be read ({exc.strerror or exc})")
        if progress is not None:
            progress(done, len(files))
    return summary
