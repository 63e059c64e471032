"""Load the catalogue: the defaults, changed or extended by a TOML file.

```toml
[products.NIFTY]
rate = 0.06                      # change one field of a default product

[products.RELIANCE]              # a new product: every field without a default is required
name = "Reliance Industries"
exchange = "NSE"
...
expiries = [{ name = "monthly", count = 3, rules = [{ kind = "monthly_last", weekday = "TUE" }] }]
```

Any invalid value raises :class:`CatalogError` with a one-line message naming the product and
the field, e.g. ``products.NIFTY.strike_step: must be > 0, got -5``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterator
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..core.types import ExerciseStyle, choices
from .defaults import DEFAULT_PRODUCTS
from .expiry_rules import KINDS, WEEKDAYS, ExpiryRule, ExpirySeries
from .product import Product


class CatalogError(ValueError):
    """An invalid catalogue file or value."""


def _number(lo: float | None = None, hi: float | None = None, lo_open: bool = False,
            integer: bool = False) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"must be a number, got {v!r}")
        if integer and not float(v).is_integer():
            raise ValueError(f"must be a whole number, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"must be finite, got {v!r}")
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise ValueError(f"must be {'>' if lo_open else '>='} {lo}, got {v!r}")
        if hi is not None and v > hi:
            raise ValueError(f"must be <= {hi}, got {v!r}")
        return int(v) if integer else float(v)
    return check


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"must be a non-empty string, got {v!r}")
    return v


def _timezone(v: Any) -> str:
    try:
        ZoneInfo(_text(v))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {v!r}") from exc
    return v


def _close(v: Any) -> time:
    try:
        hh, mm = _text(v).split(":")
        return time(int(hh), int(mm))
    except ValueError as exc:
        raise ValueError(f"must be HH:MM, got {v!r}") from exc


def _style(v: Any) -> str:
    if v not in choices(ExerciseStyle):
        raise ValueError(f"must be one of {', '.join(choices(ExerciseStyle))}, got {v!r}")
    return v


def _calendar(v: Any) -> str:
    import exchange_calendars

    if _text(v) not in exchange_calendars.get_calendar_names():
        raise ValueError(f"unknown exchange calendar {v!r} (e.g. XBOM, XNYS)")
    return v


def _day(v: Any) -> date:
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(_text(v))
    except ValueError as exc:
        raise ValueError(f"must be a date YYYY-MM-DD, got {v!r}") from exc


def _holidays(v: Any) -> frozenset[date]:
    if not isinstance(v, list):
        raise ValueError(f"must be a list of dates, got {v!r}")
    return frozenset(_day(x) for x in v)


def _series(v: Any) -> tuple[ExpirySeries, ...]:
    if not isinstance(v, list) or not v:
        raise ValueError("must be a non-empty list of {name, count, rules}")
    out = []
    for i, s in enumerate(v):
        if not isinstance(s, dict) or set(s) - {"name", "count", "rules"}:
            raise ValueError(f"[{i}] must be a table with name, count and rules")
        count = _number(1, 60, integer=True)(s.get("count"))
        rules = s.get("rules")
        if not isinstance(rules, list) or not rules:
            raise ValueError(f"[{i}].rules must be a non-empty list")
        parsed = []
        for j, r in enumerate(rules):
            if not isinstance(r, dict) or set(r) - {"kind", "weekday", "from", "until"}:
                raise ValueError(f"[{i}].rules[{j}] must have kind, weekday, from, until")
            kind = r.get("kind")
            if kind not in KINDS:
                raise ValueError(f"[{i}].rules[{j}].kind must be one of {', '.join(KINDS)}, "
                                 f"got {kind!r}")
            weekday = r.get("weekday", "FRI")
            if weekday not in WEEKDAYS:
                raise ValueError(f"[{i}].rules[{j}].weekday must be one of "
                                 f"{', '.join(WEEKDAYS)}, got {weekday!r}")
            parsed.append(ExpiryRule(kind, WEEKDAYS[weekday],
                                     _day(r["from"]) if "from" in r else None,
                                     _day(r["until"]) if "until" in r else None))
        out.append(ExpirySeries(_text(s.get("name", f"series{i}")), count, tuple(parsed)))
    return tuple(out)


FIELDS: dict[str, Callable[[Any], Any]] = {
    "name": _text, "exchange": _text, "calendar_code": _calendar, "timezone": _timezone,
    "close": _close, "currency": _text, "tick_size": _number(0, lo_open=True),
    "strike_step": _number(0, lo_open=True), "lot_size": _number(1, integer=True),
    "exercise_style": _style, "rate": _number(-0.1, 0.5), "dividend_yield": _number(0, 0.5),
    "spot": _number(0, lo_open=True), "vol_level": _number(0.01, 3.0),
    "mean_reversion": _number(0.1, 100.0), "vol_of_vol": _number(0.0, 5.0),
    "spot_vol_correlation": _number(-0.99, 0.99), "jump_intensity": _number(0.0, 100.0),
    "jump_mean": _number(-0.5, 0.5), "jump_std": _number(0.0, 0.5),
    "skew": _number(-0.99, 0.99), "curvature": _number(0.0, 2.0, lo_open=True),
    "iv_premium": _number(0.5, 2.0), "expiries": _series,
    "peak_trade_rate": _number(0.0, 10_000.0), "peak_open_interest": _number(0.0, 1e9),
    "relative_spread": _number(0.0, 0.5, lo_open=True),
    "underlying_volume_rate": _number(0.0, 1e9), "extra_holidays": _holidays,
    "strikes_each_side": _number(5, 200, integer=True),
}
OPTIONAL: dict[str, Any] = {"extra_holidays": [], "strikes_each_side": None}


class Catalog:
    """Products in catalogue order."""

    def __init__(self, products: list[Product]) -> None:
        self._products = {p.symbol: p for p in products}

    @property
    def symbols(self) -> list[str]:
        return list(self._products)

    def get(self, symbol: str) -> Product | None:
        return self._products.get(symbol)

    def __getitem__(self, symbol: str) -> Product:
        return self._products[symbol]

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._products

    def __iter__(self) -> Iterator[Product]:
        return iter(self._products.values())

    def __len__(self) -> int:
        return len(self._products)


def _build(symbol: str, raw: dict[str, Any]) -> Product:
    values: dict[str, Any] = {"symbol": symbol}
    for name, check in FIELDS.items():
        if name not in raw:
            if name in OPTIONAL:
                default = OPTIONAL[name]
                values[name] = None if default is None else check(default)
                continue
            raise CatalogError(f"products.{symbol}.{name}: required for a new product")
        try:
            values[name] = check(raw[name])
        except ValueError as exc:
            raise CatalogError(f"products.{symbol}.{name}: {exc}") from None
    product = Product(**values)
    if product.curvature * (1 + abs(product.skew)) > 2.0:
        raise CatalogError(f"products.{symbol}.curvature: curvature * (1 + |skew|) must be "
                           f"<= 2 (no butterfly arbitrage), got {product.curvature}")
    return product


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The default catalogue, with the products of the TOML file at ``path`` changed or added."""
    raw_products: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_PRODUCTS.items()}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CatalogError(f"{path}: cannot read catalogue file ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{path}: invalid TOML ({exc})") from None
        unknown_top = set(data) - {"products"}
        if unknown_top:
            raise CatalogError(f"{sorted(unknown_top)[0]}: unknown section (expected products)")
        products = data.get("products", {})
        if not isinstance(products, dict):
            raise CatalogError("products: must be a table of products")
        for symbol, entry in products.items():
            if not isinstance(entry, dict):
                raise CatalogError(f"products.{symbol}: must be a table")
            unknown = set(entry) - set(FIELDS)
            if unknown:
                raise CatalogError(f"products.{symbol}.{sorted(unknown)[0]}: unknown field")
            raw_products[symbol] = {**raw_products.get(symbol, {}), **entry}
    return Catalog([_build(sym, raw) for sym, raw in raw_products.items()])


