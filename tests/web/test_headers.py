"""Security headers on every response (replayed repeats included), a strict policy on the
dashboard page, CORS preflights allowing only the methods the API has, and 405s that say
which methods a route has."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from deltastream.settings import Settings
from deltastream.web import create_app

ORIGIN = {"Origin": "https://dashboard.example"}


@pytest.mark.parametrize("path", ["/api/health", "/api/data/chain/IDX", "/api/data/chain/NOPE",
                                  "/openapi.json", "/metrics", "/docs", "/"])
def test_every_response_refuses_sniffing_and_framing(client, path):
    r = client.get(path)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/api/data/chain/IDX?strikes=5", "/api/health"])
def test_a_replayed_repeat_carries_the_same_security_headers(engine, path):
    app = create_app(Settings(), feed=engine, start_feed=False)
    entered: list[str] = []
    app.before_request(lambda: entered.append(path) and None)
    engine.tick()
    client = app.test_client()
    first = client.get(path)
    again = client.get(path)
    assert len(entered) == 1                  # the repeat was answered by the replay layer
    for name in ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy",
                 "Referrer-Policy"):
        assert again.headers[name] == first.headers[name]


def test_the_dashboard_may_load_only_from_its_own_origin(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"          # no inline or remote script
    assert directives["connect-src"] == "'self'"         # the API and its WebSocket
    assert directives["frame-ancestors"] == "'none'"
    assert "http" not in policy


def test_preflight_allows_only_read_methods(client):
    r = client.options("/api/data/chain/IDX",
                       headers={**ORIGIN, "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200
    allowed = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
    assert allowed == {"GET", "HEAD", "OPTIONS"}
    refused = client.options("/api/data/chain/IDX",
                             headers={**ORIGIN, "Access-Control-Request-Method": "DELETE"})
    assert "DELETE" not in refused.headers.get("Access-Control-Allow-Methods", "")


def test_a_wrong_method_is_405_json_with_allow(client):
    r = client.post("/api/data/chain/IDX")
    assert r.status_code == 405
    assert r.get_json()["error"] == "method not allowed"
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}


def test_metrics_content_type_names_its_charset_once(client):
    content_type = client.get("/metrics").headers["Content-Type"]
    assert content_type.startswith("text/plain")
    assert content_type.count("charset") == 1


def test_the_docs_page_may_run_only_its_own_scripts(client):
    r = client.get("/docs")
    policy = r.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    scripts = directives["script-src"].split()
    # Its files, and its one inline script by hash: no other inline script, no eval.
    inline = re.findall(rb"<script>(.*?)</script>", r.get_data(), re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0]).digest()).decode()
    assert scripts == ["'self'", f"'sha256-{digest}'"]
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'self'"          # the spec, and "try it out"
    assert directives["frame-ancestors"] == "'none'"
