"""The OpenAPI document as the server behaves: what JSON Schema can say of each parameter, the
server's products, and the ``Allow`` header of a 405.

Applied to the spec APIFlask generates from the routes and their pydantic query models:

- a query parameter is optional (absent means its default), so its schema has no ``null``
  alternative; its description moves onto the parameter, where clients show it;
- every ``{product}`` path parameter lists the products of this server's live feed (another
  source's products are listed at run time by ``/api/data/products?source=NAME``: imports
  add them while the server runs);
- every operation documents the 405 a wrong method gets, with its ``Allow`` header (the
  route's methods: GET, HEAD, OPTIONS);
- the event stream's parameters (read from the query string by hand, not by a model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import READ_METHODS
from .stream import KINDS

METHOD_NOT_ALLOWED: dict[str, Any] = {
    "description": "method not allowed; Allow names the route's methods",
    "headers": {"Allow": {"description": "the methods of this route",
                          "schema": {"type": "string", "example": ", ".join(READ_METHODS)}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}},
}

# The error answers of the routes, as each can send them (see tests/web/test_openapi.py).
BAD_PARAMETER = "invalid parameter: the detail names it and its accepted range"
UNKNOWN_PRODUCT = ("unknown product: the detail lists the source's products (valid_products) "
                   "and names the source")
UNKNOWN_SOURCE = "or an unknown source: the detail lists the sources"
UNLISTED_EXPIRY = "or an expiry that is not listed: the detail lists the listed ones"
NO_MARKET_DATA = "no market data yet (the engine has not ticked): retry shortly"
RANGE_RULES = ("; or 'from' after 'to' (default 'to': the market's latest time), or a range "
               "longer than the server's history_max_range_days (default 31 days)")
STORE_FAILING = ("the history store is failing (I/O error, full or read-only disk, database "
                 "unreachable): 'history store unavailable', the reason in the detail, and "
                 "Retry-After")
NO_STORE = "; or no history store on this server; or " + STORE_FAILING
OTHER_SOURCE_NO_STORE = ("; or, with a source other than the live one, no history store on "
                         "this server, or " + STORE_FAILING)
# The answers of a route reading one snapshot that is asked for a past time (at=).
AT_NOT_FOUND = ("or, with at=, for the live source no archived snapshot within the server's "
                "archive_tolerance (default its archive interval) of that time (the detail "
                "lists the nearest archived times), for another source a time outside its "
                "stored range (the detail gives the range, 'from' and 'to')")
AT_NO_STORE = "; or, with at=, no history store on this server, or " + STORE_FAILING


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if options is None:
        return schema
    kept = [o for o in options if o.get("type") != "null"]
    if len(kept) != 1:
        return {**schema, "anyOf": kept}
    return {**{k: v for k, v in schema.items() if k != "anyOf"}, **kept[0]}


def _parameter(parameter: dict[str, Any], products: Sequence[str]) -> None:
    if parameter.get("in") == "path" and parameter.get("name") == "product":
        parameter["schema"] = {"type": "string", "enum": list(products)}
        parameter["description"] = ("a product of the live source (/api/data/products); with "
                                     "another source, one of that source's "
                                     "(/api/data/products?source=NAME)")
        return
    if parameter.get("in") != "query":
        return
    schema = _optional(parameter.get("schema", {}))
    description = schema.pop("description", None)
    if description and "description" not in parameter:
        parameter["description"] = description
    if schema.get("default") is None:
        schema.pop("default", None)
    parameter["schema"] = {k: v for k, v in schema.items() if k != "title"}


def _comma_list(name: str, values: Sequence[str], description: str) -> dict[str, Any]:
    return {"in": "query", "name": name, "required": False, "style": "form",
            "explode": False, "description": description,
            "schema": {"type": "array", "items": {"type": "string", "enum": list(values)}}}


def stream_parameters(products: Sequence[str]) -> list[dict[str, Any]]:
    """The parameters of ``GET /api/stream`` (see routes_stream)."""
    resume = "the id of the last frame received: the stream resumes after it"
    return [
        _comma_list("products", products, "comma-separated products (default all)"),
        _comma_list("events", KINDS, "comma-separated kinds of event "
                                     "(default underlying,summary)"),
        {"in": "header", "name": "Last-Event-ID", "required": False,
         "description": resume + " (what EventSource sends on reconnecting)",
         "schema": {"type": "integer"}},
        {"in": "query", "name": "last_event_id", "required": False,
         "description": resume + " (for clients that cannot send the header)",
         "schema": {"type": "integer"}},
    ]


def tidy(spec: dict[Any, Any], products: Sequence[str]) -> dict[Any, Any]:
    """``spec`` (APIFlask's document) made to say what the server does."""
    stream = spec.get("paths", {}).get("/api/stream", {}).get("get")
    if stream is not None:
        stream["parameters"] = stream_parameters(products)
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                _parameter(parameter, products)
            operation.setdefault("responses", {}).setdefault("405", METHOD_NOT_ALLOWED)
            # Every route that reads a body needs one (a request without it is a 400).
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return spec
