"""The NSE option-chain JSON parser, both shapes: every field of a contract as filed, the
quote time in UTC, the quirks of real chains kept for the builder to flag, rejects with the
record's position, key and reason, and malformed files refused naming the field."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deltastream.feeds.formats import nse_json
from deltastream.feeds.records import CALL, PUT, FileFormatError, ImportedChain, ParseResult
from tests.feeds.formats.helpers import at

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "feeds" / "nse"
WEEKLY = "option-chain-v3_NIFTY_08-Dec-2026.json"
MONTHLY = "option-chain-v3_NIFTY_29-Dec-2026.json"
LEGACY = "option-chain-equities_RELIANCE.json"


def parse(name: str) -> ParseResult:
    return nse_json.read((FIXTURES / name).read_bytes(), name, "nse")


def only_chain(name: str) -> ImportedChain:
    result = parse(name)
    assert result.rejects == []
    (c,) = result.chains
    return c


def document(name: str = WEEKLY) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def read(doc: dict[str, Any]) -> ParseResult:
    return nse_json.read(json.dumps(doc).encode(), "chain.json", "nse")


# --- the fixtures, field by field ----------------------------------------------------------

def test_v3_file_is_one_chain_of_its_expiry() -> None:
    result = parse(WEEKLY)
    assert result.format == "nse-json"
    assert result.rows_read == 30  # 16 strikes, two of them one-sided
    (c,) = result.chains
    assert (c.source, c.product, c.exchange, c.currency, c.file) == (
        "nse", "NIFTY", "NSE", "INR", WEEKLY)
    # 04-Dec-2026 15:30:00 in Kolkata is 10:00 UTC.
    assert c.timestamp == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    assert c.session_date == date(2026, 12, 4)
    assert c.underlying_price == 26120.45
    assert (c.lot_size, c.exercise_style, c.futures) == (None, "european", {})
    assert set(c.expiry.astype(object)) == {date(2026, 12, 8)}
    assert c.expiry.dtype == np.dtype("datetime64[D]") and c.right.dtype == np.int8
    assert sorted(set(c.strike)) == [25750.0 + 50 * k for k in range(16)]


def test_v3_contract_field_by_field() -> None:
    # Record 6, 26000 CE: buyPrice1 198.1 x 2145, sellPrice1 199.75 x 1365, lastPrice 199.65,
    # change -1.7, totalTradedVolume 57466, openInterest 19510, changeinOpenInterest 1067,
    # impliedVolatility 11.14 (percent).
    c = only_chain(WEEKLY)
    i = at(c, 26000.0, CALL)
    assert c.rows[i] == 6
    assert (c.bid[i], c.ask[i], c.bid_size[i], c.ask_size[i]) == (198.1, 199.75, 2145.0, 1365.0)
    assert (c.last[i], c.change[i]) == (199.65, -1.7)
    assert (c.volume[i], c.open_interest[i], c.oi_change[i]) == (57466.0, 19510.0, 1067.0)
    assert c.vendor_iv[i] == pytest.approx(0.1114, abs=1e-12)
    for name in ("close", "settlement", "vendor_delta", "vendor_gamma", "vendor_theta",
                 "vendor_vega", "vendor_rho"):
        assert math.isnan(getattr(c, name)[i]), name
    put = at(c, 26000.0, PUT)
    assert c.rows[put] == 6
    assert (c.bid[put], c.ask[put], c.last[put], c.open_interest[put]) == (65.95, 66.55, 67.5,
                                                                           25065.0)


def test_quirks_of_real_chains_are_kept_as_filed() -> None:
    c = only_chain(WEEKLY)
    crossed = at(c, 26200.0, CALL)
    assert (c.bid[crossed], c.ask[crossed]) == (82.3, 81.8)
    locked = at(c, 26050.0, PUT)
    assert c.bid[locked] == c.ask[locked] == 82.05
    # A zero bid is no bid: no price and no size; its IV (0) is none either.
    zero_bid = at(c, 26450.0, CALL)
    assert math.isnan(c.bid[zero_bid]) and math.isnan(c.bid_size[zero_bid])
    assert (c.ask[zero_bid], c.ask_size[zero_bid]) == (15.25, 2210.0)
    assert math.isnan(c.vendor_iv[zero_bid])
    no_iv = at(c, 26400.0, CALL)
    assert math.isnan(c.vendor_iv[no_iv]) and c.bid[no_iv] == 22.2
    never_traded = at(c, 25850.0, PUT)
    assert math.isnan(c.last[never_traded])
    assert (c.volume[never_traded], c.bid[never_traded]) == (0.0, 35.3)
    no_ask = at(c, 26500.0, CALL)
    assert math.isnan(c.ask[no_ask]) and math.isnan(c.ask_size[no_ask])
    assert c.bid[no_ask] == 9.95
    # One side only: 25750 has a put, 26500 a call.
    assert c.right[c.strike == 25750.0].tolist() == [PUT]
    assert c.right[c.strike == 26500.0].tolist() == [CALL]


def test_monthly_v3_file_has_its_own_strikes() -> None:
    weekly, monthly = only_chain(WEEKLY), only_chain(MONTHLY)
    assert set(monthly.expiry.astype(object)) == {date(2026, 12, 29)}
    assert sorted(set(monthly.strike)) == [25400.0 + 100 * k for k in range(15)]
    assert set(weekly.strike) != set(monthly.strike)
    assert len(monthly) == 29
    crossed = at(monthly, 26000.0, CALL)
    assert monthly.bid[crossed] > monthly.ask[crossed]


def test_legacy_equities_file_with_three_expiries() -> None:
    result = parse(LEGACY)
    assert result.rows_read == 38
    (c,) = result.chains
    assert (c.product, c.exchange, c.timestamp) == ("RELIANCE", "NSE",
                                                     datetime(2026, 12, 4, 10, tzinfo=UTC))
    assert c.underlying_price == 1562.30
    strikes = {e: sorted(set(c.strike[c.expiry == np.datetime64(e)]))
               for e in ("2026-12-29", "2027-01-25", "2027-02-23")}
    assert strikes == {"2026-12-29": [1480.0 + 20 * k for k in range(9)],
                       "2027-01-25": [1460.0 + 40 * k for k in range(6)],
                       "2027-02-23": [1400.0 + 80 * k for k in range(5)]}
    # Record 2, 29-Dec-2026 1500 CE: bidprice 78.8 x 8500, askPrice 79.5 x 2000 (legacy keys).
    i = at(c, 1500.0, CALL, "2026-12-29")
    assert c.rows[i] == 2
    assert (c.bid[i], c.bid_size[i], c.ask[i], c.ask_size[i]) == (78.8, 8500.0, 79.5, 2000.0)
    assert (c.last[i], c.change[i], c.volume[i], c.open_interest[i], c.oi_change[i]) == (
        79.2, -4.8, 6250.0, 4924.0, 1103.0)
    assert c.vendor_iv[i] == pytest.approx(0.2237, abs=1e-12)
    # 1480 in December has only a put.
    assert c.right[(c.strike == 1480.0) & (c.expiry == np.datetime64("2026-12-29"))].tolist() \
        == [PUT]
    crossed = at(c, 1540.0, CALL, "2027-01-25")
    assert (c.bid[crossed], c.ask[crossed]) == (71.4, 70.9)


# --- quote time ----------------------------------------------------------------------------

@pytest.mark.parametrize(("stamp", "utc", "session"), [
    ("04-Dec-2026 09:15:00", datetime(2026, 12, 4, 3, 45, tzinfo=UTC), date(2026, 12, 4)),
    # Shortly after midnight in India is still the previous day in UTC.
    ("05-Dec-2026 00:30:00", datetime(2026, 12, 4, 19, 0, tzinfo=UTC), date(2026, 12, 5)),
    ("4-DEC-2026 15:30", datetime(2026, 12, 4, 10, 0, tzinfo=UTC), date(2026, 12, 4)),
])
def test_timestamp_is_india_time_converted_to_utc(stamp: str, utc: datetime,
                                                  session: date) -> None:
    doc = document()
    doc["records"]["timestamp"] = stamp
    (c,) = read(doc).chains
    assert c.timestamp == utc
    assert c.session_date == session


# --- rejects -------------------------------------------------------------------------------

def test_bad_records_and_objects_are_rejected_with_position_key_and_reason() -> None:
    doc = document()
    data = doc["records"]["data"]
    data[0]["strikePrice"] = "abc"                  # record 1: one side (PE)
    data[1]["strikePrice"] = 0                      # record 2: both sides
    data[2]["expiryDates"] = "31-Foo-2026"          # record 3: both sides
    data[3]["expiryDates"] = "01-Dec-2026"          # record 4: before the quote date
    data[4]["CE"]["lastPrice"] = -5                 # record 5: the call only
    data[5]["PE"]["openInterest"] = -1              # record 6: the put only
    data[6]["CE"]["buyPrice1"] = "n/a"              # record 7: the call only
    data[7]["PE"]["totalTradedVolume"] = True       # record 8: the put only
    data.append(copy.deepcopy(data[8]))             # record 17: repeats record 9
    result = read(doc)
    assert [(r.file, r.row, r.column, r.reason) for r in result.rejects] == [
        ("chain.json", 1, "strikePrice", "'abc' is not a number"),
        ("chain.json", 2, "strikePrice", "strike 0 is not positive"),
        ("chain.json", 2, "strikePrice", "strike 0 is not positive"),
        ("chain.json", 3, "expiryDates", "'31-Foo-2026' is not a date like '30-Dec-2026'"),
        ("chain.json", 3, "expiryDates", "'31-Foo-2026' is not a date like '30-Dec-2026'"),
        ("chain.json", 4, "expiryDates", "expiry 01-Dec-2026 is before the quote date "
                                         "04-Dec-2026"),
        ("chain.json", 4, "expiryDates", "expiry 01-Dec-2026 is before the quote date "
                                         "04-Dec-2026"),
        ("chain.json", 5, "CE.lastPrice", "-5 is negative"),
        ("chain.json", 6, "PE.openInterest", "-1 is negative"),
        ("chain.json", 7, "CE.buyPrice1", "'n/a' is not a number"),
        ("chain.json", 8, "PE.totalTradedVolume", "True is not a number"),
        ("chain.json", 17, "strikePrice", "duplicate of record 9 (same expiry, strike and CE)"),
        ("chain.json", 17, "strikePrice", "duplicate of record 9 (same expiry, strike and PE)"),
    ]
    assert result.rows_read == 32
    (c,) = result.chains
    assert len(c) == 32 - 13
    assert not set(c.rows.tolist()) & {1, 2, 3, 4, 17}
    assert c.right[c.rows == 5].tolist() == [PUT] and c.right[c.rows == 6].tolist() == [CALL]


def test_legacy_keys_are_named_in_rejects() -> None:
    doc = document(LEGACY)
    doc["records"]["data"][1]["expiryDate"] = "2026-12-29"
    doc["records"]["data"][2]["CE"]["askPrice"] = -0.05
    result = read(doc)
    assert [(r.row, r.column) for r in result.rejects] == [(2, "expiryDate"),
                                                          (2, "expiryDate"),
                                                          (3, "CE.askPrice")]


def test_missing_values_are_nan_and_expiry_may_come_from_the_objects() -> None:
    doc = document()
    record = doc["records"]["data"][5]
    del record["expiryDates"]  # the objects still carry expiryDate
    del record["CE"]["impliedVolatility"]
    record["CE"]["changeinOpenInterest"] = None
    record["PE"]["lastPrice"] = "-"
    (c,) = read(doc).chains
    call, put = at(c, 26000.0, CALL), at(c, 26000.0, PUT)
    assert c.expiry[call] == np.datetime64("2026-12-08")
    assert math.isnan(c.vendor_iv[call]) and math.isnan(c.oi_change[call])
    assert math.isnan(c.last[put])


def test_a_record_without_either_side_is_no_row() -> None:
    doc = document()
    doc["records"]["data"].append({"strikePrice": 27000, "expiryDates": "08-Dec-2026"})
    result = read(doc)
    assert result.rows_read == 30 and result.rejects == []
    assert len(result.chains[0]) == 30


def test_every_record_rejected_leaves_no_chain() -> None:
    doc = document()
    for record in doc["records"]["data"]:
        record["expiryDates"] = "01-Dec-2026"
    result = read(doc)
    assert result.chains == [] and len(result.rejects) == result.rows_read == 30


def test_a_chain_without_contracts_is_empty() -> None:
    doc = document()
    doc["records"]["data"] = []
    assert read(doc) == ParseResult("chain.json", "nse-json", [], [], 0)


def test_underlying_price_falls_back_to_the_objects() -> None:
    doc = document()
    del doc["records"]["underlyingValue"]
    assert read(doc).chains[0].underlying_price == 26120.45


# --- malformed files -----------------------------------------------------------------------

def _without_timestamp() -> bytes:
    doc = document()
    del doc["records"]["timestamp"]
    return json.dumps(doc).encode()


def _with(path: tuple[str | int, ...], value: object) -> bytes:
    doc = document()
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(doc).encode()


def _two_underlyings() -> bytes:
    doc = document()
    doc["records"]["data"][3]["CE"]["underlying"] = "BANKNIFTY"
    return json.dumps(doc).encode()


def _no_underlying() -> bytes:
    doc = document()
    for record in doc["records"]["data"]:
        for side in ("CE", "PE"):
            record.get(side, {}).pop("underlying", None)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("data", "line", "message"), [
    (b'{"records": {"timestamp": "04-Dec-2026 15:30:00",\n "data": [}', 2, "not JSON"),
    (b'{"records": "\xff"}', None, "not JSON: not UTF-8 text"),
    (b"<html>Access Denied</html>", 1, "not JSON"),
    (b"{}", None, "no 'records' object"),
    (b"[]", None, "the document is not an object"),
    (b'{"records": {"timestamp": "04-Dec-2026 15:30:00"}}', None,
     "'records.data' is not a list"),
    (_without_timestamp(), None, "missing 'records.timestamp'"),
    (_with(("records", "timestamp"), "2026-12-04T15:30:00"), None,
     "'records.timestamp' '2026-12-04T15:30:00' is not a time like '04-Dec-2026 15:30:00'"),
    (_with(("records", "timestamp"), "31-Nov-2026 15:30:00"), None, "is not a time like"),
    (_two_underlyings(), None,
     "records.data[3] is on 'BANKNIFTY', the file on 'NIFTY': one file holds one underlying"),
    (_no_underlying(), None, "names its 'underlying'"),
    (_with(("records", "data", 2), "26000"), None, "records.data[2] is not an object"),
])
def test_malformed_files_are_refused_naming_the_field(data: bytes, line: int | None,
                                                      message: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        nse_json.read(data, "chain.json", "nse")
    assert (caught.value.file, caught.value.line) == ("chain.json", line)
    assert message in caught.value.message
    assert str(caught.value).startswith("chain.json")
