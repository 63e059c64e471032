"""GET /api/ai/sentiment over feeds served on loopback: the contract's fields, a dead or slow
feed never breaks or holds up the answer, and requests serve the cache instead of fetching."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from deltastream.settings import Settings
from deltastream.web import create_app, routes_sentiment
from deltastream.web.routes_sentiment import EXTENSION_KEY, SentimentResponse
from tests.support.news import NewsServer


@pytest.fixture(scope="module")
def news() -> Iterator[NewsServer]:
    server = NewsServer(slow_delay=3.0)
    yield server
    server.close()


@pytest.fixture()
def make_client(engine):
    apps = []

    def make(**settings: object):
        app = create_app(Settings(**settings), feed=engine, start_feed=False)
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        app.extensions[EXTENSION_KEY].close()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


def test_with_no_feeds_the_answer_says_so(make_client):
    r = make_client().get("/api/ai/sentiment")
    assert r.status_code == 200
    body = r.get_json()
    SentimentResponse.model_validate(body)
    # The React dashboard's fields (CONTRACT.md, Insights).
    assert body["sentiment"] == "unavailable" and body["headlines"] == []
    assert body["configured"] is False and body["feeds"] == [] and body["score"] is None
    assert "no headline feeds configured" in body["message"]


def test_headlines_are_scored_and_a_dead_or_broken_feed_does_not_break_the_route(
        make_client, news):
    dead = dead_url()
    urls = [news.url("/rss.xml"), news.url("/atom.xml"), news.url("/malformed.xml"), dead]
    client = make_client(news_feeds=urls, news_timeout=0.5)
    r = client.get("/api/ai/sentiment")
    assert r.status_code == 200
    body = r.get_json()
    SentimentResponse.model_validate(body)
    assert body["configured"] is True
    assert [(f["url"], f["ok"]) for f in body["feeds"]] == [
        (urls[0], True), (urls[1], True), (urls[2], False), (dead, False)]
    assert body["feeds"][3]["error"] == "Connection refused"
    assert len(body["headlines"]) == 6
    # The counts of tests/insights/test_headlines (by hand in test_lexicon): P 5, N 7.
    assert body["counts"] == {"positive": 5, "negative": 7}
    assert body["score"] == pytest.approx(-2 / 12)
    assert body["sentiment"] == "neutral"
    bank = next(h for h in body["headlines"] if h["title"].startswith("Bank shares"))
    assert bank == {"title": "Bank shares decline on losses and fraud probe",
                    "link": "https://wire.example/2", "source": "Desk Wire",
                    "published": "2026-12-04T08:00:00Z", "score": -1.0, "label": "negative",
                    "positive": [], "negative": ["decline", "losses", "fraud"], "negated": []}


def test_requests_serve_the_cache_and_never_fetch(make_client, news):
    url = news.url("/atom.xml")
    client = make_client(news_feeds=[url], news_refresh=3600)
    first = client.get("/api/ai/sentiment").get_json()
    hits = news.hits["/atom.xml"]
    assert hits >= 1
    for _ in range(5):
        assert client.get("/api/ai/sentiment").get_json() == first
    assert news.hits["/atom.xml"] == hits


def test_a_slow_feed_holds_the_first_answer_for_the_bounded_wait_only(make_client, news,
                                                                       monkeypatch):
    monkeypatch.setattr(routes_sentiment, "FIRST_WAIT", 0.3)
    client = make_client(news_feeds=[news.url("/slow.xml")], news_timeout=5)
    began = time.monotonic()
    body = client.get("/api/ai/sentiment").get_json()
    assert time.monotonic() - began < 1.5          # the feed answers after 3 s
    SentimentResponse.model_validate(body)
    assert body["sentiment"] == "unavailable" and body["headlines"] == []
    assert body["message"].startswith("fetching 1 feed(s)")
    assert body["feeds"][0]["error"] == "not fetched yet"


def test_the_route_reads_only(make_client):
    client = make_client()
    r = client.post("/api/ai/sentiment")
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}
    spec = client.get("/openapi.json").get_json()
    schema = spec["paths"]["/api/ai/sentiment"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert schema["$ref"].endswith("/SentimentResponse")
