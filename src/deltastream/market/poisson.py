"""Exact Poisson variates from a buffer of uniforms, for compiled order-flow kernels.

The market draws three Poisson counts per contract per tick, about a third of a million a tick
for a 100,000-option universe. The uniforms come from the product's own
``numpy.random.Generator`` in bulk (a few ns each) and :func:`draw` turns them into Poisson
variates inside a compiled loop: inversion of the CDF below intensity 10 (one uniform per count)
and, above it, Hörmann's transformed rejection with squeeze (PTRS, "The transformed rejection
method for generating Poisson random variables", 1993: the algorithm NumPy uses).
"""

from __future__ import annotations

import math

import numba
import numpy as np

PTRS_MIN_INTENSITY = 10.0
MAX_INTENSITY = 1e10   # PTRS is exact far beyond; counts stay exact in float64
# A draw never needs more uniforms than this, except PTRS after improbably many rejections;
# callers keep at least this many in the buffer before starting a draw.
RESERVE = 64
_INVERSION_MAX_STEPS = 200


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def draw(m: float, u: np.ndarray, j: int) -> tuple[float, int]:  # pragma: no cover - compiled
    """One Poisson(``m``) count from the uniforms ``u[j:]``: (count, next j), or (-1, j)
    when the buffer ran out (the caller refills and draws again)."""
    if m <= 0.0:
        return 0.0, j
    if m < PTRS_MIN_INTENSITY:
        x = u[j]
        p = math.exp(-m)
        cdf = p
        k = 0
        while x > cdf and k < _INVERSION_MAX_STEPS:
            k += 1
            p *= m / k
            cdf += p
        return float(k), j + 1
    slam = math.sqrt(m)
    loglam = math.log(m)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while j + 2 <= u.size:
        uu = u[j] - 0.5
        v = u[j + 1]
        j += 2
        us = 0.5 - abs(uu)
        k = math.floor((2.0 * a / us + b) * uu + m + 0.43)
        if us >= 0.07 and v <= vr:
            return k, j
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)
                <= -m + k * loglam - math.lgamma(k + 1.0)):
            return k, j
    return -1.0, j


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _poisson_kernel(lam: np.ndarray, u: np.ndarray, start: int,
                    out: np.ndarray) -> int:  # pragma: no cover - compiled
    j = 0
    for i in range(start, lam.size):
        if u.size - j < RESERVE:
            return i
        k, j = draw(lam[i], u, j)
        if k < 0.0:
            return i
        out[i] = k
    return lam.size


def uniforms_needed(lam: np.ndarray) -> int:
    """A buffer size that usually suffices for one draw per intensity (inversion takes one
    uniform, PTRS averages under 2.4)."""
    return int(lam.size + 1.5 * np.count_nonzero(lam >= PTRS_MIN_INTENSITY)) + 2 * RESERVE


def check_intensities(lam: np.ndarray) -> None:
    if not np.all(np.isfinite(lam)) or (lam.size and lam.max() > MAX_INTENSITY):
        raise ValueError(f"Poisson intensities must be finite and <= {MAX_INTENSITY:g}")


def poisson(lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One Poisson count per intensity in ``lam`` (float64 counts, same shape).

    Intensities must be finite and at most 1e10; zero or negative intensities give 0.
    Reproducible: the counts are a function of ``lam`` and the generator's state.
    """
    m = np.ascontiguousarray(lam, dtype=np.float64).reshape(-1)
    check_intensities(m)
    out = np.empty_like(m)
    done = 0
    while done < m.size:
        done = _poisson_kernel(m, rng.random(uniforms_needed(m[done:])), done, out)
    return out.reshape(np.shape(lam))
