"""The dashboard: one page at ``/`` and its static assets, all shipped inside the package.

The page reads the JSON API and the live stream like any other client; nothing here computes
a market number.
"""

from __future__ import annotations

from pathlib import Path

from apiflask import APIBlueprint
from flask import Response, request, send_from_directory
from werkzeug.wrappers import Response as BaseResponse

from .. import __version__

bp = APIBlueprint("dashboard", __name__, tag="Dashboard")

STATIC_DIR = Path(__file__).parent / "static"
DASHBOARD_DIR = STATIC_DIR / "dashboard"
VENDOR_DIR = STATIC_DIR / "vendor"

# The page and the dashboard's own modules are revalidated on every load (cheap 304s by ETag)
# so an upgraded server is never paired with a browser's stale script; the vendored libraries
# are requested with the package version in the URL and may be cached for a day.
REVALIDATE = "no-cache"
VENDOR_MAX_AGE = 86400


def _revalidated(response: BaseResponse) -> BaseResponse:
    response.cache_control.no_cache = True
    response.cache_control.max_age = None
    response.cache_control.public = False
    return response


@bp.get("/")
@bp.doc(hide=True)
def index() -> BaseResponse:
    html = (DASHBOARD_DIR / "index.html").read_text(encoding="utf-8")
    response = Response(html.replace("{{version}}", __version__), mimetype="text/html")
    response.add_etag()
    return _revalidated(response.make_conditional(request))


@bp.get("/dashboard/<path:filename>")
@bp.doc(hide=True)
def asset(filename: str) -> BaseResponse:
    return _revalidated(send_from_directory(DASHBOARD_DIR, filename, max_age=0))


@bp.get("/vendor/<path:filename>")
@bp.doc(hide=True)
def vendor(filename: str) -> Response:
    return send_from_directory(VENDOR_DIR, filename, max_age=VENDOR_MAX_AGE)
