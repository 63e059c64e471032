"""Lookups into parsed files and small CSV files built from dictionaries, for the parser
tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deltastream.feeds.records import ImportedChain, ParseResult


def chain_of(result: ParseResult, product: str) -> ImportedChain:
    """The one chain of ``product`` in ``result``."""
    (found,) = [c for c in result.chains if c.product == product]
    return found


def at(c: ImportedChain, strike: float, right: int, expiry: str | None = None) -> int:
    """The row of the one contract of ``strike`` and ``right`` (and ``expiry``, YYYY-MM-DD,
    when given) in ``c``."""
    match = (c.strike == strike) & (c.right == right)
    if expiry is not None:
        match &= c.expiry == np.datetime64(expiry)
    (i,) = np.flatnonzero(match)
    return int(i)


def fixture_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header of a CSV file and its rows by column name, as written."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def csv_of(header: Sequence[str], *rows: dict[str, str]) -> bytes:
    """A CSV file of ``header`` and ``rows`` (cells of columns not in ``header`` left out)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()
