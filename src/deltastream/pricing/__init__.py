"""Option pricing: Black-Scholes-Merton, Black-76, American exercise, Greeks, implied volatility.

Pure functions on NumPy arrays (inputs broadcast; scalars allowed) backed by compiled kernels.
The numeric core knows nothing of the web layer.

Units, used everywhere in DeltaStream:

========  ================================================================
price     currency units of the product
time      years, ACT/365, to the exact expiry instant
rates     continuously compounded decimals (0.055 = 5.5 %)
vol       annualised decimal (0.15 = 15 %)
delta     dV/dS, per 1 unit of spot
gamma     d2V/dS2, per unit of spot
theta     dV/dt per calendar day (-dV/dT / 365)
vega      dV/dsigma per 1 volatility point (0.01)
rho       dV/dr per 1 percentage point (0.01)
vanna     d2V/dS dsigma, change of delta per 1 volatility point
volga     d2V/dsigma2, change of vega (per point) per 1 volatility point
charm     d(delta)/dt per calendar day
========  ================================================================
"""

from ..core.types import IVStatus

__all__ = ["IVStatus"]
