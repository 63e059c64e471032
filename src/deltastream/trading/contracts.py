"""Which instrument an order names: an option of a listed expiry, or the underlying itself.

Accepted spellings (all upper case; surrounding spaces ignored except inside OCC's padding):

* NSE/BSE trading symbols: monthly ``NIFTY26DEC24500CE`` (the last listed expiry of that month)
  and weekly ``NIFTY26D0824500CE`` (catalog/contract_symbols.py);
* OCC symbols ``AAPL  261211P00212500``;
* the original feed's ``NIFTY20261208C24500`` (underlying, YYYYMMDD, C/P, strike);
* the older ``NIFTY25JAN21500CE`` (the NSE monthly form);
* explicit fields: product, expiry, strike, option_type (``CE``/``PE``/``C``/``P``/``call``/
  ``put``);
* a bare product symbol (``NIFTY``): the underlying.

A contract is valid when its product is in the catalogue, its expiry is listed now (the caller
passes the listed expiries, e.g. :func:`listed_expiries` of the catalogue at ``now``),
and its strike lies on the product's strike step. Anything else raises :class:`ContractError`
naming the field (``symbol``, ``product``, ``expiry``, ``strike``, ``option_type``).
Strikes are ``Decimal`` in the product's currency.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from ..calendars.expiries import listing_for
from ..catalog.contract_symbols import ContractSymbolError, parse_contract_symbol
from ..catalog.product import Product


class ContractError(ValueError):
    """An order's instrument cannot be resolved; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Instrument:
    """A tradable instrument: an option (expiry, strike, right set) or the underlying (all
    three None). ``lot_size`` units per lot, ``tick_size`` the price tick (Decimal)."""

    product: str
    expiry: date | None
    strike: Decimal | None
    right: str | None            # "call" | "put" | None for the underlying
    lot_size: int
    tick_size: Decimal
    currency: str
    exchange: str

    @property
    def is_option(self) -> bool:
        return self.right is not None

    @property
    def key(self) -> str:
        """A stable text key: the product, or ``PRODUCT:YYYY-MM-DD:STRIKE:C|P``."""
        if self.right is None:
            return self.product
        flag = "C" if self.right == "call" else "P"
        return f"{self.product}:{self.expiry:%Y-%m-%d}:{format(self.strike, 'f')}:{flag}"


def listed_expiries(products: Iterable[Product], now: datetime) -> dict[str, list[date]]:
    """Each product's expiries listed at ``now`` (timezone-aware), by product symbol: the
    ``listed`` argument of :func:`resolve_symbol` and :func:`resolve_fields`."""
    return {p.symbol: listing_for(p).expiries_for(now) for p in products}


def tick_of(product: Product) -> Decimal:
    """The product's premium tick as an exact Decimal (the catalogue stores a float)."""
    return Decimal(repr(product.tick_size))


_FEED = re.compile(r"(?P<u>[A-Z0-9&-]+?)(?P<date>\d{8})(?P<right>[CP])(?P<strike>\d+(?:\.\d+)?)")
_RIGHTS = {"CE": "call", "PE": "put", "C": "call", "P": "put", "CALL": "call", "PUT": "put"}


@dataclass(frozen=True)
class _Named:
    underlying: str
    expiry: date
    strike: Decimal
    right: str
    monthly: bool


def _parse(symbol: str) -> _Named | None:
    """The option a symbol names, or None for a bare word (maybe an underlying)."""
    if m := _FEED.fullmatch(symbol):
        d = m["date"]
        try:
            expiry = date(int(d[:4]), int(d[4:6]), int(d[6:]))
        except ValueError:
            raise ContractError("symbol", f"{symbol!r}: no such expiry date") from None
        return _Named(m["u"], expiry, Decimal(m["strike"]),
                      "call" if m["right"] == "C" else "put", False)
    try:
        parsed = parse_contract_symbol(symbol)
    except ContractSymbolError as error:
        if re.fullmatch(r"[A-Z0-9&_-]+", symbol) and not re.search(r"\d{2}(CE|PE)$", symbol):
            return None
        raise ContractError("symbol", str(error)) from None
    return _Named(parsed.underlying, parsed.expiry, parsed.strike, parsed.right, parsed.monthly)


def _instrument(product: Product, expiry: date | None, strike: Decimal | None,
                right: str | None) -> Instrument:
    return Instrument(product.symbol, expiry, strike, right, product.lot_size, tick_of(product),
                      product.currency, product.exchange)


def _listed_expiry(named: _Named, listed: Sequence[date], product: str) -> date:
    if named.monthly:
        # A monthly symbol names the month: its contract is the month's last listed expiry.
        in_month = [e for e in listed if (e.year, e.month) == (named.expiry.year,
                                                                named.expiry.month)]
        if in_month:
            return max(in_month)
        when = f"{named.expiry:%b %Y}"
    else:
        if named.expiry in listed:
            return named.expiry
        when = f"{named.expiry:%Y-%m-%d}"
    if listed:
        first = min(listed)
        # Before the first listed expiry (a monthly: in an earlier month) it has passed.
        gone = ((named.expiry.year, named.expiry.month) < (first.year, first.month)
                if named.monthly else named.expiry < first)
        if gone:
            raise ContractError("expiry", f"{product} {when} has expired")
    shown = ", ".join(f"{e:%Y-%m-%d}" for e in listed)
    raise ContractError("expiry", f"{product} lists no expiry {when} (listed: {shown})")


def _checked_strike(strike: Decimal, product: Product) -> Decimal:
    step = Decimal(repr(product.strike_step))
    if strike <= 0 or strike % step != 0:
        raise ContractError("strike", f"{format(strike, 'f')} is not a {product.symbol} strike "
                                      f"(positive multiples of {format(step.normalize(), 'f')})")
    return strike


def resolve_symbol(symbol: str, products: Mapping[str, Product],
                   listed: Mapping[str, Sequence[date]]) -> Instrument:
    """The instrument ``symbol`` names (any accepted spelling), checked against the catalogue
    ``products`` and the expiries ``listed`` now per product symbol."""
    # Outer spaces only: an OCC root's padding sits inside the symbol.
    text = symbol.strip().upper()
    if not text:
        raise ContractError("symbol", "is empty")
    named = _parse(text)
    if named is None:
        product = products.get(text)
        if product is None:
            raise ContractError("symbol", f"unknown symbol {symbol!r}")
        return _instrument(product, None, None, None)
    product = products.get(named.underlying)
    if product is None:
        raise ContractError("symbol", f"unknown product {named.underlying!r} in {symbol!r}")
    expiry = _listed_expiry(named, listed.get(product.symbol, ()), product.symbol)
    return _instrument(product, expiry, _checked_strike(named.strike, product), named.right)


def resolve_fields(product: str, expiry: date | str | None, strike: Decimal | float | str | None,
                   option_type: str | None, products: Mapping[str, Product],
                   listed: Mapping[str, Sequence[date]]) -> Instrument:
    """The instrument explicit fields name; with expiry, strike and option_type all None,
    the underlying."""
    found = products.get(product.strip().upper())
    if found is None:
        raise ContractError("product", f"unknown product {product!r}")
    if expiry is None and strike is None and option_type is None:
        return _instrument(found, None, None, None)
    if expiry is None:
        raise ContractError("expiry", "is required for an option")
    if strike is None:
        raise ContractError("strike", "is required for an option")
    if option_type is None:
        raise ContractError("option_type", "is required for an option")
    right = _RIGHTS.get(option_type.strip().upper())
    if right is None:
        raise ContractError("option_type", f"{option_type!r} is not CE/PE/C/P/call/put")
    try:
        when = expiry if isinstance(expiry, date) else date.fromisoformat(expiry)
    except ValueError:
        raise ContractError("expiry", f"{expiry!r} is not a date YYYY-MM-DD") from None
    try:
        value = Decimal(str(strike))
    except InvalidOperation:
        raise ContractError("strike", f"{strike!r} is not a number") from None
    if not value.is_finite():
        raise ContractError("strike", f"{strike!r} is not a number")
    named = _Named(found.symbol, when, value, right, False)
    chosen = _listed_expiry(named, listed.get(found.symbol, ()), found.symbol)
    return _instrument(found, chosen, _checked_strike(value, found), right)
