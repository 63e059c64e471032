"""The insights routes' shapes (the original dashboard's AI Insights tab) and bad input."""

from __future__ import annotations

import pytest

from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.web import create_app
from deltastream.web.routes_insights import ChatResponse, PulseResponse
from tests.support.specs import EUROPEAN, START, terms


def test_pulse_keeps_the_dashboards_shape(client):
    response = client.get("/api/ai/pulse?product=IDX")
    assert response.status_code == 200
    body = response.get_json()
    PulseResponse.model_validate(body)
    assert body["product"] == "IDX"
    assert isinstance(body["analysis"], str) and body["analysis"]
    data = body["data"]
    chain = client.get("/api/data/chain/IDX").get_json()["chains"][0]
    assert data["pcr_oi"] == chain["pcr_oi"]
    assert data["max_pain_strike"] == chain["max_pain_strike"]
    assert data["atm_straddle_price"] == chain["atm_straddle_price"]
    assert body["sequence"] == chain["sequence"]
    assert all(set(s) == {"topic", "text", "facts", "labels"} for s in body["sentences"])
    assert body["facts"]["max_pain_strike"] == chain["max_pain_strike"]


def test_pulse_defaults_to_nifty_or_the_first_product(client):
    # This server lists IDX and SEC, no NIFTY.
    assert (client.get("/api/ai/pulse").get_json()
            == client.get("/api/ai/pulse?product=IDX").get_json())


def test_pulse_is_cached_per_snapshot_with_an_etag(client):
    first = client.get("/api/ai/pulse?product=SEC")
    etag = first.headers["ETag"]
    again = client.get("/api/ai/pulse?product=SEC", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_insights_route_serves_the_pulse(client):
    assert (client.get("/api/analytics/insights/SEC").get_json()
            == client.get("/api/ai/pulse?product=SEC").get_json())


def test_insights_route_reads_the_live_source_only(client):
    live = client.get("/api/data/sources").get_json()["sources"][0]["name"]
    named = client.get(f"/api/analytics/insights/SEC?source={live}")
    assert named.get_json() == client.get("/api/ai/pulse?product=SEC").get_json()
    other = client.get("/api/analytics/insights/SEC?source=nse")
    assert other.status_code == 400
    detail = other.get_json()["detail"]
    assert detail["parameter"] == "source" and live in detail["accepted"]


@pytest.mark.parametrize("url", ["/api/ai/pulse?product=NOPE", "/api/analytics/insights/NOPE"])
def test_unknown_product_is_404_listing_the_products(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert response.get_json()["detail"]["valid_products"] == ["IDX", "SEC"]


def test_a_malformed_product_is_400_naming_it(client):
    response = client.get("/api/ai/pulse?product=%C3%A9!")
    assert response.status_code == 400
    assert response.get_json()["detail"]["parameter"] == "product"


def test_chat_answers_with_sources(client):
    response = client.post("/api/ai/chat", json={"query": "What is IDX max pain?"})
    assert response.status_code == 200
    body = response.get_json()
    ChatResponse.model_validate(body)
    mp = client.get("/api/analytics/max-pain/IDX").get_json()["max_pain_strike"]
    assert f"{mp:,.0f}" in body["answer"]
    assert body["sources"][0]["route"].startswith("/api/analytics/max-pain/IDX")
    docs = client.post("/api/ai/chat", json={"query": "How do I set up nginx?"}).get_json()
    ChatResponse.model_validate(docs)
    assert docs["sources"][0] == {**docs["sources"][0], "type": "docs",
                                  "source": "docs/deployment.md"}


@pytest.mark.parametrize("body", [
    {"json": {}}, {"json": {"query": ""}}, {"json": {"query": "   "}}, {"json": {"query": 5}},
    {"json": ["query"]}, {"json": {"query": "x" * 501}},
    {"data": "not json", "content_type": "application/json"}, {"data": "query=x"},
    {"json": {"query": "IDX pcr", "pad": "x" * 17_000}},
    {"data": b'{"query": "IDX pcr"}' + b" " * 17_000, "content_type": "application/json"}])
def test_a_bad_query_is_400_naming_it(client, body):
    response = client.post("/api/ai/chat", **body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["detail"]["parameter"] == "query"
    assert "500 characters" in error["detail"]["accepted"]
    assert "16384 bytes" in error["detail"]["accepted"]



def test_a_long_query_within_the_limits_is_answered(client):
    query = "IDX max pain " + "please " * 69
    assert len(query) <= 500
    assert client.post("/api/ai/chat", json={"query": query}).status_code == 200
    # Other fields are ignored (a dashboard may send more), within the body's limit.
    padded = {"query": query, "history": ["x" * 100] * 100}
    assert client.post("/api/ai/chat", json=padded).status_code == 200


def test_the_chat_body_is_documented(client):
    spec = client.get("/openapi.json").get_json()
    request = spec["paths"]["/api/ai/chat"]["post"]["requestBody"]
    assert request["required"] is True
    body = request["content"]["application/json"]
    schema = body["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert schema["required"] == ["query"]
    assert schema["properties"]["query"]["maxLength"] == 500


def test_chat_for_a_product_before_its_first_tick_is_503():
    engine = Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=1, clock=FixedClock(START),
                    tick_interval=1.0, history=10)
    client = create_app(Settings(), feed=engine, start_feed=False).test_client()
    assert client.post("/api/ai/chat", json={"query": "IDX pcr"}).status_code == 503
    assert client.get("/api/ai/pulse?product=IDX").status_code == 503
