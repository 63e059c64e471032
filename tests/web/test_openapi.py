"""The OpenAPI spec tells the truth: errors as sent, operation ids, the event stream's media
type, health's 503 with the health body, and servers from the configuration."""

from __future__ import annotations

from openapi_spec_validator import validate

from deltastream.settings import Settings
from deltastream.web import create_app


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
