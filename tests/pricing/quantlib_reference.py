"""Reference values from QuantLib's BlackCalculator, converted to DeltaStream's Greek units."""

from __future__ import annotations

import math

import numpy as np
import QuantLib as ql

FIELDS = ("price", "delta", "gamma", "theta", "vega", "rho", "vanna", "volga")


def black_calculator(S: float, K: float, T: float, r: float, q: float, sigma: float,
                     call: bool) -> ql.BlackCalculator:
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, K)
    forward = S * math.exp((r - q) * T)
    return ql.BlackCalculator(payoff, forward, sigma * math.sqrt(T), math.exp(-r * T))


def bsm_reference(S, K, T, r, q, sigma, call) -> dict[str, np.ndarray]:
    """Price and Greeks per option: theta per day, vega/rho per point, vanna/volga per point."""
    out = {f: np.empty(len(S)) for f in FIELDS}
    for i in range(len(S)):
        c = black_calculator(S[i], K[i], T[i], r[i], q[i], sigma[i], bool(call[i]))
        out["price"][i] = c.value()
        out["delta"][i] = c.delta(S[i])
        out["gamma"][i] = c.gamma(S[i])
        out["theta"][i] = c.theta(S[i], T[i]) / 365.0
        out["vega"][i] = c.vega(T[i]) / 100.0
        out["rho"][i] = c.rho(T[i]) / 100.0
        out["vanna"][i] = c.vanna(S[i], T[i]) / 100.0
        out["volga"][i] = c.volga(T[i]) / 1e4
    return out
