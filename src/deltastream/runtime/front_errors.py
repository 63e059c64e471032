"""Answers to requests the HTTP front end cannot parse, in the API's JSON error shape.

gunicorn reads every request before the app sees it; what it rejects is answered here rather
than with its HTML page: ``{"error": "...", "detail": {...}}`` with ``Content-Type:
application/json`` and ``Connection: close`` (the connection is closed after the answer, as
the rest of what the client sent cannot be trusted to start a request). Statuses: 414 for a
request line over the limit, 431 for too many header fields or one too long, 400 for a
malformed request line, header or chunked body, 417 for an unsupported ``Expect``, 501 for an
unsupported transfer coding. Nothing the client sent is quoted back.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import orjson
from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.wsgi import Response, default_environ

log = logging.getLogger(__name__)

# The largest request line gunicorn accepts (its cap on limit_request_line).
REQUEST_LINE_LIMIT = 8190
HEADER_FIELDS_LIMIT = 100
HEADER_FIELD_SIZE_LIMIT = 8190

_REASONS = {400: "Bad Request", 414: "URI Too Long", 417: "Expectation Failed",
            431: "Request Header Fields Too Large", 501: "Not Implemented"}


def _answer(exc: BaseException, cfg: Any) -> tuple[int, str, dict[str, Any]] | None:
    """Status, message and detail for a parse error; None for anything else."""
    if isinstance(exc, (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName)):
        return None         # the app's fault, not the client's
    if isinstance(exc, errors.LimitRequestLine):
        return 414, "request line too long", {
            "part": "request line", "accepted": f"at most {cfg.limit_request_line} bytes "
            "(method, path with query, and version)"}
    if isinstance(exc, errors.LimitRequestHeaders):
        return 431, "request header fields too large", {
            "part": "headers", "accepted": f"at most {cfg.limit_request_fields} header "
            f"fields of at most {cfg.limit_request_field_size} bytes each"}
    if isinstance(exc, (errors.InvalidRequestLine, errors.InvalidRequestMethod,
                        errors.InvalidHTTPVersion)):
        return 400, "malformed request line", {
            "part": "request line", "accepted": "METHOD /path?query HTTP/1.1 (or HTTP/1.0)"}
    if isinstance(exc, (errors.InvalidHeader, errors.InvalidHeaderName, errors.ObsoleteFolding,
                        errors.InvalidSchemeHeaders)):
        return 400, "malformed header", {
            "part": "headers", "accepted": "one 'Name: value' per line, names of token "
            "characters, no line folding, one consistent Content-Length or Transfer-Encoding"}
    if isinstance(exc, (errors.InvalidChunkSize, errors.ChunkMissingTerminator,
                        errors.InvalidChunkExtension)):
        return 400, "malformed chunked body", {"part": "body", "accepted": "RFC 9112 chunks"}
    if isinstance(exc, (errors.InvalidProxyLine, errors.InvalidProxyHeader)):
        return 400, "malformed PROXY protocol header", {"part": "proxy protocol",
                                                       "accepted": "PROXY protocol v1 or v2"}
    if isinstance(exc, errors.ExpectationFailed):
        return 417, "unsupported expectation", {"part": "headers",
                                                "accepted": "Expect: 100-continue only"}
    if isinstance(exc, errors.UnsupportedTransferCoding):
        return 501, "unsupported transfer coding", {"part": "headers",
                                                    "accepted": "Transfer-Encoding: chunked"}
    return None


def error_response(status: int, message: str, detail: Any) -> bytes:
    """The complete HTTP/1.1 response carrying one JSON error, closing the connection."""
    body = orjson.dumps({"error": message, "detail": detail})
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Connection: close\r\n\r\n")
    return head.encode("latin-1") + body


def answer_parse_error(worker: Any, req: Any, client: Any, addr: Any,
                       exc: BaseException) -> bool:
    """Answer ``exc`` on ``client`` if it is a parse error of the client's request (what
    gunicorn's worker ``handle_error`` receives); False, having sent nothing, otherwise."""
    found = _answer(exc, worker.cfg)
    if found is None:
        return False
    status, message, detail = found
    started = datetime.now()
    # Debug only: any client can cause these, as often as it likes.
    log.debug("answered %d to %s: %s", status, (addr or ("",))[0], exc)
    if req is None and isinstance(exc, (errors.InvalidHeader, errors.InvalidHeaderName)):
        req = getattr(exc, "req", None)     # the request whose header it was, if parsed
    data = error_response(status, message, detail)
    if req is not None:
        # The access log (when on) shows these like any other answer.
        environ = default_environ(req, client, worker.cfg)
        addr = addr or ("", -1)
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
        resp = Response(req, client, worker.cfg)
        resp.status = f"{status} {_REASONS[status]}"
        resp.response_length = len(data)
        worker.log.access(resp, req, environ, datetime.now() - started)
    try:
        util.write_nonblock(client, data)
    except OSError:
        log.debug("could not send the %d answer: the client is gone", status)
    return True
