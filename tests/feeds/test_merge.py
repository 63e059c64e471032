"""Parts of one chain merged: rows of several files (later rows win, earlier different ones
reported), a stored snapshot turned back into the rows it was priced from, and whether a
stored snapshot already holds a file's contracts."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from deltastream.catalog import load_catalog
from deltastream.feeds.build import build_snapshot
from deltastream.feeds.formats import cboe_eod, long_format, nse_json, udiff
from deltastream.feeds.merge import STORED, Rows, chain_from_snapshot, covers, merge_rows
from deltastream.feeds.products import product_terms
from deltastream.feeds.records import CALL, PUT, ImportedChain
from tests.support.snapshots import assert_same

FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds"
WEEKLY = FIXTURES / "nse" / "option-chain-v3_NIFTY_08-Dec-2026.json"
MONTHLY = FIXTURES / "nse" / "option-chain-v3_NIFTY_29-Dec-2026.json"
# Every fixture file and its reader: NSE JSON (both shapes), NSE and BSE UDiFF, Cboe
# (American single names and European index options) and the long format.
FILES = [("nse/option-chain-v3_NIFTY_08-Dec-2026.json", nse_json),
         ("nse/option-chain-v3_NIFTY_29-Dec-2026.json", nse_json),
         ("nse/option-chain-equities_RELIANCE.json", nse_json),
         ("nse/BhavCopy_NSE_FO_0_0_0_20261204_F_0000.csv", udiff),
         ("nse/BhavCopy_BSE_FO_0_0_0_20261204_F_0000.csv", udiff),
         ("cboe/UnderlyingOptionsEODCalcs_2027-03-16.csv", cboe_eod),
         ("long/chains_long.csv", long_format)]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _read(path: Path, reader=nse_json) -> list[ImportedChain]:
    return reader.read(path.read_bytes(), path.name, "nse").chains


def _price(chain: ImportedChain, catalog):
    terms, instant = product_terms(chain, catalog)
    return build_snapshot(chain, terms, instant, int(chain.timestamp.timestamp()))


def _row(chain: ImportedChain, expiry: date, strike: float, right: int) -> int:
    (i,) = np.flatnonzero((chain.expiry == np.datetime64(expiry)) & (chain.strike == strike)
                          & (chain.right == right))
    return int(i)


def _with(chain: ImportedChain, i: int, **values: float) -> ImportedChain:
    changed = {}
    for name, value in values.items():
        column = np.array(getattr(chain, name), dtype=np.float64)
        column[i] = value
        changed[name] = column
    return dataclasses.replace(chain, **changed)


@pytest.mark.parametrize(("relative", "reader"), FILES)
def test_a_snapshots_rows_priced_again_give_the_same_snapshot(catalog, relative, reader):
    # What a merge with the store relies on: nothing pricing uses is lost in the archive.
    chains = _read(FIXTURES / relative, reader)
    assert chains
    for chain in chains:
        snap = _price(chain, catalog)
        rebuilt = chain_from_snapshot(snap)
        assert (rebuilt.source, rebuilt.product, rebuilt.timestamp) == (
            chain.source, chain.product, chain.timestamp)
        assert len(rebuilt) == len(chain)       # one row per listed contract
        assert_same(snap, _price(rebuilt, catalog))


def test_the_rebuilt_rows_are_the_filed_numbers(catalog):
    (chain,) = _read(WEEKLY)
    rebuilt = chain_from_snapshot(_price(chain, catalog))
    for i in range(len(chain)):
        j = _row(rebuilt, chain.expiry[i].astype(date), chain.strike[i], chain.right[i])
        for name in ("bid", "ask", "last", "change", "oi_change", "vendor_iv",
                     "open_interest", "volume"):
            a, b = float(getattr(chain, name)[i]), float(getattr(rebuilt, name)[j])
            assert a == b or (np.isnan(a) and (np.isnan(b) or b == 0.0)), (name, i)
    assert rebuilt.underlying_price == chain.underlying_price
    # Every forward of this file is fitted from parity: none is carried as a future.
    assert rebuilt.futures == {}


def test_an_unfitted_forward_comes_back_as_the_expirys_future(catalog):
    (chain,) = _read(WEEKLY)
    # One strike priced on both rights: parity cannot be fitted, the future stands in.
    keep = (chain.strike == 26000.0) | (chain.right == CALL)
    few = dataclasses.replace(chain, **{name: np.asarray(getattr(chain, name))[keep]
                                        for name in ("expiry", "strike", "right", "bid",
                                                     "ask", "bid_size", "ask_size", "last",
                                                     "close", "settlement", "change",
                                                     "volume", "open_interest", "oi_change",
                                                     "vendor_iv", "vendor_delta",
                                                     "vendor_gamma", "vendor_theta",
                                                     "vendor_vega", "vendor_rho", "rows")},
                              futures={date(2026, 12, 8): 26155.5})
    snap = _price(few, catalog)
    assert np.isnan(snap.forward_residuals[0]) and snap.forwards[0] == 26155.5
    rebuilt = chain_from_snapshot(snap)
    assert rebuilt.futures == {date(2026, 12, 8): 26155.5}
    assert_same(snap, _price(rebuilt, catalog))


def test_two_files_of_one_moment_merge_into_every_expiry(catalog):
    (weekly,), (monthly,) = _read(WEEKLY), _read(MONTHLY)
    merged, rejects = merge_rows(Rows.of_file(weekly, "w.json"),
                                 Rows.of_file(monthly, "m.json"))
    assert rejects == []
    assert len(merged.chain) == len(weekly) + len(monthly)
    assert merged.files == ("w.json", "m.json")
    snap = _price(merged.chain, catalog)
    assert snap.expiry_dates == (date(2026, 12, 8), date(2026, 12, 29))
    # Each expiry is priced from its own contracts: as in the file's own snapshot.
    for alone in (_price(weekly, catalog), _price(monthly, catalog)):
        (own,) = alone.chains
        chain = snap.chain_for(own.expiry)
        assert (chain.forward, chain.forward_residual, chain.time_to_expiry) == (
            own.forward, own.forward_residual, own.time_to_expiry)
        assert_same(chain.strikes, own.strikes)
        assert_same(chain.calls, own.calls)
        assert_same(chain.puts, own.puts)


def test_a_contract_given_again_is_kept_once_or_taken_from_the_later_file():
    (weekly,) = _read(WEEKLY)
    i = _row(weekly, date(2026, 12, 8), 26100.0, PUT)
    j = _row(weekly, date(2026, 12, 8), 26150.0, CALL)
    later = _with(weekly, i, bid=weekly.bid[i] + 0.05)
    later = dataclasses.replace(later, rows=np.asarray(weekly.rows) + 100)
    merged, rejects = merge_rows(Rows.of_file(weekly, "early.json"),
                                 Rows.of_file(later, "late.json"))
    assert len(merged.chain) == len(weekly)
    # The identical rows are kept once, without a reject; the different one is the later.
    assert [(r.file, r.row, r.column, r.reason) for r in rejects] == [
        ("early.json", int(weekly.rows[i]), "bid",
         f"superseded by late.json line {int(weekly.rows[i]) + 100}")]
    k = _row(merged.chain, date(2026, 12, 8), 26100.0, PUT)
    assert merged.chain.bid[k] == weekly.bid[i] + 0.05
    assert merged.files[merged.origin[k]] == "late.json"
    assert merged.chain.bid[_row(merged.chain, date(2026, 12, 8), 26150.0, CALL)] == \
        weekly.bid[j]


def test_within_one_file_a_repeated_contract_keeps_its_first_row(catalog):
    (weekly,) = _read(WEEKLY)
    i = _row(weekly, date(2026, 12, 8), 26100.0, PUT)
    twice = dataclasses.replace(weekly, **{
        name: np.append(np.asarray(getattr(weekly, name)),
                        np.asarray(getattr(weekly, name))[i:i + 1])
        for name in ("expiry", "strike", "right", "bid", "ask", "bid_size", "ask_size",
                     "last", "close", "settlement", "change", "volume", "open_interest",
                     "oi_change", "vendor_iv", "vendor_delta", "vendor_gamma",
                     "vendor_theta", "vendor_vega", "vendor_rho", "rows")})
    twice = _with(twice, len(twice) - 1, bid=1.0)
    (monthly,) = _read(MONTHLY)
    merged, rejects = merge_rows(Rows.of_file(monthly, "m.json"), Rows.of_file(twice, "w.json"))
    assert rejects == []
    assert merged.chain.bid[_row(merged.chain, date(2026, 12, 8), 26100.0, PUT)] == \
        weekly.bid[i]
    # As pricing the file alone would have it (its first row counts).
    assert_same(_price(merged.chain, catalog).chain_for(date(2026, 12, 8)).puts,
                _price(twice, catalog).chains[0].puts)


def test_stored_rows_are_superseded_without_a_reject_and_chain_values_fill_in(catalog):
    (weekly,) = _read(WEEKLY)
    stored = chain_from_snapshot(_price(weekly, catalog))
    i = _row(weekly, date(2026, 12, 8), 26100.0, PUT)
    later = dataclasses.replace(_with(weekly, i, ask=weekly.ask[i] + 0.05),
                                underlying_price=float("nan"),
                                futures={date(2026, 12, 29): 26200.0})
    merged, rejects = merge_rows(Rows.of_store(stored), Rows.of_file(later, "late.json"))
    assert rejects == []
    assert set(merged.origin.tolist()) == {0}     # every contract is the later file's
    assert merged.chain.underlying_price == weekly.underlying_price
    assert merged.chain.futures == {date(2026, 12, 29): 26200.0}
    assert merged.chain.lot_size == stored.lot_size
    only_stored, _ = merge_rows(Rows.of_store(stored), Rows.of_file(
        dataclasses.replace(later, **{n: np.asarray(getattr(later, n))[:0] for n in (
            "expiry", "strike", "right", "bid", "ask", "bid_size", "ask_size", "last",
            "close", "settlement", "change", "volume", "open_interest", "oi_change",
            "vendor_iv", "vendor_delta", "vendor_gamma", "vendor_theta", "vendor_vega",
            "vendor_rho", "rows")}), "empty.json"))
    assert set(only_stored.origin.tolist()) == {STORED}


def test_a_stored_snapshot_covers_the_files_it_was_priced_from_and_nothing_new(catalog):
    (weekly,), (monthly,) = _read(WEEKLY), _read(MONTHLY)
    both = _price(merge_rows(Rows.of_file(weekly, "w"), Rows.of_file(monthly, "m"))[0].chain,
                  catalog)
    alone = _price(weekly, catalog)
    assert covers(both, alone, weekly.underlying_price)
    assert covers(both, both, weekly.underlying_price)
    assert covers(alone, alone, float("nan"))
    assert not covers(alone, both, weekly.underlying_price)          # an expiry it lacks
    i = _row(weekly, date(2026, 12, 8), 26100.0, PUT)
    for changed in ({"bid": weekly.bid[i] + 0.05}, {"volume": weekly.volume[i] + 1},
                    {"vendor_iv": 0.2}, {"oi_change": 7.0}):
        assert not covers(both, _price(_with(weekly, i, **changed), catalog),
                          weekly.underlying_price), changed
    # Another underlying price, when the file gives one.
    assert not covers(both, alone, weekly.underlying_price + 1.0)
    # A strike the stored snapshot does not list.
    extra = _with(weekly, i, strike=26125.0)
    assert not covers(both, _price(extra, catalog), weekly.underlying_price)
