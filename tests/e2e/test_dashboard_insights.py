"""The dashboard's insights panel in a real Chromium against a real `deltastream serve`: the
pulse of the product on screen as /api/ai/pulse gives it, following the product selector,
the headline sentiment of the configured feeds as /api/ai/sentiment gives it (the box hidden
when no feed is configured), and the chat box answering with the API's answer and its sources.

The market ticks once an hour here, so the page and the test read one snapshot; the feeds are
the RSS and Atom fixtures served on loopback. Needs Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.browser import needs_chromium
from tests.support.news import NewsServer

from .conftest import Server, start_server
from .test_dashboard import browser, open_dashboard, wait_for

pytestmark = needs_chromium
__all__ = ["browser"]       # the module-scoped Chromium fixture, shared with test_dashboard

FEEDS = ("/rss.xml", "/atom.xml")


@pytest.fixture(scope="module")
def news() -> Iterator[NewsServer]:
    server = NewsServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, news) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("insights")
    feeds = [arg for path in FEEDS for arg in ("--news-feed", news.url(path))]
    srv = start_server(tmp, "--hours", "always", "--tick-interval", "3600",
                       "--data-dir", str(tmp), *feeds)
    yield srv
    if srv.process.poll() is None:
        srv.stop()


def post(server: Server, path: str, body: dict) -> dict:
    req = urllib.request.Request(server.base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def shown_pulse(page) -> dict:
    return page.evaluate("""() => {
        const list = document.getElementById('pulse-sentences');
        return {product: list.dataset.product, sequence: Number(list.dataset.sequence),
                topics: [...list.children].map(li => li.dataset.topic),
                texts: [...list.children].map(li => li.firstChild.textContent)};
    }""")


def test_the_pulse_follows_the_product_and_the_chat_answers(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        wait_for(lambda: all(shown_pulse(page)["topics"] or [None]), 30, "the pulse")
        shown = shown_pulse(page)
        status, pulse = live.get(f"/api/ai/pulse?product={shown['product']}")
        assert status == 200 and shown["sequence"] == pulse["sequence"], (shown, problems.items)
        assert shown["texts"] == [s["text"] for s in pulse["sentences"]]
        assert shown["topics"] == [s["topic"] for s in pulse["sentences"]]

        page.select_option("#product", "BANKNIFTY")
        wait_for(lambda: shown_pulse(page)["product"] == "BANKNIFTY", 30, "BANKNIFTY's pulse")
        _, pulse = live.get("/api/ai/pulse?product=BANKNIFTY")
        assert shown_pulse(page)["texts"] == [s["text"] for s in pulse["sentences"]]

        page.fill("#chat-query", "What is NIFTY max pain?")
        page.click("#chat-send")
        wait_for(lambda: page.locator(".chat-answer").first.text_content() != "…", 30,
                 "the answer")
        expected = post(live, "/api/ai/chat", {"query": "What is NIFTY max pain?"})
        assert page.locator(".chat-answer").first.text_content() == expected["answer"]
        link = page.locator(".chat-sources a").first
        assert link.get_attribute("href") == expected["sources"][0]["route"]

        page.fill("#chat-query", "How do I put nginx in front?")
        page.click("#chat-send")
        wait_for(lambda: page.locator(".chat-entry").count() == 2
                 and page.locator(".chat-answer").first.text_content() != "…", 30,
                 "the docs answer")
        expected = post(live, "/api/ai/chat", {"query": "How do I put nginx in front?"})
        first = expected["sources"][0]
        assert page.locator(".chat-sources").first.locator("li").first.text_content() == (
            f"{first['source']} — {first['section']}")
        assert problems.items == []
    finally:
        page.close()


def shown_sentiment(page) -> dict:
    return page.evaluate("""() => ({
        hidden: document.getElementById('sentiment').hidden,
        label: document.getElementById('sentiment-label').textContent,
        message: document.getElementById('sentiment-message').textContent,
        headlines: [...document.getElementById('sentiment-headlines').children]
          .map(li => li.textContent)})""")


def headline_line(h: dict) -> str:
    """A headline as the panel writes it: title, label, then the matched words (+/-)."""
    words = [f"+{w}" for w in h["positive"]] + [f"-{w}" for w in h["negative"]]
    return f"{h['title']} {h['label'] or ''}" + (f" [{' '.join(words)}]" if words else "")


def test_the_sentiment_box_shows_the_feeds_headlines_and_hides_without_feeds(browser, live):
    # The first round of fetches done (the page asks once a minute), then the page opened.
    answer = wait_for(lambda: (a := live.get("/api/ai/sentiment")[1])["headlines"] and a, 30,
                      "the feeds' first round")
    assert answer["configured"] is True and len(answer["headlines"]) > 0
    page, problems = open_dashboard(browser, live)
    try:
        wait_for(lambda: shown_sentiment(page)["headlines"], 30, "the headlines")
        shown = shown_sentiment(page)
        assert shown["hidden"] is False
        score = f" ({answer['score']:.2f})" if answer["score"] is not None else ""
        assert shown["label"] == f"{answer['sentiment']}{score}"
        assert shown["message"] == answer["message"]
        assert shown["headlines"] == [headline_line(h) for h in answer["headlines"][:8]]
        assert any("[" in line for line in shown["headlines"])      # matched words shown
        assert problems.items == []
    finally:
        page.close()

    # A server without feeds answers configured: false (and its message): the box stays
    # hidden and empty. The answer is read long before the chain's table is drawn.
    page = browser.new_page()
    served: list[str] = []

    def unconfigured(route) -> None:
        served.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(
            {**answer, "configured": False, "sentiment": "unavailable", "headlines": [],
             "feeds": [], "score": None, "counts": None,
             "message": "no headline feeds configured"}))

    try:
        page.route("**/api/ai/sentiment", unconfigured)
        page.goto(live.base + "/")
        page.wait_for_selector("#chain tbody tr.atm", timeout=60_000)
        assert served
        assert page.locator("#sentiment").is_hidden()
        assert shown_sentiment(page)["label"] == ""
    finally:
        page.close()


# The next /api/ai/pulse answer is held for 1.5 s and made to look one snapshot older; the
# page's fetch is wrapped, so its requests still reach the server.
HOLD_NEXT_PULSE = """() => {
    const real = window.fetch;
    window.pulseAsked = 0;
    window.pulseAnswered = 0;
    window.fetch = async (url, init) => {
        const pulse = String(url).includes('/api/ai/pulse');
        const n = pulse ? ++window.pulseAsked : 0;
        const response = await real(url, init);
        if (!pulse) return response;
        if (n > 1) { window.pulseAnswered++; return response; }
        const body = await response.json();
        await new Promise((done) => setTimeout(done, 1500));
        window.pulseAnswered++;
        return new Response(JSON.stringify({...body, sequence: body.sequence - 1}),
                            {status: 200, headers: {'Content-Type': 'application/json'}});
    };
}"""

# A change to the product list's children: the panel asks for the pulse again.
TOUCH_PRODUCTS = """() => document.getElementById('product')
    .appendChild(document.createComment('refresh'))"""


def test_an_older_answer_arriving_last_does_not_replace_the_newer_pulse(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        wait_for(lambda: all(shown_pulse(page)["topics"] or [None]), 30, "the pulse")
        sequence = shown_pulse(page)["sequence"]
        page.evaluate(HOLD_NEXT_PULSE)
        page.evaluate(TOUCH_PRODUCTS)
        wait_for(lambda: page.evaluate("() => window.pulseAsked") == 1, 10, "the first ask")
        page.evaluate(TOUCH_PRODUCTS)
        wait_for(lambda: page.evaluate("() => window.pulseAnswered") == 2, 10, "both answers")
        # The held answer has been handed to the page; let its handler run before reading.
        page.evaluate("() => new Promise((done) => setTimeout(done, 0))")
        assert shown_pulse(page)["sequence"] == sequence
        assert problems.items == []
    finally:
        page.close()
