"""CORS preflight (OPTIONS) of every POST route for the origins allowed to call it: market
routes (the chat, the strategy analysis, any POST added) for ``cors_origins``, accounts and
trading for ``auth_cors_origins``; read routes still allow only the read methods."""

from __future__ import annotations

import pytest
from apiflask import APIFlask
from flask_cors import CORS

from deltastream.settings import Settings
from deltastream.web import create_app
from deltastream.web.cors import allow_write_routes, url_pattern
from deltastream.web.errors import READ_METHODS
from deltastream.web.routes_sentiment import EXTENSION_KEY

DASH = "http://dash.test:3000"
EVIL = "http://evil.test"


@pytest.fixture()
def app(engine):
    app = create_app(Settings(cors_origins=(DASH,), auth_cors_origins=(DASH,)), feed=engine,
                     start_feed=False)
    yield app
    app.extensions[EXTENSION_KEY].close()


def preflight(client, path: str, origin: str, method: str = "POST"):
    return client.options(path, headers={"Origin": origin,
                                         "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": "Content-Type"})


def methods(response) -> set[str]:
    return {m.strip() for m in response.headers.get("Access-Control-Allow-Methods",
                                                    "").split(",") if m.strip()}


def post_paths(app: APIFlask) -> list[str]:
    return sorted({rule.rule.replace("<int:key_id>", "1").replace("<key_id>", "1")
                   .replace("<int:order_id>", "1").replace("<order_id>", "1")
                   for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/api/") and "POST" in (rule.methods or ())})


def test_every_post_route_preflights_for_an_allowed_origin_and_not_for_others(app):
    client = app.test_client()
    paths = post_paths(app)
    assert {"/api/ai/chat", "/api/strategy/analyze", "/api/trade/order", "/api/trade/reset",
            "/api/auth/login", "/api/auth/register", "/api/auth/api-keys"} <= set(paths)
    for path in paths:
        ok = preflight(client, path, DASH)
        assert ok.status_code == 200, path
        assert ok.headers["Access-Control-Allow-Origin"] == DASH, path
        assert "POST" in methods(ok), path
        assert "content-type" in ok.headers["Access-Control-Allow-Headers"].lower(), path
        refused = preflight(client, path, EVIL)
        assert "Access-Control-Allow-Origin" not in refused.headers, path


def test_the_chat_preflight_allows_exactly_its_methods_and_its_post_is_readable(app):
    client = app.test_client()
    assert methods(preflight(client, "/api/ai/chat", DASH)) == {"POST", "OPTIONS"}
    assert methods(preflight(client, "/api/strategy/analyze", DASH)) == {"POST", "OPTIONS"}
    # A method the route does not have is not allowed (flask-cors still names the origin;
    # the browser refuses for want of the method in Access-Control-Allow-Methods).
    assert methods(preflight(client, "/api/ai/chat", DASH, "DELETE")) == set()
    posted = client.post("/api/ai/chat", json={"query": "what is max pain?"},
                         headers={"Origin": DASH})
    assert posted.headers.getlist("Access-Control-Allow-Origin") == [DASH]


def test_read_routes_still_allow_only_the_read_methods(app):
    client = app.test_client()
    for path in ("/api/data/chain/IDX", "/api/ai/sentiment", "/api/ai/pulse"):
        assert methods(preflight(client, path, DASH)) == set(), path
        assert methods(preflight(client, path, DASH, "GET")) == set(READ_METHODS), path


def test_any_post_route_added_is_allowed_with_the_methods_its_url_has():
    app = APIFlask("probe")
    CORS(app, resources={r"/api/*": {"origins": [DASH], "methods": list(READ_METHODS)}})

    @app.post("/api/probe/<int:key>")
    def probe_post(key: int) -> dict:
        return {}

    @app.get("/api/probe/<int:key>")
    def probe_get(key: int) -> dict:
        return {}

    @app.get("/api/read")
    def read() -> dict:
        return {}

    @app.post("/api/auth/other")
    def other() -> dict:
        return {}

    allowed = allow_write_routes(app, Settings(cors_origins=(DASH,)))
    # The account paths keep their own allow-list (routes_auth.cors_resources).
    assert allowed == {"/api/probe/<int:key>": ["GET", "HEAD", "OPTIONS", "POST"]}
    client = app.test_client()
    assert methods(preflight(client, "/api/probe/7", DASH)) == {"GET", "HEAD", "OPTIONS",
                                                                "POST"}
    assert methods(preflight(client, "/api/read", DASH, "GET")) == set(READ_METHODS)
    assert "Access-Control-Allow-Origin" not in preflight(client, "/api/probe/7",
                                                          EVIL).headers


@pytest.mark.parametrize(("rule", "path", "matches"), [
    ("/api/ai/chat", "/api/ai/chat", True),
    ("/api/ai/chat", "/api/ai/chatter", False),
    ("/api/x/<int:n>", "/api/x/12", True),
    ("/api/x/<int:n>", "/api/x/12/y", False),
    ("/api/f/<path:p>", "/api/f/a/b", True),
    ("/api/a.b", "/api/aXb", False),
])
def test_url_patterns_match_exactly_their_rules_paths(rule, path, matches):
    assert bool(url_pattern(rule).match(path)) is matches
