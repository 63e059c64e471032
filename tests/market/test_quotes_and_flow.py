"""Quotes on the tick grid and order flow that never takes open interest below zero."""

from __future__ import annotations

import numpy as np
import pytest

from deltastream.market import flow, quotes


@pytest.mark.parametrize("tick", [0.05, 0.01])
def test_bid_mid_ask_on_the_tick_grid(tick):
    rng = np.random.default_rng(0)
    mid = np.concatenate([rng.uniform(0, 0.2, 500), rng.uniform(0, 500, 500), [0.0, tick]])
    bid, ask = quotes.two_sided(mid, tick, 0.01)
    assert np.all(bid <= mid) and np.all(mid <= ask) and np.all(bid >= 0) and np.all(ask > bid)
    for side in (bid, ask):
        assert np.allclose(np.rint(side / tick) * tick, side, rtol=0, atol=1e-9)


def test_last_traded_price_is_inside_the_spread():
    rng = np.random.default_rng(1)
    mid = rng.uniform(1, 300, 1000)
    bid, ask = quotes.two_sided(mid, 0.05, 0.01)
    previous = mid * rng.uniform(0.5, 1.5, 1000)
    traded = rng.random(1000) < 0.5
    last = quotes.last_traded(previous, traded, bid, ask, 0.05, rng)
    assert np.all(last >= bid - 1e-9) and np.all(last <= ask + 1e-9)


def test_open_interest_never_negative_and_volume_monotone():
    rng = np.random.default_rng(2)
    oi = np.zeros(200)
    volume = np.zeros(200)
    rate = np.linspace(0.0, 30.0, 200)
    for _ in range(500):
        traded, oi_new = flow.trade(rate, oi, rng, open_prob=0.3, close_prob=0.6)
        assert np.all(oi_new >= 0)
        new_volume = volume + traded
        assert np.all(new_volume >= volume)
        oi, volume = oi_new, new_volume
    assert volume[-1] > 0


def test_liquidity_peaks_near_the_money_and_on_round_strikes():
    strikes = 24000.0 + 50.0 * np.arange(-20, 21)
    k = np.log(strikes / 24000.0)
    w = flow.liquidity(k, 0.02, strikes, 50.0, 7 / 365)
    assert np.argmax(w) == 20
    # 24500 (a multiple of 10 steps) trades more than its plain neighbour 24550.
    assert w[30] > w[31]
