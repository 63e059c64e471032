"""Security headers on every response the app sends (and so on every replayed repeat).

The dashboard loads nothing from elsewhere, so its page gets a strict Content-Security-Policy:
scripts, styles, images and connections (the API and its Socket.IO WebSocket) from its own
origin only; inline styles stay allowed because the charting library writes style attributes
into its tooltips. The API docs page (Swagger UI, shipped in the package) gets the same, plus
its one inline script, allowed by its SHA-256 hash. No page may be framed by another site
(clickjacking), and no response may be sniffed into another content type.
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request

# The dashboard page (see routes_dashboard): nothing from other origins.
DASHBOARD_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
# Everything else (JSON, assets): never framed.
DEFAULT_POLICY = "frame-ancestors 'none'"
DASHBOARD_PATHS = ("/",)
DOCS_PATHS = ("/docs",)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_policy(page: bytes) -> str:
    """The docs page's policy: the dashboard's, with the page's inline scripts by hash."""
    hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
              for script in _INLINE_SCRIPT.findall(page)]
    return DASHBOARD_POLICY.replace("script-src 'self'",
                                    " ".join(["script-src 'self'", *hashes]))


def _policy(response: Response) -> str:
    if request.path in DASHBOARD_PATHS:
        return DASHBOARD_POLICY
    if (request.path in DOCS_PATHS and response.mimetype == "text/html"
            and not response.is_streamed and "Content-Encoding" not in response.headers):
        return docs_policy(response.get_data())
    return DEFAULT_POLICY


def _secure(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Content-Security-Policy", _policy(response))
    headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def install_security_headers(app: Flask) -> None:
    """Add the security headers to every response of ``app``."""
    app.after_request(_secure)
