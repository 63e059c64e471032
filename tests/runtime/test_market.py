"""The market the settings run an engine on: a replay of a stored source (its range, on a clock
accelerated from the replay's start, neither recorded nor resumed), a polled feed (on the wall
clock, under the feed's source), or the simulated market; the products a web process expects
of each; and the one-line refusals the commands print."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from deltastream.core.snapshot import ChainSnapshot
from deltastream.feeds.nse_poll import NSEPollingProvider
from deltastream.feeds.replay import ReplayProvider
from deltastream.market.clock import RealClock
from deltastream.runtime.market import (
    MarketError,
    check_market,
    engine_for,
    market_symbols,
    recorded,
    simulated,
)
from deltastream.settings import Settings
from tests.support.specs import START
from tests.support.store import TAPE_STEP, tape_day

FEEDS = ("http://127.0.0.1:1/option-chain?symbol=NIFTY",
         "http://127.0.0.1:1/option-chain?symbol=BANKNIFTY",
         "http://127.0.0.1:1/option-chain-v3?symbol=NIFTY&expiry=30-Dec-2026")


@pytest.fixture(scope="module")
def tape(tmp_path_factory) -> tuple[Path, list[dict[str, ChainSnapshot]]]:
    """A data directory whose store holds twelve steps of two products, five minutes apart,
    imported as the source 'tape'; and those snapshots."""
    data = tmp_path_factory.mktemp("tape")
    return data, tape_day(12, seed=21, data_dir=data)


def test_a_replay_starts_at_its_from_time_on_an_accelerated_clock(tape):
    data, day = tape
    # Without an offset the time is UTC.
    settings = Settings(data_dir=data, replay_source="tape", replay_from="2026-11-25T10:05:00",
                        replay_speed=120.0, stall_after=8.0)
    assert START + TAPE_STEP == day[1]["IDX"].timestamp
    assert check_market(settings) == ("replaying 'tape' (IDX, SEC) from 2026-11-25T10:05:00Z "
                                      "to 2026-11-25T10:55:00Z at 120x")
    assert market_symbols(settings) == ["IDX", "SEC"]
    assert not simulated(settings) and not recorded(settings)
    engine = engine_for(settings)
    try:
        assert isinstance(engine.provider, ReplayProvider) and engine.source == "tape"
        assert engine.simulator is None
        assert (engine.clock_speed, engine.republish_after) == (120.0, 4.0)
        # The clock runs from the replay's start, 120 market seconds a wall second.
        assert START + TAPE_STEP <= engine.clock.now() < START + TAPE_STEP + timedelta(minutes=2)
        # The first tick is the market as it stood at the start, as stored.
        first = engine.tick()
        assert sorted(first) == ["IDX", "SEC"]
        for product, snap in first.items():
            assert (snap.source, snap.timestamp, snap.spot) == (
                "tape", day[1][product].timestamp, day[1][product].spot)
    finally:
        engine.close_provider()


def test_a_feed_is_polled_on_the_wall_clock_under_its_source(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", feed_urls=FEEDS, feed_interval=2.0,
                        feed_source="desk", stall_after=6.0)
    assert check_market(settings) == ("polling 3 feed URL(s) every 2 s for NIFTY, BANKNIFTY "
                                      "as source 'desk'")
    assert market_symbols(settings) == ["NIFTY", "BANKNIFTY"]
    assert not simulated(settings) and recorded(settings)
    engine = engine_for(settings)
    try:
        assert isinstance(engine.provider, NSEPollingProvider) and engine.source == "desk"
        assert isinstance(engine.clock, RealClock)
        assert (engine.clock_speed, engine.republish_after) == (1.0, 3.0)
        assert engine.symbols == ["NIFTY", "BANKNIFTY"]
    finally:
        engine.close_provider()
    # Nothing of a feed needs the store.
    assert not (tmp_path / "data").exists()


def test_without_a_replay_or_feed_the_simulated_market_runs(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert check_market(settings) == "the simulated market"
    assert simulated(settings) and recorded(settings)
    assert "NIFTY" in market_symbols(settings)


@pytest.mark.parametrize(("values", "message"), [
    ({"replay_source": "tape", "feed_urls": FEEDS[:1]},
     "--replay and --feed-url: choose one market (a replay of stored snapshots or a live feed)"),
    ({"feed_urls": ("http://127.0.0.1:1/option-chain",)},
     "--feed-url: feed URL http://127.0.0.1:1/option-chain has no symbol= query parameter "
     "naming the product it serves (e.g. ...?symbol=NIFTY)"),
])
def test_a_market_that_cannot_run_is_refused_before_the_store_is_opened(tmp_path, values,
                                                                        message):
    settings = Settings(data_dir=tmp_path / "data", **values)
    with pytest.raises(MarketError) as refused:
        check_market(settings)
    assert str(refused.value) == message
    assert not (tmp_path / "data").exists()


def test_a_replay_the_store_cannot_give_is_refused_by_the_check_and_by_the_engine(tape):
    data, _ = tape
    # engine_for is what a standby engine runs when it takes over, long after the check.
    for values, message in [
        ({"replay_source": "nse"},
         "--replay: no stored snapshots of source 'nse'; stored sources: tape"),
        ({"replay_source": "tape", "replay_to": "2026-11-25T09:00:00Z"},
         "--from/--to: source 'tape' has no snapshot up to 2026-11-25T09:00:00Z (it has "
         "2026-11-25T10:00:00Z to 2026-11-25T10:55:00Z)"),
    ]:
        settings = Settings(data_dir=data, **values)
        for step in (check_market, market_symbols, engine_for):
            with pytest.raises(MarketError) as refused:
                step(settings)
            assert str(refused.value) == message, step.__name__
