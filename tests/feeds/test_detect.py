"""Format detection from a file's first bytes, for every format read, plain and zipped."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deltastream.feeds.detect import FORMATS, detect_format
from deltastream.feeds.paths import expand
from deltastream.feeds.records import FileFormatError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds"
UDIFF_HEADER = (
    "TradDt,BizDt,Sgmt,Src,FinInstrmTp,FinInstrmId,ISIN,TckrSymb,SctySrs,XpryDt,"
    "FininstrmActlXpryDt,StrkPric,OptnTp,FinInstrmNm,OpnPric,HghPric,LwPric,ClsPric,LastPric,"
    "PrvsClsgPric,UndrlygPric,SttlmPric,OpnIntrst,ChngInOpnIntrst,TtlTradgVol,TtlTrfVal,"
    "TtlNbOfTxsExctd,SsnId,NewBrdLotQty,Rmks,Rsvd1,Rsvd2,Rsvd3,Rsvd4")
UDIFF_ROW = ("2026-12-04,2026-12-04,FO,NSE,IDO,41234,,NIFTY,,2026-12-08,2026-12-08,26100.00,"
             "CE,NIFTY26D0826100CE,150.00,190.00,120.00,171.45,171.45,160.00,26120.45,171.45,"
             "1200000,65000,9000000,1.5E10,120000,F1,65,,,,,")
NSE_V3 = {"records": {"timestamp": "04-Dec-2026 15:30:00", "underlyingValue": 26120.45,
                      "expiryDates": ["08-Dec-2026"],
                      "data": [{"strikePrice": 26100, "expiryDate": "08-Dec-2026",
                                "CE": {"openInterest": 18000, "lastPrice": 171.45}}]},
          "filtered": {"data": [], "CE": {"totOI": 18000}, "PE": {"totOI": 0}}}
NSE_LEGACY = {"filtered": {"data": []},
              "records": {"expiryDates": ["29-Dec-2026"], "timestamp": "04-Dec-2026 15:30:00",
                          "data": []}}


def _head(data: bytes) -> bytes:
    return data[:65536]


@pytest.mark.parametrize("document", [NSE_V3, NSE_LEGACY])
def test_nse_json(document: dict[str, object]) -> None:
    assert detect_format("x.json", json.dumps(document).encode()) == "nse-json"
    # Saved with indentation, a byte-order mark, or cut short by the head.
    pretty = b"\xef\xbb\xbf\n " + json.dumps(document, indent=2).encode()
    assert detect_format("x.json", pretty[:60]) == "nse-json"


def test_nse_json_whose_records_come_after_a_long_filtered_object() -> None:
    document = {"filtered": {"data": [{"strikePrice": 20000 + 50 * i} for i in range(5000)]},
                "records": NSE_V3["records"]}
    data = json.dumps(document).encode()
    assert data.find(b'"records"') > 65536
    assert detect_format("x.json", _head(data)) == "nse-json"


def test_udiff_plain_and_zipped(tmp_path: Path) -> None:
    data = f"{UDIFF_HEADER}\n{UDIFF_ROW}\n".encode()
    assert detect_format("BhavCopy.csv", data) == "udiff"
    # Cut inside the first row: the header line decides.
    assert detect_format("BhavCopy.csv", data[:len(UDIFF_HEADER) + 20]) == "udiff"
    archive = tmp_path / "BhavCopy_NSE_FO_0_0_0_20261204_F_0000.csv.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("BhavCopy_NSE_FO_0_0_0_20261204_F_0000.csv", data)
    (member,) = expand([str(archive)])
    assert member.name == f"{archive}:BhavCopy_NSE_FO_0_0_0_20261204_F_0000.csv"
    assert detect_format(member.name, _head(member.read())) == "udiff"
    # The archive itself is not a data file.
    with pytest.raises(FileFormatError, match="a zip archive"):
        detect_format(str(archive), archive.read_bytes()[:4096])


def test_cboe_eod() -> None:
    path = FIXTURES / "cboe" / "UnderlyingOptionsEODCalcs_2027-03-16.csv"
    assert detect_format(path.name, _head(path.read_bytes())) == "cboe-eod"
    assert detect_format("x.csv", b"quote_date,underlying_symbol,root\r\n") == "cboe-eod"


def test_long_csv_and_parquet() -> None:
    path = FIXTURES / "long" / "chains_long.csv"
    assert detect_format(path.name, _head(path.read_bytes())) == "long"
    assert detect_format("x.csv", b"\xef\xbb\xbfUnderlying, Quote_Time ,expiry\n") == "long"
    out = io.BytesIO()
    pq.write_table(pa.table({"underlying": ["SPY"], "quote_time": ["2027-03-16T19:45:00Z"]}),
                   out)
    assert detect_format("chains.parquet", out.getvalue()[:16]) == "long"


def test_the_content_decides_not_the_name() -> None:
    assert detect_format("prices.json", f"{UDIFF_HEADER}\n".encode()) == "udiff"
    assert detect_format("UnderlyingOptionsEODCalcs_2027-03-16.csv",
                         b"underlying,quote_time\n") == "long"


@pytest.mark.parametrize(("head", "what"), [
    (b"symbol,date,price\nAAPL,2027-03-16,212.4\n", "unknown format (first line "
                                                     "'symbol,date,price')"),
    (b"", "unknown format (first line '')"),
    (b'{"data": []}', "JSON without a 'records' object"),
    (b"PK\x03\x04rest", "a zip archive"),
    (b"\x1f\x8b\x08\x00", "a gzip-compressed file"),
    (b"\x00\x01\x02binary", "unknown format"),
])
def test_an_unknown_file_lists_the_formats(head: bytes, what: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        detect_format("mystery.dat", head)
    error = caught.value
    assert error.file == "mystery.dat" and error.line is None
    assert what in error.message
    for name in FORMATS:
        assert f"{name}: " in error.message
    assert "--format forces one" in error.message


def test_the_format_names_are_the_commands() -> None:
    assert FORMATS == ("nse-json", "udiff", "cboe-eod", "long")
