"""Multi-leg strategy analysis and exposure analytics.

Payoff at expiry and P&L before it, exact breakevens, probability of profit under a lognormal
law and under the risk-neutral density the served smile implies, net Greeks, dealer gamma
exposure (GEX) and skew. Pure functions on NumPy arrays and snapshots (:mod:`deltastream.core`);
prices in the product's currency, volatilities as decimals, time in years ACT/365.
"""
