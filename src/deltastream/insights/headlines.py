"""Headlines from the RSS/Atom feeds a user configures, fetched in the background and scored
with the Loughran–McDonald lists (:mod:`deltastream.insights.lexicon`).

(Not to be confused with :mod:`deltastream.feeds`, the market-data providers.)

Fetching: each feed URL is requested with urllib, its bytes read by this module and then
handed to ``feedparser.parse`` (which is never given a URL, so it never fetches anything
itself). A fetch is abandoned once ``timeout`` seconds have passed (checked between reads; one
read waits at most ``timeout`` too, so a trickling server costs at most about twice that), and
a response over ``max_bytes`` is refused. At most ``max_entries`` entries are kept per feed.
Malformed XML from which feedparser's lenient parser recovers titled entries is read; a
document it recovers none from (truncated, not XML, an HTML page) counts as a failed fetch.

Refreshing: a background thread (a real OS thread, also under gevent) asks each feed every
``refresh`` seconds; a failing feed backs off exponentially (:class:`~deltastream.core.retry.
Backoff`: ``min(refresh, 60)`` seconds doubling per failure up to ``max(refresh, 3600)``,
with jitter), logged once per outage, and keeps serving its last good headlines. Requests
never fetch: they read the cache (the first one waits a bounded time for the first round).

Scores: per headline and overall as the lexicon module defines; the report is recomputed only
when a feed's headlines changed. Times are UTC (ISO-8601 with ``Z`` in the report); durations
in seconds of the monotonic clock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from typing import Any

import feedparser

from ..core.retry import Backoff, reason
from ..core.threads import real_event, real_lock, real_thread
from ..core.times import format_utc
from ..core.urls import hide_password
from .lexicon import Lexicon, LexiconError, Score, load_lexicon, overall, score_text

log = logging.getLogger(__name__)

# Entries kept per feed, bytes read per feed, headlines in a report (newest first).
MAX_ENTRIES = 50
MAX_BYTES = 2 * 1024 * 1024
MAX_HEADLINES = 200
# Characters of a title kept.
MAX_TITLE = 300
# Back-off of a failing feed: first delay at most this, ceiling at least that (seconds).
FIRST_BACKOFF = 60.0
MAX_BACKOFF = 3600.0
USER_AGENT = "DeltaStream headline reader"
LEXICON_NAME = "Loughran-McDonald"
ACCEPT = ("application/rss+xml, application/atom+xml, application/xml;q=0.9, "
          "text/xml;q=0.9, */*;q=0.5")

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


class FeedError(Exception):
    """A feed could not be fetched or read (the message says why, in one line)."""


@dataclass(frozen=True)
class Headline:
    """One entry: its title (plain text), link (http(s) only, else None), the feed's title
    as source, published time (UTC, None when the entry has none) and the feed's URL."""

    title: str
    link: str | None
    source: str
    published: datetime | None
    feed: str


def fetch_bytes(url: str, timeout: float, max_bytes: int,
                user_agent: str = USER_AGENT) -> bytes:
    """The body at ``url`` (see the module's description for the bounds); raises
    :class:`FeedError` (or OSError, for the network's errors)."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": user_agent,
                                                   "Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FeedError(f"response of {int(declared)} bytes is over {max_bytes}")
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise FeedError(f"no complete answer within {timeout:g} s")
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FeedError(f"response over {max_bytes} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def _text(value: Any) -> str:
    return _SPACE.sub(" ", unescape(_TAG.sub(" ", str(value or "")))).strip()


def _published(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = parsed[:6]
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def parse_feed(data: bytes, url: str, max_entries: int = MAX_ENTRIES) -> list[Headline]:
    """The headlines of an RSS or Atom document (at most ``max_entries``, in the feed's
    order; entries without a title skipped); raises :class:`FeedError` when it is not a
    feed."""
    parsed = feedparser.parse(data)
    source = _text(parsed.get("feed", {}).get("title")) or (
        hide_password(url).split("/")[2] if "://" in url else url)
    out = []
    for entry in parsed.get("entries") or []:
        title = _text(entry.get("title"))[:MAX_TITLE]
        if not title:
            continue
        link = str(entry.get("link") or "")
        out.append(Headline(title, link if link.startswith(("http://", "https://")) else None,
                            source, _published(entry), url))
        if len(out) >= max_entries:
            break
    # A document feedparser's lenient parser recovers titled entries from is read; one it
    # recovers none from (truncated, not XML, an HTML page) is no feed. A well-formed feed
    # with no entries is an empty feed.
    if not out and (parsed.get("bozo") or not parsed.get("version")):
        cause = " ".join(str(parsed.get("bozo_exception") or "").split()) or (
            "no rss or feed element")
        raise FeedError(f"not an RSS or Atom feed: {cause}"[:200])
    return out


@dataclass
class FeedState:
    """One feed's state: its last good headlines, whether the last attempt succeeded (with
    the error when not), when it last succeeded and was last tried (UTC), and when (monotonic
    seconds) it is next due."""

    url: str
    backoff: Backoff
    headlines: list[Headline] = field(default_factory=list)
    ok: bool = False
    error: str | None = "not fetched yet"
    fetched_at: datetime | None = None
    attempted_at: datetime | None = None
    next_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"url": hide_password(self.url), "ok": self.ok, "error": self.error,
                "fetched_at": format_utc(self.fetched_at) if self.fetched_at else None,
                "attempted_at": format_utc(self.attempted_at) if self.attempted_at else None,
                "entries": len(self.headlines), "failures": self.backoff.failures}


class HeadlineService:
    """The configured feeds' headlines, refreshed in the background, and their sentiment
    report (see the module's description). ``fetch``, ``clock``, ``now``, ``jitter`` and
    ``lexicon`` are replaceable for tests."""

    def __init__(self, urls: Sequence[str], *, refresh: float, timeout: float,
                 max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 user_agent: str = USER_AGENT,
                 fetch: Callable[[str, float, int, str], bytes] = fetch_bytes,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 jitter: Callable[[], float] = random.random,
                 lexicon: Callable[[], Lexicon] = load_lexicon) -> None:
        if not refresh > 0 or not timeout > 0:
            raise ValueError(f"refresh ({refresh}) and timeout ({timeout}) must be > 0 s")
        self.refresh = refresh
        self.timeout = timeout
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self._fetch = fetch
        self._clock = clock
        self._now = now
        self._lexicon = lexicon
        first = min(refresh, FIRST_BACKOFF)
        cap = max(refresh, MAX_BACKOFF)
        self.feeds = [FeedState(url, Backoff(f"the news feed {hide_password(url)}", log,
                                             first=first, cap=cap, clock=clock,
                                             jitter=jitter))
                      for url in dict.fromkeys(urls)]
        self._lock = real_lock()
        self._stop = real_event()
        self._thread: Any = None
        self._pid = 0
        self._version = 0                 # bumped whenever a feed's state changes
        self._report: tuple[int, dict[str, Any]] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.feeds)

    @property
    def first_round_done(self) -> bool:
        """Whether every feed has been tried at least once."""
        return all(f.attempted_at is not None for f in self.feeds)

    # -- refreshing ------------------------------------------------------------------------

    def refresh_due(self) -> float:
        """Fetch every feed that is due, one after the other; returns the seconds until the
        next one is due."""
        for feed in self.feeds:
            if feed.next_at <= self._clock():
                self._attempt(feed)
        if not self.feeds:
            return self.refresh
        return max(0.05, min(f.next_at for f in self.feeds) - self._clock())

    def _attempt(self, feed: FeedState) -> None:
        started = self._clock()
        try:
            data = self._fetch(feed.url, self.timeout, self.max_bytes, self.user_agent)
            headlines = parse_feed(data, feed.url, self.max_entries)
        except Exception as error:   # any failure of one feed must not stop the others
            if not isinstance(error, OSError | FeedError):
                log.exception("news feed %s: unexpected error", hide_password(feed.url))
            delay = feed.backoff.failed(error)
            with self._lock:
                feed.ok, feed.error = False, reason(error)[:200]
                feed.attempted_at = self._now()
                feed.next_at = self._clock() + delay
                self._version += 1
            return
        feed.backoff.succeeded()
        with self._lock:
            feed.ok, feed.error, feed.headlines = True, None, headlines
            feed.attempted_at = feed.fetched_at = self._now()
            feed.next_at = max(started + self.refresh, self._clock())
            self._version += 1

    def start(self) -> None:
        """Start the background refresh (idempotent; again in a forked child, whose parent's
        thread did not come along)."""
        if not self.feeds:
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop.clear()
            self._thread = real_thread(self._run, "deltastream-news")
            self._thread.start()

    def close(self) -> None:
        """Stop refreshing (a fetch under way is abandoned within about twice ``timeout``)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(2 * self.timeout + 1.0)

    def _run(self) -> None:
        # The word lists take a fraction of a second to read: here, not in a request (which
        # under gevent would hold up every other request of the worker meanwhile).
        with contextlib.suppress(LexiconError):     # the report says why
            self._lexicon()
        while not self._stop.is_set():
            self._stop.wait(self.refresh_due())

    def wait_first_round(self, limit: float,
                         sleep: Callable[[float], None] = time.sleep) -> bool:
        """Wait at most ``limit`` seconds for every feed to have been tried once (``sleep``
        yields to other requests under gevent); whether they have."""
        deadline = time.monotonic() + limit
        while not self.first_round_done:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sleep(min(0.05, left))
        return True

    # -- the report ------------------------------------------------------------------------

    def headlines(self) -> list[Headline]:
        """Every feed's headlines, newest first (undated last), each link once, at most
        :data:`MAX_HEADLINES`."""
        with self._lock:
            every = [h for f in self.feeds for h in f.headlines]
        seen: set[str] = set()
        unique = []
        for h in every:
            key = h.link or f"{h.feed}\n{h.title}"
            if key not in seen:
                seen.add(key)
                unique.append(h)
        oldest = datetime.min.replace(tzinfo=UTC)
        unique.sort(key=lambda h: h.published or oldest, reverse=True)
        return unique[:MAX_HEADLINES]

    def report(self) -> dict[str, Any]:
        """The sentiment answer: overall label and score, each headline scored with its
        matched words, each feed's state, and a message saying what it rests on."""
        with self._lock:
            version = self._version
            cached = self._report
        if cached is not None and cached[0] == version:
            return cached[1]
        answer = self._build()
        with self._lock:
            self._report = (version, answer)
        return answer

    def _build(self) -> dict[str, Any]:
        with self._lock:
            feeds = [f.as_dict() for f in self.feeds]
        base: dict[str, Any] = {"sentiment": "unavailable", "score": None, "headlines": [],
                                "feeds": feeds, "configured": self.configured,
                                "lexicon": LEXICON_NAME, "counts": None}
        if not self.configured:
            return {**base, "message": "no headline feeds configured: set news_feeds "
                                       "(DELTASTREAM_NEWS_FEEDS or --news-feed) to RSS or "
                                       "Atom URLs"}
        headlines = self.headlines()
        failing = sum(1 for f in feeds if not f["ok"])
        if not headlines:
            if not self.first_round_done:
                message = f"fetching {len(feeds)} feed(s); headlines appear once they answer"
            else:
                message = f"no headlines: {failing} of {len(feeds)} feed(s) failing"
            return {**base, "message": message}
        try:
            lexicon = self._lexicon()
        except LexiconError as error:
            return {**base, "headlines": [_headline(h, None) for h in headlines],
                    "message": str(error)}
        scores = [score_text(h.title, lexicon) for h in headlines]
        value, word = overall(scores)
        counts = {"positive": sum(len(s.positive) for s in scores),
                  "negative": sum(len(s.negative) for s in scores)}
        message = (f"{len(headlines)} headline(s) from {len(feeds) - failing} of {len(feeds)} "
                   f"feed(s) scored with the {LEXICON_NAME} word lists")
        if failing:
            message += f"; {failing} feed(s) failing (their last headlines kept)"
        return {**base, "sentiment": word, "score": value, "counts": counts,
                "headlines": [_headline(h, s) for h, s in zip(headlines, scores, strict=True)],
                "message": message}


def _headline(h: Headline, s: Score | None) -> dict[str, Any]:
    return {"title": h.title, "link": h.link, "source": h.source,
            "published": format_utc(h.published) if h.published else None,
            "score": s.score if s else None, "label": s.label if s else None,
            "positive": s.positive if s else [], "negative": s.negative if s else [],
            "negated": s.negated if s else []}
