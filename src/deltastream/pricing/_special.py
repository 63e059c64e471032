"""Scalar special functions for the compiled pricing kernels.

The normal distribution is evaluated through the complementary error function so that both
tails keep full relative precision (``1 - Phi(x)`` is never formed by subtraction). ``erfcx``
(the scaled complementary error function) comes from SciPy's C implementation and lets the
implied-volatility solver work with prices far below the smallest normal double.
"""

from __future__ import annotations

import math

import llvmlite.binding as llvm
import numba
from numba import types
from numba.extending import get_cython_function_address

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)



def _external(symbol: str, cython_name: str) -> types.ExternalFunction:
    # Registered by name rather than called through a ctypes pointer, so that the kernels that
    # use it can be cached on disk (the address is bound again at every import).
    llvm.add_symbol(symbol, get_cython_function_address("scipy.special.cython_special",
                                                        cython_name))
    return types.ExternalFunction(symbol, types.float64(types.float64, types.intc))


_erfcx_c = _external("deltastream_erfcx", "__pyx_fuse_1erfcx")
_ndtri_c = _external("deltastream_ndtri", "ndtri")


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def norm_cdf(x: float) -> float:
    """Standard normal distribution function, accurate to a few ulps in both tails."""
    return 0.5 * math.erfc(-x * _SQRT1_2)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def norm_pdf(x: float) -> float:
    """Standard normal density."""
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def erfcx(x: float) -> float:
    """Scaled complementary error function exp(x^2) * erfc(x)."""
    return _erfcx_c(x, 0)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def norm_ppf(p: float) -> float:
    """Inverse of the standard normal distribution function."""
    return _ndtri_c(p, 0)
