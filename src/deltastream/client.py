"""A Python client of a DeltaStream server, for notebooks and scripts.

``Client(base_url).chain("NIFTY")`` returns the option chain as a pandas DataFrame in long
format, one row per contract; the other methods return the API's JSON as Python values or
small DataFrames. It speaks HTTP with the standard library and reads JSON with orjson; pandas
(the ``client`` extra) is imported only when a DataFrame is built.

Units are the server's: prices in the product's currency; ``iv`` a decimal (0.153); ``delta``
per 1 unit of spot, ``gamma`` per unit of spot, ``theta`` per calendar day, ``vega`` and
``rho`` per 1 percentage point; ``open_interest`` and ``volume`` in contracts; times UTC.

Invariants of :meth:`Client.chain`'s frame: one row per contract (both rights of every strike
the server sent, for every expiry it sent), calls before puts within an expiry, strikes
ascending; every column has one dtype whatever the data: floats with NaN where the server
sent null; ``dte`` int64; ``open_interest``, ``volume`` and ``oi_change`` pandas' nullable
Int64 (NA where an imported file had none); ``timestamp`` datetime64 in UTC; ``expiry``
``datetime.date``; ``in_the_money`` bool. Fields an older server does not send
(``contract_symbol``, ``price_source``, ``quality_flags``, vendor figures, ``source``,
``forward_residual``) are None or NaN rather than missing columns.

Every answer that is not a success raises :class:`DeltaStreamError` with the server's JSON
error (``{"error": ..., "detail": ...}``) and HTTP status.
"""

from __future__ import annotations

import gzip
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from . import __version__
from .core.times import format_utc, parse_utc

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_BASE_URL = "http://127.0.0.1:8001"

# The Greeks a chain carries per option, in the server's field names and units.
GREEKS = ("delta", "gamma", "theta", "vega", "rho")

# The columns of Client.chain's frame, in order.
CHAIN_COLUMNS = (
    "product", "source", "timestamp", "expiry", "dte", "time_to_expiry", "option_type",
    "strike", "contract_symbol", "bid", "ask", "mid", "last", "change", "iv", "iv_status",
    *GREEKS, "open_interest", "volume", "oi_change", "in_the_money", "price_source",
    "quality_flags", "vendor_iv", *(f"vendor_{g}" for g in GREEKS), "spot", "forward",
    "forward_residual",
)
# Per-option fields copied as floats (null -> NaN) and as integers.
_OPTION_FLOATS = ("strike", "bid", "ask", "mid", "last", "change", "iv", *GREEKS)
_OPTION_COUNTS = ("open_interest", "volume", "oi_change")
# Per-option fields copied as they are (None when the server does not send them).
_OPTION_OBJECTS = ("contract_symbol", "iv_status", "price_source", "quality_flags")

ParamValue = str | int | float | bool | date | datetime | None


class DeltaStreamError(Exception):
    """An error answer of the server: its HTTP ``status`` and its JSON body's ``error``
    (one line) and ``detail`` (structured: the parameter and what it accepts, the valid
    products or sources, ...; None when the server gave none)."""

    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(f"HTTP {status}: {error}")
        self.status = status
        self.error = error
        self.detail = detail


class Client:
    """A DeltaStream server at ``base_url`` (scheme, host and port, e.g. the default
    ``http://127.0.0.1:8001``); ``timeout`` in seconds per request.

    ``source`` on each method names the data source to read (``/api/data/sources`` lists
    them: the live feed's, e.g. ``simulator``, and imported ones such as ``nse``); None
    reads the live feed.
    """

    def __init__(self, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http:// or https:// address such as "
                             f"{DEFAULT_BASE_URL}, not {base_url!r}")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self._opener = urllib.request.build_opener()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # -- raw JSON ----------------------------------------------------------------------

    def get(self, path: str, **params: ParamValue) -> Any:
        """GET ``path`` (e.g. ``/api/analytics/oi-buildup/NIFTY``) with query ``params``
        (None values left out; dates and times in ISO-8601, booleans true/false) and
        return its decoded JSON."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', not {path!r}")
        query = urllib.parse.urlencode(
            {name: _param(value) for name, value in params.items() if value is not None})
        # Characters a path may not hold are escaped; escapes already there are kept.
        url = (self.base_url + urllib.parse.quote(path, safe="/%")
               + (f"?{query}" if query else ""))
        request = urllib.request.Request(url, headers={
            "Accept": "application/json", "Accept-Encoding": "gzip",
            "User-Agent": f"deltastream-client/{__version__}"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return orjson.loads(_body(response.read(), response.headers))
        except urllib.error.HTTPError as error:
            raise _server_error(error) from None
        except urllib.error.URLError as error:
            raise ConnectionError(f"cannot reach DeltaStream at {self.base_url}: "
                                  f"{error.reason}") from error

    # -- market data -------------------------------------------------------------------

    def products(self, source: str | None = None) -> list[str]:
        """Products of the live feed in catalogue order, or those stored of ``source``."""
        return list(self.get("/api/data/products", source=source)["products"])

    def sources(self) -> list[dict[str, Any]]:
        """The data sources the server holds: ``[{"name", "live", "products": [{"product",
        "from", "to", "snapshots"}, ...]}, ...]``, the live feed's first."""
        return list(self.get("/api/data/sources")["sources"])

    def expiries(self, product: str, source: str | None = None, *,
                 at: datetime | str | None = None) -> list[date]:
        """Listed expiries of ``product``, ascending (``at``: as listed in the stored
        snapshot of that time)."""
        body = self.get(f"/api/data/expiries/{_segment(product)}", source=source, at=at)
        return [date.fromisoformat(e) for e in body["expiries"]]

    def chain(self, product: str, expiry: date | str | None = None, *,
              source: str | None = None, at: datetime | str | None = None,
              strikes: int | None = None, expiries: int = 1) -> pd.DataFrame:
        """The option chain of ``product`` as a long DataFrame (columns
        :data:`CHAIN_COLUMNS`), one row per contract.

        ``expiry``: the first expiry (default the nearest listed); ``expiries``: how many
        expiries from it (1-10); ``strikes``: strikes per expiry centred on the ATM strike
        (1-201, server default 21); ``at``: the archived chain at that time instead of the
        latest. ``dte`` counts calendar days from the UTC date of the chain's timestamp to
        the expiry date. ``in_the_money`` compares the strike with the chain's spot price,
        as the dashboard shades it: calls with a strike below spot, puts above.
        """
        body = self.get(f"/api/data/chain/{_segment(product)}", expiry=expiry,
                        limit=expiries, strikes=strikes, at=at, source=source)
        return chain_frame(body, source)

    def underlying(self, product: str, *, source: str | None = None, limit: int | None = None,
                   start: datetime | str | None = None,
                   end: datetime | str | None = None) -> pd.DataFrame:
        """Ticks of the underlying, oldest first: the latest ``limit`` (server default 100),
        or stored ones from ``start`` and/or up to ``end``. Columns ``id`` (the tick's
        sequence), ``product``, ``price``, ``timestamp``."""
        body = self.get(f"/api/data/underlying/{_segment(product)}", source=source,
                        limit=limit, **{"from": start, "to": end})
        ticks = body["ticks"]
        pd = _pandas()
        return pd.DataFrame({
            "id": pd.Series([t["id"] for t in ticks], dtype="int64"),
            "product": pd.Series([t["product"] for t in ticks], dtype=object),
            "price": pd.Series([_number(t["price"]) for t in ticks], dtype="float64"),
            "timestamp": _times(pd, [t["timestamp"] for t in ticks]),
        })

    # -- analytics ---------------------------------------------------------------------

    def iv_history(self, product: str, source: str | None = None, *,
                   start: datetime | str | None = None, end: datetime | str | None = None,
                   interval: int | None = None, limit: int | None = None,
                   lookback_days: float | None = None,
                   sample_seconds: int | None = None) -> pd.DataFrame:
        """ATM implied volatility of the nearest expiry over time: columns ``timestamp``
        and ``atm_iv`` (decimal), oldest first. The frame's ``attrs`` hold the rest of the
        answer: ``iv_rank`` and ``iv_percentile`` (``{"value", "observations", "reason"}``,
        value null with the reason until there is enough history), ``current`` and
        ``lookback``. ``interval``: one point per that many seconds; ``lookback_days`` and
        ``sample_seconds``: the observations rank and percentile compare with."""
        body = self.get(f"/api/analytics/iv-history/{_segment(product)}", source=source,
                        interval=interval, limit=limit, lookback_days=lookback_days,
                        sample_seconds=sample_seconds, **{"from": start, "to": end})
        series = body["series"]
        pd = _pandas()
        frame = pd.DataFrame({
            "timestamp": _times(pd, [p["timestamp"] for p in series]),
            "atm_iv": pd.Series([_number(p["atm_iv"]) for p in series], dtype="float64"),
        })
        frame.attrs.update({key: body.get(key) for key in
                            ("product", "iv_rank", "iv_percentile", "current", "lookback")})
        return frame

    def pcr(self, product: str, *, source: str | None = None,
            expiry: date | str | None = None, history: bool = False,
            start: datetime | str | None = None, end: datetime | str | None = None,
            interval: int | None = None, limit: int | None = None,
            at: datetime | str | None = None) -> dict[str, Any]:
        """Put-call ratio by open interest and by volume (``latest``, or of the stored
        snapshot at ``at``), with the stored series under ``history`` when ``history`` is
        true."""
        return dict(self.get(f"/api/analytics/pcr/{_segment(product)}", source=source,
                             expiry=expiry, at=at, history=history or None,
                             interval=interval,
                             limit=limit, **{"from": start, "to": end}))

    def max_pain(self, product: str, *, source: str | None = None,
                 expiry: date | str | None = None,
                 at: datetime | str | None = None) -> dict[str, Any]:
        """Max-pain strike of an expiry (default the nearest), its distance from spot in
        percent and the payout to option holders at each strike (``at``: of the stored
        snapshot of that time)."""
        return dict(self.get(f"/api/analytics/max-pain/{_segment(product)}", source=source,
                             expiry=expiry, at=at))


def chain_frame(body: Mapping[str, Any], source: str | None = None) -> pd.DataFrame:
    """The long DataFrame of a ``/api/data/chain`` answer (see :meth:`Client.chain`);
    ``source``: the source asked for, named when the answer does not say."""
    pd = _pandas()
    columns: dict[str, list[Any]] = {name: [] for name in CHAIN_COLUMNS}
    times: list[str] = []
    for chain in body["chains"]:
        expiry = date.fromisoformat(chain["expiry"])
        taken = parse_utc(chain["timestamp"])
        spot = _number(chain.get("spot_price"))
        per_chain = {
            "product": chain["product"], "source": chain.get("source", source),
            "expiry": expiry, "dte": (expiry - taken.date()).days,
            "time_to_expiry": _number(chain.get("time_to_expiry")), "spot": spot,
            "forward": _number(chain.get("forward")),
            "forward_residual": _number(chain.get("forward_residual")),
        }
        for option_type, options in (("call", chain["calls"]), ("put", chain["puts"])):
            count = len(options)
            times.extend([chain["timestamp"]] * count)
            for name, value in per_chain.items():
                columns[name].extend([value] * count)
            columns["option_type"].extend([option_type] * count)
            for option in options:
                for name in _OPTION_FLOATS:
                    columns[name].append(_number(option.get(name)))
                for name in _OPTION_COUNTS:
                    columns[name].append(option.get(name))
                for name in _OPTION_OBJECTS:
                    columns[name].append(option.get(name))
                strike = option["strike"]
                columns["in_the_money"].append(
                    strike < spot if option_type == "call" else strike > spot)
                columns["vendor_iv"].append(_number(option.get("vendor_iv")))
                vendor = option.get("vendor_greeks") or {}
                for greek in GREEKS:
                    columns[f"vendor_{greek}"].append(_number(vendor.get(greek)))
    frame: dict[str, Any] = {}
    for name, values in columns.items():
        if name == "timestamp":
            frame[name] = _times(pd, times)
        elif name == "dte":
            frame[name] = pd.Series(values, dtype="int64")
        elif name in _OPTION_COUNTS:
            frame[name] = _counts(pd, values)
        elif name == "in_the_money":
            frame[name] = pd.Series(values, dtype=bool)
        elif name in ("strike", "bid", "ask", "mid", "last", "change", "iv", "vendor_iv",
                      "time_to_expiry", "spot", "forward", "forward_residual", *GREEKS,
                      *(f"vendor_{g}" for g in GREEKS)):
            frame[name] = pd.Series(values, dtype="float64")
        else:
            frame[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(frame, columns=list(CHAIN_COLUMNS))


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as error:
        raise ImportError("DataFrames of deltastream.client need pandas (the client extra): "
                          "pip install 'deltastream[client]'") from error
    return pandas


def _counts(pd: Any, values: list[Any]) -> pd.Series:
    # Nullable: an imported file may lack a contract's OI change (null in the API).
    return pd.Series(pd.array(values, dtype="Int64"))


def _times(pd: Any, values: list[str]) -> pd.Series:
    return pd.Series(pd.to_datetime(pd.Series(values, dtype=object), utc=True,
                                    format="ISO8601"))


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _segment(product: str) -> str:
    if not isinstance(product, str) or not product:
        raise ValueError(f"product must be a non-empty string such as 'NIFTY', not "
                         f"{product!r}")
    return urllib.parse.quote(product, safe="")


def _param(value: ParamValue) -> str:
    """A query value as the API reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # pandas.Timestamp is a datetime; its own isoformat may carry nanoseconds.
        as_datetime = getattr(value, "to_pydatetime", None)
        moment = as_datetime() if callable(as_datetime) else value
        if moment.tzinfo is not None:
            return format_utc(moment)
        return moment.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _body(raw: bytes, headers: Any) -> bytes:
    if (headers.get("Content-Encoding") or "").lower() == "gzip":
        return gzip.decompress(raw)
    return raw


def _server_error(error: urllib.error.HTTPError) -> DeltaStreamError:
    """The server's JSON error, or its status line when the body is not one."""
    try:
        body = orjson.loads(_body(error.read(), error.headers))
    except (orjson.JSONDecodeError, OSError, EOFError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return DeltaStreamError(error.code, body["error"], body.get("detail"))
    return DeltaStreamError(error.code, str(error.reason or "error"), None)
