"""Which format a file is in, from its first bytes (never its name).

* ``nse-json``: a JSON object with a ``records`` key (the NSE option-chain page, both shapes;
  ``filtered`` will do, for a file that saved that object first and a long one);
* ``udiff``: a CSV header with ``TckrSymb`` and ``FinInstrmTp`` (NSE/BSE UDiFF bhavcopy);
* ``cboe-eod``: a CSV header with ``underlying_symbol`` and ``quote_date`` (Cboe DataShop);
* ``long``: a CSV header with ``underlying`` and ``quote_time``, or a Parquet file (``PAR1``).

Header names are compared case-insensitively, after a UTF-8 byte-order mark and blank lines.
``head`` needs only the start of the file (the header line, or the JSON's first key).
"""

from __future__ import annotations

import csv
import re

from .records import FileFormatError

FORMATS = ("nse-json", "udiff", "cboe-eod", "long")

# Columns whose presence in a CSV header names the format.
HEADER_SIGNATURES = (("udiff", frozenset({"tckrsymb", "fininstrmtp"})),
                     ("cboe-eod", frozenset({"underlying_symbol", "quote_date"})),
                     ("long", frozenset({"underlying", "quote_time"})))
DESCRIPTIONS = {
    "nse-json": "NSE option-chain JSON (a 'records' object)",
    "udiff": "NSE/BSE UDiFF F&O bhavcopy CSV (TckrSymb, FinInstrmTp columns)",
    "cboe-eod": "Cboe Option EOD Summary CSV (underlying_symbol, quote_date columns)",
    "long": "the long format, CSV (underlying, quote_time columns) or Parquet",
}
_NSE_KEYS = re.compile(rb'"(records|filtered)"\s*:')


def _unknown(file: str, what: str) -> FileFormatError:
    accepted = "; ".join(f"{name}: {DESCRIPTIONS[name]}" for name in FORMATS)
    return FileFormatError(file, None, f"{what}; the formats read are {accepted} "
                           "(--format forces one)")


def detect_format(file: str, head: bytes) -> str:
    """The format name of a file whose first bytes are ``head``; raises
    :class:`FileFormatError` listing the formats when it is none of them."""
    if head.startswith(b"PAR1"):
        return "long"
    if head.startswith(b"PK\x03\x04"):
        raise _unknown(file, "a zip archive, not a data file (give the .zip itself as a "
                       "path and each member is read)")
    if head.startswith(b"\x1f\x8b"):
        raise _unknown(file, "a gzip-compressed file (decompress it first)")
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        if _NSE_KEYS.search(text):
            return "nse-json"
        raise _unknown(file, "JSON without a 'records' object")
    # The header: the first non-blank line (a partial last line of the head is fine).
    line = text.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    try:
        columns = {c.strip().lower() for c in next(csv.reader([line]), [])}
    except csv.Error:
        columns = set()
    for name, signature in HEADER_SIGNATURES:
        if signature <= columns:
            return name
    shown = line[:80] + ("..." if len(line) > 80 else "")
    raise _unknown(file, f"unknown format (first line {shown!r})")
