"""Option contract symbols in their exchange's own format: written and read back.

Two conventions:

* **NSE/BSE trading symbols** (Indian exchanges): the underlying, the expiry, the strike and
  ``CE``/``PE``. A monthly expiry (the last of its month for that underlying) is written
  ``YYMON`` (``NIFTY26DEC24500CE``); any other (a weekly) ``YYMDD`` with the month as one
  character, ``1``-``9`` for January to September and ``O``, ``N``, ``D`` for October to
  December (``NIFTY26D0824500CE``). Strikes are written as numbers, without trailing zeros
  (``1172.5``).
* **OCC symbols** (US listed options): the root padded with spaces to 6 characters, the expiry
  ``YYMMDD``, ``C``/``P``, and the strike in thousandths of a currency unit on 8 digits
  (``AAPL  261211P00212500``).

:func:`parse_contract_symbol` reads either back into a :class:`ContractSymbol`; a weekly NSE
symbol carries its expiry date, a monthly one only its year and month (``expiry.day`` is then
the month's first, and ``monthly`` is True). Strikes are decimal: ``Decimal`` in, exact out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# The one-character month of an NSE weekly symbol.
WEEKLY_MONTHS = "123456789OND"
INDIAN_EXCHANGES = frozenset({"NSE", "BSE"})
OCC_ROOT_WIDTH = 6


class ContractSymbolError(ValueError):
    """A symbol in neither format, or a contract that cannot be written in its format; the
    message says which part."""


@dataclass(frozen=True)
class ContractSymbol:
    """An option contract as its symbol names it."""

    underlying: str
    expiry: date            # a monthly NSE symbol names the month only: its first day here
    strike: Decimal
    right: str              # "call" or "put"
    monthly: bool = False   # an NSE/BSE monthly symbol (the expiry's day not written)


def _strike_text(strike: Decimal | float) -> str:
    value = Decimal(str(strike))
    if value <= 0:
        raise ContractSymbolError(f"strike {strike} must be positive")
    text = format(value.normalize(), "f")
    return text


def _right(right: str) -> str:
    if right not in ("call", "put"):
        raise ContractSymbolError(f"right {right!r} must be 'call' or 'put'")
    return right


def nse_symbol(underlying: str, expiry: date, strike: Decimal | float, right: str,
               monthly: bool) -> str:
    """The NSE/BSE trading symbol of an option (``monthly``: the last expiry of its month
    for this underlying)."""
    suffix = "CE" if _right(right) == "call" else "PE"
    year = f"{expiry.year % 100:02d}"
    when = (f"{year}{MONTHS[expiry.month - 1]}" if monthly
            else f"{year}{WEEKLY_MONTHS[expiry.month - 1]}{expiry.day:02d}")
    return f"{underlying}{when}{_strike_text(strike)}{suffix}"


def occ_symbol(root: str, expiry: date, strike: Decimal | float, right: str) -> str:
    """The OCC symbol of a US listed option."""
    if not 1 <= len(root) <= OCC_ROOT_WIDTH:
        raise ContractSymbolError(f"OCC root {root!r} must have 1-{OCC_ROOT_WIDTH} characters")
    thousandths = Decimal(_strike_text(strike)) * 1000
    if thousandths != thousandths.to_integral_value() or thousandths >= 10**8:
        raise ContractSymbolError(f"strike {strike} does not fit the OCC format "
                                  "(thousandths, below 100,000)")
    flag = "C" if _right(right) == "call" else "P"
    return f"{root:<{OCC_ROOT_WIDTH}}{expiry:%y%m%d}{flag}{int(thousandths):08d}"


def contract_symbol(exchange: str, underlying: str, expiry: date, strike: Decimal | float,
                    right: str, monthly: bool) -> str:
    """An option's symbol in its exchange's format (NSE/BSE trading symbols, OCC for the
    rest)."""
    if exchange in INDIAN_EXCHANGES:
        return nse_symbol(underlying, expiry, strike, right, monthly)
    return occ_symbol(underlying, expiry, strike, right)


_OCC = re.compile(r"(?P<root>[A-Z0-9.]{1,6}) *(?P<date>\d{6})(?P<right>[CP])(?P<strike>\d{8})")
_NSE_MONTHLY = re.compile(r"(?P<u>[A-Z0-9&-]+?)(?P<yy>\d{2})(?P<mon>" + "|".join(MONTHS)
                          + r")(?P<strike>\d+(?:\.\d+)?)(?P<right>CE|PE)")
_NSE_WEEKLY = re.compile(r"(?P<u>[A-Z0-9&-]+?)(?P<yy>\d{2})(?P<m>[1-9OND])(?P<dd>\d{2})"
                         r"(?P<strike>\d+(?:\.\d+)?)(?P<right>CE|PE)")


def _date(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ContractSymbolError(f"{text!r}: no such expiry date") from None


def parse_contract_symbol(text: str) -> ContractSymbol:
    """The contract an OCC or NSE/BSE symbol names (:class:`ContractSymbolError` if it is
    neither)."""
    if (m := _OCC.fullmatch(text)) and len(text) == 21:
        d = m["date"]
        return ContractSymbol(m["root"], _date(2000 + int(d[:2]), int(d[2:4]), int(d[4:]), text),
                              Decimal(int(m["strike"])) / 1000,
                              "call" if m["right"] == "C" else "put")
    right = {"CE": "call", "PE": "put"}
    if m := _NSE_MONTHLY.fullmatch(text):
        return ContractSymbol(m["u"], _date(2000 + int(m["yy"]), MONTHS.index(m["mon"]) + 1, 1,
                                            text),
                              Decimal(m["strike"]), right[m["right"]], monthly=True)
    if m := _NSE_WEEKLY.fullmatch(text):
        return ContractSymbol(m["u"], _date(2000 + int(m["yy"]),
                                            WEEKLY_MONTHS.index(m["m"]) + 1, int(m["dd"]), text),
                              Decimal(m["strike"]), right[m["right"]])
    raise ContractSymbolError(
        f"{text!r} is neither an OCC symbol (ROOT padded to 6, YYMMDD, C/P, strike x1000 on 8 "
        "digits) nor an NSE/BSE one (UNDERLYING, YYMON or YYMDD, strike, CE/PE)")
