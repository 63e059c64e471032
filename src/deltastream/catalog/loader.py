"""Load the catalogue: the defaults (catalog/defaults.py), changed or extended by a TOML file.

The file format is documented in docs/catalog.md; it is validated by the pydantic models of
catalog/model.py, which also give its JSON Schema (``deltastream catalog-schema``).

```toml
[products.NIFTY]
rate = 0.06                      # change one field of a default product

[products.RELIANCE]              # a new product: every field without a default is required
name = "Reliance Industries"
...
```

Every error of a file is reported at once: :class:`CatalogError` holds one line per error,
each naming the product and the field, e.g. ``products.NIFTY.strike_step: must be > 0, got -5``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .defaults import DEFAULT_PRODUCTS
from .earnings import Earnings
from .expiry_rules import WEEKDAYS, ExpiryRule, ExpirySeries
from .model import CLOSE_PATTERN, SYMBOL_PATTERN, ProductModel, json_schema
from .product import Product


class CatalogError(ValueError):
    """An invalid catalogue file: ``errors`` has one line per error; the message is that line
    when there is one, else a count naming the file and the lines, indented."""

    def __init__(self, errors: list[str], source: str | Path | None = None) -> None:
        self.errors = list(errors)
        if len(errors) == 1:
            message = errors[0]
        else:
            head = f"{source}: " if source is not None else ""
            message = "\n  ".join([f"{head}{len(errors)} errors in the catalogue", *errors])
        super().__init__(message)


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


_PATTERNS = {CLOSE_PATTERN: "must be HH:MM (24-hour)"}
_DATE_ERRORS = {"date_type", "date_parsing", "date_from_datetime_parsing",
                "date_from_datetime_inexact", "date_future", "date_past"}
_COMPARISONS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="),
                "less_than": ("lt", "<"), "less_than_equal": ("le", "<=")}


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _problem(error: ErrorDetails) -> str:
    """One pydantic error in the catalogue's words."""
    kind, ctx, got = error["type"], error.get("ctx", {}), error.get("input")
    if kind in _COMPARISONS:
        key, sign = _COMPARISONS[kind]
        return f"must be {sign} {_number(ctx[key])}, got {got!r}"
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("float_type", "float_parsing", "int_parsing"):
        return f"must be a number, got {got!r}"
    if kind in ("int_type", "int_from_float"):
        return (f"must be a whole number, got {got!r}" if isinstance(got, float)
                else f"must be a number, got {got!r}")
    if kind == "finite_number":
        return f"must be finite, got {got!r}"
    if kind in ("string_type", "string_too_short"):
        return f"must be a non-empty string, got {got!r}"
    if kind == "string_pattern_mismatch":
        return f"{_PATTERNS.get(ctx['pattern'], 'must match ' + ctx['pattern'])}, got {got!r}"
    if kind in ("literal_error", "enum"):
        return f"must be {ctx['expected']}, got {got!r}"
    if kind in _DATE_ERRORS:
        return f"must be a date YYYY-MM-DD, got {got!r}"
    if kind == "list_type":
        return f"must be a list, got {got!r}"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a table, got {got!r}"
    if kind == "value_error":
        return str(ctx["error"])
    return error["msg"]


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _product(symbol: str, m: ProductModel) -> Product:
    hh, mm = m.close.split(":")
    series = tuple(
        ExpirySeries(s.name or f"series{i}", s.count,
                     tuple(ExpiryRule(r.kind, WEEKDAYS[r.weekday], r.effective_from, r.until)
                           for r in s.rules))
        for i, s in enumerate(m.expiries))
    values = m.model_dump(exclude={"close", "open", "exercise_style", "expiries",
                                   "extra_holidays", "earnings"})
    opens = None if m.open is None else time(int(m.open[:2]), int(m.open[3:]))
    del values["round_strikes"]   # a tuple, below
    return Product(symbol=symbol, **values, close=time(int(hh), int(mm)), open=opens,
                   exercise_style=m.exercise_style.value, expiries=series,
                   round_strikes=None if m.round_strikes is None else tuple(m.round_strikes),
                   extra_holidays=frozenset(m.extra_holidays),
                   earnings=None if m.earnings is None else Earnings(**m.earnings.model_dump()))


def _file_products(path: str | Path, errors: list[str]) -> dict[str, dict[str, Any]]:
    """The product tables of the file at ``path``; structural errors go to ``errors``."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError([f"{path}: cannot read catalogue file ({exc.strerror})"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError([f"{path}: invalid TOML ({exc})"]) from None
    errors.extend(f"{key}: unknown section (expected products)"
                  for key in data if key != "products")
    products = data.get("products", {})
    if not isinstance(products, dict):
        errors.append(f"products: must be a table of products, got {products!r}")
        return {}
    out = {}
    for symbol, entry in products.items():
        if not re.fullmatch(SYMBOL_PATTERN, symbol):
            errors.append(f"products.{symbol}: not a valid symbol (1-32 letters, digits, _ or "
                          "-, starting with a letter or digit)")
        elif not isinstance(entry, dict):
            errors.append(f"products.{symbol}: must be a table, got {entry!r}")
        else:
            out[symbol] = entry
    return out


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The default catalogue, with the products of the TOML file at ``path`` changed or added.
    Raises :class:`CatalogError` listing every error of the file."""
    errors: list[str] = []
    raw: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_PRODUCTS.items()}
    if path is not None:
        for symbol, entry in _file_products(path, errors).items():
            raw[symbol] = {**raw.get(symbol, {}), **entry}
    products = []
    for symbol, values in raw.items():
        try:
            model = ProductModel.model_validate(values)
        except ValidationError as exc:
            problems = exc.errors(include_url=False)
            # A new product's missing fields: one line naming them all.
            missing = [str(e["loc"][0]) for e in problems
                       if e["type"] == "missing" and len(e["loc"]) == 1]
            if missing:
                errors.append(f"products.{symbol}: a new product needs every field; missing "
                              f"{', '.join(missing)}")
            errors.extend(f"products.{symbol}{_where(e['loc'])}: {_problem(e)}"
                          for e in problems if str(e["loc"][0]) not in missing)
            continue
        products.append(_product(symbol, model))
    if errors:
        raise CatalogError(errors, path)
    return Catalog(products)


def catalog_json_schema() -> dict[str, Any]:
    """The JSON Schema of a catalogue file (products of the default catalogue may be changed
    field by field; new ones need every required field)."""
    return json_schema(list(DEFAULT_PRODUCTS))
