"""The default catalogue's products, as servers and engines started without a catalogue
file list them."""

from __future__ import annotations

PRODUCTS = ["NIFTY", "BANKNIFTY", "FINNIFTY", "SENSEX", "AAPL", "TSLA", "SPY", "QQQ"]
