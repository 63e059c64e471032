"""The simulated market: spot paths, implied-volatility surfaces, quotes and order flow."""
