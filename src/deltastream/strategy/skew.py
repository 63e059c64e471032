"""Skew and term structure of the served smile, and the expected move to each expiry.

Per expiry, from the chain's served implied volatilities (decimals):

- the smile: at each strike the out-of-the-money option's IV (puts below the forward, calls at
  and above it; the other right's IV where that one has none);
- ``atm_iv``: the smile at the forward (at-the-money forward), interpolated linearly in log
  strike between the two listed strikes around it;
- ``call25_iv``, ``put25_iv``, ``call10_iv``, ``put10_iv``: the smile where the delta is
  +0.25, -0.25, +0.10, -0.10, interpolated linearly in delta between listed strikes.
  Delta convention: the undiscounted forward (Black) delta at each strike's own smile IV,
  N(d1) for a call and N(d1) - 1 for a put, d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt T),
  the same for European and American chains (the quoting convention, not a hedge ratio).
  A put delta of -0.25 is a call delta of 0.75 on the same smile. None where the listed
  strikes do not reach that delta (no extrapolation);
- ``rr25`` = call25_iv - put25_iv (the 25-delta risk reversal, negative for an equity skew)
  and ``bf25`` = (call25_iv + put25_iv) / 2 - atm_iv (the 25-delta butterfly);
- the expected move to expiry, side by side, in the product's currency:
  ``straddle``, the at-the-money-forward straddle of the served mid prices (interpolated
  linearly in strike at the forward, carried to expiry by e^(rT)), which is the risk-neutral
  expected absolute move E|S_T - F|; and ``iv``, S x atm_iv x sqrt(T), one standard deviation
  of the move. Under a lognormal law E|S_T - F| = 2 F (2 N(sigma sqrt(T) / 2) - 1),
  about sqrt(2 / pi) = 0.80 of sigma F sqrt(T). ``*_pct`` are the same in percent of the spot.

The ATM term structure is ``atm_iv`` against the expiries' days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
from scipy.special import ndtr

from ..core.snapshot import ChainSnapshot, ExpiryChain


def smile(strikes: np.ndarray, call_iv: np.ndarray, put_iv: np.ndarray,
          forward: float) -> np.ndarray:
    """The out-of-the-money IV at each strike (puts below ``forward``), the other right's
    where that one has none (NaN or not > 0); NaN or the other's where neither has one.
    The smile of both the skew figures and the smile density (:mod:`.density`)."""
    k = np.asarray(strikes, dtype=np.float64)
    c = np.asarray(call_iv, dtype=np.float64)
    p = np.asarray(put_iv, dtype=np.float64)
    otm, other = np.where(k < forward, p, c), np.where(k < forward, c, p)
    return np.where(np.isfinite(otm) & (otm > 0), otm, other)


def forward_call_delta(strikes: np.ndarray, vols: np.ndarray, forward: float,
                       time: float) -> np.ndarray:
    """Undiscounted Black call delta N(d1) at each strike's own volatility."""
    sd = np.asarray(vols, dtype=np.float64) * math.sqrt(time)
    d1 = np.log(forward / np.asarray(strikes, dtype=np.float64)) / sd + 0.5 * sd
    return np.asarray(ndtr(d1))


def _valid(strikes: np.ndarray, vols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(vols) & (vols > 0)
    return np.asarray(strikes, dtype=np.float64)[ok], np.asarray(vols, dtype=np.float64)[ok]


def atm_iv(strikes: np.ndarray, vols: np.ndarray, forward: float) -> float | None:
    """The smile at ``forward``, linear in log strike between the listed strikes around it
    (None outside them)."""
    k, v = _valid(strikes, vols)
    if k.size == 0 or not k[0] <= forward <= k[-1]:
        return None
    return float(np.interp(math.log(forward), np.log(k), v))


def iv_at_delta(strikes: np.ndarray, vols: np.ndarray, forward: float, time: float,
                delta: float) -> float | None:
    """The smile where the forward delta is ``delta`` (a call's in (0, 1), a put's in
    (-1, 0)), linear in delta between listed strikes; None outside their deltas."""
    if time <= 0:
        return None
    target = delta + 1.0 if delta < 0 else delta
    k, v = _valid(strikes, vols)
    if k.size < 2:
        return None
    d = forward_call_delta(k, v, forward, time)
    # The call delta falls as the strike rises on any arbitrage-free smile; a point that
    # breaks the order (a noisy quote) is left out rather than folding the curve.
    keep = d < np.minimum.accumulate(np.concatenate([[np.inf], d[:-1]]))
    d, v = d[keep][::-1], v[keep][::-1]
    if d.size < 2 or not d[0] <= target <= d[-1]:
        return None
    return float(np.interp(target, d, v))


def straddle_at_forward(strikes: np.ndarray, call_mid: np.ndarray, put_mid: np.ndarray,
                        forward: float) -> float | None:
    """Call + put mid at ``forward``, linear in strike between the listed strikes around it."""
    k = np.asarray(strikes, dtype=np.float64)
    s = np.asarray(call_mid, dtype=np.float64) + np.asarray(put_mid, dtype=np.float64)
    ok = np.isfinite(s)
    k, s = k[ok], s[ok]
    if k.size == 0 or not k[0] <= forward <= k[-1]:
        return None
    return float(np.interp(forward, k, s))


@dataclass(frozen=True)
class ExpectedMove:
    """The move to expiry in the product's currency, and in percent of the spot."""

    straddle: float | None
    iv: float | None
    straddle_pct: float | None
    iv_pct: float | None


@dataclass(frozen=True)
class SmileFigures:
    """The skew figures of one expiry's smile (IVs decimal) and its expected move."""

    atm_iv: float | None
    rr25: float | None
    bf25: float | None
    put25_iv: float | None
    call25_iv: float | None
    put10_iv: float | None
    call10_iv: float | None
    expected_move: ExpectedMove


def smile_figures(strikes: np.ndarray, call_iv: np.ndarray, put_iv: np.ndarray,
                  call_mid: np.ndarray, put_mid: np.ndarray, spot: float, forward: float,
                  time: float, rate: float) -> SmileFigures:
    """Skew figures and expected move of one expiry (see the module docstring): strikes
    ascending, the other arrays aligned with them; ``time`` in years, ``rate`` continuous."""
    vols = smile(strikes, call_iv, put_iv, forward)
    atm = atm_iv(strikes, vols, forward)
    wing = {d: iv_at_delta(strikes, vols, forward, time, d) for d in (0.25, -0.25, 0.10, -0.10)}
    call25, put25 = wing[0.25], wing[-0.25]
    rr = bf = None
    if call25 is not None and put25 is not None:
        rr = call25 - put25
        bf = None if atm is None else 0.5 * (call25 + put25) - atm
    straddle = straddle_at_forward(strikes, call_mid, put_mid, forward)
    by_straddle = None if straddle is None else straddle * math.exp(rate * time)
    by_iv = None if atm is None else spot * atm * math.sqrt(max(time, 0.0))
    move = ExpectedMove(
        straddle=by_straddle, iv=by_iv,
        straddle_pct=None if by_straddle is None else by_straddle / spot * 100,
        iv_pct=None if by_iv is None else by_iv / spot * 100)
    return SmileFigures(atm_iv=atm, rr25=rr, bf25=bf, put25_iv=put25, call25_iv=call25,
                        put10_iv=wing[-0.10], call10_iv=wing[0.10], expected_move=move)


@dataclass(frozen=True)
class ExpirySkew:
    """One expiry's smile figures, with the expiry's days, years and forward."""

    expiry: date
    days: int                 # calendar days in the exchange's own dates
    time_to_expiry: float     # years, ACT/365
    forward: float
    figures: SmileFigures


def expiry_skew(chain: ExpiryChain, today: date) -> ExpirySkew:
    """:func:`smile_figures` of one expiry's served chain; ``today`` in the exchange's dates."""
    figures = smile_figures(chain.strikes, chain.calls.iv, chain.puts.iv, chain.calls.mid,
                            chain.puts.mid, chain.spot, chain.forward, chain.time_to_expiry,
                            chain.rate)
    return ExpirySkew(expiry=chain.expiry, days=(chain.expiry - today).days,
                      time_to_expiry=chain.time_to_expiry, forward=chain.forward,
                      figures=figures)


def skew(snap: ChainSnapshot) -> list[ExpirySkew]:
    """:func:`expiry_skew` of every listed expiry of ``snap``, nearest first."""
    today = snap.local_date()
    return [expiry_skew(c, today) for c in snap.chains]
