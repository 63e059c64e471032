"""Order flow: traded volume, open interest and last prints per contract.

Contracts trade in Poisson-distributed numbers of lots each tick, at a rate that is highest
near the money, on round strikes and on near expiries. Each traded contract either opens new
positions (open interest +1), closes existing ones (-1, never below zero) or transfers them.
Volume accumulates through the session and is reset at each session open by the caller.

One compiled pass trades every contract of many products, each product drawing from its own
generator's uniforms (see :mod:`.poisson`), and prints each traded contract's last price.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

from .poisson import PTRS_MIN_INTENSITY, RESERVE, check_intensities, draw

# Below PTRS_MIN_INTENSITY a contract's total count N is one inverted uniform and is split
# into opened, closed and transferred by two binomial draws (one uniform each, from tables of
# up to SPLIT_TABLE_MAX lots); above it the three counts are drawn as independent Poisson
# counts. Both give the same law: Poisson thinning.
SPLIT_TABLE_MAX = 64
_SMALL_NEED = 4                  # N, two splits and a print
_LARGE_NEED = 3 * RESERVE + 1    # three Poisson draws and a print
# Uniforms set aside per contract when a product's buffer is drawn: enough in all but
# improbable cases (those take a fresh buffer).
_SMALL_ALLOWANCE = 4
_LARGE_ALLOWANCE = 12


def liquidity(log_moneyness: np.ndarray, atm_std: np.ndarray | float, strikes: np.ndarray,
              strike_step: np.ndarray | float, time: np.ndarray | float) -> np.ndarray:
    """Relative trading interest: a bell around the money, bumps on round strikes, more for
    near expiries. Dimensionless, 1 at the money on a plain strike with a week to go."""
    width = np.maximum(np.asarray(atm_std) * 1.5, 1e-4)
    bell = np.exp(-0.5 * (log_moneyness / width) ** 2) + 0.02
    idx = np.rint(strikes / strike_step).astype(np.int64)
    round_bonus = 1.0 + 1.5 * (idx % 10 == 0) + 0.5 * (idx % 5 == 0)
    term = 1.0 / np.sqrt(np.maximum(np.asarray(time), 1.0 / 365.0) * 52.0)
    return bell * round_bonus * term


def initial_open_interest(weight: np.ndarray, base: float,
                          rng: np.random.Generator) -> np.ndarray:
    """A plausible open-interest profile for a freshly started market (contracts)."""
    noise = rng.lognormal(0.0, 0.35, weight.shape[0])
    return np.floor(base * weight * noise)


@functools.lru_cache(maxsize=8)
def _binomial_cdf_table(p: float) -> np.ndarray:
    """Row n: the distribution function of Binomial(n, p) at 0..n (1 beyond n), for n up to
    SPLIT_TABLE_MAX; the pmf rows by Pascal's rule, which never underflows or cancels."""
    table = np.ones((SPLIT_TABLE_MAX + 1, SPLIT_TABLE_MAX + 1))
    pmf = np.ones(1)
    for n in range(1, SPLIT_TABLE_MAX + 1):
        pmf = np.append(pmf * (1.0 - p), 0.0) + np.insert(pmf * p, 0, 0.0)
        table[n, : n + 1] = np.cumsum(pmf)
    table.setflags(write=False)
    return table


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _split(n: float, p: float, cdf: np.ndarray, u: float) -> float:  # pragma: no cover
    """One Binomial(n, p) count by inversion of ``u``: from the table for small ``n``,
    else by the pmf recurrence."""
    if n <= 0.0 or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return n
    if n <= SPLIT_TABLE_MAX:
        row = int(n)
        j = 0
        while j < row and u > cdf[row, j]:
            j += 1
        return float(j)
    q = 1.0 - p
    pk = math.exp(n * math.log1p(-p))
    acc = pk
    k = 0.0
    while u > acc and k < n:
        pk *= p / q * (n - k) / (k + 1.0)
        k += 1.0
        acc += pk
    return k


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _trade_kernel(rate: np.ndarray, oi: np.ndarray, cols: np.ndarray, u: np.ndarray,
                  u_lo: np.ndarray, u_hi: np.ndarray, resume: np.ndarray, open_prob: float,
                  close_prob: float, close_given_not_open: float, open_cdf: np.ndarray,
                  close_cdf: np.ndarray, prints: bool, bid: np.ndarray, ask: np.ndarray,
                  last: np.ndarray, tick: np.ndarray, scale: np.ndarray, traded: np.ndarray,
                  new_oi: np.ndarray, new_last: np.ndarray) -> None:  # pragma: no cover - compiled
    transfer_prob = 1.0 - open_prob - close_prob
    rows = rate.shape[0]   # 2 in the market's layout: calls, then puts
    for p in range(cols.shape[0] - 1):
        if resume[p] < 0:
            continue
        lo = cols[p]
        n = cols[p + 1] - lo
        j = u_lo[p]
        end = u_hi[p]
        pos = resume[p]
        resume[p] = -1
        for row in range(pos // n if n else rows, rows):
            for c in range(lo + (pos % n if row == pos // n else 0), lo + n):
                lam = rate[row, c]
                if lam < PTRS_MIN_INTENSITY:
                    if end - j < _SMALL_NEED:
                        resume[p] = row * n + c - lo
                        break
                    total, j = draw(lam, u, j)   # one uniform at most
                    opened = closing = 0.0
                    if total > 0.0:
                        opened = _split(total, open_prob, open_cdf, u[j])
                        closing = _split(total - opened, close_given_not_open, close_cdf,
                                         u[j + 1])
                        j += 2
                else:
                    if end - j < _LARGE_NEED:
                        resume[p] = row * n + c - lo
                        break
                    mine = u[:end]
                    opened, j = draw(lam * open_prob, mine, j)
                    closing, j = draw(lam * close_prob, mine, j)
                    transferred, j = draw(lam * transfer_prob, mine, j)
                    if opened < 0.0 or closing < 0.0 or transferred < 0.0:
                        # Out of uniforms: this contract again, from a fresh buffer.
                        resume[p] = row * n + c - lo
                        break
                    total = opened + closing + transferred
                held = oi[row, c] + opened
                new_oi[row, c] = held - min(closing, held)
                traded[row, c] = total
                if prints:
                    b = bid[row, c]
                    a = ask[row, c]
                    t = tick[p]
                    if total > 0.0:
                        # A fresh print, uniform over the ticks from the bid to the ask.
                        width = np.rint((a - b) / t)
                        price = b + min(np.floor(u[j] * (width + 1.0)), width) * t
                        j += 1
                    else:
                        # The previous print stands, brought inside the current spread.
                        price = min(max(last[row, c], b), a)
                    new_last[row, c] = np.rint(price * scale[p]) / scale[p]  # np.round
            if resume[p] >= 0:
                break


class FlowBatch:
    """One tick's trading of many products, laid out as the market's two-row arrays: product
    ``p`` owns columns ``cols[p]:cols[p + 1]`` of every row (row 0 calls, row 1 puts) and
    trades them row by row."""

    def __init__(self, cols: np.ndarray, open_prob: float = 0.45,
                 close_prob: float = 0.35) -> None:
        if not (0.0 <= open_prob and 0.0 <= close_prob and open_prob + close_prob <= 1.0):
            raise ValueError("open and close probabilities must be >= 0 and sum to <= 1")
        self.cols = np.ascontiguousarray(cols, dtype=np.int64)
        self.open_prob = float(open_prob)
        self.close_prob = float(close_prob)

    def run(self, rate: np.ndarray, open_interest: np.ndarray,
            rngs: list[np.random.Generator], quotes: tuple[np.ndarray, ...] | None = None,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Trade every contract: returns (contracts traded, new open interest, new last
        prints), all of ``rate``'s shape (rows, n) and >= 0.

        Trades arrive as a Poisson process of intensity ``rate`` (contracts this tick); each
        opens positions (+1 open interest), closes them (-1, never below zero) or transfers
        them, independently, so the three counts are independent Poisson counts of
        intensities ``rate * p``. With ``quotes = (bid, ask, last, tick, scale)`` (per
        contract, per contract, per contract, per product, per product: 10 ** decimals) a
        traded contract prints uniformly over the ticks of its spread and an untraded one
        keeps its last print, brought inside the spread; else no prints are made.

        Product ``p`` draws only from ``rngs[p]``, in contract order, so each product's
        counts depend on its own generator alone.
        """
        rate = np.ascontiguousarray(rate, dtype=np.float64)
        check_intensities(rate.reshape(-1))
        oi = np.ascontiguousarray(open_interest, dtype=np.float64)
        cols = self.cols
        traded, new_oi = np.empty_like(rate), np.empty_like(rate)
        new_last = np.empty_like(rate) if quotes is not None else np.empty((2, 0))
        bid, ask, last, tick, scale = (quotes if quotes is not None else
                                       (new_last, new_last, new_last, np.empty(0), np.empty(0)))
        # Each product's share of one buffer of uniforms, drawn from its own generator.
        large = np.concatenate([[0], np.cumsum((rate >= PTRS_MIN_INTENSITY).sum(axis=0))])
        n_large = large[cols[1:]] - large[cols[:-1]]
        sizes = (rate.shape[0] * np.diff(cols) * _SMALL_ALLOWANCE
                 + n_large * (_LARGE_ALLOWANCE - _SMALL_ALLOWANCE) + _LARGE_NEED)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        u = np.empty(int(bounds[-1]))
        for p, rng in enumerate(rngs):
            rng.random(out=u[bounds[p]:bounds[p + 1]])
        resume = np.zeros(len(rngs), dtype=np.int64)
        close_given = self.close_prob / (1.0 - self.open_prob) if self.open_prob < 1.0 else 0.0
        args = (self.open_prob, self.close_prob, close_given,
                _binomial_cdf_table(self.open_prob), _binomial_cdf_table(close_given),
                quotes is not None, bid, ask, last, np.ascontiguousarray(tick, dtype=np.float64),
                np.ascontiguousarray(scale, dtype=np.float64), traded, new_oi, new_last)
        _trade_kernel(rate, oi, cols, u, bounds[:-1], bounds[1:], resume, *args)
        # A product that ran out of uniforms goes on from a fresh buffer of its generator.
        for p in np.flatnonzero(resume >= 0).tolist():
            while resume[p] >= 0:
                fresh = rngs[p].random(int(sizes[p]))
                lo = np.full(len(rngs), 0, dtype=np.int64)
                hi = np.full(len(rngs), 0, dtype=np.int64)
                hi[p] = fresh.size
                only = np.full(len(rngs), -1, dtype=np.int64)
                only[p] = resume[p]
                _trade_kernel(rate, oi, cols, fresh, lo, hi, only, *args)
                resume[p] = only[p]
        return traded, new_oi, new_last


def trade(rate: np.ndarray, open_interest: np.ndarray, rng: np.random.Generator,
          open_prob: float = 0.45, close_prob: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Simulate one tick of one set of contracts: returns (contracts traded, new open
    interest), both >= 0 and of ``rate``'s shape (see :meth:`FlowBatch.run`)."""
    lam = np.ascontiguousarray(rate, dtype=np.float64).reshape(1, -1)
    oi = np.ascontiguousarray(open_interest, dtype=np.float64).reshape(1, -1)
    batch = FlowBatch(np.array([0, lam.shape[1]]), open_prob, close_prob)
    traded, new_oi, _ = batch.run(lam, oi, [rng])
    return traded.reshape(np.shape(rate)), new_oi.reshape(np.shape(rate))
