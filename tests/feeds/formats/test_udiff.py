"""The UDiFF F&O bhavcopy parser: every field of a row as filed, units converted to contracts,
one chain per underlying with its futures, rejects with line, column and reason, and
malformed files refused naming file and line."""

from __future__ import annotations

import io
import json
import math
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from deltastream.feeds.formats import udiff
from deltastream.feeds.records import CALL, PUT, FileFormatError, ParseResult
from tests.feeds.formats.helpers import at, chain_of
from tests.fixtures.feeds.nse import make_fixtures

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "feeds" / "nse"
NSE_FILE = "BhavCopy_NSE_FO_0_0_0_20261204_F_0000.csv"
BSE_FILE = "BhavCopy_BSE_FO_0_0_0_20261204_F_0000.csv"
HEADER = ",".join(make_fixtures.UDIFF_COLUMNS)


def parse(name: str = NSE_FILE, source: str = "nse") -> ParseResult:
    return udiff.read((FIXTURES / name).read_bytes(), name, source)


def row(**cells: str) -> str:
    """A NIFTY option row of 2026-12-04 with ``cells`` changed."""
    values = dict(zip(make_fixtures.UDIFF_COLUMNS, [""] * len(make_fixtures.UDIFF_COLUMNS),
                      strict=True))
    values.update(TradDt="2026-12-04", BizDt="2026-12-04", Sgmt="FO", Src="NSE",
                  FinInstrmTp="IDO", FinInstrmId="1", TckrSymb="NIFTY", XpryDt="2026-12-29",
                  FininstrmActlXpryDt="2026-12-29", StrkPric="26000.00", OptnTp="CE",
                  ClsPric="250.00", LastPric="251.00", PrvsClsgPric="240.00",
                  UndrlygPric="26120.45", SttlmPric="250.00", OpnIntrst="6500",
                  ChngInOpnIntrst="-130", TtlTradgVol="40", NewBrdLotQty="65", SsnId="F1")
    values.update(cells)
    return ",".join(values[c] for c in make_fixtures.UDIFF_COLUMNS)


def csv_file(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


# --- the fixture, field by field -----------------------------------------------------------

def test_one_chain_per_underlying_with_the_session_close_as_quote_time() -> None:
    result = parse()
    assert result.format == "udiff"
    assert [c.product for c in result.chains] == ["BANKNIFTY", "NIFTY", "RELIANCE"]
    # 160 good options and 9 bad ones; the 9 futures are not option rows.
    assert result.rows_read == 169
    assert [len(c) for c in result.chains] == [50, 78, 32]
    for c in result.chains:
        assert (c.source, c.exchange, c.currency, c.file) == ("nse", "NSE", "INR", NSE_FILE)
        # 15:30 in Kolkata (UTC+5:30) is 10:00 UTC.
        assert c.timestamp == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
        assert c.timestamp.utcoffset() is not None
        assert c.session_date == date(2026, 12, 4)
        assert c.exercise_style == "european"
        assert c.expiry.dtype == np.dtype("datetime64[D]")
        assert c.right.dtype == np.int8
    assert [c.lot_size for c in result.chains] == [30, 65, 500]
    assert [c.underlying_price for c in result.chains] == [59240.60, 26120.45, 1562.30]


def test_a_traded_option_row_field_by_field() -> None:
    # Line 11: NIFTY 2026-12-08 25800 CE, ClsPric 361.60, LastPric 360.50, PrvsClsgPric 369.00,
    # SttlmPric 361.60, OpnIntrst 1629095, ChngInOpnIntrst 4940, TtlTradgVol 36332, lot 65.
    c = chain_of(parse(), "NIFTY")
    i = at(c, 25800.0, CALL, "2026-12-08")
    assert c.rows[i] == 11
    assert (c.close[i], c.last[i], c.settlement[i]) == (361.60, 360.50, 361.60)
    assert c.change[i] == pytest.approx(361.60 - 369.00, abs=1e-9)
    # Open interest and its change are filed in units: 1629095 / 65 lots.
    assert c.open_interest[i] == 25063.0
    assert c.oi_change[i] == 76.0
    # NSE files volume in contracts already.
    assert c.volume[i] == 36332.0
    for name in ("bid", "ask", "bid_size", "ask_size", "vendor_iv", "vendor_delta",
                 "vendor_gamma", "vendor_theta", "vendor_vega", "vendor_rho"):
        assert math.isnan(getattr(c, name)[i]), name


def test_an_untraded_option_keeps_its_stale_close_and_its_settlement() -> None:
    # Line 42: NIFTY 2026-12-29 25500 CE, no trade: last 0.00, close = previous close 823.90,
    # settlement (theoretical) 804.50.
    c = chain_of(parse(), "NIFTY")
    i = at(c, 25500.0, CALL, "2026-12-29")
    assert c.rows[i] == 42
    assert math.isnan(c.last[i])
    assert (c.close[i], c.settlement[i], c.change[i]) == (823.90, 804.50, 0.0)
    assert (c.volume[i], c.oi_change[i], c.open_interest[i]) == (0.0, 0.0, 2002455 / 65)


def test_expiries_as_listed_including_the_holiday_shifted_one() -> None:
    result = parse()
    expiries = {c.product: sorted(set(c.expiry.astype(object))) for c in result.chains}
    # 2027-01-25 is a Monday: the Tuesday (Republic Day) is a holiday; kept as filed.
    assert expiries == {
        "NIFTY": [date(2026, 12, 8), date(2026, 12, 29), date(2027, 1, 25)],
        "BANKNIFTY": [date(2026, 12, 29), date(2027, 1, 25), date(2027, 2, 23)],
        "RELIANCE": [date(2026, 12, 29), date(2027, 1, 25), date(2027, 2, 23)],
    }
    nifty = chain_of(result, "NIFTY")
    strikes = {e: sorted(set(nifty.strike[nifty.expiry == np.datetime64(e)]))
               for e in ("2026-12-08", "2026-12-29", "2027-01-25")}
    assert strikes["2026-12-08"] == [25800.0 + 50 * k for k in range(14)]
    assert strikes["2026-12-29"] == [25500.0 + 100 * k for k in range(13)]
    assert strikes["2027-01-25"] == [25000.0 + 200 * k for k in range(12)]
    for e, s in strikes.items():
        calls = nifty.strike[(nifty.expiry == np.datetime64(e)) & (nifty.right == CALL)]
        puts = nifty.strike[(nifty.expiry == np.datetime64(e)) & (nifty.right == PUT)]
        assert sorted(calls) == sorted(puts) == s


def test_futures_give_their_settlement_price_by_expiry() -> None:
    result = parse()
    assert chain_of(result, "NIFTY").futures == {date(2026, 12, 29): 26197.50,
                                                 date(2027, 1, 25): 26280.95,
                                                 date(2027, 2, 23): 26370.90}
    assert chain_of(result, "RELIANCE").futures == {date(2026, 12, 29): 1567.75,
                                                    date(2027, 1, 25): 1573.70,
                                                    date(2027, 2, 23): 1580.10}


def test_bad_rows_are_rejected_with_line_column_and_reason() -> None:
    result = parse()
    got = [(r.file, r.row, r.column) for r in result.rejects]
    assert got == [(NSE_FILE, 31, "ClsPric"), (NSE_FILE, 32, "OptnTp"),
                   (NSE_FILE, 33, "XpryDt"), (NSE_FILE, 54, "StrkPric"),
                   (NSE_FILE, 55, "OpnIntrst"), (NSE_FILE, 104, "StrkPric"),
                   (NSE_FILE, 105, "SttlmPric"), (NSE_FILE, 106, "NewBrdLotQty"),
                   (NSE_FILE, 179, "XpryDt")]
    reasons = [r.reason for r in result.rejects]
    assert reasons == [
        "'1O4.30' is not a number",
        "'XE' is not CE or PE",
        "expiry 2026-12-01 is before the trade date 2026-12-04",
        "duplicate of line 19 (same symbol, expiry, strike and option type)",
        "-650 is negative",
        "strike 0.00 is not positive",
        "no settlement price and no close price",
        "lot size '0' is not a positive whole number",
        "'2027-02-30' is not a date (YYYY-MM-DD)",
    ]
    # None of them is in a chain; the first of the duplicated pair is.
    lines = np.concatenate([c.rows for c in result.chains])
    assert not set(lines.tolist()) & {r.row for r in result.rejects}
    assert 19 in lines


def test_bse_files_volume_in_units() -> None:
    result = parse(BSE_FILE, "bse")
    (c,) = result.chains
    assert (c.product, c.exchange, c.source, c.lot_size) == ("SENSEX", "BSE", "bse", 20)
    # Line 3: SENSEX 2026-12-10 85000 CE, OpnIntrst 365780, ChngInOpnIntrst -160,
    # TtlTradgVol 868100, all in units; lot 20.
    i = at(c, 85000.0, CALL, "2026-12-10")
    assert c.rows[i] == 3
    assert (c.open_interest[i], c.oi_change[i], c.volume[i]) == (18289.0, -8.0, 43405.0)
    assert c.futures == {date(2026, 12, 31): 85682.35}


def test_the_zipped_copy_holds_the_same_file() -> None:
    with zipfile.ZipFile(FIXTURES / (NSE_FILE + ".zip")) as archive:
        assert archive.namelist() == [NSE_FILE]
        data = archive.read(NSE_FILE)
    assert data == (FIXTURES / NSE_FILE).read_bytes()


def test_the_fixtures_are_the_generators_output() -> None:
    written = make_fixtures.files()
    for name, content in written.items():
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                content = archive.read(NSE_FILE)
            name = NSE_FILE
        assert (FIXTURES / name).read_bytes() == content, name


def test_settlement_prices_keep_put_call_parity_on_the_generating_forward() -> None:
    # What market.json says the prices come from: C - P = D (F - K), to the 0.05 tick.
    market = json.loads((FIXTURES / "market.json").read_text())
    for c in parse().chains:
        expiries = market["underlyings"][c.product]["expiries"]
        for expiry in sorted(set(c.expiry.astype(str))):
            f, d = expiries[expiry]["forward"], expiries[expiry]["discount"]
            for strike in sorted(set(c.strike[c.expiry == np.datetime64(expiry)])):
                call = c.settlement[at(c, strike, CALL, expiry)]
                put = c.settlement[at(c, strike, PUT, expiry)]
                if min(call, put) > 0.05:  # a one-tick price may be rounded up from zero
                    assert call - put == pytest.approx(d * (f - strike), abs=0.05 + 1e-9)


# --- what a reader relies on beyond the fixture --------------------------------------------

def test_each_row_is_converted_with_its_own_lot_size() -> None:
    # After a lot-size revision new contracts carry the new lot while old ones keep theirs.
    data = csv_file(row(), row(XpryDt="2027-01-25", OpnIntrst="7500", ChngInOpnIntrst="75",
                               NewBrdLotQty="75"),
                    row(XpryDt="2027-01-25", OptnTp="PE", NewBrdLotQty="75", OpnIntrst="750",
                        ChngInOpnIntrst="0"))
    (c,) = udiff.read(data, "f.csv", "nse").chains
    assert c.open_interest.tolist() == [100.0, 100.0, 10.0]
    assert c.oi_change.tolist() == [-2.0, 1.0, 0.0]
    # The chain's lot size is the most common one.
    assert c.lot_size == 75


def test_zero_and_empty_prices_are_absent() -> None:
    data = csv_file(row(LastPric="0.00", PrvsClsgPric="", SttlmPric="0"),
                    row(OptnTp="PE", ClsPric="0.00", UndrlygPric="0.00"))
    (c,) = udiff.read(data, "f.csv", "nse").chains
    assert math.isnan(c.last[0]) and math.isnan(c.settlement[0])
    assert c.close[0] == 250.0 and math.isnan(c.change[0])
    assert math.isnan(c.close[1]) and c.settlement[1] == 250.0
    assert c.underlying_price == 26120.45


def test_quoted_fields_crlf_and_blank_lines_read_the_same() -> None:
    plain = csv_file(row(), row(OptnTp="PE"))
    crlf = (HEADER + "\r\n\r\n" + row() + "\r\n  \r\n" + row(OptnTp="PE") + "\r\n").encode()
    quoted = (HEADER + "\r\n\r\n" + row().replace("NIFTY", '"NIFTY"') + "\r\n\r\n"
              + row(OptnTp="PE") + "\r\n").encode()
    (c,) = udiff.read(plain, "f.csv", "nse").chains
    assert c.rows.tolist() == [2, 3]
    for other in (crlf, quoted):
        (o,) = udiff.read(other, "f.csv", "nse").chains
        assert o.rows.tolist() == [3, 5]  # lines of the file, blank ones counted
        for name in ("strike", "right", "close", "open_interest", "volume"):
            assert np.array_equal(getattr(c, name), getattr(o, name))
        assert o.product == "NIFTY"


def test_futures_of_an_underlying_without_options_make_no_chain() -> None:
    data = csv_file(row(FinInstrmTp="IDF", StrkPric="", OptnTp="", SttlmPric="26197.50"),
                    row(TckrSymb="BANKNIFTY", NewBrdLotQty="30"),
                    row(FinInstrmTp="IDF", TckrSymb="BANKNIFTY", XpryDt="2027-01-25",
                        StrkPric="", OptnTp="", SttlmPric="", ClsPric="59621.60"))
    result = udiff.read(data, "f.csv", "nse")
    assert result.rows_read == 1
    (c,) = result.chains
    # A future without a settlement price gives its close.
    assert (c.product, c.rows.tolist(), c.futures) == ("BANKNIFTY", [3],
                                                       {date(2027, 1, 25): 59621.60})


def test_more_bad_cells_are_rejected() -> None:
    data = csv_file(row(StrkPric="nan"), row(TtlTradgVol="inf"), row(StrkPric=""),
                    row(ClsPric="", SttlmPric="0.00"), row(NewBrdLotQty="62.5"),
                    row(ClsPric="-1.00"), row(TckrSymb=""), row(XpryDt="29-12-2026"),
                    row(StrkPric="26100.00"))
    result = udiff.read(data, "f.csv", "nse")
    assert [(r.row, r.column, r.reason) for r in result.rejects] == [
        (2, "StrkPric", "'nan' is not a number"),
        (3, "TtlTradgVol", "'inf' is not a number"),
        (4, "StrkPric", "'' is not a number"),
        (5, "SttlmPric", "no settlement price and no close price"),
        (6, "NewBrdLotQty", "lot size '62.5' is not a positive whole number"),
        (7, "ClsPric", "-1.00 is negative"),
        (8, "TckrSymb", "no symbol"),
        (9, "XpryDt", "'29-12-2026' is not a date (YYYY-MM-DD)"),
    ]
    assert result.rows_read == 9
    assert [len(c) for c in result.chains] == [1]


def test_a_file_with_only_futures_or_nothing_has_no_chain() -> None:
    futures = csv_file(row(FinInstrmTp="IDF", StrkPric="", OptnTp=""))
    assert udiff.read(futures, "f.csv", "nse") == ParseResult("f.csv", "udiff", [], [], 0)
    assert udiff.read(csv_file(), "f.csv", "nse") == ParseResult("f.csv", "udiff", [], [], 0)


@pytest.mark.parametrize(("data", "line", "message"), [
    (b"", None, "empty file"),
    (b"TradDt,BizDt\n2026-12-04,2026-12-04\n", 1,
     "missing required columns: Src, FinInstrmTp, TckrSymb, XpryDt, StrkPric, OptnTp, "
     "ClsPric, LastPric, PrvsClsgPric, UndrlygPric, SttlmPric, OpnIntrst, ChngInOpnIntrst, "
     "TtlTradgVol, NewBrdLotQty"),
    (b"<html><body>Access Denied</body></html>\n", 1, "missing required columns: TradDt"),
    (csv_file(row(), row() + ",extra"), 3, "35 fields where the header has 34"),
    (csv_file(row(), '"quoted",' + row()), 3, "35 fields where the header has 34"),
    (csv_file(row(), row(TradDt="2026-12-07")), 3,
     "TradDt '2026-12-07' differs from '2026-12-04' on line 2: one file holds one trade date"),
    (csv_file(row(TradDt="04-12-2026")), 2, "TradDt '04-12-2026' is not a date (YYYY-MM-DD)"),
    (csv_file(row(), row(Src="BSE")), 3, "one file holds one exchange"),
    (csv_file(row(Src="")), 2, "Src is empty"),
    (csv_file(row()) + b"2026-12-04,\xff\n", 3, "not UTF-8 text (byte 0xff)"),
    (csv_file(row()) + b"2026-12-04,\x00\n", 3, "not text (a NUL byte)"),
    (csv_file(row()) + b'"' + b"a" * 200_000 + b'"\n', 3, "not CSV: field larger than"),
])
def test_malformed_files_name_file_and_line(data: bytes, line: int | None, message: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        udiff.read(data, "BhavCopy.csv", "nse")
    error = caught.value
    assert (error.file, error.line) == ("BhavCopy.csv", line)
    assert message in error.message
    assert str(error).startswith("BhavCopy.csv" + ("" if line is None else f", line {line}"))


def test_a_byte_order_mark_is_not_part_of_the_first_column() -> None:
    (c,) = udiff.read(b"\xef\xbb\xbf" + csv_file(row()), "f.csv", "nse").chains
    assert c.session_date == date(2026, 12, 4)
