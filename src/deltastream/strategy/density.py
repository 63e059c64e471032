"""Risk-neutral densities of the underlying at one expiry: lognormal at the ATM IV, and the
density implied by the served smile (Breeden-Litzenberger), with exact integrals of
piecewise-linear payoffs against them.

Units: prices and strikes in the product's currency; ``forward`` F the expiry's forward;
``time`` in years (ACT/365); volatilities decimal; total implied variance ``w = iv^2 T``;
log-moneyness ``k = ln(K / F)``. All expectations are under the forward (T-) measure, i.e.
undiscounted: ``E[(S_T - K)^+]`` times ``exp(-r T)`` is the call price.

Representation (one form for both methods): ``q(x) = phi(x) r(x)`` where ``phi`` is the
lognormal density with mean F and total variance ``v^2 = iv_atm^2 T``, and ``r`` is a
continuous piecewise-linear ratio on strike nodes, zero outside them (the lognormal method
is ``r = 1`` everywhere). Integrals of ``q`` times a polynomial of degree <= 1 over any
interval are then closed forms in the normal CDF (partial moments of the lognormal up to the
second), so probabilities and expectations of piecewise-linear P&L are exact for the density
held, with no grid resolution of their own.

Smile density (Breeden-Litzenberger, ``q(K) = d2C/dK2`` of undiscounted calls): the served
OTM implied volatilities (puts below the forward, calls at and above it; the other side where
one did not solve) are interpolated by a clamped cubic spline of total variance in ``k``
through every served point, extended flat beyond the outermost strikes (flat-volatility wings
are lognormal tails, arbitrage-free). The density of that call curve is Gatheral's
``q(K) = g(k) phi(d2) / (K sqrt(w))`` with
``g = (1 - k w'/(2w))^2 - w'^2/4 (1/w + 1/4) + w''/2`` (Durrleman's condition ``g >= 0``),
evaluated at nodes in ``k`` spanning +-``SPAN_SD`` standard deviations of the widest served
volatility. Arbitrage-free adjustment: negative values (butterfly arbitrage in the
interpolated smile) are set to zero, and the ratio is then multiplied by ``a + b x`` with
(a, b) solved so that the density integrates to exactly 1 and its mean is exactly F (the
nearest correction of that form; on an arbitrage-free smile ``a ~ 1``, ``b ~ 0``). On a flat
smile ``g = 1`` and the ratio is 1: the two methods then agree to rounding.

American products' served IVs are American-model volatilities; read as Black volatilities
they include the early-exercise premium, so their density is an approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.special import ndtr

from ..core.snapshot import ExpiryChain

# Nodes of the smile density: +-SPAN_SD standard deviations (of the widest served
# volatility) in log-moneyness, NODES of them, uniform in k.
SPAN_SD = 10.0
NODES = 1201
# Below this total variance an expiry has no volatility left to spread a density over.
MIN_TOTAL_VARIANCE = 1e-12
# The wings flatten out over this many times the served log-moneyness range.
WING_SCALE = 0.5


def _normal_mass(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """P(lower < Z < upper), taken on the side where it does not cancel."""
    return np.where(lower > 0, ndtr(-lower) - ndtr(-upper), ndtr(upper) - ndtr(lower))


@dataclass(frozen=True)
class Density:
    """``q(x) = lognormal(F, v)(x) * r(x)`` (module docstring). ``nodes`` empty: ``r = 1``."""

    forward: float
    v: float                       # iv_atm * sqrt(T)
    nodes: np.ndarray              # ascending strikes; empty for the plain lognormal
    ratio: np.ndarray              # r at the nodes

    @property
    def atm_iv_sqrt_t(self) -> float:
        return self.v

    def _moments(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
        """Partial moments ``E_phi[S^m 1{lo < S < hi}]`` for m = 0, 1, 2."""
        v, mu = self.v, math.log(self.forward) - self.v * self.v / 2
        with np.errstate(divide="ignore"):
            llo, lhi = np.log(lo), np.log(hi)
        out = []
        for m in range(3):
            scale = math.exp(m * mu + m * m * v * v / 2)
            shift = mu + m * v * v
            out.append(scale * _normal_mass((llo - shift) / v, (lhi - shift) / v))
        return tuple(out)

    def integrals(self, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:
        """The intervals between 0, the nodes, ``cuts`` and infinity, each with
        ``I0 = integral of q`` and ``I1 = integral of x q`` over it: ``(lo, hi, I0, I1)``."""
        points = np.unique(np.concatenate(([0.0], self.nodes, cuts[cuts > 0], [np.inf])))
        lo, hi = points[:-1], points[1:]
        m0, m1, m2 = self._moments(lo, hi)
        if not self.nodes.size:
            return lo, hi, m0, m1
        x, r = self.nodes, self.ratio
        cell = np.clip(np.searchsorted(x, lo, side="right") - 1, 0, x.size - 2)
        slope = (r[cell + 1] - r[cell]) / (x[cell + 1] - x[cell])
        alpha = r[cell] - slope * x[cell]
        inside = (lo >= x[0]) & (hi <= x[-1])
        alpha, slope = np.where(inside, alpha, 0.0), np.where(inside, slope, 0.0)
        return lo, hi, alpha * m0 + slope * m1, alpha * m1 + slope * m2

    def mass(self) -> float:
        return float(self.integrals(np.empty(0))[2].sum())

    def mean(self) -> float:
        return float(self.integrals(np.empty(0))[3].sum())

    def call(self, strikes: np.ndarray) -> np.ndarray:
        """Undiscounted call values ``E[(S_T - K)^+]`` at ``strikes``."""
        strikes = np.asarray(strikes, dtype=float)
        lo, _, i0, i1 = self.integrals(strikes)
        # Cumulative from the right: the mass and first moment above each cut.
        above0 = np.cumsum(i0[::-1])[::-1]
        above1 = np.cumsum(i1[::-1])[::-1]
        at = np.searchsorted(lo, strikes)
        return above1[at] - strikes * above0[at]

    def tail(self, levels: np.ndarray) -> np.ndarray:
        """``P(S_T > level)`` at each level."""
        levels = np.asarray(levels, dtype=float)
        lo, _, i0, _ = self.integrals(levels)
        above = np.cumsum(i0[::-1])[::-1]
        return above[np.searchsorted(lo, levels)]

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
    spline: CubicSpline | None

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
    call_iv, put_iv = np.asarray(chain.calls.iv), np.asarray(chain.puts.iv)
    otm = np.where(strikes < chain.forward, put_iv, call_iv)
    other = np.where(strikes < chain.forward, call_iv, put_iv)
    iv = np.where(np.isfinite(otm) & (otm > 0), otm, other)
    keep = np.isfinite(iv) & (iv > 0) & (strikes > 0)
    return smile_from(chain.forward, chain.time_to_expiry, strikes[keep], iv[keep])


def smile_from(forward: float, time: float, strikes: np.ndarray, iv: np.ndarray
               ) -> Smile | None:
    """A smile through ``(strikes, iv)`` (ascending strikes); None without a point."""
    if not strikes.size or time <= 0:
        return None
    k = np.log(strikes / forward)
    w = iv * iv * time
    spline = (CubicSpline(k, w, bc_type="natural") if k.size >= 3 else None)
    if spline is None:
        # One or two points: a flat smile at their mean variance.
        w = np.array([float(w.mean())])
        k = np.array([0.0])
    return Smile(forward, time, k, w, spline)


def smile_density(smile: Smile, nodes: int = NODES) -> Density:
    """The Breeden-Litzenberger density of ``smile`` (module docstring)."""
    w0 = max(float(smile.total_variance(np.zeros(1))[0][0]), MIN_TOTAL_VARIANCE)
    v0 = math.sqrt(w0)
    v_max = max(math.sqrt(float(smile.w.max())), v0)
    span = SPAN_SD * v_max
    k = np.linspace(min(-span, float(smile.k[0])), max(span, float(smile.k[-1])), nodes)
    w, w1, w2 = smile.total_variance(k)
    g = (1 - k * w1 / (2 * w)) ** 2 - w1 * w1 / 4 * (1 / w + 0.25) + w2 / 2
    d2 = -k / np.sqrt(w) - np.sqrt(w) / 2
    d2_0 = -k / v0 - v0 / 2
    # phi(d2)/(K sqrt(w)) over phi(d2_0)/(K v0): the ratio to the ATM lognormal, in logs so
    # that far wings (both densities ~1e-100) do not underflow to 0/0.
    ratio = np.maximum(g, 0.0) * (v0 / np.sqrt(w)) * np.exp((d2_0 * d2_0 - d2 * d2) / 2)
    x = smile.forward * np.exp(k)
    base = Density(smile.forward, v0, x, ratio)
    scaled = Density(smile.forward, v0, x, ratio * x)
    (m_r, mu_r), (m_x, mu_x) = ((d.mass(), d.mean()) for d in (base, scaled))
    a, b = np.linalg.solve(np.array([[m_r, m_x], [mu_r, mu_x]]),
                           np.array([1.0, smile.forward]))
    adjusted = ratio * (a + b * x)
    if np.any(adjusted < 0):
        # The correction would need negative mass somewhere: no density of this form fits;
        # the ratio is renormalised in mass alone (the mean then misses F slightly).
        return Density(smile.forward, v0, x, ratio / m_r)
    return Density(smile.forward, v0, x, adjusted)
