"""The dashboard's insights panel in a real Chromium against a real `deltastream serve`: the
pulse of the product on screen as /api/ai/pulse gives it, following the product selector,
and the chat box answering with the API's answer and its sources.

The market ticks once an hour here, so the page and the test read one snapshot. Needs
Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.browser import chromium, needs_chromium

from .conftest import Server, start_server
from .test_dashboard import open_dashboard, wait_for

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("insights")
    srv = start_server(tmp, "--hours", "always", "--tick-interval", "3600",
                       "--data-dir", str(tmp))
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
        assert page.locator("#sentiment").is_hidden()     # no headline feeds configured

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
