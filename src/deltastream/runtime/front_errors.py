"""Answers to requests the HTTP front end cannot parse, in the API's JSON error shape.

The web worker (:mod:`.worker`) reads every request before the app sees it; what it rejects
is answered here: ``{"error": "...", "detail": {...}}`` with ``Content-Type:
application/json`` and ``Connection: close`` (the connection is closed after the answer, as
the rest of what the client sent cannot be trusted to start a request). Statuses: 414 for a
request line over :data:`REQUEST_LINE_LIMIT` bytes, 431 for more than
:data:`HEADER_FIELDS_LIMIT` header fields or one over :data:`HEADER_FIELD_SIZE_LIMIT` bytes,
400 for a malformed request line or header. Nothing the client sent is quoted back.
"""

from __future__ import annotations

from typing import Any

import orjson

REQUEST_LINE_LIMIT = 8190
HEADER_FIELDS_LIMIT = 100
HEADER_FIELD_SIZE_LIMIT = 8190

_REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


class ParseError(ValueError):
    """A request the front end cannot parse, with its answer."""

    def __init__(self, status: int, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail

    @classmethod
    def request_line_too_long(cls) -> ParseError:
        return cls(414, "request line too long", {
            "part": "request line", "accepted": f"at most {REQUEST_LINE_LIMIT} bytes "
            "(method, path with query, and version)"})

    @classmethod
    def headers_too_large(cls) -> ParseError:
        return cls(431, "request header fields too large", {
            "part": "headers", "accepted": f"at most {HEADER_FIELDS_LIMIT} header fields of "
            f"at most {HEADER_FIELD_SIZE_LIMIT} bytes each"})

    @classmethod
    def malformed_request_line(cls) -> ParseError:
        return cls(400, "malformed request line", {
            "part": "request line", "accepted": "METHOD /path?query HTTP/1.1 (or HTTP/1.0)"})

    @classmethod
    def malformed_header(cls) -> ParseError:
        return cls(400, "malformed header", {
            "part": "headers", "accepted": "one 'Name: value' per line, names of token "
            "characters, no line folding, a non-negative integer Content-Length"})


def error_response(status: int, message: str, detail: Any) -> bytes:
    """The complete HTTP/1.1 response carrying one JSON error, closing the connection."""
    body = orjson.dumps({"error": message, "detail": detail})
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Connection: close\r\n\r\n")
    return head.encode("latin-1") + body
