"""Server-Sent Events: ``GET /api/stream?products=NIFTY,SPY&events=underlying,summary,chain``.

The same messages as the Socket.IO stream (``underlying_update``, ``chain_summary``,
``chain_update``), for EventSource and curl. Each frame's ``id`` is the snapshot sequence; a
client that reconnects with ``Last-Event-ID`` gets what it missed from a ring of recent ticks
(or the latest state when the ring no longer reaches back that far). Comment lines keep an
idle connection open through proxies.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apiflask import APIBlueprint
from flask import Response, request

from .errors import bad_parameter
from .state import app_state
from .stream import KINDS, SUMMARY, UNDERLYING, StreamClient, sse_frames

bp = APIBlueprint("stream", __name__, url_prefix="/api", tag="Live stream")

DEFAULT_KINDS = (UNDERLYING, SUMMARY)


def _list_param(name: str, valid: list[str], default: list[str]) -> list[str]:
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return default
    values = [v.strip() for v in raw.split(",") if v.strip()]
    unknown = [v for v in values if v not in valid]
    if unknown:
        raise bad_parameter(name, f"unknown value(s) {', '.join(unknown)}",
                            "comma-separated list of " + ", ".join(valid))
    return list(dict.fromkeys(values))


def _last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


# Documented by hand: the body is an event stream, not JSON (the 400 is the JSON error).
STREAM_RESPONSES: Any = {
    200: {"description": "a stream of Server-Sent Events",
          "content": {"text/event-stream": {"schema": {"type": "string"}}}},
    400: {"description": "an unknown product or kind of event: the detail lists the valid "
                          "ones",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}},
}


@bp.get("/stream")
@bp.doc(summary="Live market data as Server-Sent Events",
        description=(
            "Frames: `event: underlying_update | chain_summary | chain_update`, `data:` the "
            "same JSON as the Socket.IO events, `id:` the snapshot sequence. Every event "
            "carries `market_status` (open, closed; null for a replayed stored snapshot) and "
            "`market_status_until` (ISO-8601 UTC: the session's close while open, the next "
            "open while closed). Send `Last-Event-ID` (or `last_event_id`) to resume; a value "
            "that is not an integer is ignored."),
        responses=STREAM_RESPONSES)
def stream() -> Response:
    state = app_state()
    hub, settings = state.stream, state.settings
    products = _list_param("products", hub.feed.symbols, list(hub.feed.symbols))
    kinds = _list_param("events", list(KINDS), list(DEFAULT_KINDS))
    last_id = _last_event_id()
    client = StreamClient(settings.stream_client_buffer, products, kinds)

    def generate() -> Iterator[bytes]:
        # No greenlet switch between joining and reading the ring: nothing is missed or
        # sent twice between the replay and the live messages.
        hub.add(client)
        try:
            missed = hub.since(last_id, client) if last_id is not None else None
            first = missed if missed is not None else hub.latest(products, kinds)
            yield b"retry: 2000\n\n" + b"".join(sse_frames(first))
            hub.delivered(client, len(first))
            while not client.closed:
                if not client.ready.wait(timeout=settings.stream_heartbeat):
                    yield b": keep-alive\n\n"
                    continue
                events = client.take()
                if events:
                    yield b"".join(sse_frames(events))
                    hub.delivered(client, len(events))
        finally:
            hub.remove(client)

    return Response(generate(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
