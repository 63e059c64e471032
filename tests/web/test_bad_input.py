"""Bad input: a clear 4xx JSON error naming the parameter and its range, never a 500."""

from __future__ import annotations

import pytest

from deltastream.web import create_app


@pytest.mark.parametrize(
    ("url", "parameter", "accepted"),
    [
        ("/api/data/chain/IDX?limit=abc", "limit", "integer from 1 to 10"),
        ("/api/data/chain/IDX?limit=0", "limit", "integer from 1 to 10"),
        ("/api/data/chain/IDX?limit=11", "limit", "integer from 1 to 10"),
        ("/api/data/chain/IDX?strikes=0", "strikes", "integer from 1 to 201"),
        ("/api/data/chain/IDX?strikes=202", "strikes", "integer from 1 to 201"),
        ("/api/data/chain/IDX?strikes=1e9", "strikes", "integer from 1 to 201"),
        ("/api/data/chain/IDX?expiry=2026-13-01", "expiry", "date YYYY-MM-DD"),
        ("/api/data/chain/IDX?expiry=tomorrow", "expiry", "date YYYY-MM-DD"),
        ("/api/data/underlying/IDX?limit=1001", "limit", "integer from 1 to 1000"),
        ("/api/data/underlying/IDX?limit=-5", "limit", "integer from 1 to 1000"),
        ("/api/analytics/ohlc/IDX?window=0", "window", "integer from 1 to 60"),
        ("/api/analytics/ohlc/IDX?window=61", "window", "integer from 1 to 60"),
        ("/api/analytics/ohlc/IDX?window=five", "window", "integer from 1 to 60"),
        ("/api/analytics/pcr/IDX?history=maybe", "history", "true or false"),
        # Only what the spec says a value is: no booleans spelt 0/yes, no dates or times
        # given as numbers, no fractional counts, no numbers beyond their range.
        ("/api/analytics/pcr/IDX?history=0", "history", "true or false"),
        ("/api/analytics/pcr/IDX?history=yes", "history", "true or false"),
        ("/api/data/chain/IDX?expiry=0", "expiry", "date YYYY-MM-DD"),
        ("/api/data/chain/IDX?expiry=2026-1-5", "expiry", "date YYYY-MM-DD"),
        ("/api/data/chain/IDX?strikes=1.5", "strikes", "integer from 1 to 201"),
        ("/api/data/chain/IDX?limit=99999999999999999999999", "limit", "integer from 1 to 10"),
        ("/api/analytics/ohlc/IDX?limit=-99999999999999999999999", "limit",
         "integer from 1 to 1000"),
        ("/api/data/chain/IDX?strikes=%205", "strikes", "integer from 1 to 201"),
        ("/api/data/chain/IDX?strikes=%2B5", "strikes", "integer from 1 to 201"),
        ("/api/data/chain/IDX?strikes=05", "strikes", "integer from 1 to 201"),
        ("/api/analytics/ohlc/IDX?window=1_0", "window", "integer from 1 to 60"),
        ("/api/analytics/iv-history/IDX?lookback_days=1_0", "lookback_days",
         "number above 0 up to 3660"),
        ("/api/analytics/iv-history/IDX?lookback_days=nan", "lookback_days",
         "number above 0 up to 3660"),
        ("/api/analytics/iv-history/IDX?lookback_days=inf", "lookback_days",
         "number above 0 up to 3660"),
        ("/api/analytics/iv-history/IDX?lookback_days=1e400", "lookback_days",
         "number above 0 up to 3660"),
        ("/api/analytics/iv-history/IDX?sample_seconds=1e400", "sample_seconds",
         "integer from 60 to 604800"),
        ("/api/analytics/max-pain/IDX?expiry=2026/12/01", "expiry", "date YYYY-MM-DD"),
        ("/api/analytics/oi-buildup/IDX?strikes=x", "strikes", "integer from 1 to 201"),
    ],
)
def test_bad_parameters_get_400_naming_parameter_and_range(client, url, parameter, accepted):
    r = client.get(url)
    assert r.status_code == 400
    body = r.get_json()
    assert parameter in body["error"]
    assert body["detail"]["parameter"] == parameter
    assert body["detail"]["accepted"] == accepted


@pytest.mark.parametrize("route", ["data/chain", "data/underlying", "data/expiries",
                                   "analytics/pcr", "analytics/volatility-surface",
                                   "analytics/max-pain", "analytics/oi-buildup",
                                   "analytics/ohlc"])
def test_unknown_product_is_404_listing_valid_products(client, route):
    r = client.get(f"/api/{route}/NOPE")
    assert r.status_code == 404
    body = r.get_json()
    assert "NOPE" in body["error"] and body["detail"]["valid_products"] == ["IDX", "SEC"]


def test_unlisted_expiry_is_404_listing_the_valid_ones(client, engine):
    r = client.get("/api/data/chain/IDX?expiry=2030-01-04")
    assert r.status_code == 404
    assert r.get_json()["detail"]["expiries"] == [
        c.expiry.isoformat() for c in engine.latest("IDX").chains]


def test_wrong_method_is_405_json(client):
    r = client.post("/api/data/chain/IDX")
    assert r.status_code == 405 and r.mimetype == "application/json"
    assert r.get_json()["error"] == "method not allowed"


def test_unknown_route_is_404_json(client):
    r = client.get("/api/data/nothing-here")
    assert r.status_code == 404 and r.mimetype == "application/json"


def test_unknown_parameters_are_ignored(client):
    assert client.get("/api/data/chain/IDX?_=1732500000000").status_code == 200


def test_unexpected_errors_are_500_json_without_traceback(engine, monkeypatch):
    app = create_app(feed=engine, start_feed=False)
    engine.tick()

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("deltastream.web.routes_data.chain_dict", explode)
    r = app.test_client().get("/api/data/chain/IDX")
    assert r.status_code == 500
    body = r.get_json()
    assert body == {"error": "internal server error", "detail": None}
    assert "secret" not in r.get_data(as_text=True)


def test_before_the_first_tick_market_data_is_503_not_500(engine):
    r = create_app(feed=engine, start_feed=False).test_client().get("/api/data/chain/IDX")
    assert r.status_code == 503 and "error" in r.get_json()


def test_responses_are_bounded_whatever_the_parameters(client):
    # The largest request the parameters allow: 10 expiries x 201 strikes.
    r = client.get("/api/data/chain/SEC?limit=10&strikes=201")
    assert r.status_code == 200 and len(r.data) < 5_000_000
