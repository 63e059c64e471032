"""CORS preflight for the API routes that take a POST (or another write method) outside the
account and trading paths: the strategy analysis, the chat, and any added later.

The app factory allows ``/api/*`` to ``cors_origins`` with the read methods only (GET, HEAD,
OPTIONS), and ``/api/auth/*`` and ``/api/trade/*`` to ``auth_cors_origins`` with their own
methods (:func:`deltastream.web.routes_auth.cors_resources`). A browser on another origin
posting JSON (``Content-Type: application/json``) first sends a preflight ``OPTIONS`` asking
for ``POST``: with the read methods only, it is refused and the POST never sent.

:func:`allow_write_routes`, called once every blueprint is registered, finds in the URL map
each ``/api/`` URL outside those two paths with a method beyond the read ones, and allows it
to ``cors_origins`` with exactly the methods that URL has (a read route's preflight is
unchanged: GET, HEAD, OPTIONS and no others). It is a second flask-cors extension over those
URLs only; being registered after the first, its hook runs first, and the first skips a
response that already carries CORS headers. No route needs a CORS entry of its own.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from apiflask import APIFlask
from flask_cors import CORS

from ..settings import Settings
from .errors import READ_METHODS
from .routes_auth import CORS_PATHS

# Converters that may match a '/' (werkzeug's path and any).
_SLASHED = ("path", "any")


def url_pattern(rule: str) -> re.Pattern[str]:
    """A regular expression matching exactly the paths of a werkzeug rule string
    (``/api/x/<int:id>`` -> ``^/api/x/[^/]+$``)."""
    out = []
    for part in re.split(r"(<[^>]+>)", rule):
        if part.startswith("<"):
            converter = part[1:-1].split(":", 1)[0] if ":" in part else "default"
            out.append(".+" if converter.split("(", 1)[0] in _SLASHED else "[^/]+")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


def write_routes(app: APIFlask) -> dict[str, set[str]]:
    """Each ``/api/`` rule (outside the account and trading paths) that has a method beyond
    the read ones, with every method its URL has."""
    own = tuple(path.rstrip("*") for path in CORS_PATHS)
    methods: dict[str, set[str]] = defaultdict(set)
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and not rule.rule.startswith(own):
            methods[rule.rule] |= set(rule.methods or ())
    return {rule: m for rule, m in methods.items() if m - set(READ_METHODS)}


def allow_write_routes(app: APIFlask, settings: Settings) -> dict[str, list[str]]:
    """Allow the preflight of every write route (see the module's description); returns the
    rules allowed and their methods."""
    routes = {rule: sorted(m) for rule, m in write_routes(app).items()}
    if routes:
        resources: dict[Any, dict[str, Any]] = {
            url_pattern(rule): {"origins": list(settings.cors_origins), "methods": methods}
            for rule, methods in routes.items()}
        CORS(app, resources=resources)
    return routes
