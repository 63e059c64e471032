"""The named choices every layer shares: the implied-volatility solvers' outcome codes, and the
modes and kinds that settings, the CLI and the API accept.

A solver never raises and never invents a volatility: where no volatility reproduces the price,
it returns NaN with an :class:`IVStatus` saying why. The string enums compare equal to their
values, so ``settings.clock == "real"`` and ``ClockKind.REAL`` mean the same. This module
imports nothing heavy (NumPy only when :func:`labels` is first called), so the CLI can build its
choices from it without loading the numeric stack.
"""

from __future__ import annotations

import functools
from enum import IntEnum, IntFlag, StrEnum
from typing import Any


class IVStatus(IntEnum):
    """Why an implied volatility is (or is not) available; the ``.label`` is the API string."""

    OK = 0
    BELOW_INTRINSIC = 1
    ABOVE_UPPER_BOUND = 2
    NON_POSITIVE_TIME = 3
    NON_POSITIVE_PRICE = 4
    INVALID_INPUT = 5
    NO_TIME_VALUE = 6
    NOT_CONVERGED = 7
    EARLY_EXERCISE = 8   # an American option worth exercising now: no IV; exercise Greeks

    @property
    def label(self) -> str:
        return self.name.lower()


# The codes as plain integers, for compiled kernels (numba folds module-level integers into
# the machine code; it cannot read an enum member there).
OK = int(IVStatus.OK)
BELOW_INTRINSIC = int(IVStatus.BELOW_INTRINSIC)
ABOVE_UPPER_BOUND = int(IVStatus.ABOVE_UPPER_BOUND)
NON_POSITIVE_TIME = int(IVStatus.NON_POSITIVE_TIME)
NON_POSITIVE_PRICE = int(IVStatus.NON_POSITIVE_PRICE)
INVALID_INPUT = int(IVStatus.INVALID_INPUT)
NO_TIME_VALUE = int(IVStatus.NO_TIME_VALUE)
NOT_CONVERGED = int(IVStatus.NOT_CONVERGED)
EARLY_EXERCISE = int(IVStatus.EARLY_EXERCISE)


class PriceSource(IntEnum):
    """Which price an option's implied volatility was solved from; ``.label`` is the API
    string. Live simulated chains always solve from the mid."""

    MID = 0            # a two-sided quote's mid
    SETTLEMENT = 1     # the exchange's settlement price (no two-sided quote)
    CLOSE = 2          # the session's closing price (no quote, no settlement)
    LAST = 3           # the last traded price (nothing better)
    NONE = 4           # no usable price: the IV is NaN

    @property
    def label(self) -> str:
        return self.name.lower()


class QuoteFlag(IntFlag):
    """What is doubtful about an option's quote (bits, any combination; 0: nothing)."""

    CROSSED = 1           # bid above ask
    LOCKED = 2            # bid equal to ask
    ZERO_BID = 4          # no bid (0 or missing) with an ask
    STALE = 8             # no trade this session and no quote
    BELOW_INTRINSIC = 16  # the price used is below the option's intrinsic value
    NO_CONTRACT = 32      # the file lists the strike for the other right only

    @property
    def label(self) -> str:
        return (self.name or "").lower()


def flag_labels(bits: int) -> list[str]:
    """The names of the :class:`QuoteFlag` bits set in ``bits``, in bit order."""
    return [f.label for f in QuoteFlag if bits & f]


@functools.cache
def _label_array() -> Any:
    import numpy as np

    return np.array([s.label for s in IVStatus], dtype=object)


def labels(codes: Any) -> Any:
    """Map an array of status codes (or one code) to their API strings (``ok``,
    ``below_intrinsic``, ...), as a NumPy object array of the same shape."""
    import numpy as np

    return _label_array()[np.asarray(codes, dtype=np.int64)]


class ClockKind(StrEnum):
    """The market clock: wall time, wall time sped up, or time standing still."""

    REAL = "real"
    ACCELERATED = "accelerated"
    FIXED = "fixed"


class TradingHours(StrEnum):
    """When the simulated market trades: its exchange's sessions, or around the clock (a demo
    mode for motion at any hour)."""

    EXCHANGE = "exchange"
    ALWAYS = "always"


class MarketStatus(StrEnum):
    """Whether a product's exchange is in session at a snapshot's time."""

    OPEN = "open"
    CLOSED = "closed"


class EngineMode(StrEnum):
    """Where ``serve`` runs the market engine: its own process, or a thread of the web one."""

    PROCESS = "process"
    THREAD = "thread"


class Role(StrEnum):
    """What a server runs: engine and web (``all``), or web only beside an engine elsewhere."""

    ALL = "all"
    WEB = "web"


class HistoryKind(StrEnum):
    """What the history store keeps per product, as ``export --what`` names it."""

    TICKS = "ticks"
    SUMMARIES = "summaries"
    CHAINS = "chains"


class ExportFormat(StrEnum):
    """File formats ``export`` writes."""

    CSV = "csv"
    PARQUET = "parquet"


class ExerciseStyle(StrEnum):
    """When an option may be exercised."""

    EUROPEAN = "european"
    AMERICAN = "american"


class LogFormat(StrEnum):
    """How the server writes its log: lines for people, or one JSON object per line."""

    TEXT = "text"
    JSON = "json"


class LogLevel(StrEnum):
    """The least severe log records written."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


# A data source's name (the simulator's, an import's, a feed's): what settings, the
# importer and the API accept, and what the store's source column holds (32 characters).
# Letters, digits, '_' and '-' only: a name is also a path-like token in URLs and files.
SOURCE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
SOURCE_NAMES = "1-32 letters, digits, '-' or '_', starting with a letter or digit"


def choices(kind: type[StrEnum]) -> list[str]:
    """The values of a string enum, in definition order (for CLI choices and messages)."""
    return [member.value for member in kind]
