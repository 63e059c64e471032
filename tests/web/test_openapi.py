"""The OpenAPI spec tells the truth: errors as sent, operation ids, the event stream's media
type and parameters, health's 503 with the health body, servers from the configuration, each
route's errors (405 with Allow), and the rules the server applies to parameters as schemas."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from openapi_spec_validator import validate

from deltastream.settings import Settings
from deltastream.web import create_app
from deltastream.web.params import DATE_PATTERN, INSTANT_PATTERN


def spec_of(client, **headers) -> dict:
    r = client.get("/openapi.json", headers=headers)
    assert r.status_code == 200
    spec = r.get_json()
    validate(spec)
    return spec


def test_errors_are_documented_as_sent(client):
    spec = spec_of(client)
    schemas = spec["components"]["schemas"]
    for name in ("HTTPError", "ValidationError"):
        assert set(schemas[name]["properties"]) == {"error", "detail"}
        assert schemas[name]["required"] == ["error", "detail"]
    body = client.get("/api/data/chain/NOPE").get_json()
    assert set(body) == {"error", "detail"}


def test_every_operation_has_a_unique_operation_id(client):
    spec = spec_of(client)
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) and all(ids)


def test_the_stream_is_documented_as_an_event_stream(client):
    ok = spec_of(client)["paths"]["/api/stream"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]


def test_health_503_carries_the_health_body(client):
    responses = spec_of(client)["paths"]["/api/health"]["get"]["responses"]
    assert responses["503"]["content"]["application/json"]["schema"] == \
        responses["200"]["content"]["application/json"]["schema"]


def test_servers_come_from_the_configuration_not_the_host_header(client, engine):
    assert spec_of(client, Host="attacker.example")["servers"][0]["url"] == \
        "http://127.0.0.1:8001"
    app = create_app(Settings(public_url="https://options.example/"), feed=engine,
                     start_feed=False)
    spec = spec_of(app.test_client(), Host="attacker.example")
    assert [s["url"] for s in spec["servers"]] == ["https://options.example"]


def test_product_parameters_list_the_servers_products(client):
    spec = spec_of(client)
    seen = 0
    for path, item in spec["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "product" and parameter["in"] == "path":
                    assert parameter["schema"]["enum"] == ["IDX", "SEC"], path
                    seen += 1
    assert seen >= 9


def operations(spec: dict) -> list[tuple[str, dict]]:
    return [(path, op) for path, item in spec["paths"].items() for op in item.values()]


def example_path(path: str) -> str:
    return path.replace("{product}", "IDX")


# What each route can answer besides 200 (a market-data route before the engine's first
# tick answers 503; history without a store answers 503, and so does any route asked for a
# source other than the live one; an unknown source is a 404).
ERRORS = {
    "/api/health": {"503"},
    "/api/stream": {"400"},
    "/api/data/sources": {"503"},
    "/api/data/products": {"400", "404", "503"},
    "/api/data/expiries/{product}": {"400", "404", "503"},
    "/api/data/chain/{product}": {"400", "404", "503"},
    "/api/data/underlying/{product}": {"400", "404", "503"},
    "/api/analytics/pcr/{product}": {"400", "404", "503"},
    "/api/analytics/volatility-surface/{product}": {"400", "404", "503"},
    "/api/analytics/max-pain/{product}": {"400", "404", "503"},
    "/api/analytics/oi-buildup/{product}": {"400", "404", "503"},
    "/api/analytics/ohlc/{product}": {"400", "404", "503"},
    "/api/analytics/iv-history/{product}": {"400", "404", "503"},
    "/api/ai/sentiment": set(),
    "/api/analytics/gex/{product}": {"400", "404", "503"},
    "/api/analytics/skew/{product}": {"400", "404", "503"},
    "/api/ai/pulse": {"400", "404", "503"},
    "/api/analytics/insights/{product}": {"400", "404", "503"},
}


# The account routes (tests/web/test_routes_auth.py): (path, method) -> every answer besides
# 405, success included.
AUTH_RESPONSES = {
    ("/api/auth/register", "post"): {"201", "400", "409", "503"},
    ("/api/auth/login", "post"): {"200", "400", "401", "429", "503"},
    ("/api/auth/verify", "post"): {"200", "401", "503"},
    ("/api/auth/refresh", "post"): {"200", "400", "401", "503"},
    ("/api/auth/logout", "post"): {"200", "400", "401", "503"},
    ("/api/auth/me", "get"): {"200", "401", "503"},
    ("/api/auth/api-keys", "get"): {"200", "401", "503"},
    ("/api/auth/api-keys", "post"): {"201", "400", "401", "503"},
    ("/api/auth/api-keys/{key_id}", "delete"): {"200", "401", "404", "503"},
}
# The paper-trading routes (tests/web/test_routes_trade.py), the same way.
TRADE_RESPONSES = {
    ("/api/trade/order", "post"): {"201", "400", "401", "409", "503"},
    ("/api/trade/order/{order_id}", "delete"): {"200", "401", "404", "409", "503"},
    ("/api/trade/order/{order_id}", "patch"): {"200", "400", "401", "404", "409", "503"},
    ("/api/trade/orders", "get"): {"200", "400", "401", "503"},
    ("/api/trade/trades", "get"): {"200", "400", "401", "503"},
    ("/api/trade/portfolio", "get"): {"200", "400", "401", "503"},
    ("/api/trade/positions", "get"): {"200", "401", "503"},
    ("/api/trade/pnl", "get"): {"200", "400", "401", "503"},
    ("/api/trade/performance", "get"): {"200", "400", "401", "503"},
    ("/api/trade/risk", "get"): {"200", "400", "401", "503"},
    ("/api/trade/reset", "post"): {"200", "401", "503"},
}
# The chat (tests/web/test_routes_insights.py).
INSIGHTS_RESPONSES = {("/api/ai/chat", "post"): {"200", "400", "404", "413", "503"}}
# The strategy analysis (tests/web/test_routes_strategy.py).
STRATEGY_RESPONSES = {("/api/strategy/analyze", "post"): {"200", "400", "401", "404", "503"}}
WRITTEN_RESPONSES = {**AUTH_RESPONSES, **TRADE_RESPONSES, **INSIGHTS_RESPONSES,
                     **STRATEGY_RESPONSES}


def test_every_route_documents_each_error_it_can_send_and_no_other(client):
    spec = spec_of(client)
    assert set(spec["paths"]) == set(ERRORS) | {path for path, _ in WRITTEN_RESPONSES}
    assert {(path, method) for path, item in spec["paths"].items() for method in item
            if path.startswith(("/api/auth/", "/api/trade/"))} == (set(AUTH_RESPONSES)
                                                                   | set(TRADE_RESPONSES))
    for path, item in spec["paths"].items():
        for method, op in item.items():
            documented = set(op["responses"])
            expected = WRITTEN_RESPONSES.get((path, method)) or {"200", *ERRORS[path]}
            assert documented == {"405", *expected}, (path, method)
            for code in documented - {"200", "201"}:
                assert op["responses"][code]["description"], (path, code)


def test_errors_the_routes_send_are_the_documented_ones(client):
    spec = spec_of(client)
    for path, op in operations(spec):
        if path.startswith(("/api/auth/", "/api/trade/")) or path in (
                "/api/ai/chat", "/api/strategy/analyze"):
            continue        # tested in test_routes_auth, _trade, _insights and _strategy
        url = example_path(path)
        wrong = client.post(url)
        assert wrong.status_code == 405
        assert {m.strip() for m in wrong.headers["Allow"].split(",")} == {"GET", "HEAD",
                                                                          "OPTIONS"}
        assert "Allow" in op["responses"]["405"]["headers"], path
        if "{product}" in path:
            unknown = client.get(path.replace("{product}", "NOPE"))
            assert unknown.status_code == 404 and "404" in op["responses"], path
            assert unknown.get_json()["detail"]["valid_products"] == ["IDX", "SEC"]
        if path == "/api/stream":
            continue                                  # 200 opens the stream: tested apart
        for parameter in op.get("parameters", []):
            if parameter["in"] == "query":
                bad = client.get(f"{url}?{parameter['name']}=%C3%A9!")
                assert bad.status_code == 400 and "400" in op["responses"], path
                assert bad.get_json()["detail"]["parameter"] == parameter["name"]


def test_query_parameters_are_optional_with_no_null_alternative(client):
    for path, op in operations(spec_of(client)):
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["required"] is True
                continue
            assert parameter["required"] is False, (path, parameter["name"])
            schema = parameter["schema"]
            assert "anyOf" not in schema and "title" not in schema, (path, parameter["name"])
            assert schema.get("type") != "null" and schema.get("default", 0) is not None
            assert parameter.get("description"), (path, parameter["name"])


def parameter(spec: dict, path: str, name: str) -> dict:
    found = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name]
    assert len(found) == 1, (path, name)
    return found[0]["schema"]


def test_range_rules_the_server_enforces_are_in_the_schemas(client):
    spec = spec_of(client)
    chain = "/api/data/chain/{product}"
    assert parameter(spec, chain, "strikes") == {"type": "integer", "minimum": 1,
                                                 "maximum": 201, "default": 21}
    assert parameter(spec, chain, "limit")["maximum"] == 10
    iv = "/api/analytics/iv-history/{product}"
    lookback = parameter(spec, iv, "lookback_days")
    assert lookback["exclusiveMinimum"] == 0 and lookback["maximum"] == 3660
    assert parameter(spec, iv, "sample_seconds")["minimum"] == 60
    assert parameter(spec, "/api/analytics/pcr/{product}", "history") == {"type": "boolean",
                                                                          "default": False}
    expiry = parameter(spec, chain, "expiry")
    assert expiry["format"] == "date" and expiry["pattern"] == DATE_PATTERN
    for path, name in [(chain, "at"), (iv, "from"), (iv, "to"),
                       ("/api/data/underlying/{product}", "from")]:
        assert parameter(spec, path, name) == {"type": "string", "format": "date-time",
                                               "pattern": INSTANT_PATTERN}
    # The rules across parameters (range order and length, observations) are stated in the
    # 400's description.
    assert "history_max_range_days" in spec["paths"][iv]["get"]["responses"]["400"][
        "description"]
    assert "100,000 observations" in spec["paths"][iv]["get"]["responses"]["400"][
        "description"]


@pytest.mark.parametrize(("when", "accepted"), [
    ("1970-01-01T00:00:00Z", True),
    ("1970-01-01T00:00:00+23:59", True),       # 1969-12-31 in UTC: the written year counts
    ("8999-12-31T23:59:59.999999-23:59", True),
    ("2026-11-25 10:00", True),
    ("1969-12-31T23:59:59Z", False),
    ("9000-01-01T00:00:00Z", False),
    ("0001-01-01T00:00:00+23:59", False),
    ("9999-12-31T23:59:59-23:59", False),
])
def test_the_time_pattern_in_the_spec_is_the_rule_the_server_applies(engine, when, accepted):
    # Without a store an accepted at= is a 503 (no archive to read), a refused one a 400.
    client = create_app(Settings(), feed=engine, start_feed=False).test_client()
    engine.tick()
    assert bool(re.search(INSTANT_PATTERN, when)) is accepted
    r = client.get(f"/api/data/chain/IDX?at={quote(when)}")
    assert r.status_code == (503 if accepted else 400), r.get_data(as_text=True)


def test_the_stream_documents_its_parameters(client):
    spec = spec_of(client)
    params = {p["name"]: p for p in spec["paths"]["/api/stream"]["get"]["parameters"]}
    assert params["products"]["schema"]["items"]["enum"] == ["IDX", "SEC"]
    assert params["events"]["schema"]["items"]["enum"] == ["underlying", "summary", "chain"]
    assert params["products"]["explode"] is False
    assert params["Last-Event-ID"]["in"] == "header"
    bad = client.get("/api/stream?events=ticks")
    assert bad.status_code == 400 and bad.get_json()["detail"]["parameter"] == "events"
