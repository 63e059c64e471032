"""The dashboard's page and assets: served from the package, cached sensibly, all local."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deltastream import __version__
from deltastream.web.routes_dashboard import DASHBOARD_DIR, VENDOR_DIR


def test_index_is_the_dashboard_revalidated_by_etag(client):
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert '<table class="chain" id="chain">' in html
    assert f"/vendor/echarts/echarts.min.js?v={__version__}" in html
    assert "{{version}}" not in html
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"]
    again = client.get("/", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(("path", "mimetype"), [
    ("/dashboard/dashboard.css", "text/css"),
    ("/dashboard/js/main.js", "text/javascript"),
    ("/dashboard/js/chain_table.js", "text/javascript"),
])
def test_own_assets_are_revalidated(client, path, mimetype):
    r = client.get(path)
    assert r.status_code == 200 and r.mimetype == mimetype
    assert "no-cache" in r.headers["Cache-Control"] and r.headers["ETag"]


def test_vendored_libraries_are_cached_and_carry_their_licences(client):
    for path in ("/vendor/echarts/echarts.min.js", "/vendor/socket.io/socket.io.min.js"):
        r = client.get(path)
        assert r.status_code == 200 and r.mimetype == "text/javascript"
        assert "max-age=86400" in r.headers["Cache-Control"]
    assert "Apache License" in (VENDOR_DIR / "echarts" / "LICENSE").read_text()
    assert "Permission is hereby granted" in (VENDOR_DIR / "socket.io" / "LICENSE").read_text()
    # The versions the README records are the versions shipped.
    readme = (VENDOR_DIR / "README.md").read_text()
    assert 't.version="6.1.0"' in (VENDOR_DIR / "echarts" / "echarts.min.js").read_text()
    assert "Socket.IO v4.8.4" in (VENDOR_DIR / "socket.io" / "socket.io.min.js").read_text()
    assert "6.1.0" in readme and "4.8.4" in readme


@pytest.mark.parametrize("path", ["/dashboard/nope.js", "/dashboard/../routes_dashboard.py",
                                  "/vendor/..%2f..%2fsettings.py"])
def test_missing_or_outside_files_are_404(client, path):
    assert client.get(path).status_code == 404


def test_the_page_loads_nothing_from_another_host():
    # Every script, stylesheet and fetch is same-origin: no CDN, no absolute URL.
    for f in [*DASHBOARD_DIR.rglob("*.js"), *DASHBOARD_DIR.rglob("*.css"),
              DASHBOARD_DIR / "index.html"]:
        text = Path(f).read_text()
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", text), f
        assert not re.search(r"(?:fetch|import)\s*\(?\s*[\"'`](?:https?:)?//", text), f
        assert "cdn" not in text.lower(), f


def test_dashboard_is_not_in_the_api_spec(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "/" not in paths and not any(p.startswith(("/dashboard", "/vendor")) for p in paths)
