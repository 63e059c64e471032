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


def test_last_prints_are_on_the_grid_inside_the_spread():
    rng = np.random.default_rng(1)
    mid = rng.uniform(1, 300, (2, 1000))
    bid, ask = quotes.two_sided(mid, 0.05, rng.integers(1, 10, (2, 1000)).astype(float))
    previous = mid * rng.uniform(0.5, 1.5, (2, 1000))
    rate = np.where(rng.random((2, 1000)) < 0.5, 0.0, 3.0)
    batch = flow.FlowBatch(np.array([0, 400, 1000]))
    traded, _, last = batch.run(rate, np.zeros((2, 1000)), [rng, np.random.default_rng(2)],
                                (bid, ask, previous, np.array([0.05, 0.05]),
                                 np.array([100.0, 100.0])))
    assert np.all(last >= bid - 1e-9) and np.all(last <= ask + 1e-9)
    # Traded contracts print on the grid anywhere in the spread; untraded ones keep their
    # print, brought inside the spread.
    fresh = traded > 0
    assert 0.3 < fresh.mean() < 0.6
    assert np.allclose(np.rint(last[fresh] / 0.05) * 0.05, last[fresh], rtol=0, atol=1e-9)
    wide = fresh & (ask - bid >= 0.2)
    assert np.mean(last[wide] == bid[wide]) < 0.5
    kept = traded == 0
    assert np.array_equal(last[kept], np.round(np.clip(previous, bid, ask), 2)[kept])


def test_each_product_draws_from_its_own_generator_alone():
    rate = np.linspace(0.0, 30.0, 2 * 300).reshape(2, 300)
    oi = np.full((2, 300), 100.0)

    def run(products: list[int]) -> list[np.ndarray]:
        cols = np.arange(len(products) + 1) * 300
        traded, new_oi, _ = flow.FlowBatch(cols).run(
            np.tile(rate, len(products)), np.tile(oi, len(products)),
            [np.random.default_rng(p) for p in products])
        return [np.concatenate([traded[:, c:c + 300], new_oi[:, c:c + 300]])
                for c in cols[:-1]]

    alone = run([7])[0]
    together = run([3, 7, 9])
    assert np.array_equal(together[1], alone)
    assert not np.array_equal(together[0], alone)


def test_flow_from_short_buffers_is_the_same_law(monkeypatch):
    # Buffers that run out every few contracts: each product goes on from fresh uniforms.
    monkeypatch.setattr(flow, "_SMALL_ALLOWANCE", 1)
    monkeypatch.setattr(flow, "_LARGE_ALLOWANCE", 1)
    rate = np.full((2, 100_000), 3.0)
    rate[1] = 40.0
    a = flow.trade(rate, np.full(rate.shape, 1e9), np.random.default_rng(4))
    b = flow.trade(rate, np.full(rate.shape, 1e9), np.random.default_rng(4))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    traded, change = a[0], a[1] - 1e9
    for row, lam in ((0, 3.0), (1, 40.0)):
        assert traded[row].mean() == pytest.approx(lam, rel=0.02)
        assert traded[row].var() == pytest.approx(lam, rel=0.03)
        assert change[row].mean() == pytest.approx(lam * 0.1, abs=0.03 * np.sqrt(lam))
        assert change[row].var() == pytest.approx(lam * 0.8, rel=0.03)


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


def test_quotes_with_a_given_grid_scale_are_the_same():
    rng = np.random.default_rng(5)
    mid = rng.uniform(0, 300, 2000)
    tick = np.where(rng.random(2000) < 0.5, 0.05, 2.5)
    plain = quotes.two_sided(mid, tick, 0.01)
    scaled = quotes.two_sided(mid, tick, 0.01, quotes.grid_scale(tick))
    assert np.array_equal(plain[0], scaled[0]) and np.array_equal(plain[1], scaled[1])
    assert np.array_equal(quotes.grid_scale(tick), np.where(tick == 0.05, 100.0, 10.0))
    assert quotes.grid_scale(0.01) == 100.0
