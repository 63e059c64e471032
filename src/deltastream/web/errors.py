"""JSON errors for every failure: ``{"error": "...", "detail": ...}`` with the right status.

Never an HTML page and never a traceback in a response. A history store that fails (I/O
error, full or read-only disk, database unreachable) answers 503 ``history store unavailable``
with ``Retry-After``, not 500.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from ..store.database import describe, is_fault
from .json import json_response
from .params import INSTANT_ACCEPTED

log = logging.getLogger(__name__)

# Seconds a client is asked to wait before retrying a read of a failing history store.
STORE_RETRY_AFTER_SECONDS = 5

# The methods of every API route (all of them read).
READ_METHODS = ("GET", "HEAD", "OPTIONS")

# Every error body, as sent (documented in the OpenAPI spec for each 4xx/5xx).
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "one line saying what is wrong"},
        "detail": {"description": "structured detail: the parameter and its accepted range, "
                                  "the valid values, or null"},
    },
}


class APIError(Exception):
    """An error with a status, a one-line message and optional structured detail."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


def not_found(what: str, detail: Any = None) -> APIError:
    return APIError(404, what, detail)


def bad_parameter(name: str, message: str, accepted: str) -> APIError:
    return APIError(400, f"invalid parameter '{name}': {message}",
                    {"parameter": name, "accepted": accepted})


def _accepted(schema: dict[str, Any]) -> str:
    """Describe what a parameter accepts, from its JSON schema."""
    options = schema.get("anyOf", [schema])
    for opt in options:
        if opt.get("type") == "null":
            continue
        kind = opt.get("type", "value")
        if kind == "boolean":
            return "true or false"
        lo, hi = opt.get("minimum"), opt.get("maximum")
        if lo is not None and hi is not None:
            return f"{kind} from {lo} to {hi}"
        if opt.get("exclusiveMinimum") is not None and hi is not None:
            return f"{kind} above {opt['exclusiveMinimum']} up to {hi}"
        if opt.get("format") == "date":
            return "date YYYY-MM-DD"
        if opt.get("format") == "date-time":
            return INSTANT_ACCEPTED
        if "pattern" in opt:
            return f"{kind} matching {opt['pattern']}"
        if "enum" in opt:
            return "one of " + ", ".join(map(str, opt["enum"]))
        return kind
    return "see /openapi.json"


def _parameter_schema(name: str) -> dict[str, Any]:
    view = current_app.view_functions.get(request.endpoint or "")
    model = getattr(view, "query_model", None)
    if model is None:
        return {}
    return model.model_json_schema().get("properties", {}).get(name, {})


def register_error_handlers(app: APIFlask) -> None:
    @app.error_processor
    def _validation_error(error: HTTPError) -> Response:
        # APIFlask routes its own errors here, validation errors included.
        detail = error.detail or {}
        fields = detail.get("query") or detail.get("json") or detail.get("path") or {}
        if error.status_code == 400 and fields:
            name, messages = next(iter(fields.items()))
            accepted = _accepted(_parameter_schema(name)) if name else "see /openapi.json"
            body = {"error": f"invalid parameter '{name}': {'; '.join(messages)}",
                    "detail": {"parameter": name, "accepted": accepted, "errors": fields}}
            return json_response(body, 400)
        return json_response({"error": error.message, "detail": error.detail or None},
                             error.status_code)

    @app.errorhandler(APIError)
    def _api_error(error: APIError) -> Response:
        return json_response({"error": error.message, "detail": error.detail}, error.status)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        response = json_response({"error": error.name.lower(), "detail": error.description},
                                 error.code or 500)
        # A 405 says which methods the route has.
        for name, value in error.get_headers():
            if name.lower() == "allow":
                response.headers[name] = value
        return response

    @app.errorhandler(sa.exc.SQLAlchemyError)
    def _store_error(error: sa.exc.SQLAlchemyError) -> Response:
        if not is_fault(error):
            return _unexpected(error)
        # Logged by the store's fault watch (once when it begins, then once a minute).
        response = json_response(
            {"error": "history store unavailable",
             "detail": {"reason": describe(error),
                        "retry_after_seconds": STORE_RETRY_AFTER_SECONDS}}, 503)
        response.headers["Retry-After"] = str(STORE_RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return json_response({"error": "internal server error", "detail": None}, 500)
