"""Imported chains priced into snapshots.

Chains are generated here from a known market: European prices from Black-76 in closed form
on a known forward per expiry, American ones from QuantLib's QdFp engine. The references are
independent of the package: QuantLib's BlackCalculator (European) and QdFp American engine
(high-precision scheme) evaluated at the served forward, spot, rate, time and implied
volatility, with the tolerances of the pricing tests. Crafted rows show every price source
and every quality flag.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
import QuantLib as ql

from deltastream.catalog import load_catalog
from deltastream.core.snapshot_codec import decode_snapshot, encode_snapshot
from deltastream.core.types import IVStatus, PriceSource, QuoteFlag, flag_labels
from deltastream.feeds.build import UnpriceableChainError, build_snapshot
from deltastream.feeds.formats import nse_json, udiff
from deltastream.feeds.products import product_terms
from deltastream.feeds.records import CALL, PUT, ROW_FIELDS, ImportedChain
from tests.support.closed_forms import black76

YEAR = 365.0 * 86400.0
# NSE's close, 15:30 in Kolkata, is 10:00 UTC: quotes at the close are whole days from
# every expiry instant.
NSE_CLOSE = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
# 16:00 in New York on 2026-11-25 (EST), the US close.
US_CLOSE = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)


def smile(strikes, forward, level=0.14):
    m = np.log(strikes / forward)
    return level - 0.3 * m + 1.5 * m * m


class Rows:
    """An imported chain's rows, added a strike list at a time; fields not given are NaN."""

    def __init__(self) -> None:
        self.fields: dict[str, list[np.ndarray]] = {f: [] for f in ROW_FIELDS}

    def add(self, expiry: date, strikes, right: int, **values) -> Rows:
        k = np.atleast_1d(np.asarray(strikes, dtype=np.float64))
        n = k.size
        unknown = set(values) - set(ROW_FIELDS)
        assert not unknown, unknown
        for name in ROW_FIELDS:
            if name == "expiry":
                column = np.full(n, np.datetime64(expiry, "D"))
            elif name == "strike":
                column = k
            elif name == "right":
                column = np.full(n, right, dtype=np.int8)
            elif name == "rows":
                start = sum(len(a) for a in self.fields["rows"]) + 2
                column = np.arange(start, start + n)
            else:
                column = np.broadcast_to(np.asarray(values.get(name, np.nan),
                                                    dtype=np.float64), (n,)).copy()
            self.fields[name].append(column)
        return self

    def chain(self, product: str, timestamp: datetime, spot: float, exchange: str = "NSE",
              currency: str = "INR", **extra) -> ImportedChain:
        columns = {name: np.concatenate(parts) for name, parts in self.fields.items()}
        columns["expiry"] = columns["expiry"].astype("datetime64[D]")
        columns["right"] = columns["right"].astype(np.int8)
        return ImportedChain(source="test", product=product, exchange=exchange,
                             currency=currency, timestamp=timestamp,
                             session_date=timestamp.date(), underlying_price=spot,
                             file="generated.csv", **columns, **extra)


def quoted(rows: Rows, expiry: date, strikes, forward, time, rate, level=0.14, **extra):
    """Both rights at ``strikes``, two-sided quotes centred on exact Black-76 prices."""
    vol = smile(strikes, forward, level)
    for right in (CALL, PUT):
        price = black76(forward, strikes, time, rate, vol, right == CALL)
        half = np.maximum(0.05, 0.01 * price)
        rows.add(expiry, strikes, right, bid=price - half, ask=price + half,
                 volume=100.0, open_interest=1000.0, **extra)
    return vol


CATALOG = load_catalog()


def build(chain: ImportedChain, sequence: int = 7):
    terms, instant = product_terms(chain, CATALOG)
    return build_snapshot(chain, terms, instant, sequence)


def assert_quantlib_european(chain) -> int:
    """The chain's prices and Greeks from QuantLib's BlackCalculator at the served forward,
    time, rate and implied volatilities; returns how many options were checked."""
    s, t, f = chain.spot, chain.time_to_expiry, chain.forward
    df = math.exp(-chain.rate * t)
    checked = 0
    for call, side in ((True, chain.calls), (False, chain.puts)):
        for i in np.flatnonzero(side.iv_status == IVStatus.OK):
            payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put,
                                           float(chain.strikes[i]))
            c = ql.BlackCalculator(payoff, f, float(side.iv[i]) * math.sqrt(t), df)
            assert side.mid[i] == pytest.approx(c.value(), abs=1e-7 * s)
            assert side.delta[i] == pytest.approx(c.delta(s), abs=1e-10 * s)
            assert side.gamma[i] == pytest.approx(c.gamma(s), abs=1e-10 * s)
            assert side.theta[i] == pytest.approx(c.theta(s, t) / 365.0, abs=1e-10 * s)
            assert side.vega[i] == pytest.approx(c.vega(t) / 100.0, abs=1e-10 * s)
            assert side.rho[i] == pytest.approx(c.rho(t) / 100.0, abs=1e-10 * s)
            checked += 1
    return checked


# --- European: NIFTY, three expiries with different strike lists ------------------------

SPOT = 24500.0
RATE = CATALOG["NIFTY"].rate
Q_TRUE = 0.0131
NIFTY_EXPIRIES = [(date(2026, 12, 8), 4, np.arange(23800.0, 25201.0, 50.0)),
                  (date(2026, 12, 29), 25, np.arange(23000.0, 26001.0, 100.0)),
                  (date(2027, 3, 30), 116, np.concatenate([np.arange(21000.0, 24000.0, 500.0),
                                                           np.arange(24000.0, 27001.0, 200.0)]))]


def nifty_forward(days: int) -> float:
    return SPOT * math.exp((RATE - Q_TRUE) * days / 365.0)


@pytest.fixture(scope="module")
def european():
    rows = Rows()
    vols = {}
    for expiry, days, strikes in NIFTY_EXPIRIES:
        vols[expiry] = quoted(rows, expiry, strikes, nifty_forward(days), days / 365.0, RATE)
    return build(rows.chain("NIFTY", NSE_CLOSE, SPOT)), vols


def test_layout_times_and_forwards_of_a_european_chain(european):
    snap, _ = european
    assert snap.source == "test" and snap.product == "NIFTY" and snap.sequence == 7
    assert snap.expiries() == [e for e, _, _ in NIFTY_EXPIRIES]
    for chain, (_, days, strikes) in zip(snap.chains, NIFTY_EXPIRIES, strict=True):
        np.testing.assert_array_equal(chain.strikes, strikes)
        assert chain.time_to_expiry == pytest.approx(days / 365.0, rel=1e-15)
        assert chain.forward == pytest.approx(nifty_forward(days), rel=1e-9)
        assert chain.forward_residual is not None and chain.forward_residual < 1e-12
        assert chain.exchange == "NSE" and chain.source == "test"
    assert snap.spot == SPOT
    # The terms' dividend yield is the nearest expiry's, implied by parity; each chain
    # serves its own expiry's, so spot, rate, yield and time give its forward.
    assert snap.terms.dividend_yield == pytest.approx(Q_TRUE, abs=1e-8)
    assert snap.chains[0].dividend_yield == snap.terms.dividend_yield
    for chain in snap.chains:
        assert chain.spot * math.exp((chain.rate - chain.dividend_yield)
                                     * chain.time_to_expiry) == pytest.approx(chain.forward,
                                                                              rel=1e-12)


def test_european_iv_is_the_generating_volatility(european):
    snap, vols = european
    for chain in snap.chains:
        vol = vols[chain.expiry]
        for side in (chain.calls, chain.puts):
            assert np.all(side.iv_status == IVStatus.OK)
            np.testing.assert_allclose(side.iv, vol, rtol=0, atol=1e-8)
    assert np.all(snap.quality.price_source == PriceSource.MID)
    assert np.all(snap.quality.flags == 0)


def test_european_price_and_greeks_agree_with_quantlib(european):
    snap, _ = european
    checked = sum(assert_quantlib_european(chain) for chain in snap.chains)
    assert checked == 2 * sum(len(k) for _, _, k in NIFTY_EXPIRIES)


def test_chain_statistics_are_the_chains_own(european):
    snap, _ = european
    for chain in snap.chains:
        k = chain.strikes
        assert chain.atm_strike == k[np.argmin(np.abs(k - chain.forward))]
        assert chain.pcr_oi == pytest.approx(chain.puts.open_interest.sum()
                                             / chain.calls.open_interest.sum())
        i = int(np.flatnonzero(k == chain.atm_strike)[0])
        assert chain.atm_straddle_price == chain.calls.mid[i] + chain.puts.mid[i]


def test_snapshot_is_read_only_and_archives_exactly(european):
    snap, _ = european
    for a in (*snap.contracts.fields, *snap.quality.arrays(), snap.forward_residuals,
              snap.strikes, snap.forwards, snap.offsets):
        assert not a.flags.writeable
    back = decode_snapshot(encode_snapshot(snap))
    assert back.source == "test" and back.terms == snap.terms
    for x, y in zip((*back.contracts.fields, *back.quality.arrays(), back.forward_residuals),
                    (*snap.contracts.fields, *snap.quality.arrays(), snap.forward_residuals),
                    strict=True):
        np.testing.assert_array_equal(x, y)


def test_building_twice_gives_equal_snapshots():
    rows = Rows()
    expiry, days, strikes = NIFTY_EXPIRIES[1]
    quoted(rows, expiry, strikes, nifty_forward(days), days / 365.0, RATE)
    chain = rows.chain("NIFTY", NSE_CLOSE, SPOT)
    a, b = build(chain), build(chain)
    for x, y in zip((*a.contracts.fields, *a.quality.arrays()),
                    (*b.contracts.fields, *b.quality.arrays()), strict=True):
        np.testing.assert_array_equal(x, y)


# --- Vendor figures: kept beside ours, never used as ours --------------------------------

def test_vendor_iv_and_greeks_are_kept_separately_and_agree_with_ours():
    expiry, days, strikes = NIFTY_EXPIRIES[1]
    forward, time = nifty_forward(days), days / 365.0
    vol = smile(strikes, forward)
    rows = Rows()
    for right in (CALL, PUT):
        price = black76(forward, strikes, time, RATE, vol, right == CALL)
        # What NSE shows: the IV in percent with two decimals.
        vendor = np.round(vol * 100.0, 2) / 100.0
        if right == CALL:
            vendor[3] = 0.99     # a vendor's absurd figure changes nothing of ours
        rows.add(expiry, strikes, right, bid=price - 0.5, ask=price + 0.5, volume=5.0,
                 open_interest=50.0, vendor_iv=vendor, vendor_delta=0.25)
    snap = build(rows.chain("NIFTY", NSE_CLOSE, SPOT))
    chain = snap.chains[0]
    filed = np.round(vol * 100.0, 2) / 100.0
    for row, side in ((0, chain.calls), (1, chain.puts)):
        vendor = snap.quality.vendor_iv[row]
        expected = filed.copy()
        if row == 0:
            expected[3] = 0.99
        np.testing.assert_array_equal(vendor, expected)
        np.testing.assert_array_equal(snap.quality.vendor_delta[row], 0.25)
        assert np.all(np.isnan(snap.quality.vendor_gamma[row]))
        # Ours come from the prices: the generating volatility, within the vendor's
        # rounding of it (half a hundredth of a percent) where the vendor is sane.
        np.testing.assert_allclose(side.iv, vol, rtol=0, atol=1e-8)
        sane = np.arange(strikes.size) != (3 if row == 0 else -1)
        assert np.all(np.abs(side.iv - vendor)[sane] <= 5e-5 + 1e-12)
        assert not np.allclose(side.delta, 0.25)


# --- Price sources and quality flags ------------------------------------------------------

def flag_chain() -> tuple:
    """NIFTY's monthly, well quoted near the money, and crafted contracts in the wings."""
    expiry, days, _ = NIFTY_EXPIRIES[1]
    forward, time = nifty_forward(days), days / 365.0
    rows = Rows()
    quoted(rows, expiry, np.arange(24000.0, 25001.0, 100.0), forward, time, RATE)
    r = rows.add
    r(expiry, 23000.0, CALL, bid=1600.0, ask=1590.0, settlement=1605.0, volume=3.0)  # crossed
    r(expiry, 23000.0, PUT, bid=20.0, ask=21.0, volume=9.0, open_interest=70.0)
    r(expiry, 23100.0, CALL, bid=1500.0, ask=1500.0, close=1502.0)                   # locked
    r(expiry, 23100.0, PUT, bid=22.0, ask=23.0, settlement=22.0)                    # mid wins
    r(expiry, 26000.0, CALL, ask=3.0, last=2.5, volume=0.0)                         # no bid
    r(expiry, 26000.0, PUT, bid=0.0, ask=1600.0, volume=2.0)                        # zero bid
    r(expiry, 26100.0, CALL, volume=0.0, settlement=2.0, open_interest=40.0)        # stale
    r(expiry, 26100.0, PUT, change=-3.0, oi_change=5.0)                             # nothing
    r(expiry, 22000.0, CALL, settlement=2000.0, volume=1.0, change=12.5,            # below
      oi_change=-4.0)                                                               # intrinsic
    r(expiry, 26200.0, PUT, bid=1700.0, ask=1720.0, volume=1.0, open_interest=9.0)  # put only
    snap = build(rows.chain("NIFTY", NSE_CLOSE, SPOT))
    return snap, snap.chains[0]


def contract(chain, strike: float, right: int) -> dict:
    i = int(np.flatnonzero(chain.strikes == strike)[0])
    side = chain.calls if right == CALL else chain.puts
    j = chain.columns[0] + i
    q = chain.quality
    return {"mid": side.mid[i], "bid": side.bid[i], "ask": side.ask[i], "iv": side.iv[i],
            "status": IVStatus(int(side.iv_status[i])), "oi": side.open_interest[i],
            "volume": side.volume[i], "change": side.change[i], "oi_change": side.oi_change[i],
            "source": PriceSource(int(q.price_source[right, j])),
            "flags": QuoteFlag(int(q.flags[right, j]))}


@pytest.mark.parametrize(("strike", "right", "source", "flags"), [
    (24500.0, CALL, PriceSource.MID, QuoteFlag(0)),
    (23000.0, CALL, PriceSource.SETTLEMENT, QuoteFlag.CROSSED),
    (23000.0, PUT, PriceSource.MID, QuoteFlag(0)),
    (23100.0, CALL, PriceSource.CLOSE, QuoteFlag.LOCKED),
    (23100.0, PUT, PriceSource.MID, QuoteFlag(0)),
    (26000.0, CALL, PriceSource.LAST, QuoteFlag.ZERO_BID),
    (26000.0, PUT, PriceSource.NONE, QuoteFlag.ZERO_BID),
    (26100.0, CALL, PriceSource.SETTLEMENT, QuoteFlag.STALE),
    (26100.0, PUT, PriceSource.NONE, QuoteFlag.STALE),
    (22000.0, CALL, PriceSource.SETTLEMENT, QuoteFlag.BELOW_INTRINSIC),
    (22000.0, PUT, PriceSource.NONE, QuoteFlag.NO_CONTRACT),
    (26200.0, CALL, PriceSource.NONE, QuoteFlag.NO_CONTRACT),
    (26200.0, PUT, PriceSource.MID, QuoteFlag(0)),
])
def test_price_source_and_flags_of_each_crafted_contract(strike, right, source, flags):
    _, chain = flag_chain()
    c = contract(chain, strike, right)
    assert c["source"] == source
    assert c["flags"] == flags


def test_the_served_mid_is_the_price_the_iv_was_solved_from():
    _, chain = flag_chain()
    assert contract(chain, 23000.0, CALL)["mid"] == 1605.0     # settlement, not the quote
    assert contract(chain, 23100.0, CALL)["mid"] == 1502.0     # close
    assert contract(chain, 23100.0, PUT)["mid"] == 22.5        # the mid beats settlement
    assert contract(chain, 26000.0, CALL)["mid"] == 2.5        # last
    assert math.isnan(contract(chain, 26000.0, PUT)["mid"])    # none
    none = contract(chain, 26100.0, PUT)
    assert math.isnan(none["iv"]) and none["status"] == IVStatus.INVALID_INPUT
    below = contract(chain, 22000.0, CALL)
    assert math.isnan(below["iv"]) and below["status"] == IVStatus.BELOW_INTRINSIC
    # Prices from other sources are solved too: the stale call's settlement has an IV.
    assert contract(chain, 26100.0, CALL)["status"] == IVStatus.OK


def test_quotes_volume_and_changes_are_served_as_filed():
    _, chain = flag_chain()
    crossed = contract(chain, 23000.0, CALL)
    assert (crossed["bid"], crossed["ask"], crossed["volume"]) == (1600.0, 1590.0, 3.0)
    no_bid = contract(chain, 26000.0, CALL)
    assert math.isnan(no_bid["bid"]) and no_bid["ask"] == 3.0
    assert contract(chain, 26000.0, PUT)["bid"] == 0.0
    below = contract(chain, 22000.0, CALL)
    assert (below["change"], below["oi_change"]) == (12.5, -4.0)
    nothing = contract(chain, 26100.0, PUT)
    assert (nothing["change"], nothing["oi_change"]) == (-3.0, 5.0)
    # Not in the file: NaN, never 0.
    assert math.isnan(crossed["change"]) and math.isnan(crossed["oi_change"])
    # A contract the file lacks: no prices, no open interest, no volume.
    missing = contract(chain, 26200.0, CALL)
    assert math.isnan(missing["mid"]) and math.isnan(missing["bid"])
    assert (missing["oi"], missing["volume"]) == (0.0, 0.0)
    # Volume or open interest the file leaves out count 0.
    assert (nothing["oi"], nothing["volume"]) == (0.0, 0.0)
    assert contract(chain, 26100.0, CALL)["oi"] == 40.0


def test_flags_are_read_by_label():
    snap, chain = flag_chain()
    j = chain.columns[0] + int(np.flatnonzero(chain.strikes == 23000.0)[0])
    assert flag_labels(int(snap.quality.flags[CALL, j])) == ["crossed"]


# --- Forward fallbacks ----------------------------------------------------------------------

def settled(rows: Rows, expiry: date, strikes, forward, time, rights=(CALL, PUT)):
    """Settlement prices only (an end-of-day file), rounded to the tick."""
    vol = smile(strikes, forward)
    for right in rights:
        price = np.round(black76(forward, strikes, time, RATE, vol, right == CALL) / 0.05) * 0.05
        rows.add(expiry, strikes, right, settlement=price, volume=10.0, open_interest=100.0)


def test_settlement_prices_alone_fit_the_forward_within_a_tick():
    expiry, days, strikes = NIFTY_EXPIRIES[1]
    rows = Rows()
    settled(rows, expiry, strikes, nifty_forward(days), days / 365.0)
    chain = build(rows.chain("NIFTY", NSE_CLOSE, SPOT)).chains[0]
    assert abs(chain.forward - nifty_forward(days)) <= 0.05 / math.exp(-RATE * days / 365)
    assert chain.forward_residual is not None and chain.forward_residual <= 0.05 / SPOT
    assert np.all(chain.quality.price_source[:, slice(*chain.columns)] == PriceSource.SETTLEMENT)


def test_two_sided_quotes_are_preferred_to_settlements():
    # Settlements at parity with a wrong forward, quotes at parity with the right one.
    expiry, days, strikes = NIFTY_EXPIRIES[1]
    time = days / 365.0
    rows = Rows()
    settled(rows, expiry, strikes[:12], nifty_forward(days) + 40.0, time)
    quoted(rows, expiry, strikes[12:20], nifty_forward(days), time, RATE)
    chain = build(rows.chain("NIFTY", NSE_CLOSE, SPOT)).chains[0]
    assert chain.forward == pytest.approx(nifty_forward(days), rel=1e-9)
    # With only one two-sided strike, every price counts (and the settlements win).
    rows = Rows()
    settled(rows, expiry, strikes[:20], nifty_forward(days) + 40.0, time)
    quoted(rows, expiry, strikes[20:21], nifty_forward(days), time, RATE)
    chain = build(rows.chain("NIFTY", NSE_CLOSE, SPOT)).chains[0]
    assert abs(chain.forward - nifty_forward(days) - 40.0) <= 0.1


def test_an_expiry_without_parity_takes_its_future_then_the_carried_spot():
    (e0, d0, k0), (e1, d1, k1), (e2, d2, k2) = NIFTY_EXPIRIES
    rows = Rows()
    quoted(rows, e0, k0, nifty_forward(d0), d0 / 365.0, RATE)
    settled(rows, e1, k1, nifty_forward(d1), d1 / 365.0, rights=(CALL,))   # calls only
    settled(rows, e2, k2, nifty_forward(d2), d2 / 365.0, rights=(PUT,))    # puts only
    snap = build(rows.chain("NIFTY", NSE_CLOSE, SPOT, futures={e1: 24612.35}))
    c0, c1, c2 = snap.chains
    assert c0.forward == pytest.approx(nifty_forward(d0), rel=1e-9)
    assert c1.forward == 24612.35 and c1.forward_residual is None
    q = CATALOG["NIFTY"].dividend_yield
    assert c2.forward == pytest.approx(SPOT * math.exp((RATE - q) * d2 / 365.0), rel=1e-14)
    assert c2.forward_residual is None
    # Every expiry is priced with the dividend yield its forward implies.
    for chain in snap.chains:
        ok = chain.calls.iv_status == IVStatus.OK
        if not ok.any():
            continue
        q_expiry = RATE - math.log(chain.forward / chain.spot) / chain.time_to_expiry
        df = math.exp(-RATE * chain.time_to_expiry)
        for i in np.flatnonzero(ok)[:3]:
            payoff = ql.PlainVanillaPayoff(ql.Option.Call, float(chain.strikes[i]))
            c = ql.BlackCalculator(payoff, chain.spot * math.exp(
                (RATE - q_expiry) * chain.time_to_expiry),
                float(chain.calls.iv[i]) * math.sqrt(chain.time_to_expiry), df)
            assert chain.calls.mid[i] == pytest.approx(c.value(), abs=1e-7 * SPOT)


def test_without_an_underlying_price_the_spot_is_the_nearest_forward_discounted():
    (e0, d0, k0), (e1, d1, k1), _ = NIFTY_EXPIRIES
    rows = Rows()
    settled(rows, e0, k0, nifty_forward(d0), d0 / 365.0, rights=(CALL,))
    quoted(rows, e1, k1, nifty_forward(d1), d1 / 365.0, RATE)
    snap = build(rows.chain("NIFTY", NSE_CLOSE, math.nan))
    q = CATALOG["NIFTY"].dividend_yield
    f1 = snap.chains[1].forward
    assert f1 == pytest.approx(nifty_forward(d1), rel=1e-9)
    assert snap.spot == pytest.approx(f1 * math.exp(-(RATE - q) * d1 / 365.0), rel=1e-14)
    # The expiry without parity carries that spot forward again.
    assert snap.chains[0].forward == pytest.approx(
        snap.spot * math.exp((RATE - q) * d0 / 365.0), rel=1e-14)


def test_a_chain_with_nothing_to_price_from_is_refused():
    e0, d0, k0 = NIFTY_EXPIRIES[0]
    rows = Rows()
    settled(rows, e0, k0, nifty_forward(d0), d0 / 365.0, rights=(CALL,))
    with pytest.raises(UnpriceableChainError, match=r"NIFTY.*no underlying price"):
        build(rows.chain("NIFTY", NSE_CLOSE, math.nan))
    with pytest.raises(UnpriceableChainError, match="no expiry after the quote time"):
        build(rows.chain("NIFTY", datetime(2026, 12, 8, 10, 0, tzinfo=UTC), SPOT))


def test_expiries_at_or_before_the_quote_time_are_left_out():
    (e0, d0, k0), (e1, d1, k1), _ = NIFTY_EXPIRIES
    rows = Rows()
    quoted(rows, e0, k0, nifty_forward(d0), d0 / 365.0, RATE)
    quoted(rows, e1, k1, nifty_forward(d1), d1 / 365.0, RATE)
    # At e0's instant exactly: e0 is gone, e1 has 21 days left.
    snap = build(rows.chain("NIFTY", datetime(2026, 12, 8, 10, 0, tzinfo=UTC), SPOT))
    assert snap.expiries() == [e1]
    assert snap.times[0] == pytest.approx(21 / 365.0, rel=1e-15)


def test_a_contract_listed_twice_counts_once_its_first_row():
    e1, d1, k1 = NIFTY_EXPIRIES[1]
    rows = Rows()
    quoted(rows, e1, k1, nifty_forward(d1), d1 / 365.0, RATE)
    rows.add(e1, 24500.0, CALL, bid=1.0, ask=2.0, volume=1.0)
    chain = build(rows.chain("NIFTY", NSE_CLOSE, SPOT)).chains[0]
    np.testing.assert_array_equal(chain.strikes, k1)
    assert contract(chain, 24500.0, CALL)["volume"] == 100.0


# --- American: a US single name against QuantLib's QdFp engine -----------------------------

QL_TODAY = ql.Date(25, 11, 2026)
QL_DC = ql.Actual365Fixed()
AAPL_SPOT = 195.0
AAPL_Q = 0.005
AAPL_RATE = CATALOG["AAPL"].rate
AAPL_EXPIRIES = [(date(2026, 12, 18), 23, np.arange(170.0, 221.0, 2.5)),
                 (date(2027, 1, 15), 51, np.arange(160.0, 231.0, 5.0)),
                 (date(2027, 2, 19), 86, np.arange(150.0, 241.0, 10.0))]


def qdfp(spot, strike, days, rate, q, vol, call) -> float:
    """QuantLib's American price (QdFp, high-precision scheme)."""
    ql.Settings.instance().evaluationDate = QL_TODAY
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(float(spot))),
        ql.YieldTermStructureHandle(ql.FlatForward(QL_TODAY, float(q), QL_DC)),
        ql.YieldTermStructureHandle(ql.FlatForward(QL_TODAY, float(rate), QL_DC)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(QL_TODAY, ql.NullCalendar(),
                                                           float(vol), QL_DC)))
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, float(strike)),
        ql.AmericanExercise(QL_TODAY, QL_TODAY + int(days)))
    option.setPricingEngine(ql.QdFpAmericanEngine(
        process, ql.QdFpAmericanEngine.highPrecisionScheme()))
    return option.NPV()


@pytest.fixture(scope="module")
def american():
    rows = Rows()
    vols = {}
    for expiry, days, strikes in AAPL_EXPIRIES:
        vol = smile(strikes, AAPL_SPOT, 0.27)
        vols[expiry] = vol
        for right in (CALL, PUT):
            price = np.array([qdfp(AAPL_SPOT, k, days, AAPL_RATE, AAPL_Q, v, right == CALL)
                              for k, v in zip(strikes, vol, strict=True)])
            rows.add(expiry, strikes, right, bid=price - 0.02, ask=price + 0.02,
                     volume=10.0, open_interest=100.0)
    chain = rows.chain("AAPL", US_CLOSE, AAPL_SPOT, exchange="CBOE", currency="USD")
    return build(chain), vols


def test_american_chain_is_priced_american_with_its_implied_dividend_yield(american):
    snap, vols = american
    assert snap.terms.exercise_style == "american"
    assert [c.time_to_expiry for c in snap.chains] == pytest.approx(
        [d / 365.0 for _, d, _ in AAPL_EXPIRIES], rel=1e-15)
    for chain, (_, days, _) in zip(snap.chains, AAPL_EXPIRIES, strict=True):
        # Parity on the European equivalents of the American prices: the generating
        # forward and dividend yield, to the difference between two American pricers.
        carried = AAPL_SPOT * math.exp((AAPL_RATE - AAPL_Q) * days / 365.0)
        assert chain.forward == pytest.approx(carried, rel=1e-6)
        q = AAPL_RATE - math.log(chain.forward / chain.spot) / chain.time_to_expiry
        assert q == pytest.approx(AAPL_Q, abs=1e-5)
        assert chain.forward_residual is not None and chain.forward_residual < 1e-6
        # And so the generating volatility of every option with time value.
        for side in (chain.calls, chain.puts):
            ok = side.iv_status == IVStatus.OK
            assert ok.mean() > 0.9
            np.testing.assert_allclose(side.iv[ok], vols[chain.expiry][ok], atol=1e-4)
    assert snap.terms.dividend_yield == pytest.approx(
        AAPL_RATE - math.log(snap.forwards[0] / snap.spot) / snap.times[0], rel=1e-12)


def test_american_iv_reprices_the_mid_in_quantlib_within_a_cent(american):
    snap, _ = american
    checked = 0
    for chain, (_, days, _) in zip(snap.chains, AAPL_EXPIRIES, strict=True):
        # The served inputs: each chain's own dividend yield, the one its forward implies.
        q = chain.dividend_yield
        assert q == pytest.approx(
            AAPL_RATE - math.log(chain.forward / chain.spot) / chain.time_to_expiry,
            rel=1e-12)
        for call, side in ((True, chain.calls), (False, chain.puts)):
            for i in np.flatnonzero(side.iv_status == IVStatus.OK):
                ref = qdfp(chain.spot, chain.strikes[i], days, chain.rate, q, side.iv[i], call)
                assert side.mid[i] == pytest.approx(ref, abs=0.01)
                checked += 1
    assert checked >= 0.9 * 2 * sum(len(k) for _, _, k in AAPL_EXPIRIES)


def test_american_greeks_agree_with_quantlib_bumps(american):
    # Finite differences of QuantLib's prices at the served inputs, with the pricing tests'
    # bumps (spot 0.1 %, volatility 0.1 point, rate 1 basis point) and tolerances.
    snap, _ = american
    for chain, (_, days, _) in zip(snap.chains, AAPL_EXPIRIES, strict=True):
        s, r = chain.spot, chain.rate
        q = r - math.log(chain.forward / s) / chain.time_to_expiry
        for call, side in ((True, chain.calls), (False, chain.puts)):
            for i in np.flatnonzero(side.iv_status == IVStatus.OK)[::4]:
                k, v = chain.strikes[i], side.iv[i]

                def npv(spot=s, rate=r, vol=v, k=k, days=days, q=q, call=call):
                    return qdfp(spot, k, days, rate, q, vol, call)
                h = 1e-3 * s
                up, mid, dn = npv(spot=s + h), npv(), npv(spot=s - h)
                assert side.delta[i] == pytest.approx((up - dn) / (2 * h), abs=2e-3)
                assert side.gamma[i] == pytest.approx((up - 2 * mid + dn) / h**2, abs=5e-4)
                vega = (npv(vol=v + 1e-3) - npv(vol=v - 1e-3)) / 2e-3 / 100
                rho = (npv(rate=r + 1e-4) - npv(rate=r - 1e-4)) / 2e-4 / 100
                assert side.vega[i] == pytest.approx(vega, abs=5e-4)
                assert side.rho[i] == pytest.approx(rho, abs=3e-3)


def test_a_created_us_equity_is_american_and_a_created_index_european():
    expiry, days, strikes = AAPL_EXPIRIES[0]
    time = days / 365.0
    rows = Rows()
    forward = 50.0 * math.exp(AAPL_RATE * time)
    vol = smile(strikes / 3.9, 50.0, 0.3)
    k = strikes / 3.9
    for right in (CALL, PUT):
        price = black76(forward, k, time, AAPL_RATE, vol, right == CALL)
        rows.add(expiry, k, right, bid=price - 0.01, ask=price + 0.01, volume=1.0)
    equity = build(rows.chain("XYZ", US_CLOSE, 50.0, exchange="CBOE", currency="USD",
                              lot_size=100))
    assert equity.terms.exercise_style == "american" and equity.terms.lot_size == 100
    index = build(replace(rows.chain("XYZ", US_CLOSE, 50.0, exchange="CBOE", currency="USD"),
                          product="SPXW"))
    assert index.terms.exercise_style == "european"
    # European prices on a European index: the generating volatility exactly.
    np.testing.assert_allclose(index.chains[0].calls.iv, vol, atol=1e-6)


# --- The parsers' fixture files, priced ------------------------------------------------------

FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds"


def parsed(relative: str, reader) -> list[ImportedChain]:
    path = FIXTURES / relative
    result = reader.read(path.read_bytes(), path.name, "nse")
    return result.chains


def test_a_bhavcopys_chains_give_the_generating_forwards_and_quantlibs_numbers():
    market = json.loads((FIXTURES / "nse" / "market.json").read_text(encoding="utf-8"))
    chains = parsed("nse/BhavCopy_NSE_FO_0_0_0_20261204_F_0000.csv", udiff)
    assert {c.product for c in chains} == {"NIFTY", "BANKNIFTY", "RELIANCE"}
    for imported_chain in chains:
        snap = build(imported_chain)
        expiries = market["underlyings"][snap.product]["expiries"]
        for chain in snap.chains:
            generated = expiries[chain.expiry.isoformat()]
            assert chain.time_to_expiry == pytest.approx(generated["years"], rel=1e-15)
            # Settlement prices at the 0.05 tick: the forward within a tick.
            assert abs(chain.forward - generated["forward"]) <= 0.05 / generated["discount"]
            assert chain.forward_residual is not None
            sources = chain.quality.price_source[:, slice(*chain.columns)]
            assert np.all(sources[chain.quality.flags[:, slice(*chain.columns)]
                                  != QuoteFlag.NO_CONTRACT] == PriceSource.SETTLEMENT)
            assert assert_quantlib_european(chain) > 0.9 * 2 * chain.strikes.size


def test_nse_json_quirks_are_flagged_and_vendor_ivs_agree_with_ours():
    (imported_chain,) = parsed("nse/option-chain-v3_NIFTY_29-Dec-2026.json", nse_json)
    snap = build(imported_chain)
    (chain,) = snap.chains
    assert contract(chain, 26000.0, CALL)["flags"] & QuoteFlag.CROSSED
    assert contract(chain, 26800.0, CALL)["flags"] & QuoteFlag.ZERO_BID
    assert contract(chain, 26700.0, PUT)["flags"] == QuoteFlag.NO_CONTRACT
    assert assert_quantlib_european(chain) >= 2 * chain.strikes.size - 3
    # Ours from the quotes' mids (each within half a tick of the model price), the forward
    # within a tick; NSE's to a hundredth of a percent: they agree to those errors over vega.
    compared = 0
    for row, side in ((0, chain.calls), (1, chain.puts)):
        vendor = chain.quality.vendor_iv[row, slice(*chain.columns)]
        flags = chain.quality.flags[row, slice(*chain.columns)]
        both = (side.iv_status == IVStatus.OK) & np.isfinite(vendor) & (flags == 0)
        bound = 0.075 / (100.0 * side.vega[both]) + 5e-5
        assert np.all(np.abs(side.iv[both] - vendor[both]) <= bound)
        compared += int(both.sum())
    assert compared >= 20
