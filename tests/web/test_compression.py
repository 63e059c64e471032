"""JSON responses compressed in the encoding the client accepts: each encoding its own ETag
and 304s, Vary on every JSON response, the same bytes from the app and from the replay
layer, responses built per request (history ranges, the OpenAPI document) compressed as they
leave the app, never a stream, a 304 or a small body; and the default market's widest chain
(NIFTY, every listed strike of ten expiries) gzipped to a fifth of its size."""

from __future__ import annotations

import dataclasses
import gzip

import pytest
import zstandard
from flask import Flask, Response

from deltastream.engine.runner import Engine
from deltastream.engine.setup import engine_from_settings
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.web import create_app
from deltastream.web.compression import (
    IDENTITY,
    MIN_BYTES,
    compress,
    compress_response,
    negotiate,
)
from deltastream.web.json import json_response
from tests.support.specs import START, fridays, spec, terms

# 201 strikes on each of ten weekly expiries, as a real index chain.
WIDE = dataclasses.replace(spec("WIDE", 24500.0, 50.0, 0.05, False, strikes_each_side=100),
                           listed_expiries=lambda now: fridays(now, 10))


@pytest.mark.parametrize(("header", "expected"), [
    (None, IDENTITY), ("", IDENTITY), ("identity", IDENTITY), ("gzip", "gzip"),
    ("gzip, deflate, br, zstd", "zstd"), ("zstd;q=0.5, gzip", "gzip"),
    ("gzip;q=0, zstd;q=0", IDENTITY), ("*", "zstd"), ("br", IDENTITY),
])
def test_negotiation_honours_q_values(header, expected):
    assert negotiate(header) == expected


@pytest.fixture(scope="module")
def wide():
    engine = Engine([WIDE], {"WIDE": terms(WIDE)}, seed=3, clock=FixedClock(START),
                    tick_interval=1.0, history=100)
    app = create_app(Settings(), feed=engine, start_feed=False)
    for _ in range(3):
        engine.tick()
        engine.clock.advance(60.0)
    return app.test_client()


URL = "/api/data/chain/WIDE?strikes=201&limit=10"


def test_a_201_strike_10_expiry_chain_is_sent_compressed(wide):
    raw = wide.get(URL)
    assert len(raw.get_json()["chains"]) == 10
    assert len(raw.get_json()["chains"][0]["strikes"]) == 201
    assert "Content-Encoding" not in raw.headers
    zipped = wide.get(URL, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.get_data()) == raw.get_data()
    # Strikes far from the money carry as many digits as those near it: a quarter.
    assert len(zipped.get_data()) <= 0.25 * len(raw.get_data()), (
        len(zipped.get_data()), len(raw.get_data()))
    unzstd = zstandard.ZstdDecompressor().decompressobj()
    zst = wide.get(URL, headers={"Accept-Encoding": "zstd, gzip"})
    assert zst.headers["Content-Encoding"] == "zstd"
    assert unzstd.decompress(zst.get_data()) == raw.get_data()
    assert len(zst.get_data()) < len(zipped.get_data())


def test_the_default_markets_widest_chain_is_sent_in_a_fifth_of_its_size():
    settings = Settings(hours="always", clock="fixed", clock_start=START.isoformat())
    engine = engine_from_settings(settings)
    app = create_app(settings, feed=engine, start_feed=False)
    engine.tick()
    client = app.test_client()
    url = "/api/data/chain/NIFTY?strikes=201&limit=10"
    raw = client.get(url).get_data()
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"}).get_data()
    assert gzip.decompress(zipped) == raw
    assert len(zipped) <= 0.20 * len(raw), (len(zipped), len(raw))
    # Compressed once per snapshot, so harder than a body compressed per request.
    assert len(zipped) < len(compress(raw, "gzip"))


def test_each_encoding_has_its_own_etag_and_304(wide):
    etags = {}
    for encoding in ("identity", "gzip", "zstd"):
        r = wide.get(URL, headers={"Accept-Encoding": encoding})
        assert r.headers["Vary"] == "Accept-Encoding"
        etags[encoding] = r.headers["ETag"]
        again = wide.get(URL, headers={"Accept-Encoding": encoding,
                                       "If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304
        assert again.get_data() == b""
    assert len(set(etags.values())) == 3
    # A gzip client presenting the identity ETag gets the gzip body, not a 304.
    other = wide.get(URL, headers={"Accept-Encoding": "gzip", "If-None-Match": etags["identity"]})
    assert other.status_code == 200 and other.headers["Content-Encoding"] == "gzip"


def test_the_replay_layer_answers_each_encoding_with_the_apps_bytes(wide):
    first = {e: wide.get(URL, headers={"Accept-Encoding": e}) for e in ("gzip", "identity")}
    for encoding, response in first.items():
        repeat = wide.get(URL, headers={"Accept-Encoding": encoding})
        assert repeat.get_data() == response.get_data()
        assert repeat.headers.get("Content-Encoding") == response.headers.get(
            "Content-Encoding")
        assert repeat.headers["ETag"] == response.headers["ETag"]


def test_small_bodies_are_not_compressed(wide):
    r = wide.get("/api/data/expiries/WIDE", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert "Content-Encoding" not in r.headers
    assert r.get_json()["product"] == "WIDE"


def test_the_openapi_document_is_compressed_and_errors_vary(wide):
    raw = wide.get("/openapi.json")
    zipped = wide.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped.get_data()) == raw.get_data()
    assert int(zipped.headers["Content-Length"]) == len(zipped.get_data())
    missing = wide.get("/api/data/chain/NOPE", headers={"Accept-Encoding": "gzip"})
    assert missing.status_code == 404 and "Content-Encoding" not in missing.headers
    assert missing.headers["Vary"] == "Accept-Encoding"
    assert missing.get_json()["error"]


@pytest.fixture()
def plain():
    """A bare app with only the hook: responses built per request."""
    app = Flask(__name__)
    app.after_request(compress_response)
    big = {"values": [i / 7 for i in range(200)]}

    @app.get("/big")
    def big_json() -> Response:
        response = json_response(big)
        response.set_etag("v1")
        return response

    @app.get("/small")
    def small_json() -> Response:
        return json_response({"ok": True})

    @app.get("/stream")
    def stream() -> Response:
        return Response((b"data: %d\n\n" % i * 100 for i in range(3)),
                        mimetype="text/event-stream")

    @app.get("/unmodified")
    def unmodified() -> Response:
        return Response(status=304, mimetype="application/json")

    return app.test_client()


def test_responses_built_per_request_are_compressed_with_their_own_etag(plain):
    client = plain
    raw = client.get("/big")
    assert raw.get_json()["values"][7] == 1.0
    assert len(raw.get_data()) >= MIN_BYTES and "Content-Encoding" not in raw.headers
    assert raw.headers["ETag"] == '"v1"' and raw.headers["Vary"] == "Accept-Encoding"
    for encoding, decompress in (("gzip", gzip.decompress),
                                 ("zstd", zstandard.ZstdDecompressor().decompressobj().decompress)):
        r = client.get("/big", headers={"Accept-Encoding": encoding})
        assert r.headers["Content-Encoding"] == encoding
        assert r.headers["ETag"] == f'"v1-{encoding}"'
        assert decompress(r.get_data()) == raw.get_data()
        assert int(r.headers["Content-Length"]) == len(r.get_data()) < len(raw.get_data())


def test_small_bodies_streams_and_304s_are_never_compressed(plain):
    client = plain
    small = client.get("/small", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers and small.get_json() == {"ok": True}
    assert small.headers["Vary"] == "Accept-Encoding"
    stream = client.get("/stream", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in stream.headers
    assert stream.get_data().startswith(b"data: 0")
    unmodified = client.get("/unmodified", headers={"Accept-Encoding": "gzip"})
    assert unmodified.status_code == 304 and "Content-Encoding" not in unmodified.headers


def test_the_live_stream_is_not_compressed(wide):
    r = wide.get("/api/stream?products=WIDE", headers={"Accept-Encoding": "gzip"},
                 buffered=False)
    try:
        assert r.status_code == 200 and r.mimetype == "text/event-stream"
        assert "Content-Encoding" not in r.headers
    finally:
        r.close()
