"""Black-76: European options on a forward or future, discounted at a continuous rate.

``forward`` F and ``strike`` K in currency units; ``time`` T in years; ``rate`` r (continuous
decimal) discounts the payoff; ``vol`` sigma annualised. Delta and gamma are with respect to
the forward; rho holds the forward fixed (so it is -T times the value). Units as in
:mod:`deltastream.pricing`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from . import black_scholes_merton as bsm
from .black_scholes_merton import PERCENT, Greeks
from .implied_vol import implied_vol_black76 as implied_vol

__all__ = ["greeks", "implied_vol", "price"]


def price(forward: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
          vol: ArrayLike, is_call: ArrayLike) -> np.ndarray:
    """Discounted Black-76 value ``e^-rT (F N(d1) - K N(d2))`` (calls; puts by symmetry)."""
    # On a forward the carry is nil: this is Black-Scholes-Merton with the yield equal to r.
    return bsm.price(forward, strike, time, rate, rate, vol, is_call)


def greeks(forward: ArrayLike, strike: ArrayLike, time: ArrayLike, rate: ArrayLike,
           vol: ArrayLike, is_call: ArrayLike) -> Greeks:
    """Price and Greeks on a forward; rho is the sensitivity to the discount rate alone."""
    g = bsm.greeks(forward, strike, time, rate, rate, vol, is_call)
    rho = np.multiply(np.negative(np.asarray(time, dtype=np.float64)), g.price) * PERCENT
    return g._replace(rho=rho)
