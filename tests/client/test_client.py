"""deltastream.client against a real `deltastream serve` process.

The server runs the simulated market on a fixed clock (2026-11-25 05:00 UTC: NSE open, US
closed), so the chain's numbers stay put while its sequence advances; a frame is compared
with the JSON of the same tick (the sequence checked before and after). The reference is the
server's JSON read with urllib (tests/e2e/conftest.fetch), never the client itself.

Its store also holds an imported source, ``vendor``: a long-format CSV written here (NIFTY at
two quote times, two expiries with different strikes, Black-Scholes prices with a smile, a
crossed quote, a zero bid, vendor IVs with gaps) and imported with ``deltastream import``
before the server starts.
"""

from __future__ import annotations

import csv
import gzip
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pandas as pd
import pytest

from deltastream.catalog.contract_symbols import parse_contract_symbol
from deltastream.client import CHAIN_COLUMNS, Client, DeltaStreamError, chain_frame
from deltastream.pricing import black_scholes_merton as bsm
from tests.e2e.conftest import Server, fetch, start_server

CLOCK_START = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
GREEKS = ("delta", "gamma", "theta", "vega", "rho")


# The imported source: NIFTY quoted at two times, expiries with their own strike ladders.
IMPORTED = "vendor"
QUOTE_TIMES = (datetime(2026, 11, 24, 9, 30, tzinfo=UTC), datetime(2026, 11, 24, 10, 0,
                                                                   tzinfo=UTC))
SPOTS = (24480.0, 24535.0)
LADDERS = {date(2026, 12, 1): [24000.0 + 100 * i for i in range(11)],
           date(2026, 12, 29): [23800.0 + 200 * i for i in range(8)]}
# NSE closes at 15:30 IST, 10:00 UTC, on expiry day.
CLOSE_UTC = timedelta(hours=10)


def write_long_csv(path: Path) -> dict[tuple[datetime, date, float, str], str]:
    """The imported file; returns each row's vendor IV cell by (time, expiry, strike, right)."""
    header = ["underlying", "quote_time", "expiry", "strike", "option_type", "bid", "ask",
              "last", "volume", "open_interest", "underlying_price", "exchange", "iv"]
    vendor: dict[tuple[datetime, date, float, str], str] = {}
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for n, (when, spot) in enumerate(zip(QUOTE_TIMES, SPOTS, strict=True)):
            for expiry, strikes in LADDERS.items():
                years = (datetime.combine(expiry, datetime.min.time(), UTC) + CLOSE_UTC
                         - when).total_seconds() / (365 * 86400)
                for i, strike in enumerate(strikes):
                    vol = 0.14 + 0.5 * math.log(strike / spot) ** 2 - 0.05 * math.log(strike / spot)
                    for right in ("C", "P"):
                        price = float(bsm.price(spot, strike, years, 0.065, 0.012, vol,
                                                right == "C"))
                        half = max(0.05, round(price * 0.01 / 0.05) * 0.05)
                        bid, ask = round(price - half, 2), round(price + half, 2)
                        if (i, right) == (2, "C"):
                            bid, ask = ask, bid             # crossed
                        if bid < 0.05:
                            bid = 0.0                       # zero bid
                        iv = "" if (i + n) % 4 == 0 else f"{vol + 0.002:.4f}"
                        vendor[(when, expiry, strike, "call" if right == "C" else "put")] = iv
                        writer.writerow([
                            "NIFTY", when.isoformat().replace("+00:00", "Z"),
                            expiry.isoformat(), strike, right, bid, ask, round(price, 2),
                            100 + 10 * i, 5000 + 250 * i, spot, "NSE", iv])
    return vendor


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A data directory holding the imported source, and the file's vendor IV cells."""
    data = tmp_path_factory.mktemp("client")
    vendor = write_long_csv(data / "chains.csv")
    done = subprocess.run([sys.executable, "-m", "deltastream", "import", str(data / "chains.csv"),
                           "--source", IMPORTED, "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return data, vendor


@pytest.fixture(scope="module")
def server(imported: tuple[Path, dict]) -> Iterator[Server]:
    data, _ = imported
    srv = start_server(data, "--hours", "always", "--clock", "fixed", "--tick-interval", "1",
                       "--engine-mode", "thread", "--strikes-each-side", "10",
                       "--data-dir", str(data),
                       env={"DELTASTREAM_CLOCK_START": CLOCK_START.isoformat()})
    yield srv
    if srv.process.poll() is None:
        srv.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Client:
    return Client(server.base)


def raw(server: Server, path: str) -> dict:
    status, body = fetch(server.base + path)
    assert status == 200, body
    return body


def sequences(body: dict) -> list[int]:
    return [c["sequence"] for c in body["chains"]]


def same_tick(server: Server, client: Client, product: str, query: str,
              **kwargs: Any) -> tuple[dict, pd.DataFrame]:
    """The chain JSON and the client's frame of one and the same snapshot."""
    for _ in range(20):
        before = raw(server, f"/api/data/chain/{product}?{query}")
        frame = client.chain(product, **kwargs)
        after = raw(server, f"/api/data/chain/{product}?{query}")
        if sequences(before) == sequences(after):
            return before, frame
    raise AssertionError("no two reads of the same tick in 20 tries")


def same_value(got: Any, expected: Any) -> bool:
    """Equal, with the server's null equal to NaN/NA in the frame."""
    if expected is None:
        return got is None or got is pd.NA or (isinstance(got, float) and math.isnan(got))
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    return bool(got == expected)


def expected_rows(body: dict) -> list[dict[str, Any]]:
    """What each row must hold, read off the JSON (calls then puts per expiry)."""
    rows = []
    for chain in body["chains"]:
        expiry = date.fromisoformat(chain["expiry"])
        taken = datetime.fromisoformat(chain["timestamp"].replace("Z", "+00:00"))
        for option_type, options in (("call", chain["calls"]), ("put", chain["puts"])):
            for option in options:
                vendor = option.get("vendor_greeks") or {}
                k, spot = option["strike"], chain["spot_price"]
                rows.append({
                    "product": chain["product"], "source": chain.get("source"),
                    "timestamp": pd.Timestamp(taken), "expiry": expiry,
                    "dte": expiry.toordinal() - taken.astimezone(UTC).date().toordinal(),
                    "time_to_expiry": chain["time_to_expiry"], "option_type": option_type,
                    **{name: option.get(name) for name in (
                        "strike", "contract_symbol", "bid", "ask", "mid", "last", "change",
                        "iv", "iv_status", *GREEKS, "open_interest", "volume", "oi_change",
                        "price_source", "quality_flags", "vendor_iv")},
                    "in_the_money": k < spot if option_type == "call" else k > spot,
                    **{f"vendor_{g}": vendor.get(g) for g in GREEKS},
                    "spot": spot, "forward": chain["forward"],
                    "forward_residual": chain.get("forward_residual"),
                })
    return rows


def assert_rows(frame: pd.DataFrame, expected: list[dict[str, Any]]) -> None:
    """Row ``i`` of ``frame`` holds ``expected[i]``'s values (see :func:`same_value`)."""
    for i, want in enumerate(expected):
        row = frame.iloc[i]
        for column, value in want.items():
            assert same_value(row[column], value), (i, column, row[column], value)


@pytest.mark.parametrize("product", ["NIFTY", "SPY"])
def test_the_frame_is_the_chain_json_contract_by_contract(server, client, product):
    body, frame = same_tick(server, client, product, "limit=3&strikes=7",
                            expiries=3, strikes=7)
    assert list(frame.columns) == list(CHAIN_COLUMNS)
    assert frame.index.equals(pd.RangeIndex(len(frame)))
    expected = expected_rows(body)
    # One row per contract: both rights of every strike, for three expiries.
    assert len(frame) == len(expected) == 3 * 2 * 7
    assert frame["expiry"].nunique() == 3
    assert frame.groupby("expiry")["option_type"].value_counts().tolist() == [7] * 6
    assert_rows(frame, expected)


def test_columns_have_one_dtype_each(server, client):
    _, frame = same_tick(server, client, "NIFTY", "limit=2", expiries=2)
    dtypes = frame.dtypes
    floats = ("strike", "bid", "ask", "mid", "last", "change", "iv", *GREEKS, "vendor_iv",
              *(f"vendor_{g}" for g in GREEKS), "spot", "forward", "forward_residual",
              "time_to_expiry")
    assert all(dtypes[c] == "float64" for c in floats), dtypes
    assert dtypes["dte"] == "int64"
    assert all(dtypes[c] == "Int64" for c in ("open_interest", "volume", "oi_change")), dtypes
    assert pd.api.types.is_bool_dtype(dtypes["in_the_money"])
    assert isinstance(dtypes["timestamp"], pd.DatetimeTZDtype)
    assert str(dtypes["timestamp"].tz) == "UTC"
    assert (frame["timestamp"] == pd.Timestamp(CLOCK_START)).all()
    assert all(type(e) is date for e in frame["expiry"])
    assert set(frame["option_type"]) == {"call", "put"}
    assert all(isinstance(s, str) for s in frame["iv_status"])
    # Whole contracts, summable as numbers.
    assert frame["open_interest"].sum() > 0


@pytest.mark.parametrize("product", ["NIFTY", "SPY"])
def test_dte_counts_calendar_days_from_the_chain_date(server, client, product):
    _, frame = same_tick(server, client, product, "limit=4", expiries=4)
    per_expiry = frame.groupby("expiry")[["dte", "time_to_expiry"]].first()
    for expiry, dte in per_expiry["dte"].items():
        assert dte == (expiry - CLOCK_START.date()).days
    # The server's own day count (the surface's days_to_expiry) agrees.
    surface = raw(server, f"/api/analytics/volatility-surface/{product}")
    served = {date.fromisoformat(e["expiry"]): e["days_to_expiry"] for e in surface["expiries"]}
    assert {e: served[e] for e in per_expiry.index} == per_expiry["dte"].to_dict()
    # Both exchanges close after 05:00 UTC: the exact time to expiry is dte days and part
    # of one more (ACT/365 to the close on expiry day).
    years_in_days = per_expiry["time_to_expiry"] * 365
    assert ((years_in_days > per_expiry["dte"]) & (years_in_days < per_expiry["dte"] + 1)).all()


def test_in_the_money_is_the_strike_against_spot(server, client):
    _, frame = same_tick(server, client, "BANKNIFTY", "strikes=9", strikes=9)
    calls, puts = frame[frame.option_type == "call"], frame[frame.option_type == "put"]
    assert (calls.in_the_money == (calls.strike < calls.spot)).all()
    assert (puts.in_the_money == (puts.strike > puts.spot)).all()
    # The window straddles the money: both kinds on each side.
    assert calls.in_the_money.any() and not calls.in_the_money.all()
    assert puts.in_the_money.any() and not puts.in_the_money.all()


def test_expiry_and_strikes_choose_the_window(server, client):
    listed = client.expiries("NIFTY")
    assert listed == [date.fromisoformat(e) for e in
                      raw(server, "/api/data/expiries/NIFTY")["expiries"]]
    assert listed == sorted(listed) and len(listed) >= 3
    frame = client.chain("NIFTY", listed[1], expiries=2, strikes=5)
    assert sorted(set(frame["expiry"])) == listed[1:3]
    assert frame.groupby(["expiry", "option_type"]).size().tolist() == [5] * 4
    body = raw(server, f"/api/data/chain/NIFTY?expiry={listed[1]}&limit=2&strikes=5")
    assert frame[frame.option_type == "call"]["strike"].tolist() == [
        k for c in body["chains"] for k in c["strikes"]]
    # A date given as text is the same request.
    again = client.chain("NIFTY", listed[1].isoformat(), expiries=2, strikes=5)
    assert again["strike"].tolist() == frame["strike"].tolist()


def test_an_unknown_product_raises_the_servers_404(server, client):
    status, body = fetch(server.base + "/api/data/chain/NOPE")
    assert status == 404
    with pytest.raises(DeltaStreamError) as caught:
        client.chain("NOPE")
    error = caught.value
    assert (error.status, error.error, error.detail) == (404, body["error"], body["detail"])
    assert "NOPE" in error.error and "NIFTY" in error.detail["valid_products"]
    assert str(error) == f"HTTP 404: {body['error']}"
    with pytest.raises(DeltaStreamError) as caught:
        client.expiries("NOPE")
    assert caught.value.status == 404


def test_a_bad_parameter_raises_the_servers_400_naming_it(server, client):
    with pytest.raises(DeltaStreamError) as caught:
        client.chain("NIFTY", strikes=500)
    assert caught.value.status == 400
    assert caught.value.detail["parameter"] == "strikes"
    assert "strikes" in caught.value.error
    with pytest.raises(DeltaStreamError) as caught:
        client.chain("NIFTY", expiries=11)
    assert caught.value.detail["parameter"] == "limit"


def test_source_is_passed_to_the_server(server, client):
    listed = raw(server, "/api/data/sources")["sources"]
    assert client.sources() == listed
    live = listed[0]
    assert live["live"] is True
    assert client.products(live["name"]) == [p["product"] for p in live["products"]]
    body, frame = same_tick(server, client, "NIFTY", f"source={live['name']}",
                            source=live["name"])
    assert (frame["source"] == live["name"]).all()
    assert len(frame) == 2 * len(body["chains"][0]["strikes"])
    # A source the server does not hold: its own 404, naming the ones it has.
    status, answer = fetch(server.base + "/api/data/chain/NIFTY?source=nowhere")
    assert status == 404
    with pytest.raises(DeltaStreamError) as caught:
        client.chain("NIFTY", source="nowhere")
    assert (caught.value.status, caught.value.error, caught.value.detail) == (
        404, answer["error"], answer["detail"])
    for call in (lambda: client.expiries("NIFTY", source="nowhere"),
                 lambda: client.max_pain("NIFTY", source="nowhere"),
                 lambda: client.iv_history("NIFTY", source="nowhere"),
                 lambda: client.products("nowhere")):
        with pytest.raises(DeltaStreamError) as caught:
            call()
        assert caught.value.status == 404 and "nowhere" in caught.value.error


def test_an_imported_source_is_listed_with_its_range(server, client):
    entry = next(e for e in client.sources() if e["name"] == IMPORTED)
    assert entry["live"] is False
    assert [p["product"] for p in entry["products"]] == ["NIFTY"]
    nifty = entry["products"][0]
    assert nifty["snapshots"] == len(QUOTE_TIMES)
    assert [nifty["from"], nifty["to"]] == [
        t.isoformat(timespec="milliseconds").replace("+00:00", "Z") for t in QUOTE_TIMES]
    assert client.products(IMPORTED) == ["NIFTY"]
    assert client.expiries("NIFTY", source=IMPORTED) == list(LADDERS)
    # A product the source does not have: the server's 404, listing the source's products.
    status, answer = fetch(server.base + f"/api/data/chain/SPY?source={IMPORTED}")
    with pytest.raises(DeltaStreamError) as caught:
        client.chain("SPY", source=IMPORTED)
    assert (caught.value.status, caught.value.error, caught.value.detail) == (
        status, answer["error"], answer["detail"])
    assert status == 404 and "SPY" in answer["error"]


def test_an_imported_chain_frame_is_its_json_with_symbols_and_quality(server, client,
                                                                      imported):
    _, vendor = imported
    body, frame = same_tick(server, client, "NIFTY", f"source={IMPORTED}&limit=2&strikes=21",
                            source=IMPORTED, expiries=2, strikes=21)
    expected = expected_rows(body)
    assert len(frame) == len(expected) == 2 * sum(len(k) for k in LADDERS.values())
    assert_rows(frame, expected)
    # The newest quote time is the source's latest chain.
    assert (frame["source"] == IMPORTED).all()
    assert (frame["timestamp"] == pd.Timestamp(QUOTE_TIMES[-1])).all()
    assert (frame["spot"] == SPOTS[-1]).all()
    for expiry, strikes in LADDERS.items():
        assert frame[(frame.expiry == expiry) & (frame.option_type == "put")][
            "strike"].tolist() == strikes
    # The file's IVs, beside DeltaStream's: NaN where the file had none.
    for row in frame.itertuples():
        cell = vendor[(QUOTE_TIMES[-1], row.expiry, row.strike, row.option_type)]
        if cell:
            assert row.vendor_iv == pytest.approx(float(cell))
        else:
            assert math.isnan(row.vendor_iv)
    # Quality: the crossed quote is flagged and priced from elsewhere; two-sided ones from
    # their mid.
    crossed = frame[(frame.option_type == "call") & (frame.strike == 24200.0)
                    & (frame.expiry == date(2026, 12, 1))].iloc[0]
    assert "crossed" in crossed.quality_flags and crossed.price_source != "mid"
    assert all(isinstance(f, list) for f in frame["quality_flags"])
    two_sided = frame[(frame.bid > 0) & (frame.ask > frame.bid)]
    assert len(two_sided) > 0 and (two_sided.price_source == "mid").all()
    assert two_sided.mid.tolist() == pytest.approx(((two_sided.bid + two_sided.ask) / 2).tolist(),
                                                  rel=1e-9)
    # Each contract symbol reads back as its row's contract.
    for row in frame.itertuples():
        symbol = parse_contract_symbol(row.contract_symbol)
        assert (symbol.underlying, float(symbol.strike), symbol.right) == (
            "NIFTY", row.strike, row.option_type)
        if symbol.monthly:
            assert (symbol.expiry.year, symbol.expiry.month) == (row.expiry.year,
                                                                 row.expiry.month)
        else:
            assert symbol.expiry == row.expiry


def test_an_imported_chain_at_a_time_and_its_history(server, client):
    earlier = client.chain("NIFTY", source=IMPORTED, at=QUOTE_TIMES[0] + timedelta(minutes=10))
    assert (earlier["timestamp"] == pd.Timestamp(QUOTE_TIMES[0])).all()
    assert (earlier["spot"] == SPOTS[0]).all()
    # Outside the source's range: a 404 naming the range.
    with pytest.raises(DeltaStreamError) as caught:
        client.chain("NIFTY", source=IMPORTED, at=QUOTE_TIMES[0] - timedelta(days=1))
    assert caught.value.status == 404
    assert (caught.value.detail["from"], caught.value.detail["to"]) == tuple(
        t.isoformat(timespec="milliseconds").replace("+00:00", "Z") for t in QUOTE_TIMES)
    history = client.iv_history("NIFTY", IMPORTED, start=QUOTE_TIMES[0] - timedelta(hours=1),
                                end=QUOTE_TIMES[-1])
    body = raw(server, f"/api/analytics/iv-history/NIFTY?source={IMPORTED}"
                       "&from=2026-11-24T08:30:00Z&to=2026-11-24T10:00:00Z")
    assert [t.to_pydatetime() for t in history["timestamp"]] == list(QUOTE_TIMES)
    assert history["atm_iv"].tolist() == [p["atm_iv"] for p in body["series"]]
    assert history["atm_iv"].between(0.1, 0.2).all()
    assert client.max_pain("NIFTY", source=IMPORTED) == raw(
        server, f"/api/analytics/max-pain/NIFTY?source={IMPORTED}")


def test_products_underlying_and_analytics_are_the_servers(server, client):
    assert client.products() == raw(server, "/api/data/products")["products"]
    ticks = client.underlying("NIFTY", limit=5)
    body = raw(server, "/api/data/underlying/NIFTY?limit=5")
    assert list(ticks.columns) == ["id", "product", "price", "timestamp"]
    assert len(ticks) == body["count"] > 0
    assert ticks["id"].dtype == "int64" and ticks["price"].dtype == "float64"
    assert [int(i) for i in ticks["id"]] <= [t["id"] for t in body["ticks"]]
    assert ticks["timestamp"].is_monotonic_increasing
    assert (ticks["price"] == body["ticks"][-1]["price"]).all()    # a fixed clock
    assert client.max_pain("NIFTY") == raw(server, "/api/analytics/max-pain/NIFTY")
    expiry = client.expiries("NIFTY")[1]
    pcr = client.pcr("NIFTY", expiry=expiry)
    assert pcr == raw(server, f"/api/analytics/pcr/NIFTY?expiry={expiry}")
    assert "history" not in pcr


def test_iv_history_frame_and_its_statistics(server, client):
    history = client.iv_history("NIFTY", sample_seconds=3600)
    body = raw(server, "/api/analytics/iv-history/NIFTY?sample_seconds=3600")
    assert list(history.columns) == ["timestamp", "atm_iv"]
    assert history["atm_iv"].tolist() == [p["atm_iv"] for p in body["series"]]
    assert [t.isoformat() for t in history["timestamp"]] == [
        datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")).isoformat()
        for p in body["series"]]
    for key in ("iv_rank", "iv_percentile", "current", "lookback"):
        assert history.attrs[key] == body[key]
    assert history.attrs["lookback"]["sample_seconds"] == 3600


def test_archived_chain_at_a_time(server, client):
    body = raw(server, "/api/data/chain/NIFTY")
    at = CLOCK_START + timedelta(seconds=1)
    archived = client.chain("NIFTY", at=at)
    assert archived["timestamp"].iloc[0] == pd.Timestamp(CLOCK_START)
    assert archived["strike"].tolist() == body["chains"][0]["strikes"] * 2
    # The same instant in another offset is the same request.
    offset = client.chain("NIFTY", at=at.astimezone(timezone(timedelta(hours=5, minutes=30))))
    assert offset["mid"].tolist() == archived["mid"].tolist()
    with pytest.raises(DeltaStreamError) as caught:
        client.chain("NIFTY", at=CLOCK_START - timedelta(days=400))
    assert caught.value.status == 404


# -- what only a stand-in server can show: the request as sent, odd answers ------------


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET with the JSON ``answer`` of its server (gzip when asked and
    ``gzip`` is on) and records the path and headers it was sent."""

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))  # type: ignore[attr-defined]
        status, body, content_type = self.server.answer  # type: ignore[attr-defined]
        headers = {"Content-Type": content_type}
        if self.server.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):  # type: ignore[attr-defined]
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def stand_in() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.requests = []  # type: ignore[attr-defined]
    httpd.answer = (200, b'{"products": ["X"]}', "application/json")  # type: ignore[attr-defined]
    httpd.gzip = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def address(httpd: ThreadingHTTPServer) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host}:{port}"


def test_query_values_are_sent_as_the_api_reads_them(stand_in):
    client = Client(address(stand_in) + "/")
    client.get("/api/x/A B", expiry=date(2026, 12, 1), history=True, flag=False,
               at=datetime(2026, 12, 1, 9, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
               naive=datetime(2026, 12, 1, 3, 45), stamp=pd.Timestamp("2026-12-01T03:45Z"),
               limit=3, skipped=None)
    path, headers = stand_in.requests[-1]
    parts = urlsplit(path)
    assert parts.path == "/api/x/A%20B"
    assert parse_qs(parts.query) == {
        "expiry": ["2026-12-01"], "history": ["true"], "flag": ["false"],
        "at": ["2026-12-01T03:45:00Z"], "naive": ["2026-12-01T03:45:00"],
        "stamp": ["2026-12-01T03:45:00Z"], "limit": ["3"]}
    assert headers["Accept"] == "application/json"
    # A product name is one path segment, whatever it holds.
    stand_in.answer = (200, b'{"product": "A/B", "expiries": ["2026-12-01"]}',
                       "application/json")
    assert client.expiries("A/B") == [date(2026, 12, 1)]
    assert stand_in.requests[-1][0] == "/api/data/expiries/" + quote("A/B", safe="")


def test_gzip_answers_are_read(stand_in):
    stand_in.gzip = True
    assert Client(address(stand_in)).products() == ["X"]
    _, headers = stand_in.requests[-1]
    assert "gzip" in headers["Accept-Encoding"]


def test_an_error_that_is_not_the_apis_json_keeps_its_status(stand_in):
    stand_in.answer = (502, b"<html>Bad Gateway</html>", "text/html")
    with pytest.raises(DeltaStreamError) as caught:
        Client(address(stand_in)).products()
    assert caught.value.status == 502 and caught.value.detail is None
    assert caught.value.error == "Bad Gateway"


def test_an_unreachable_server_is_a_connection_error(tmp_path: Path):
    from tests.support.ports import free_port

    base = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError, match=f"cannot reach DeltaStream at {base}"):
        Client(base, timeout=2).products()


@pytest.mark.parametrize(("base_url", "timeout", "named"), [
    ("127.0.0.1:8001", 10.0, "base_url"),
    ("ftp://127.0.0.1", 10.0, "base_url"),
    ("http://127.0.0.1:8001", 0, "timeout"),
    ("http://127.0.0.1:8001", math.nan, "timeout"),
])
def test_a_bad_address_or_timeout_is_refused_naming_it(base_url, timeout, named):
    with pytest.raises(ValueError, match=named):
        Client(base_url, timeout=timeout)


def test_without_pandas_a_frame_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)     # `import pandas` fails
    with pytest.raises(ImportError, match=r"pip install 'deltastream\[client\]'"):
        chain_frame({"product": "NIFTY", "count": 0, "chains": []})
