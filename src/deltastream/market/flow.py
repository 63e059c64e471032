"""Order flow calibrated per session: traded volume, open interest and last prints per contract.

Units: volume and open interest in contracts (lots); intensities in contracts per tick. A
product's targets (:class:`FlowProfile`) are per session of its exchange (``session_seconds``
of trading: 6 h 15 min on NSE/BSE, 6 h 30 min in the US): ``session_volume`` contracts traded
over all its listed contracts, ``open_interest`` contracts open over all of them, and the
put/call ratios of both. Per-second rates are those figures over the session's length, so
volume per session is the same whatever the tick interval.

Layout over a product's contracts (:func:`plan`):

- volume: a bell around the money (1.5 standard deviations of the expiry's move wide), more on
  near expiries and on round strikes, split between puts and calls by the put/call volume
  ratio;
- open interest target: a wider bell, more on later expiries and on round strikes, fading over
  the last two days to expiry (closing flow dominates as expiry nears and OI collapses on
  expiry day), split by the put/call OI ratio;
- both ratios move with the market (:func:`sentiment`): after a fall puts are bought, after a
  rise calls are chased.

Each traded contract opens positions (+1 OI), closes them (-1, never below zero) or transfers
them. A contract's opening and closing shares are tilted (at most ``MAX_TILT`` of the smaller)
so that its OI moves towards its target by ``oi_reversion`` of the gap per session: opening and
closing stay in balance (a net change of a few percent per session), OI stays where the flow
built it for several sessions, and every contract both opens and closes.

One compiled pass trades every contract of many products, each product drawing from its own
generator's uniforms (see :mod:`.poisson`), and prints each traded contract's last price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .poisson import PTRS_MIN_INTENSITY, RESERVE, check_intensities, draw

# Below PTRS_MIN_INTENSITY a contract's total count N is one inverted uniform and is split
# into opened, closed and transferred by two binomial draws (one uniform each); above it the
# three counts are drawn as independent Poisson counts. Both give the same law: Poisson
# thinning.
_SMALL_NEED = 4                  # N, two splits and a print
_LARGE_NEED = 3 * RESERVE + 1    # three Poisson draws and a print
# Uniforms set aside per contract when a product's buffer is drawn: enough in all but
# improbable cases (those take a fresh buffer).
_SMALL_ALLOWANCE = 4
_LARGE_ALLOWANCE = 12

# The market's split of traded contracts: opening and closing in balance, a fifth transferred.
OPEN_SHARE = 0.4
CLOSE_SHARE = 0.4
# The largest tilt of opening against closing, as a fraction of the smaller share.
MAX_TILT = 0.9
DAY = 1.0 / 365.0
TRADING_DAYS_PER_YEAR = 252.0
# The standardised recent return is capped here: the put/call ratios move by at most
# exp(+-SENTIMENT_CAP * put_call_sensitivity).
SENTIMENT_CAP = 3.0
# Widths of the volume and OI bells, in standard deviations of the expiry's move, and the
# share of interest far from the money (relative to the peak). The OI bell is twice as wide,
# so the volume bell is its fourth power (one exp per strike).
VOLUME_WIDTH = 1.5
OI_WIDTH = 2.0 * VOLUME_WIDTH
VOLUME_FLOOR = 0.02
OI_FLOOR = 0.03
# OI fades to this share of its profile over the last FADE_DAYS days to expiry; on expiry
# day (under a day to go) the pull towards it is EXPIRY_DAY_PULL times stronger.
FADE_FLOOR = 0.15
FADE_DAYS = 2.0
EXPIRY_DAY_PULL = 6.0
MAX_ROUND_STRIKES = 2


@dataclass(frozen=True)
class FlowProfile:
    """A product's order flow per session of its exchange (see the module docstring).

    ``round_strikes`` are price multiples (at most two, e.g. 100 and 500 for NIFTY) each of
    which adds ``round_strike_interest`` to a strike's volume and OI (1 on a plain strike).
    ``put_call_sensitivity``: the log change of both put/call ratios per standard deviation of
    the recent return (positive: puts bought after a fall).
    """

    session_seconds: float = 23_400.0
    session_volume: float = 1.0e6
    open_interest: float = 5.0e6
    put_call_oi: float = 1.0
    put_call_volume: float = 1.0
    put_call_sensitivity: float = 0.12
    round_strikes: tuple[float, ...] = ()
    round_strike_interest: float = 0.8
    oi_reversion: float = 0.2

    def __post_init__(self) -> None:
        if not self.session_seconds > 0:
            raise ValueError(f"session_seconds must be > 0, got {self.session_seconds}")
        if len(self.round_strikes) > MAX_ROUND_STRIKES or any(
                not m > 0 for m in self.round_strikes):
            raise ValueError(f"at most {MAX_ROUND_STRIKES} round-strike multiples, each > 0, "
                             f"got {self.round_strikes}")
        if min(self.session_volume, self.open_interest, self.oi_reversion) < 0 or min(
                self.put_call_oi, self.put_call_volume) <= 0:
            raise ValueError("volumes, open interest and reversion must be >= 0 and the "
                             "put/call ratios > 0")


DEFAULT_PROFILE = FlowProfile()


def sentiment(log_spot: float, anchor: float, vol_level: float) -> float:
    """The recent return in standard deviations of one trading day's move: the log spot
    against its anchor (:func:`next_anchor`), capped at +-SENTIMENT_CAP."""
    scale = max(vol_level, 1e-4) * math.sqrt(1.0 / TRADING_DAYS_PER_YEAR)
    return min(max((log_spot - anchor) / scale, -SENTIMENT_CAP), SENTIMENT_CAP)


def next_anchor(anchor: float, log_spot: float, trading_seconds: float,
                session_seconds: float) -> float:
    """The anchor after ``trading_seconds`` of trading: an exponential average of the log
    spot over trading time, with a session's trading as its time constant (overnight, with
    no trading, it stays, so a gap counts fully in the next session's sentiment)."""
    weight = 1.0 - math.exp(-max(trading_seconds, 0.0) / session_seconds)
    return anchor + weight * (log_spot - anchor)


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


def initial_open_interest(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible open interest for freshly listed contracts (contracts): each contract's
    target times lognormal noise (mean about 1.06), floored to whole contracts."""
    noise = rng.lognormal(0.0, 0.35, target.shape[0])
    return np.floor(target * noise)


# Per-product parameters of the plan kernel, one row per product, in this column order.
_PARAMS = ("session_volume", "open_interest", "put_call_oi", "put_call_volume",
           "put_call_sensitivity", "round_strike_interest", "oi_reversion", "sentiment")


@dataclass(frozen=True)
class FlowPlan:
    """Where a batch's flow goes this session: per contract (two rows, calls then puts) the
    contracts it trades per session and its OI target; per strike column the OI reversion
    per session."""

    session_volume: np.ndarray
    target: np.ndarray
    pull: np.ndarray


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _plan_kernel(cols: np.ndarray, strikes: np.ndarray, forwards: np.ndarray,
                 vol: np.ndarray, time: np.ndarray, params: np.ndarray, rounds: np.ndarray,
                 session_volume: np.ndarray, target: np.ndarray,
                 pull: np.ndarray) -> None:  # pragma: no cover - compiled
    for p in range(cols.shape[0] - 1):
        lo, hi = cols[p], cols[p + 1]
        volume, oi, pcr_oi, pcr_volume, sensitivity, interest, reversion, mood = params[p]
        # After a fall (mood < 0) puts are bought, after a rise calls are chased.
        tilt = math.exp(-sensitivity * mood)
        pcr_v = pcr_volume * tilt
        pcr_o = pcr_oi * tilt
        sum_v = 0.0
        sum_o = 0.0
        for c in range(lo, hi):
            t = time[c]
            k = math.log(strikes[c] / forwards[c])
            sd = max(vol[c] * math.sqrt(max(t, DAY)), 1e-4)
            bonus = 1.0
            for m in rounds[p]:
                if m > 0.0:
                    ratio = strikes[c] / m
                    if abs(ratio - round(ratio)) < 1e-6:
                        bonus += interest
            zo = k / (OI_WIDTH * sd)
            bell_o = math.exp(-0.5 * zo * zo)
            # On expiry day positions are closed wherever they are held: the volume spreads
            # as wide as the open interest.
            bell_v = bell_o if t < DAY else (bell_o * bell_o) * (bell_o * bell_o)
            v = (bell_v + VOLUME_FLOOR) * bonus / math.sqrt(max(t, DAY) * 52.0)
            fade = min(max(t / DAY / FADE_DAYS, FADE_FLOOR), 1.0)
            w = ((bell_o + OI_FLOOR) * bonus
                 * math.sqrt(math.sqrt(min(max(t * 52.0, 1.0 / 7.0), 13.0))) * fade)
            session_volume[0, c] = v
            session_volume[1, c] = v * pcr_v
            target[0, c] = w
            target[1, c] = w * pcr_o
            sum_v += v * (1.0 + pcr_v)
            sum_o += w * (1.0 + pcr_o)
            pull[c] = reversion * (EXPIRY_DAY_PULL if t < DAY else 1.0)
        scale_v = volume / sum_v if sum_v > 0.0 else 0.0
        scale_o = oi / sum_o if sum_o > 0.0 else 0.0
        for c in range(lo, hi):
            for row in range(2):
                session_volume[row, c] *= scale_v
                target[row, c] *= scale_o


def plan(cols: np.ndarray, strikes: np.ndarray, forwards: np.ndarray, vol: np.ndarray,
         time: np.ndarray, profiles: list[FlowProfile], sentiments: list[float]) -> FlowPlan:
    """The flow plan of products laid out as the market's two-row arrays (product ``p`` owns
    columns ``cols[p]:cols[p + 1]``): per strike column its strike, its expiry's forward,
    its quoted volatility and its years to expiry; per product its profile and its
    :func:`sentiment`. Each product's volumes sum to its ``session_volume`` and its targets
    to its ``open_interest``."""
    params = np.array([[f.session_volume, f.open_interest, f.put_call_oi, f.put_call_volume,
                        f.put_call_sensitivity, f.round_strike_interest, f.oi_reversion, mood]
                       for f, mood in zip(profiles, sentiments, strict=True)],
                      dtype=np.float64).reshape(-1, len(_PARAMS))
    rounds = np.zeros((len(profiles), MAX_ROUND_STRIKES))
    for p, f in enumerate(profiles):
        rounds[p, :len(f.round_strikes)] = f.round_strikes
    n = strikes.shape[0]
    out = FlowPlan(np.empty((2, n)), np.empty((2, n)), np.empty(n))
    _plan_kernel(np.ascontiguousarray(cols, dtype=np.int64),
                 *(np.ascontiguousarray(a, dtype=np.float64)
                   for a in (strikes, forwards, vol, time)),
                 params, rounds, out.session_volume, out.target, out.pull)
    return out


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _split(n: float, p: float, u: float) -> float:  # pragma: no cover - compiled
    """One Binomial(n, p) count by inversion of ``u`` (the pmf recurrence from k = 0)."""
    if n <= 0.0 or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return n
    q = 1.0 - p
    if n == 1.0:   # the common case at one-second ticks: no power needed
        return 1.0 if u > q else 0.0
    pk = q ** n
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
                  close_prob: float, session_volume: np.ndarray, target: np.ndarray,
                  pull: np.ndarray, prints: bool, bid: np.ndarray, ask: np.ndarray,
                  last: np.ndarray, tick: np.ndarray, scale: np.ndarray, traded: np.ndarray,
                  new_oi: np.ndarray, new_last: np.ndarray) -> None:  # pragma: no cover - compiled
    turnover = open_prob + close_prob
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
                held = oi[row, c]
                # Tilt opening against closing so the OI closes pull[c] of the gap to its
                # target per session (the session's opening minus closing flow).
                po = open_prob
                pc = close_prob
                session_flow = session_volume[row, c] * turnover
                if pull[c] > 0.0 and session_flow > 0.0:
                    m = min(max(pull[c] * (target[row, c] - held) / session_flow,
                                -MAX_TILT),
                            MAX_TILT)
                    shift = m * (close_prob if m > 0.0 else open_prob)
                    po += shift
                    pc -= shift
                if lam < PTRS_MIN_INTENSITY:
                    if end - j < _SMALL_NEED:
                        resume[p] = row * n + c - lo
                        break
                    total, j = draw(lam, u, j)   # one uniform at most
                    opened = closing = 0.0
                    if total > 0.0:
                        opened = _split(total, po, u[j])
                        closing = _split(total - opened, pc / (1.0 - po), u[j + 1])
                        j += 2
                else:
                    if end - j < _LARGE_NEED:
                        resume[p] = row * n + c - lo
                        break
                    mine = u[:end]
                    opened, j = draw(lam * po, mine, j)
                    closing, j = draw(lam * pc, mine, j)
                    transferred, j = draw(lam * (1.0 - po - pc), mine, j)
                    if opened < 0.0 or closing < 0.0 or transferred < 0.0:
                        # Out of uniforms: this contract again, from a fresh buffer.
                        resume[p] = row * n + c - lo
                        break
                    total = opened + closing + transferred
                held += opened
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
            steer: FlowPlan | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Trade every contract: returns (contracts traded, new open interest, new last
        prints), all of ``rate``'s shape (rows, n) and >= 0.

        Trades arrive as a Poisson process of intensity ``rate`` (contracts this tick); each
        opens positions (+1 open interest), closes them (-1, never below zero) or transfers
        them, independently, so the three counts are independent Poisson counts of
        intensities ``rate * p``. The shares are ``open_prob`` and ``close_prob``, or with a
        plan ``steer`` tilted per contract towards its OI target (see the module docstring).
        With ``quotes = (bid, ask, last, tick, scale)`` (per contract, per contract, per
        contract, per product, per product: 10 ** decimals) a traded contract prints
        uniformly over the ticks of its spread and an untraded one keeps its last print,
        brought inside the spread; else no prints are made.

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
        if steer is None:
            steer = FlowPlan(rate, oi, np.zeros(rate.shape[1]))
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
        args = (self.open_prob, self.close_prob,
                *(np.ascontiguousarray(a, dtype=np.float64)
                  for a in (steer.session_volume, steer.target, steer.pull)),
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
    """Simulate one tick of one set of contracts with fixed opening and closing shares:
    returns (contracts traded, new open interest), both >= 0 and of ``rate``'s shape (see
    :meth:`FlowBatch.run`)."""
    lam = np.ascontiguousarray(rate, dtype=np.float64).reshape(1, -1)
    oi = np.ascontiguousarray(open_interest, dtype=np.float64).reshape(1, -1)
    batch = FlowBatch(np.array([0, lam.shape[1]]), open_prob, close_prob)
    traded, new_oi, _ = batch.run(lam, oi, [rng])
    return traded.reshape(np.shape(rate)), new_oi.reshape(np.shape(rate))
