"""Scalar special functions for the compiled pricing kernels.

The normal distribution is evaluated through the complementary error function so that both
tails keep full relative precision (``1 - Phi(x)`` is never formed by subtraction). ``erfcx``
(the scaled complementary error function) comes from SciPy's C implementation and lets the
implied-volatility solver work with prices far below the smallest normal double.
"""

from __future__ import annotations

import ctypes
import math

import numba
from numba.extending import get_cython_function_address

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

_erfcx_addr = get_cython_function_address("scipy.special.cython_special", "__pyx_fuse_1erfcx")
_erfcx_c = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int)(_erfcx_addr)


@numba.njit(cache=True, inline="always")
def norm_cdf(x: float) -> float:
    """Standard normal distribution function, accurate to a few ulps in both tails."""
    return 0.5 * math.erfc(-x * _SQRT1_2)


@numba.njit(cache=True, inline="always")
def norm_pdf(x: float) -> float:
    """Standard normal density."""
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@numba.njit(cache=True, inline="always")
def erfcx(x: float) -> float:
    """Scaled complementary error function exp(x^2) * erfc(x)."""
    return _erfcx_c(x, 0)
