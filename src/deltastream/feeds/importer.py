"""Import option-chain files into the store: read, detect the format, parse, price every
chain into a snapshot, and store each file's snapshots in one transaction.

A file is all or nothing: a malformed one (:class:`~deltastream.feeds.records.FileFormatError`:
not its format, truncated, corrupt) or one whose chains cannot be priced is listed in
:attr:`ImportSummary.failed` with a one-line error, and nothing of it is stored; the other
files are still imported. Rows a parser leaves out are :class:`Reject` s with their reason;
the rest of their file is imported.

Re-importing is idempotent: an imported snapshot's sequence is its quote time in whole epoch
seconds, so the same file gives the same snapshots, and the store keeps the first copy
(:attr:`ImportSummary.snapshots_present` counts the ones it already had).

Counts: ``rows_read`` option rows the files held (accepted or rejected; futures and other
instruments are not rows), ``contracts_stored`` options in newly stored snapshots. Times in
:attr:`ImportSummary.seconds` are wall seconds per phase.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import sqlalchemy as sa

from ..catalog import Catalog
from ..core.snapshot import SIMULATOR_SOURCE, ChainSnapshot
from ..store.imports import write_imported
from .build import build_snapshot
from .detect import detect_format
from .paths import InputFile
from .products import product_terms
from .records import FileFormatError, ImportedChain, ParseResult, Reject

# The module of each format's parser, under deltastream.feeds.formats.
FORMAT_MODULES = {"nse-json": "nse_json", "udiff": "udiff", "cboe-eod": "cboe_eod",
                  "long": "long_format"}
FORMATS = tuple(FORMAT_MODULES)
# A source name is stored beside every row (String(32)); the simulator's name is reserved.
SOURCE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
# Bytes of a file's start that format detection looks at.
HEAD_BYTES = 64 * 1024
PHASES = ("read", "parse", "price", "store")


@dataclass
class ImportSummary:
    """What an import did, over all its files."""

    files: int = 0                 # files read (failed ones included)
    rows_read: int = 0
    contracts_stored: int = 0
    snapshots_stored: int = 0
    snapshots_present: int = 0     # already in the store (a re-import): left unchanged
    rows_rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)   # one line per failed file
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))


def check_source(name: str) -> str:
    """``name`` when it can name a source, else ValueError saying what a name may be."""
    if not SOURCE_PATTERN.fullmatch(name):
        raise ValueError(f"source {name!r}: a name is 1-32 letters, digits, '_' or '-', "
                         "starting with a letter or digit (e.g. nse, bse, cboe, vendor_eod)")
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


def _price(chains: list[ImportedChain], catalog: Catalog) -> list[ChainSnapshot]:
    snaps = []
    for chain in chains:
        terms, expiry_instant = product_terms(chain, catalog)
        # The quote time in whole seconds: the same file always gives the same sequence.
        snaps.append(build_snapshot(chain, terms, expiry_instant,
                                    int(chain.timestamp.timestamp())))
    return snaps


def _import_file(item: InputFile, db: sa.Engine, catalog: Catalog, source: str | None,
                 format: str | None, summary: ImportSummary) -> None:
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
    try:
        snaps = _price(_tagged(result, fmt, source), catalog)
    except ValueError as exc:
        raise FileFormatError(item.name, None, f"cannot be priced: {exc}") from exc
    priced = time.perf_counter()
    spent["price"] += priced - parsed
    if snaps:
        counts = write_imported(db, snaps)
        summary.snapshots_stored += counts.snapshots_stored
        summary.snapshots_present += counts.snapshots_present
        summary.contracts_stored += counts.contracts_stored
    spent["store"] += time.perf_counter() - priced
    summary.rows_read += result.rows_read
    summary.rejects.extend(result.rejects)
    summary.rows_rejected += len(result.rejects)


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
    for done, item in enumerate(files, start=1):
        summary.files += 1
        try:
            _import_file(item, db, catalog, source, format, summary)
        except FileFormatError as exc:
            summary.failed.append(str(exc))
        except OSError as exc:
            summary.failed.append(f"{item.name}: cannot be read ({exc.strerror or exc})")
        if progress is not None:
            progress(done, len(files))
    return summary
