"""The Cboe Option EOD Summary parser against the fixture written for it
(tests/fixtures/feeds/cboe/generate.py: SPX under SPX and SPXW, AAPL; quote date 2027-03-16)
and against small files built here, one problem each."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import QuantLib as ql

from deltastream.feeds.formats import cboe_eod
from deltastream.feeds.records import CALL, PUT, FileFormatError
from tests.feeds.formats.helpers import at, chain_of, csv_of, fixture_rows
from tests.fixtures.feeds.cboe import generate

FIXTURE = (Path(__file__).parents[2] / "fixtures" / "feeds" / "cboe"
           / "UnderlyingOptionsEODCalcs_2027-03-16.csv")
NAME = "UnderlyingOptionsEODCalcs_2027-03-16.csv"
# The fixture's generating model (its generate.py): rate, dividend yields, spot, smile
# a + b k + c k^2 in k = ln(K/F).
RATE = 0.04
DIVIDEND_YIELD = {"AAPL": 0.005, "SPX": 0.013}
SPOT = {"AAPL": 212.40, "SPX": 5800.0}
SMILE = {"AAPL": (0.27, -0.15, 0.6), "SPX": (0.15, -0.12, 0.5)}
QUOTE_TIME = datetime(2027, 3, 16, 19, 45, tzinfo=UTC)


@pytest.fixture(scope="module")
def parsed() -> cboe_eod.ParseResult:
    return cboe_eod.read(FIXTURE.read_bytes(), NAME, "cboe")


def _template(**changes: str) -> dict[str, str]:
    """The fixture's AAPL 2027-03-25 212.5 call (line 21), changed."""
    _, rows = fixture_rows(FIXTURE)
    (row,) = [r for r in rows if r["root"] == "AAPL" and r["expiration"] == "2027-03-25"
              and r["strike"] == "212.500" and r["option_type"] == "C"]
    return {**row, **changes}


def test_one_chain_per_underlying_with_the_products_terms(parsed: cboe_eod.ParseResult
                                                          ) -> None:
    assert parsed.format == "cboe-eod" and parsed.file == NAME
    assert parsed.rows_read == 83
    assert [c.product for c in parsed.chains] == ["AAPL", "SPX"]
    aapl, spx = chain_of(parsed, "AAPL"), chain_of(parsed, "SPX")
    for chain in (aapl, spx):
        assert chain.source == "cboe" and chain.file == NAME
        assert chain.exchange == "CBOE" and chain.currency == "USD" and chain.lot_size == 100
        assert chain.session_date == date(2027, 3, 16)
        # 15:45 New York on a March day after the DST change is 19:45 UTC.
        assert chain.timestamp == QUOTE_TIME
        assert chain.futures == {}
    assert aapl.exercise_style == "american" and spx.exercise_style == "european"
    assert len(aapl) == 37 and len(spx) == 35
    # Three expiries each, the Good Friday weekly (2027-03-26) as listed, on Thursday.
    for chain in (aapl, spx):
        assert sorted(set(chain.expiry.astype(object))) == [
            date(2027, 3, 19), date(2027, 3, 25), date(2027, 4, 16)]
    # Strike lists differ by expiry.
    assert sorted(set(aapl.strike[aapl.expiry == np.datetime64("2027-03-25")])) == [
        205, 207.5, 210, 212.5, 215, 217.5, 220]
    assert sorted(set(aapl.strike[aapl.expiry == np.datetime64("2027-04-16")])) == [
        190, 200, 210, 220, 230]


def test_every_field_of_a_row(parsed: cboe_eod.ParseResult) -> None:
    chain = chain_of(parsed, "AAPL")
    i = at(chain, 212.5, CALL, "2027-03-25")
    assert chain.rows[i] == 21
    assert chain.bid[i] == 3.55 and chain.ask[i] == 3.70
    assert chain.bid_size[i] == 269 and chain.ask_size[i] == 5
    assert chain.last[i] == 3.65 and chain.close[i] == 3.65
    assert chain.volume[i] == 232 and chain.open_interest[i] == 2886
    for name in ("settlement", "change", "oi_change"):
        assert math.isnan(getattr(chain, name)[i])
    assert chain.vendor_iv[i] == 0.2701
    assert chain.vendor_delta[i] == 0.5121 and chain.vendor_gamma[i] == 0.044240
    # Theta per calendar day and vega per volatility point as filed; rho per unit of the
    # rate filed (2.595331), per percentage point here.
    assert chain.vendor_theta[i] == -0.209429 and chain.vendor_vega[i] == 0.133056
    assert chain.vendor_rho[i] == pytest.approx(0.02595331, rel=1e-12)


def test_rows_are_ordered_by_expiry_strike_and_right(parsed: cboe_eod.ParseResult) -> None:
    for chain in parsed.chains:
        key = list(zip(chain.expiry.astype("int64"), chain.strike, chain.right, strict=True))
        assert key == sorted(key)
        assert chain.right.dtype == np.int8 and chain.expiry.dtype == "datetime64[D]"


def test_underlying_price_mid_of_the_quote_else_the_active_price(
        parsed: cboe_eod.ParseResult) -> None:
    assert chain_of(parsed, "AAPL").underlying_price == pytest.approx(212.40, abs=1e-9)
    # Cboe files 0 for the bid and ask of an index without a quote licence.
    assert chain_of(parsed, "SPX").underlying_price == 5800.0


def test_quotes_as_filed_and_unquoted_sides_missing(parsed: cboe_eod.ParseResult) -> None:
    aapl, spx = chain_of(parsed, "AAPL"), chain_of(parsed, "SPX")
    crossed = at(aapl, 210, CALL, "2027-03-19")
    assert (aapl.bid[crossed], aapl.ask[crossed]) == (3.65, 3.60)
    zero_bid = at(aapl, 240, CALL, "2027-03-19")
    assert (aapl.bid[zero_bid], aapl.ask[zero_bid]) == (0.0, 0.02)
    # 240 is listed as a call only.
    assert not np.any((aapl.strike == 240) & (aapl.right == PUT))
    nothing = at(spx, 6300, CALL, "2027-03-25")
    assert math.isnan(spx.bid[nothing]) and math.isnan(spx.ask[nothing])
    untraded = at(aapl, 205, PUT, "2027-03-19")
    assert aapl.volume[untraded] == 0
    assert math.isnan(aapl.last[untraded]) and math.isnan(aapl.close[untraded])


def test_an_unsolved_vendor_iv_is_missing_with_its_greeks(parsed: cboe_eod.ParseResult
                                                         ) -> None:
    spx, aapl = chain_of(parsed, "SPX"), chain_of(parsed, "AAPL")
    for chain, i in ((spx, at(spx, 5600, PUT, "2027-04-16")),       # filed 0.0000
                     (aapl, at(aapl, 190, CALL, "2027-04-16")),     # filed empty
                     (spx, at(spx, 6300, CALL, "2027-03-25"))):     # filed 0
        for name in ("iv", "delta", "gamma", "theta", "vega", "rho"):
            assert math.isnan(getattr(chain, f"vendor_{name}")[i]), name
    # A solved IV keeps Greeks of 0 (a far out-of-the-money option's).
    far = at(aapl, 240, CALL, "2027-03-19")
    assert aapl.vendor_iv[far] == 0.2606 and aapl.vendor_delta[far] == 0.0


def test_vendor_greeks_are_in_the_chains_units(parsed: cboe_eod.ParseResult) -> None:
    """Every vendor IV and Greek of the fixture, converted, equals QuantLib's
    Black-Scholes-Merton value from the generating model, in the chain's units (theta per
    calendar day, vega per volatility point, rho per percentage point), to the digits
    filed."""
    checked = 0
    for chain in parsed.chains:
        spot, q = SPOT[chain.product], DIVIDEND_YIELD[chain.product]
        a, b, c = SMILE[chain.product]
        for i in np.flatnonzero(~np.isnan(chain.vendor_iv)):
            expiry = chain.expiry[i].astype(object)
            close = datetime(expiry.year, expiry.month, expiry.day, 20, 0, tzinfo=UTC)
            t = (close - chain.timestamp).total_seconds() / (365 * 86400)
            forward = spot * math.exp((RATE - q) * t)
            k = math.log(float(chain.strike[i]) / forward)
            vol = a + b * k + c * k * k
            kind = ql.Option.Call if chain.right[i] == CALL else ql.Option.Put
            black = ql.BlackCalculator(ql.PlainVanillaPayoff(kind, float(chain.strike[i])),
                                       forward, vol * math.sqrt(t), math.exp(-RATE * t))
            # Filed to 4 decimals (IV, delta) and 6 (the others; rho then / 100).
            expected = {"iv": (vol, 5.1e-5), "delta": (black.delta(spot), 5.1e-5),
                        "gamma": (black.gamma(spot), 5.1e-7),
                        "theta": (black.theta(spot, t) / 365, 5.1e-7),
                        "vega": (black.vega(t) / 100, 5.1e-7),
                        "rho": (black.rho(t) / 100, 5.1e-9)}
            for name, (value, tolerance) in expected.items():
                filed = float(getattr(chain, f"vendor_{name}")[i])
                assert filed == pytest.approx(value, rel=0, abs=tolerance), (
                    chain.product, int(chain.rows[i]), name)
            checked += 1
    assert checked == 69


def test_rejects_the_am_root_of_a_series_listed_twice_and_adjusted_series(
        parsed: cboe_eod.ParseResult) -> None:
    rejects = {(r.row, r.column): r.reason for r in parsed.rejects}
    assert all(r.file == NAME for r in parsed.rejects)
    assert set(rejects) == {(39, "root")} | {(line, "root") for line in range(40, 50)}
    assert rejects[(39, "root")] == ("AAPL1 is an adjusted series (non-standard "
                                     "deliverable); not imported")
    # Line 40 is SPX 2027-03-19 5700 C; line 60 the same series under SPXW.
    assert rejects[(40, "root")] == (
        "the same series as line 60, whose root SPXW is kept (PM-settled: it expires at the "
        "close, as the chain's expiry time assumes)")
    spx = chain_of(parsed, "SPX")
    march = spx.expiry == np.datetime64("2027-03-19")
    assert sorted(spx.rows[march]) == list(range(60, 70))
    # The AM-settled April series, listed alone, is kept.
    assert np.count_nonzero(spx.expiry == np.datetime64("2027-04-16")) == 10


def test_the_standard_root_is_kept_over_another(tmp_path: Path) -> None:
    header, _ = fixture_rows(FIXTURE)
    data = csv_of(header, _template(root="AAPX", underlying_symbol="AAPL"),
                  _template(root="AAPL"), _template(root="AAPL"))
    result = cboe_eod.read(data, "x.csv", "cboe")
    (chain,) = result.chains
    assert chain.rows.tolist() == [3]
    assert [(r.row, r.column, r.reason) for r in result.rejects] == [
        (2, "root", "the same series as line 3, whose root AAPL is kept (the underlying's "
                    "standard root)"),
        (4, "root", "duplicate of line 3")]


@pytest.mark.parametrize(("day", "expected"), [
    # Winter (EST): 15:45 is 20:45 UTC.
    (date(2027, 1, 15), datetime(2027, 1, 15, 20, 45, tzinfo=UTC)),
    # The day after Thanksgiving closes at 13:00: the snapshot is at 12:45 (EST).
    (date(2026, 11, 27), datetime(2026, 11, 27, 17, 45, tzinfo=UTC)),
    # Before 2020-02-05 a half day's "1545" quotes are the close's (13:00 EST).
    (date(2019, 11, 29), datetime(2019, 11, 29, 18, 0, tzinfo=UTC)),
    # Summer (EDT).
    (date(2026, 7, 15), datetime(2026, 7, 15, 19, 45, tzinfo=UTC)),
])
def test_quote_time_in_utc(day: date, expected: datetime) -> None:
    header, _ = fixture_rows(FIXTURE)
    data = csv_of(header, _template(quote_date=day.isoformat(), expiration="2027-03-25"))
    (chain,) = cboe_eod.read(data, "x.csv", "cboe").chains
    assert chain.timestamp == expected and chain.timestamp.tzinfo is UTC
    assert chain.session_date == day


def test_several_quote_dates_make_several_chains() -> None:
    header, _ = fixture_rows(FIXTURE)
    data = csv_of(header, _template(quote_date="2027-03-15"), _template(),
                  _template(quote_date="2027-03-15", option_type="P"))
    result = cboe_eod.read(data, "x.csv", "cboe")
    assert [(c.session_date, len(c)) for c in result.chains] == [
        (date(2027, 3, 15), 2), (date(2027, 3, 16), 1)]
    assert result.rejects == []


def test_an_index_by_its_root_is_european_and_a_caret_is_dropped() -> None:
    header, _ = fixture_rows(FIXTURE)
    data = csv_of(header, _template(underlying_symbol="NDX", root="NDXP"),
                  _template(underlying_symbol="^RUT", root="RUTW"),
                  _template(underlying_symbol="TSLA", root="TSLA"))
    styles = {c.product: c.exercise_style for c in cboe_eod.read(data, "x", "cboe").chains}
    assert styles == {"NDX": "european", "RUT": "european", "TSLA": "american"}


def test_zero_ask_is_no_offer_and_zero_quote_is_no_quote() -> None:
    header, _ = fixture_rows(FIXTURE)
    data = csv_of(header, _template(bid_1545="0.40", ask_1545="0"),
                  _template(bid_1545="0", ask_1545="0", option_type="P"))
    (chain,) = cboe_eod.read(data, "x", "cboe").chains
    assert chain.bid[0] == 0.40 and math.isnan(chain.ask[0])
    assert math.isnan(chain.bid[1]) and math.isnan(chain.ask[1])


def test_rejects_name_the_line_the_column_and_why() -> None:
    header, _ = fixture_rows(FIXTURE)
    data = csv_of(header,
                  _template(strike="abc"),                                       # line 2
                  _template(option_type="X"),                                    # line 3
                  _template(strike="0"),                                         # line 4
                  _template(expiration="2027-03-15"),                            # line 5
                  _template(bid_1545="-0.05"),                                   # line 6
                  _template(ask_1545="-1"),                                      # line 7
                  _template(expiration="2027/03/25"),                            # line 8
                  _template(underlying_symbol=""),                               # line 9
                  _template(trade_volume="12x"),                                 # line 10
                  _template(open_interest="-3"),                                 # line 11
                  _template(implied_volatility_1545="inf"),                      # line 12
                  _template(strike="215"))                                       # line 13: ok
    result = cboe_eod.read(data, "x.csv", "cboe")
    assert [(r.file, r.row, r.column, r.reason) for r in result.rejects] == [
        ("x.csv", 2, "strike", "not a number: 'abc'"),
        ("x.csv", 3, "option_type", "'X' is not C or P"),
        ("x.csv", 4, "strike", "must be > 0 (got 0)"),
        ("x.csv", 5, "expiration", "2027-03-15 is before the quote date 2027-03-16"),
        ("x.csv", 6, "bid_1545", "must be >= 0 (got -0.05)"),
        ("x.csv", 7, "ask_1545", "must be >= 0 (got -1)"),
        ("x.csv", 8, "expiration", "not a date YYYY-MM-DD: '2027/03/25'"),
        ("x.csv", 9, "underlying_symbol", "missing (empty)"),
        ("x.csv", 10, "trade_volume", "not a number: '12x'"),
        ("x.csv", 11, "open_interest", "must be >= 0 (got -3)"),
        ("x.csv", 12, "implied_volatility_1545", "not a number: 'inf'"),
    ]
    assert result.rows_read == 12
    (chain,) = result.chains
    assert chain.rows.tolist() == [13]


def test_an_expiry_on_the_quote_date_is_kept() -> None:
    header, _ = fixture_rows(FIXTURE)
    data = csv_of(header, _template(expiration="2027-03-16"))
    result = cboe_eod.read(data, "x", "cboe")
    assert result.rejects == [] and len(result.chains[0]) == 1


def test_columns_in_any_order_and_extra_ones_ignored(parsed: cboe_eod.ParseResult) -> None:
    header, rows = fixture_rows(FIXTURE)
    shuffled = [*reversed(header), "my_note"]
    data = csv_of(shuffled, *({**r, "my_note": "x"} for r in rows))
    again = cboe_eod.read(data, NAME, "cboe")
    assert [r.reason for r in again.rejects] == [r.reason for r in parsed.rejects]
    for a, b in zip(parsed.chains, again.chains, strict=True):
        for name in ("expiry", "strike", "right", "bid", "ask", "vendor_rho", "rows"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_a_file_without_the_calcs_columns_imports_without_vendor_values() -> None:
    header, rows = fixture_rows(FIXTURE)
    kept = [h for h in header if h not in cboe_eod.CALCS]
    data = csv_of(kept, *({k: r[k] for k in kept} for r in rows))
    result = cboe_eod.read(data, "quotes.csv", "cboe")
    spx = chain_of(result, "SPX")
    assert np.all(np.isnan(spx.vendor_iv)) and np.all(np.isnan(spx.vendor_rho))
    # No underlying quote and no active price: the chain's price is unknown.
    assert math.isnan(spx.underlying_price)
    assert chain_of(result, "AAPL").underlying_price == pytest.approx(212.40)


def test_missing_required_columns_are_named() -> None:
    header, rows = fixture_rows(FIXTURE)
    kept = [h for h in header if h not in ("strike", "bid_1545")]
    data = csv_of(kept, *({k: r[k] for k in kept} for r in rows[:2]))
    with pytest.raises(FileFormatError) as caught:
        cboe_eod.read(data, "x.csv", "cboe")
    assert caught.value.file == "x.csv" and caught.value.line == 1
    assert str(caught.value) == "x.csv, line 1: missing required column(s): strike, bid_1545"


def test_a_ragged_row_is_a_format_error_naming_its_line() -> None:
    lines = FIXTURE.read_bytes().split(b"\n")
    lines[5] = lines[5].rsplit(b",", 3)[0]
    with pytest.raises(FileFormatError) as caught:
        cboe_eod.read(b"\n".join(lines), "x.csv", "cboe")
    assert caught.value.line == 6
    assert "31 fields where the header has 34" in str(caught.value)


@pytest.mark.parametrize(("data", "line", "message"), [
    (b"", None, "empty file: no header row"),
    (b"\n\n", None, "empty file: no header row"),
    (b"\n".join([*FIXTURE.read_bytes().split(b"\n")[:3], b"\xff" + b"A" * 9]), 4,
     "not UTF-8 text"),
    (b"\n".join([*FIXTURE.read_bytes().split(b"\n")[:3], b"A" * 200_000]), 4, "not CSV"),
])
def test_not_a_csv_file(data: bytes, line: int | None, message: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        cboe_eod.read(data, "x.csv", "cboe")
    assert caught.value.line == line and message in caught.value.message


def test_a_header_only_file_has_no_chains() -> None:
    header, _ = fixture_rows(FIXTURE)
    result = cboe_eod.read(csv_of(header), "x.csv", "cboe")
    assert result.chains == [] and result.rejects == [] and result.rows_read == 0


def test_the_fixture_is_the_generators_output() -> None:
    assert generate.content() == FIXTURE.read_bytes()
