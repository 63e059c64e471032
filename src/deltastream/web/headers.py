"""Security headers on every response the app sends (and so on every replayed repeat).

The dashboard loads nothing from elsewhere, so its page gets a strict Content-Security-Policy:
scripts, styles, images and connections (the API and its Socket.IO WebSocket) from its own
origin only; inline styles stay allowed because the charting library writes style attributes
into its tooltips. No page may be framed by another site (clickjacking), and no response may
be sniffed into another content type.
"""

from __future__ import annotations

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
# Everything else (JSON, the API docs page): never framed.
DEFAULT_POLICY = "frame-ancestors 'none'"
DASHBOARD_PATHS = ("/",)


def _secure(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    policy = DASHBOARD_POLICY if request.path in DASHBOARD_PATHS else DEFAULT_POLICY
    headers.setdefault("Content-Security-Policy", policy)
    headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def install_security_headers(app: Flask) -> None:
    """Add the security headers to every response of ``app``."""
    app.after_request(_secure)
