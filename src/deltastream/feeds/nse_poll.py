"""A live market from URLs serving NSE's option-chain JSON, polled in the background.

:class:`NSEPollingProvider` is a :class:`~deltastream.core.protocols.MarketProvider`: a
background thread requests each URL every ``interval`` seconds, reads the payload with the
NSE JSON reader (:func:`deltastream.feeds.formats.nse_json.read`, both the legacy and the v3
shape) and prices it as an import is priced (:func:`deltastream.feeds.products.product_terms`,
:func:`deltastream.feeds.build.build_snapshot`); the engine's tick only takes what is ready,
so a slow or unreachable server never stalls the engine.

- Each URL names the product it serves in its ``symbol=`` query parameter (NSE's own URLs
  do: ``.../api/option-chain-v3?type=Indices&symbol=NIFTY&expiry=30-Dec-2026``). Several
  URLs may serve one product (one per expiry): its snapshot is made of the latest payload of
  each, a contract quoted by two of them taken from the newer.
- A product's snapshot is published only when one of its payloads carries a new
  ``records.timestamp``: NSE refreshes its data every few minutes, however often it is asked.
  The first waits until each of the product's URLs has been asked once.
- A failed request (an HTTP error status, a dropped or refused connection, a timeout, a
  payload that is not the option-chain JSON) backs off per URL (:class:`~deltastream.core.
  retry.Backoff`: ``interval`` doubling per failure up to ``max_backoff`` seconds, with
  jitter), is logged once per outage (with a summary a minute and a line when it is back),
  and the last good snapshot stays served.

Requests send ``user_agent`` (NSE's site answers browsers only), ask for JSON, accept gzip,
keep the cookies the server sets, time out after ``timeout`` seconds and read at most
``max_bytes`` of a response. Times are seconds; market times timezone-aware UTC.
"""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import logging
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..catalog import Catalog
from ..core.retry import Backoff
from ..core.snapshot import ChainSnapshot
from ..core.threads import real_event, real_lock, real_thread
from ..core.urls import hide_password
from ..settings import BROWSER_USER_AGENT
from .build import UnpriceableChainError, build_snapshot
from .formats import nse_json
from .products import product_terms
from .records import ROW_FIELDS, FileFormatError, ImportedChain

log = logging.getLogger(__name__)

DEFAULT_SOURCE = "nse-live"
# The largest response read (a full legacy NIFTY chain is a few MB).
MAX_BYTES = 32 * 1024 * 1024


class FeedError(ValueError):
    """A payload that cannot be used: the message says why (one line)."""


def url_symbol(url: str) -> str:
    """The product ``url`` serves: its ``symbol=`` query parameter, upper-case. Raises
    ValueError naming the URL when it has none."""
    query = {k.lower(): v for k, v in parse_qs(urlsplit(url).query).items()}
    symbol = (query.get("symbol") or [""])[0].strip().upper()
    if not symbol:
        raise ValueError(f"feed URL {hide_password(url)} has no symbol= query parameter "
                         "naming the product it serves (e.g. ...?symbol=NIFTY)")
    return symbol


def poll_symbols(urls: Sequence[str]) -> list[str]:
    """The products ``urls`` serve, each once, in the order first named."""
    return list(dict.fromkeys(url_symbol(u) for u in urls))


def merge_chains(chains: Sequence[ImportedChain]) -> ImportedChain:
    """One chain of a product from several payloads (one per expiry, say): their rows
    together, a contract (expiry, strike, right) present in two of them taken from the
    newer; the underlying, quote time and session those of the newest."""
    ordered = sorted(chains, key=lambda c: c.timestamp)
    newest = ordered[-1]
    if len(ordered) == 1:
        return newest
    columns = {name: np.concatenate([getattr(c, name) for c in ordered]) for name in ROW_FIELDS}
    # The last occurrence of each contract wins: unique over the reversed rows.
    keys = np.rec.fromarrays([columns["expiry"].astype("datetime64[D]").astype(np.int64)[::-1],
                              columns["strike"][::-1], columns["right"][::-1]])
    _, first_reversed = np.unique(keys, return_index=True)
    keep = np.sort(len(keys) - 1 - first_reversed)
    futures: dict[Any, float] = {}
    for chain in ordered:
        futures.update(chain.futures)
    rows: dict[str, Any] = {name: values[keep] for name, values in columns.items()}
    return dataclasses.replace(newest, futures=futures, **rows)


@dataclass
class _Poll:
    """One URL's polling state."""

    url: str
    symbol: str
    backoff: Backoff
    next_at: float = 0.0                  # monotonic time of the next request
    timestamp: datetime | None = None     # records.timestamp of the last payload used
    chain: ImportedChain | None = None
    asked: bool = False                   # requested at least once (answered or not)
    changed: bool = False                 # a new payload not in a snapshot yet


class NSEPollingProvider:
    """The products of ``urls`` (NSE option-chain JSON), polled every ``interval`` seconds
    by a background thread (see the module's description). ``catalog`` gives the terms of
    the products it lists; others are made from the data."""

    def __init__(self, urls: Sequence[str], interval: float, catalog: Catalog,
                 source: str = DEFAULT_SOURCE, *, user_agent: str = BROWSER_USER_AGENT,
                 timeout: float = 10.0, max_backoff: float = 300.0,
                 max_bytes: int = MAX_BYTES) -> None:
        if not urls:
            raise ValueError("an NSE polling provider needs at least one URL")
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.source = source
        self.symbols = poll_symbols(urls)
        self.interval = interval
        self.catalog = catalog
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_bytes = max_bytes
        cap = max(max_backoff, interval)
        self._polls = [_Poll(url, url_symbol(url),
                             Backoff(f"the feed {hide_password(url)}", log, first=interval,
                                     cap=cap))
                       for url in dict.fromkeys(urls)]
        # Cookies the server sets (NSE's site sets some on a first visit) are sent back.
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()))
        self._ready: dict[str, ChainSnapshot] = {}    # made, not taken by the engine yet
        self._lock = real_lock()
        self._stop = real_event()
        self._thread: Any = None
        self.requests = 0          # requests made
        self.failures = 0          # requests that failed
        self.updates = 0           # snapshots made (payloads with a new timestamp)

    def describe(self) -> str:
        return (f"NSE option-chain JSON from {len(self._polls)} URL(s) polled every "
                f"{self.interval:g} s ({', '.join(self.symbols)})")

    # -- the engine's side ----------------------------------------------------------------

    def snapshots(self, now: datetime, sequence: int) -> dict[str, ChainSnapshot]:
        """The products whose payload changed since the last call, numbered ``sequence``
        (starts polling on the first call)."""
        self.start()
        with self._lock:
            ready, self._ready = self._ready, {}
        return {product: dataclasses.replace(snap, sequence=sequence)
                for product, snap in ready.items()}

    def start(self) -> None:
        """Start the polling thread (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = real_thread(self._run, "deltastream-feed-poll")
            self._thread.start()

    def close(self) -> None:
        """Stop polling (a request under way is abandoned within ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 1.0)
            self._thread = None

    # -- the polling thread ---------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            poll = min(self._polls, key=lambda p: p.next_at)
            wait = poll.next_at - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
                continue
            self.poll(poll)

    def poll(self, poll: _Poll) -> None:
        """Request ``poll``'s URL once and make its product's snapshot if the payload is
        new; schedule the next request (after ``interval``, or backing off on failure)."""
        started = time.monotonic()
        self.requests += 1
        poll.asked = True
        try:
            chain = self._chain(poll, self._fetch(poll.url))
        except (OSError, http.client.HTTPException, FileFormatError, FeedError,
                zlib.error, EOFError) as error:
            self.failures += 1
            poll.next_at = time.monotonic() + poll.backoff.failed(error)
        else:
            poll.backoff.succeeded()
            poll.next_at = max(started + self.interval, time.monotonic())
            if chain.timestamp != poll.timestamp:
                poll.timestamp, poll.chain, poll.changed = chain.timestamp, chain, True
        self._update(poll.symbol)

    def _update(self, symbol: str) -> None:
        """Make ``symbol``'s snapshot when one of its payloads changed; at the start, only
        once each of its URLs has been asked (its first snapshot has every expiry that
        answered)."""
        polls = [p for p in self._polls if p.symbol == symbol]
        if not all(p.asked for p in polls) or not any(p.changed for p in polls):
            return
        for p in polls:
            p.changed = False
        chain = merge_chains([p.chain for p in polls if p.chain is not None])
        try:
            terms, expiry_instant = product_terms(chain, self.catalog)
            snap = build_snapshot(chain, terms, expiry_instant, 0)
        except UnpriceableChainError as error:
            log.warning("%s: the feed's chain of %s cannot be priced: %s", symbol,
                        chain.timestamp.isoformat(), error)
            return
        except Exception:   # a payload the pricing cannot take must not end the polling
            log.exception("%s: cannot price the feed's chain of %s", symbol,
                          chain.timestamp.isoformat())
            return
        self.updates += 1
        with self._lock:
            self._ready[symbol] = snap

    def _fetch(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={
            "User-Agent": self.user_agent, "Accept": "application/json, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate"})
        with self._opener.open(request, timeout=self.timeout) as response:
            data = response.read(self.max_bytes + 1)
            encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
        if len(data) > self.max_bytes:
            raise FeedError(f"response larger than {self.max_bytes} bytes")
        if encoding == "gzip":
            data = gzip.decompress(data)
        elif encoding == "deflate":
            data = zlib.decompress(data)
        return data

    def _chain(self, poll: _Poll, data: bytes) -> ImportedChain:
        result = nse_json.read(data, hide_password(poll.url), self.source)
        chains = [c for c in result.chains if c.product.upper() == poll.symbol]
        if not chains:
            found = sorted({c.product for c in result.chains}) or ["no option"]
            raise FeedError(f"the payload holds {', '.join(found)}, not {poll.symbol} "
                            "(the URL's symbol=)")
        if result.rejects:
            log.debug("%s: %d rows of %s left out (first: %s)", poll.symbol,
                      len(result.rejects), hide_password(poll.url), result.rejects[0].reason)
        return merge_chains(chains)
