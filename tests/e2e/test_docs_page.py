"""The API docs page (Swagger UI) works in a real Chromium under its Content-Security-Policy:
it renders every operation of the spec and the browser reports no blocked script, style or
request.

Needs Debian's chromium at /usr/bin/chromium (as the dashboard tests); Playwright drives it.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.browser import chromium, needs_chromium

from .conftest import Server, start_server

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("docs")
    srv = start_server(tmp, "--hours", "always", "--tick-interval", "0.5", "--data-dir", str(tmp))
    yield srv
    srv.stop()


def test_docs_page_renders_every_operation_under_its_policy(live):
    with urllib.request.urlopen(live.base + "/openapi.json", timeout=10) as r:
        spec = json.loads(r.read())
    operations = sum(len(item) for item in spec["paths"].values())
    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))
        response = page.goto(live.base + "/docs")
        assert response is not None and response.status == 200
        policy = response.headers["content-security-policy"]
        assert "script-src 'self' 'sha256-" in policy and "unsafe-eval" not in policy
        page.wait_for_function(
            f"() => document.querySelectorAll('.opblock').length === {operations}",
            timeout=20_000)
    assert not problems, problems
