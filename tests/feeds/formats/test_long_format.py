"""The long format, CSV and Parquet, against the fixture written for it
(tests/fixtures/feeds/long/generate.py: NIFTY and SPY, three expiries each) and small files
built here, one problem each."""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deltastream.feeds.formats import long_format
from deltastream.feeds.records import CALL, PUT, ROW_FIELDS, FileFormatError
from tests.feeds.formats.helpers import at, chain_of, csv_of, fixture_rows
from tests.fixtures.feeds.long import generate

FIXTURE = Path(__file__).parents[2] / "fixtures" / "feeds" / "long" / "chains_long.csv"
NAME = "chains_long.csv"
REQUIRED_ONLY = long_format.REQUIRED


@pytest.fixture(scope="module")
def parsed() -> long_format.ParseResult:
    return long_format.read(FIXTURE.read_bytes(), NAME, "imported")


def _template(**changes: str) -> dict[str, str]:
    """The fixture's NIFTY 2026-11-23 23900 put (line 7), changed."""
    _, rows = fixture_rows(FIXTURE)
    (row,) = [r for r in rows if r["underlying"] == "NIFTY" and r["expiry"] == "2026-11-23"
              and r["strike"] == "23900" and r["option_type"] == "P"]
    return {**row, **changes}


def _rejects(result: long_format.ParseResult) -> list[tuple[int, str, str]]:
    return [(r.row, r.column, r.reason) for r in result.rejects]


def test_one_chain_per_underlying_and_quote_time(parsed: long_format.ParseResult) -> None:
    assert parsed.format == "long" and parsed.rows_read == 73 and parsed.rejects == []
    nifty, spy = chain_of(parsed, "NIFTY"), chain_of(parsed, "SPY")
    assert [c.product for c in parsed.chains] == ["NIFTY", "SPY"]
    # 15:30 in Kolkata is 10:00 UTC; SPY's time has no offset: UTC as written.
    assert nifty.timestamp == datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    assert spy.timestamp == datetime(2027, 3, 16, 19, 45, tzinfo=UTC)
    assert nifty.session_date == date(2026, 11, 19) and spy.session_date == date(2027, 3, 16)
    assert (nifty.exchange, nifty.currency, nifty.lot_size, nifty.exercise_style) == (
        "NSE", "INR", 65, "european")
    assert (spy.exchange, spy.currency, spy.lot_size, spy.exercise_style) == (
        "CBOE", "USD", 100, "american")
    assert nifty.underlying_price == 23950.0 and spy.underlying_price == 598.20
    assert len(nifty) == 39 and len(spy) == 34
    assert all(c.source == "imported" and c.file == NAME for c in parsed.chains)
    # NIFTY's weekly of Tuesday 2026-11-24 (an NSE holiday) is listed on Monday the 23rd.
    assert sorted(set(nifty.expiry.astype(object))) == [
        date(2026, 11, 23), date(2026, 12, 1), date(2026, 12, 29)]
    assert sorted(set(spy.expiry.astype(object))) == [
        date(2027, 3, 19), date(2027, 3, 25), date(2027, 4, 16)]
    assert sorted(set(spy.strike[spy.expiry == np.datetime64("2027-03-19")])) == [
        590, 595, 600, 605]


def test_every_field_of_a_row(parsed: long_format.ParseResult) -> None:
    chain = chain_of(parsed, "NIFTY")
    i = at(chain, 23900, PUT, "2026-11-23")
    assert chain.rows[i] == 7
    expected = {"bid": 101.10, "ask": 103.20, "bid_size": 55, "ask_size": 413, "last": 102.15,
                "close": 102.15, "settlement": 102.15, "change": 4.30, "volume": 1688,
                "open_interest": 965, "oi_change": -1226, "vendor_iv": 0.1306,
                "vendor_delta": -0.4230, "vendor_gamma": 0.001195, "vendor_theta": -14.8188,
                "vendor_vega": 9.8143, "vendor_rho": -1.1214}
    assert {name: float(getattr(chain, name)[i]) for name in expected} == expected


def test_empty_cells_are_missing_and_quotes_stay_as_filed(parsed: long_format.ParseResult
                                                          ) -> None:
    nifty, spy = chain_of(parsed, "NIFTY"), chain_of(parsed, "SPY")
    # SPY rows leave settlement, change and OI change empty.
    for name in ("settlement", "change", "oi_change", "close"):
        assert np.all(np.isnan(getattr(spy, name))), name
    no_bid = at(spy, 630, CALL, "2027-04-16")
    assert math.isnan(spy.bid[no_bid]) and spy.ask[no_bid] == 1.83
    untraded = at(spy, 595, PUT, "2027-03-19")
    assert spy.volume[untraded] == 0 and math.isnan(spy.last[untraded])
    no_iv = at(nifty, 23000, PUT, "2026-12-29")
    for name in ("iv", "delta", "gamma", "theta", "vega", "rho"):
        assert math.isnan(getattr(nifty, f"vendor_{name}")[no_iv])
    zero_bid = at(nifty, 25000, CALL, "2026-11-23")
    assert (nifty.bid[zero_bid], nifty.ask[zero_bid]) == (0.0, 0.10)
    assert not np.any((nifty.strike == 25000) & (nifty.expiry == np.datetime64("2026-11-23"))
                      & (nifty.right == PUT))
    crossed = at(spy, 600, PUT, "2027-03-19")
    assert (spy.bid[crossed], spy.ask[crossed]) == (4.50, 4.45)


def _typed_table(rows: list[dict[str, str]]) -> pa.Table:
    """The fixture as a typed Parquet table: timestamps, dates, numbers and text."""
    def number(name: str) -> list[float | None]:
        return [float(r[name]) if r[name] else None for r in rows]

    columns: dict[str, Any] = {
        "underlying": pa.array([r["underlying"] for r in rows]),
        "quote_time": pa.array([datetime.fromisoformat(r["quote_time"]).replace(
            tzinfo=datetime.fromisoformat(r["quote_time"]).tzinfo or UTC).astimezone(UTC)
            for r in rows], pa.timestamp("us", tz="UTC")),
        "expiry": pa.array([date.fromisoformat(r["expiry"]) for r in rows], pa.date32()),
        "option_type": pa.array([r["option_type"] for r in rows]),
        "multiplier": pa.array([int(r["multiplier"]) for r in rows], pa.int32()),
        "volume": pa.array([int(r["volume"]) for r in rows], pa.int64()),
    }
    for name in ("exercise_style", "exchange", "currency"):
        columns[name] = pa.array([r[name] for r in rows])
    for name in rows[0]:
        if name not in columns:
            columns[name.upper() if name == "strike" else name] = pa.array(number(name),
                                                                            pa.float64())
    return pa.table(columns)


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _same_chains(a: long_format.ParseResult, b: long_format.ParseResult) -> None:
    assert len(a.chains) == len(b.chains)
    for x, y in zip(a.chains, b.chains, strict=True):
        for name in ("product", "exchange", "currency", "timestamp", "session_date",
                     "underlying_price", "lot_size", "exercise_style"):
            assert getattr(x, name) == getattr(y, name), name
        for name in ROW_FIELDS:
            if name != "rows":
                np.testing.assert_array_equal(getattr(x, name), getattr(y, name), name)


def test_parquet_with_typed_columns_reads_as_the_csv(parsed: long_format.ParseResult) -> None:
    _, rows = fixture_rows(FIXTURE)
    data = _parquet(_typed_table(rows))
    assert data[:4] == b"PAR1"
    result = long_format.read(data, "chains.parquet", "imported")
    _same_chains(parsed, result)
    # Records are numbered from 1 (no header line).
    spy = chain_of(result, "SPY")
    assert spy.rows[at(spy, 630, CALL, "2027-04-16")] == 72


def test_parquet_with_text_columns_reads_as_the_csv(parsed: long_format.ParseResult) -> None:
    header, rows = fixture_rows(FIXTURE)
    table = pa.table({name: pa.array([r[name] or None for r in rows], pa.string())
                      for name in header})
    _same_chains(parsed, long_format.read(_parquet(table), "chains.parquet", "imported"))


def test_parquet_rejects_name_the_record() -> None:
    header, rows = fixture_rows(FIXTURE)
    rows = rows[:3]
    rows[1] = {**rows[1], "strike": "-5"}
    table = pa.table({name: pa.array([r[name] for r in rows], pa.string()) for name in header})
    result = long_format.read(_parquet(table), "p.parquet", "x")
    assert _rejects(result) == [(2, "strike", "must be > 0 (got -5)")]


def test_parquet_missing_columns_and_corrupt_files() -> None:
    table = pa.table({"underlying": ["SPY"], "quote_time": ["2027-03-16T19:45:00Z"]})
    with pytest.raises(FileFormatError) as caught:
        long_format.read(_parquet(table), "p.parquet", "x")
    assert caught.value.line is None
    assert caught.value.message.startswith(
        "missing required column(s): expiry, strike, option_type, bid, ask")
    with pytest.raises(FileFormatError, match="not a readable Parquet file"):
        long_format.read(b"PAR1" + b"\0" * 64, "p.parquet", "x")
    bad_type = pa.table({**{c: pa.array(["1"]) for c in REQUIRED_ONLY},
                         "strike": pa.array([[1.0]], pa.list_(pa.float64()))})
    with pytest.raises(FileFormatError, match="column strike has type list<"):
        long_format.read(_parquet(bad_type), "p.parquet", "x")


def test_only_the_required_columns() -> None:
    data = csv_of(REQUIRED_ONLY, _template())
    (chain,) = long_format.read(data, "x.csv", "imported").chains
    assert chain.lot_size is None and chain.exercise_style is None
    assert chain.exchange == "" and chain.currency == ""
    for name in ("bid_size", "ask_size", "close", "settlement", "change", "oi_change",
                 "vendor_iv", "vendor_rho"):
        assert math.isnan(getattr(chain, name)[0]), name
    assert chain.bid[0] == 101.10 and chain.open_interest[0] == 965
    # Without an exchange the session date is the date as written (Kolkata's here).
    assert chain.session_date == date(2026, 11, 19)


def test_currency_defaults_to_the_exchanges() -> None:
    data = csv_of((*REQUIRED_ONLY, "exchange"), _template(exchange="bse"),
                  _template(underlying="AAPL", exchange="nasdaq"))
    chains = long_format.read(data, "x.csv", "x").chains
    assert [(c.exchange, c.currency) for c in chains] == [("BSE", "INR"), ("NASDAQ", "USD")]


@pytest.mark.parametrize("written", ["2027-03-16T19:45:00Z", "2027-03-16T19:45:00+00:00",
                                     "2027-03-16 19:45:00", "2027-03-16T15:45:00-04:00",
                                     "2027-03-17T01:15:00+05:30"])
def test_quote_times_name_one_instant(written: str) -> None:
    data = csv_of(REQUIRED_ONLY, _template(underlying="SPY", quote_time=written,
                                           expiry="2027-03-19"))
    (chain,) = long_format.read(data, "x.csv", "x").chains
    assert chain.timestamp == datetime(2027, 3, 16, 19, 45, tzinfo=UTC)
    assert chain.timestamp.tzinfo is UTC


def test_rows_of_one_instant_written_differently_make_onechain_of() -> None:
    data = csv_of(REQUIRED_ONLY, _template(),
                  _template(quote_time="2026-11-19T10:00:00Z", option_type="C"))
    (chain,) = long_format.read(data, "x.csv", "x").chains
    assert len(chain) == 2


def test_session_date_is_the_exchanges_date() -> None:
    # 23:30 UTC is already the next day in Kolkata.
    data = csv_of((*REQUIRED_ONLY, "exchange"),
                  _template(quote_time="2026-11-18T23:30:00Z", exchange="NSE"))
    (chain,) = long_format.read(data, "x.csv", "x").chains
    assert chain.session_date == date(2026, 11, 19)


@pytest.mark.parametrize(("written", "right"), [("C", CALL), ("c", CALL), ("Call", CALL),
                                                ("CE", CALL), ("p", PUT), ("PUT", PUT),
                                                ("pe", PUT)])
def test_option_type_spellings(written: str, right: int) -> None:
    (chain,) = long_format.read(csv_of(REQUIRED_ONLY, _template(option_type=written)),
                                "x.csv", "x").chains
    assert chain.right.tolist() == [right]


def test_rejects_name_the_line_the_column_and_why() -> None:
    header, _ = fixture_rows(FIXTURE)
    data = csv_of(header,
                  _template(strike="x1"),                                      # line 2
                  _template(option_type="straddle"),                           # line 3
                  _template(strike="-100"),                                    # line 4
                  _template(expiry="2026-11-18"),                              # line 5
                  _template(bid="-0.05"),                                      # line 6
                  _template(quote_time="2026-11-19"),                          # line 7
                  _template(quote_time="yesterday"),                           # line 8
                  _template(expiry="23-Nov-2026"),                             # line 9
                  _template(underlying=" "),                                   # line 10
                  _template(multiplier="65.5"),                                # line 11
                  _template(exercise_style="bermudan"),                        # line 12
                  _template(volume="many"),                                    # line 13
                  _template(underlying_price="0"),                             # line 14
                  _template(open_interest="-1"),                               # line 15
                  _template(iv="-0.2"),                                        # line 16
                  _template(strike=""),                                        # line 17
                  _template(expiry=""),                                        # line 18
                  _template(),                                                 # line 19: ok
                  _template(multiplier="50", option_type="C"),                 # line 20
                  _template(exchange="BSE", option_type="C"),                  # line 21
                  _template(bid="99"))                                         # line 22
    result = long_format.read(data, "x.csv", "x")
    when = ("(e.g. 2026-11-19T15:30:00+05:30; without an offset it is UTC)")
    assert _rejects(result) == [
        (2, "strike", "not a number: 'x1'"),
        (3, "option_type", "'straddle' is not one of C, P, call, put, CE, PE"),
        (4, "strike", "must be > 0 (got -100)"),
        (5, "expiry", "2026-11-18 is before the quote date 2026-11-19"),
        (6, "bid", "must be >= 0 (got -0.05)"),
        (7, "quote_time", f"not an ISO-8601 date and time: '2026-11-19' {when}"),
        (8, "quote_time", f"not an ISO-8601 date and time: 'yesterday' {when}"),
        (9, "expiry", "not a date YYYY-MM-DD: '23-Nov-2026'"),
        (10, "underlying", "missing (empty)"),
        (11, "multiplier", "must be a whole number > 0 (got 65.5)"),
        (12, "exercise_style", "'bermudan' is not one of european, american"),
        (13, "volume", "not a number: 'many'"),
        (14, "underlying_price", "must be > 0 (got 0)"),
        (15, "open_interest", "must be >= 0 (got -1)"),
        (16, "iv", "must be >= 0 (got -0.2)"),
        (17, "strike", "missing (empty)"),
        (18, "expiry", "missing (empty)"),
        (20, "multiplier", "50 differs from 65 on line 19 of the same chain"),
        (21, "exchange", "'BSE' differs from 'NSE' on line 19 of the same chain"),
        (22, "strike", "duplicate of line 19 (same underlying, quote_time, expiry, strike "
                       "and option_type)"),
    ]
    assert result.rows_read == 21
    (chain,) = result.chains
    assert chain.rows.tolist() == [19]


def test_missing_required_columns_are_named() -> None:
    header = [h for h in REQUIRED_ONLY if h not in ("quote_time", "open_interest")]
    with pytest.raises(FileFormatError) as caught:
        long_format.read(csv_of(header, _template()), "x.csv", "x")
    assert str(caught.value) == ("x.csv, line 1: missing required column(s): quote_time, "
                                 "open_interest")


def test_header_names_ignore_case_spaces_and_a_byte_order_mark() -> None:
    header = [f" {h.upper()} " for h in REQUIRED_ONLY]
    row = _template()
    data = csv_of(header, {f" {k.upper()} ": v for k, v in row.items()})
    (chain,) = long_format.read(b"\xef\xbb\xbf" + data, "x.csv", "x").chains
    assert chain.strike.tolist() == [23900.0]


def test_a_column_named_twice_is_a_format_error() -> None:
    data = (",".join([*REQUIRED_ONLY, "Strike"]) + "\n").encode()
    with pytest.raises(FileFormatError, match="line 1: column strike appears twice"):
        long_format.read(data, "x.csv", "x")


def test_a_ragged_row_is_a_format_error_naming_its_line() -> None:
    lines = FIXTURE.read_bytes().split(b"\n")
    lines[9] += b",extra"
    with pytest.raises(FileFormatError) as caught:
        long_format.read(b"\n".join(lines), "x.csv", "x")
    assert (caught.value.file, caught.value.line) == ("x.csv", 10)
    assert caught.value.message == "28 fields where the header has 27"


def test_blank_lines_are_skipped_and_lines_still_counted() -> None:
    data = csv_of(REQUIRED_ONLY, _template())
    head, row = data.split(b"\n", 1)
    (chain,) = long_format.read(head + b"\n\n\r\n" + row, "x.csv", "x").chains
    assert chain.rows.tolist() == [4]


def test_many_rows_cross_chunk_boundaries(monkeypatch: pytest.MonkeyPatch,
                                          parsed: long_format.ParseResult) -> None:
    monkeypatch.setattr(long_format, "CHUNK_ROWS", 7)
    again = long_format.read(FIXTURE.read_bytes(), NAME, "imported")
    _same_chains(parsed, again)
    for a, b in zip(parsed.chains, again.chains, strict=True):
        np.testing.assert_array_equal(a.rows, b.rows)


def test_numbers_and_dates_helpers() -> None:
    values, bad = long_format.parse_numbers(["1.5", "", " 2 ", "nan", "x", "-inf", "1e3"])
    np.testing.assert_array_equal(values, [1.5, np.nan, 2.0, np.nan, np.nan, np.nan, 1000.0])
    assert bad == {4: "x", 5: "-inf"}
    dates, wrong = long_format.parse_dates(np.array(["2027-03-25", "", "2027-3-25", "2027",
                                                     "2027-02-30"], dtype=object))
    assert dates[0] == np.datetime64("2027-03-25") and np.all(np.isnat(dates[1:]))
    assert wrong.tolist() == [False, False, True, True, True]


def test_the_readme_example_imports() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    section = readme.split("### The long format", 1)[1]
    example = section.split("```csv\n", 1)[1].split("```", 1)[0]
    assert len(example.splitlines()) == 4
    result = long_format.read(example.encode(), "README.md", "imported")
    assert result.rejects == []
    assert [(c.product, len(c), c.lot_size) for c in result.chains] == [("NIFTY", 2, 65),
                                                                         ("SPY", 1, 100)]
    # The README lists every column the format reads.
    for column in (*long_format.REQUIRED, *long_format.OPTIONAL):
        assert f"`{column}`" in section, column


def test_the_fixture_is_the_generators_output() -> None:
    assert generate.content() == FIXTURE.read_bytes()
