"""What an importer makes of a file: per underlying and quote time, one row per contract as
the file states it, before any pricing.

Units: prices and strikes in the product's currency; sizes, volume and open interest in
contracts (lots, not shares or units); ``vendor_iv`` a decimal (a file's 14.5 % is 0.145);
vendor Greeks in the chain's units (theta per calendar day, vega per volatility point, rho
per percentage point). A value the file does not give is NaN (never 0). Times are
timezone-aware UTC; ``session_date`` is the exchange's calendar date of the quotes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

CALL = 0
PUT = 1


class FileFormatError(ValueError):
    """A file that is not in the format it was read as (or is truncated or corrupt): nothing
    of it is imported. ``line`` is 1-based (None when the error is not about one line)."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        where = file if line is None else f"{file}, line {line}"
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Reject:
    """A row of a file left out, and why: ``row`` is the file's 1-based line (or the record's
    position in a JSON file), ``column`` the field at fault."""

    file: str
    row: int
    column: str
    reason: str


@dataclass(frozen=True)
class ImportedChain:
    """Every option of one underlying at one quote time, one row per contract.

    Per-row arrays have equal length; ``right`` is :data:`CALL` or :data:`PUT` (int8),
    ``expiry`` ``datetime64[D]``. ``futures`` maps an expiry to the price of its future (the
    bhavcopy's IDF/STF rows), when the file has one; it is a cross-check, the forward itself
    is fitted from put-call parity. ``lot_size`` and ``exercise_style`` are what the file or
    its market says (None: unknown, the catalogue decides).
    """

    source: str
    product: str
    exchange: str            # NSE, BSE, CBOE, ...
    currency: str
    timestamp: datetime
    session_date: date
    underlying_price: float  # NaN when the file has none
    expiry: np.ndarray
    strike: np.ndarray
    right: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    last: np.ndarray
    close: np.ndarray
    settlement: np.ndarray
    change: np.ndarray       # premium change on the previous session's close, as filed
    volume: np.ndarray
    open_interest: np.ndarray
    oi_change: np.ndarray    # as filed (NaN: not given)
    vendor_iv: np.ndarray
    vendor_delta: np.ndarray
    vendor_gamma: np.ndarray
    vendor_theta: np.ndarray
    vendor_vega: np.ndarray
    vendor_rho: np.ndarray
    rows: np.ndarray         # the file's line (or record) of each contract, for reports
    file: str = ""
    futures: dict[date, float] = field(default_factory=dict)
    lot_size: int | None = None
    exercise_style: str | None = None

    def __len__(self) -> int:
        return int(self.strike.shape[0])


# Per-row fields of ImportedChain, in order (for builders that fill columns).
ROW_FIELDS = ("expiry", "strike", "right", "bid", "ask", "bid_size", "ask_size", "last",
              "close", "settlement", "change", "volume", "open_interest", "oi_change",
              "vendor_iv", "vendor_delta", "vendor_gamma", "vendor_theta", "vendor_vega",
              "vendor_rho", "rows")


@dataclass
class ParseResult:
    """What one file held: its chains, the rows left out, and how many option rows it had
    (accepted or not; futures and other instruments are not counted)."""

    file: str
    format: str
    chains: list[ImportedChain] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    rows_read: int = 0
