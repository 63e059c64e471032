"""Risk-neutral densities of the underlying at one expiry: lognormal at the ATM IV, and the
density implied by the served smile (Breeden-Litzenberger), with exact integrals of
piecewise-linear payoffs against them.

Units: prices and strikes in the product's currency; ``forward`` F the expiry's forward;
``time`` in years (ACT/365); volatilities decimal; total implied variance ``w = iv^2 T``;
log-moneyness ``k = ln(K / F)``. All expectations are under the forward (T-) measure, i.e.
undiscounted: ``E[(S_T - K)^+]`` times ``exp(-r T)`` is the call price.

Representation (one form for both methods): ``q(x) = phi(x) r(x)`` where ``phi`` is a
lognormal density with mean F and total variance ``v^2`` (the lognormal method: the ATM
IV's, with ``r = 1`` everywhere; the smile density: the widest total variance of the smile
over its nodes) and ``r`` is a continuous piecewise-linear ratio on strike nodes, zero
outside them. Integrals of ``q`` times a polynomial of degree <= 1 over any interval are then
closed forms in the normal CDF (partial moments of the lognormal up to the second), so
probabilities and expectations of piecewise-linear P&L are exact for the density held, with
no grid resolution of their own.

Smile density (Breeden-Litzenberger, ``q(K) = d2C/dK2`` of undiscounted calls): the served
OTM implied volatilities (puts below the forward, calls at and above it; the other side where
one did not solve) are interpolated by a natural cubic spline of total variance in ``k``
through every served point (noisy quotes that make it oscillate into butterfly arbitrage are
smoothed instead: :func:`smile_from`); beyond the outermost strikes the wings continue with
the end's value and slope and flatten out, ``w_e + w'_e L tanh((k - k_e) / L)`` with ``L`` half the
served range (flat-volatility tails far out, lognormal and arbitrage-free). The density of
that call curve is Gatheral's ``q(K) = g(k) phi(d2) / (K sqrt(w))`` with
``g = (1 - k w'/(2w))^2 - w'^2/4 (1/w + 1/4) + w''/2`` (Durrleman's condition ``g >= 0``),
taken at ``NODES`` nodes uniform in ``k`` over +-``SPAN_SD`` standard deviations of the
widest served volatility, as its ratio to the base lognormal. Arbitrage-free adjustment:
negative values (butterfly arbitrage in the interpolated smile) are set to zero, and the
ratio is then multiplied by ``a + b x`` with (a, b) solved so that the density integrates to
exactly 1 and its mean is exactly F (on an arbitrage-free smile ``a ~ 1``, ``b ~ 0``). On a
flat smile ``g = 1`` and the ratio is 1: the two methods then agree to rounding.

American products' served IVs are American-model volatilities; read as Black volatilities
they include the early-exercise premium, so their density is an approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline, make_smoothing_spline
from scipy.special import ndtr

from ..core.snapshot import ExpiryChain
from .skew import smile as otm_smile

# Nodes of the smile density: +-SPAN_SD standard deviations (of the widest served
# volatility) in log-moneyness, NODES of them, uniform in k.
SPAN_SD = 10.0
NODES = 1201
# Below this total variance an expiry has no volatility left to spread a density over.
MIN_TOTAL_VARIANCE = 1e-12
# The wings flatten out over this many times the served log-moneyness range.
WING_SCALE = 0.5
# Smoothing weights tried, least first, on a smile with butterfly arbitrage (smile_from).
SMOOTHING = tuple(10.0 ** e for e in range(-9, 3))


def _normal_mass(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """P(lower < Z < upper), taken on the side where it does not cancel."""
    return np.where(lower > 0, ndtr(-lower) - ndtr(-upper), ndtr(upper) - ndtr(lower))


@dataclass(frozen=True)
class Density:
    """``q(x) = lognormal(F, v)(x) * r(x)`` (module docstring). ``nodes`` empty: ``r = 1``."""

    forward: float
    v: float                       # the base lognormal's iv * sqrt(T)
    nodes: np.ndarray              # ascending strikes; empty for the plain lognormal
    ratio: np.ndarray              # r at the nodes

    def _moments(self, lo: np.ndarray, hi: np.ndarray, orders: int = 3
                 ) -> tuple[np.ndarray, ...]:
        """Partial moments ``E_phi[S^m 1{lo < S < hi}]`` of the base lognormal, m < orders."""
        v, mu = self.v, math.log(self.forward) - self.v * self.v / 2
        with np.errstate(divide="ignore"):
            llo, lhi = np.log(lo), np.log(hi)
        out = []
        for m in range(orders):
            scale = math.exp(m * mu + m * m * v * v / 2)
            shift = mu + m * v * v
            out.append(scale * _normal_mass((llo - shift) / v, (lhi - shift) / v))
        return tuple(out)

    def _cells(self) -> tuple[np.ndarray, ...]:
        """Per node cell: the base's moments m0, m1, m2 over it (made once, kept)."""
        cached = self.__dict__.get("_cell_moments")
        if cached is None:
            cached = self._moments(self.nodes[:-1], self.nodes[1:])
            self.__dict__["_cell_moments"] = cached
        return cached

    def _table(self) -> tuple[np.ndarray, ...]:
        """Per node cell: the ratio's line (alpha, beta) and the integrals of q and x q up
        to the cell's start; and the totals (made once, kept)."""
        cached = self.__dict__.get("_table_")
        if cached is None:
            x, r = self.nodes, self.ratio
            m0, m1, m2 = self._cells()
            beta = np.diff(r) / np.diff(x)
            alpha = r[:-1] - beta * x[:-1]
            i0, i1 = alpha * m0 + beta * m1, alpha * m1 + beta * m2
            c0, c1 = np.cumsum(i0), np.cumsum(i1)
            cached = (alpha, beta, np.concatenate(([0.0], c0[:-1])),
                      np.concatenate(([0.0], c1[:-1])), np.array([c0[-1], c1[-1]]))
            self.__dict__["_table_"] = cached
        return cached

    def cumulative(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(integral of q, integral of x q)`` from 0 to each of ``points``."""
        points = np.asarray(points, dtype=float)
        if not self.nodes.size:
            m0, m1 = self._moments(np.zeros(points.shape), points, 2)
            return m0, m1
        x = self.nodes
        alpha, beta, c0, c1, _ = self._table()
        j = np.clip(np.searchsorted(x, points, side="right") - 1, 0, x.size - 2)
        start = x[j]
        end = np.clip(points, x[0], x[-1])
        m0, m1, m2 = self._moments(start, np.maximum(end, start))
        return (c0[j] + alpha[j] * m0 + beta[j] * m1, c1[j] + alpha[j] * m1 + beta[j] * m2)

    def totals(self) -> tuple[float, float]:
        """Mass and mean."""
        if not self.nodes.size:
            return 1.0, self.forward
        t = self._table()[4]
        return float(t[0]), float(t[1])

    def integrals(self, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
        """The intervals between 0, ``cuts`` and infinity, each with ``I0 = integral of q``
        and ``I1 = integral of x q`` over it: ``(lo, hi, I0, I1)``."""
        points = np.unique(np.concatenate(([0.0], cuts[cuts > 0], [np.inf])))
        lo, hi = points[:-1], points[1:]
        if not self.nodes.size:
            m0, m1 = self._moments(lo, hi, 2)
            return lo, hi, m0, m1
        g0, g1 = self.cumulative(points)
        return lo, hi, np.diff(g0), np.diff(g1)

    def mass(self) -> float:
        if not self.nodes.size:
            return float(self.integrals(np.empty(0))[2].sum())
        return self.totals()[0]

    def mean(self) -> float:
        if not self.nodes.size:
            return float(self.integrals(np.empty(0))[3].sum())
        return self.totals()[1]

    def call(self, strikes: np.ndarray) -> np.ndarray:
        """Undiscounted call values ``E[(S_T - K)^+]`` at ``strikes``."""
        strikes = np.asarray(strikes, dtype=float)
        if not self.nodes.size:
            m0, m1 = self._moments(strikes, np.full(strikes.shape, np.inf), 2)
            return m1 - strikes * m0
        g0, g1 = self.cumulative(strikes)
        t0, t1 = self.totals()
        return (t1 - g1) - strikes * (t0 - g0)

    def tail(self, levels: np.ndarray) -> np.ndarray:
        """``P(S_T > level)`` at each level."""
        levels = np.asarray(levels, dtype=float)
        if not self.nodes.size:
            return self._moments(levels, np.full(levels.shape, np.inf), 1)[0]
        return self.totals()[0] - self.cumulative(levels)[0]

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """The density at ``x`` (per unit of price)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.log(x / self.forward) + self.v * self.v / 2) / self.v
            base = np.where(x > 0, np.exp(-z * z / 2) / (x * self.v * math.sqrt(2 * math.pi)),
                            0.0)
        if not self.nodes.size:
            return base
        r = np.interp(x, self.nodes, self.ratio, left=0.0, right=0.0)
        return base * r


def lognormal(forward: float, iv: float, time: float) -> Density:
    """The lognormal law of S_T with mean ``forward`` and volatility ``iv``."""
    v = max(iv * iv * time, MIN_TOTAL_VARIANCE) ** 0.5
    return Density(forward, v, np.empty(0), np.empty(0))


@dataclass(frozen=True)
class Smile:
    """An expiry's served smile as total variance ``w(k)``, flat beyond the served range."""

    forward: float
    time: float
    k: np.ndarray
    w: np.ndarray
    spline: Any       # CubicSpline-like: spline(k, nu) is the nu-th derivative; None: flat

    def total_variance(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``w``, ``w'`` and ``w''`` at log-moneyness ``k``."""
        k = np.asarray(k, dtype=float)
        if self.spline is None:
            w = np.full(k.shape, self.w[0])
            return w, np.zeros(k.shape), np.zeros(k.shape)
        lo, hi = float(self.k[0]), float(self.k[-1])
        kc = np.clip(k, lo, hi)
        w, w1, w2 = self.spline(kc), self.spline(kc, 1), self.spline(kc, 2)
        # Wings: w_e + w'_e L tanh((k - k_e) / L), joined with value and slope, flattening
        # out over WING_SCALE times the served range (flat-volatility tails far out).
        scale = WING_SCALE * max(hi - lo, 1e-6)
        beyond = (k - kc) / scale
        t = np.tanh(beyond)
        outside = beyond != 0
        w = np.where(outside, w + w1 * scale * t, w)
        sech2 = 1 - t * t
        w2 = np.where(outside, -2 * w1 * t * sech2 / scale, w2)
        w1 = np.where(outside, w1 * sech2, w1)
        return np.maximum(w, MIN_TOTAL_VARIANCE), w1, w2

    def iv(self, strikes: np.ndarray) -> np.ndarray:
        """Implied volatility at ``strikes`` (decimal)."""
        w = self.total_variance(np.log(np.asarray(strikes, dtype=float) / self.forward))[0]
        return np.sqrt(w / self.time)

    @property
    def atm_iv(self) -> float:
        return float(self.iv(np.array([self.forward]))[0])


def served_smile(chain: ExpiryChain) -> Smile | None:
    """The smile of ``chain`` (module docstring); None when fewer than one IV solved."""
    strikes = np.asarray(chain.strikes, dtype=float)
    iv = otm_smile(strikes, chain.calls.iv, chain.puts.iv, chain.forward)
    keep = np.isfinite(iv) & (iv > 0) & (strikes > 0)
    return smile_from(chain.forward, chain.time_to_expiry, strikes[keep], iv[keep])


def durrleman(w: np.ndarray, w1: np.ndarray, w2: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Durrleman's ``g(k)``: the smile has no butterfly arbitrage where ``g >= 0``."""
    return (1 - k * w1 / (2 * w)) ** 2 - w1 * w1 / 4 * (1 / w + 0.25) + w2 / 2


class _ScaledSpline:
    """A smoothing spline fitted on ``k`` and ``w`` scaled to unit range and mean, answering
    in the original units (so that one ladder of smoothing weights suits every smile)."""

    def __init__(self, k: np.ndarray, w: np.ndarray, lam: float) -> None:
        self.k0, self.dk = float(k[0]), float(k[-1] - k[0])
        self.scale = float(w.mean())
        self.fit = make_smoothing_spline((k - self.k0) / self.dk, w / self.scale, lam=lam)

    def __call__(self, k: np.ndarray, nu: int = 0) -> np.ndarray:
        x = (np.asarray(k, dtype=float) - self.k0) / self.dk
        return self.fit(x, nu) * self.scale / self.dk ** nu


def _min_g(spline: Any, k: np.ndarray) -> float:
    w = np.maximum(spline(k), MIN_TOTAL_VARIANCE)
    return float(durrleman(w, spline(k, 1), spline(k, 2), k).min())


def smile_from(forward: float, time: float, strikes: np.ndarray, iv: np.ndarray
               ) -> Smile | None:
    """A smile through ``(strikes, iv)`` (ascending strikes); None without a point.

    The natural cubic spline of total variance through every point, unless it has butterfly
    arbitrage (Durrleman's ``g < 0`` between the served strikes: noisy quotes make it
    oscillate); then the least-smoothed natural smoothing spline, weights ``SMOOTHING``
    (on ``k`` and ``w`` scaled to unit range and mean), that has none, or the smoothest of
    them. One or two points: a flat smile at their mean variance.
    """
    if not strikes.size or time <= 0:
        return None
    k = np.log(strikes / forward)
    w = iv * iv * time
    if k.size < 3:
        return Smile(forward, time, np.array([0.0]), np.array([float(w.mean())]), None)
    spline: Any = CubicSpline(k, w, bc_type="natural")
    probe = np.linspace(float(k[0]), float(k[-1]), 8 * k.size)
    if k.size >= 5 and _min_g(spline, probe) < 0:
        for lam in SMOOTHING:
            spline = _ScaledSpline(k, w, lam)
            if _min_g(spline, probe) >= 0:
                break
        w = np.maximum(spline(k), MIN_TOTAL_VARIANCE)
    return Smile(forward, time, k, w, spline)


def smile_density(smile: Smile, nodes: int = NODES) -> Density:
    """The Breeden-Litzenberger density of ``smile`` (module docstring)."""
    w0 = max(float(smile.total_variance(np.zeros(1))[0][0]), MIN_TOTAL_VARIANCE)
    v_max = max(math.sqrt(float(smile.w.max())), math.sqrt(w0))
    span = SPAN_SD * v_max
    k = np.linspace(min(-span, float(smile.k[0])), max(span, float(smile.k[-1])), nodes)
    w, w1, w2 = smile.total_variance(k)
    g = durrleman(w, w1, w2, k)
    # The base lognormal is the widest of the smile over the nodes, so that the ratio stays
    # bounded in the wings (a narrower base's tails fall faster than the smile's); on a flat
    # smile it is the smile itself and the ratio is 1.
    vb = math.sqrt(max(float(w.max()), w0))
    d2 = -k / np.sqrt(w) - np.sqrt(w) / 2
    d2_b = -k / vb - vb / 2
    # phi(d2)/(K sqrt(w)) over phi(d2_b)/(K vb), in logs (both ~1e-100 far out).
    ratio = np.maximum(g, 0.0) * (vb / np.sqrt(w)) * np.exp((d2_b * d2_b - d2 * d2) / 2)
    x = smile.forward * np.exp(k)
    base = Density(smile.forward, vb, x, ratio)
    m0, m1, m2 = base._cells()

    def mass_and_mean(r: np.ndarray) -> tuple[float, float]:
        beta = np.diff(r) / np.diff(x)
        alpha = r[:-1] - beta * x[:-1]
        return (float((alpha * m0 + beta * m1).sum()), float((alpha * m1 + beta * m2).sum()))

    (m_r, mu_r), (m_x, mu_x) = mass_and_mean(ratio), mass_and_mean(ratio * x)
    a, b = np.linalg.solve(np.array([[m_r, m_x], [mu_r, mu_x]]),
                           np.array([1.0, smile.forward]))
    adjusted = ratio * (a + b * x)
    if np.any(adjusted < 0):
        # The correction would need negative mass somewhere: no density of this form fits;
        # the ratio is renormalised in mass alone (the mean then misses F slightly).
        out = Density(smile.forward, vb, x, ratio / m_r)
    else:
        out = Density(smile.forward, vb, x, adjusted)
    out.__dict__["_cell_moments"] = (m0, m1, m2)
    return out
