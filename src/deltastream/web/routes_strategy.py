"""``POST /api/strategy/analyze``: a multi-leg strategy analysed on the newest snapshot of a
source (legs, a template, or the user's open paper positions). The figures and their units
are :mod:`deltastream.strategy.analysis`'s; this module parses the body, reads the snapshot as
the analytics routes do and names a bad field in a 400 (``legs[2].strike``, ``dates[0]``,
``template.width``).
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from apiflask.exceptions import HTTPError
from flask import Response
from werkzeug.exceptions import BadRequest

from ..strategy.analysis import Request, analyse
from ..strategy.legs import MAX_LEGS, Leg, LegError, check_count, resolve
from ..strategy.templates import Template, template_legs
from . import strategy_models as models
from .errors import bad_parameter
from .json import json_response
from .openapi import NO_MARKET_DATA, UNKNOWN_PRODUCT, UNKNOWN_SOURCE
from .routes_auth import TOKEN_OR_KEY, current_user
from .routes_data import service
from .routes_trade import trading_service
from .serialize import iso

bp = APIBlueprint("strategy", __name__, url_prefix="/api/strategy", tag="Strategy")

NOT_JSON = "a JSON object (AnalyzeBody in /openapi.json)"
ONE_OF = f"exactly one of legs (1 to {MAX_LEGS}), template or positions: true"


def _bracketed(name: str) -> str:
    """A validation error's field path as the API names it: ``legs.2.strike`` ->
    ``legs[2].strike``."""
    if name == "_schema":
        return "body"
    out = ""
    for part in name.split("."):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


def _schema_of(name: str) -> dict[str, Any]:
    """The JSON schema of the body's field ``name`` (dotted path)."""
    root = models.AnalyzeBody.model_json_schema()
    defs = root.get("$defs", {})
    node: dict[str, Any] = root
    for part in name.split("."):
        while True:
            if "$ref" in node:
                node = defs.get(node["$ref"].rsplit("/", 1)[-1], {})
            elif "anyOf" in node:
                node = next((o for o in node["anyOf"] if o.get("type") != "null"), {})
            else:
                break
        node = node.get("items", {}) if part.isdigit() else node.get("properties", {}).get(
            part, {})
    return node


def _accepted(schema: dict[str, Any]) -> str:
    options = [o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"]
    s = options[0] if options else schema
    if "enum" in s:
        return "one of " + ", ".join(map(str, s["enum"]))
    if "const" in s:
        return str(s["const"])
    bounds = [f"{word} {s[key]}" for key, word in (
        ("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
        ("exclusiveMaximum", "<"), ("maxItems", "at most items:")) if key in s]
    kind = {"integer": "a whole number", "number": "a number", "string": "text",
            "boolean": "true or false", "array": "a list"}.get(s.get("type", ""), "a value")
    if s.get("format") == "date":
        kind = "a date YYYY-MM-DD"
    return " ".join([kind, *bounds]) + (f" ({s['description']})" if "description" in s
                                        else "")


@bp.errorhandler(HTTPError)
def _invalid(error: HTTPError) -> Response:
    # The body's validation errors, with the field named as the API names it.
    fields = (error.detail or {}).get("json") if isinstance(error.detail, dict) else None
    if error.status_code in (400, 422) and fields:
        name, messages = next(iter(fields.items()))
        parameter = _bracketed(str(name))
        accepted = (NOT_JSON if parameter == "body" else _accepted(_schema_of(str(name))))
        return json_response(
            {"error": f"invalid parameter '{parameter}': {'; '.join(messages)}",
             "detail": {"parameter": parameter, "accepted": accepted,
                        "errors": {_bracketed(str(k)): v for k, v in fields.items()}}}, 400)
    if error.status_code in (400, 415, 422):
        return _not_json()
    return json_response({"error": error.message, "detail": error.detail or None},
                         error.status_code)


@bp.errorhandler(BadRequest)
def _not_json(_error: BadRequest | None = None) -> Response:
    return json_response({"error": "invalid parameter 'body': not a JSON object",
                          "detail": {"parameter": "body", "accepted": NOT_JSON}}, 400)


def _position_legs(product: str | None) -> tuple[str, list[Leg]]:
    """The user's open paper positions as legs (at their average entry price)."""
    user, _ = current_user()
    views = [v for a in trading_service().accounts(user.id).values() for v in a.positions
             if v.position.quantity]
    products = sorted({v.contract.product for v in views})
    if product is None:
        if len(products) != 1:
            raise bad_parameter("product", "needed: the open positions are in "
                                f"{len(products)} products", ", ".join(products) or "none")
        product = products[0]
    legs = []
    for v in views:
        c = v.contract
        if c.product != product:
            continue
        q = v.position.quantity
        legs.append(Leg("underlying" if c.right is None else c.right,
                        "buy" if q > 0 else "sell", abs(q), c.expiry,
                        None if c.strike is None else float(c.strike),
                        float(v.position.average_cost), product, units=float(abs(q))))
    if not legs:
        raise bad_parameter("positions", f"no open positions in '{product}'",
                            "open paper positions, or legs or a template")
    return product, legs


@bp.post("/analyze")
@bp.input(models.AnalyzeBody, location="json", arg_name="body")
@bp.output(models.AnalyzeResponse)
@bp.doc(summary="Analyse a strategy (legs, a template or the user's paper positions) on the "
                "newest snapshot: expiry and today's P&L on a strike-aware grid, exact "
                "breakevens, max profit/loss, probability of profit and touch under the "
                "lognormal at the ATM IV and under the smile's risk-neutral density, net "
                "Greeks, margin",
        responses={400: "a field breaks its rule: detail.parameter names it (legs[2].strike, "
                        "template.width, dates[0], ...) and detail.accepted what it accepts",
                   401: "positions: true without valid credentials",
                   404: f"{UNKNOWN_PRODUCT}; {UNKNOWN_SOURCE}", 503: NO_MARKET_DATA},
        security=TOKEN_OR_KEY)
def analyze(body: models.AnalyzeBody) -> Response:
    chosen = [body.legs is not None, body.template is not None, body.positions]
    if sum(chosen) != 1:
        raise bad_parameter("legs", "give one way of naming the position", ONE_OF)
    product = body.product
    legs: list[Leg] = []
    try:
        if body.legs is not None:
            check_count(len(body.legs))
    except LegError as error:
        raise bad_parameter(error.parameter, error.message,
                            error.accepted or "see /openapi.json") from None
    if body.positions:
        product, legs = _position_legs(product)
    if product is None:
        raise bad_parameter("product", "missing", "a product of the source")
    served = service().served(product, body.source)
    snap = served.snap
    try:
        if body.legs is not None:
            legs = [Leg(b.type, b.side, b.lots, b.expiry, b.strike, b.price, b.product)
                    for b in body.legs]
        elif body.template is not None:
            t = body.template
            legs = template_legs(snap, Template(
                t.name, t.expiry, t.back_expiry, t.strikes_by, t.delta, t.distance, t.width,
                tuple(t.strikes), t.lots))
        result = analyse(snap, Request(resolve(snap, legs), list(body.dates), body.smile,
                                       body.points))
    except LegError as error:
        raise bad_parameter(error.parameter, error.message,
                            error.accepted or "see /openapi.json") from None
    result.update(timestamp=iso(snap.timestamp), sequence=snap.sequence,
                  source=served.source)
    return json_response(result)
