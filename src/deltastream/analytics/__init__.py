"""Chain-level analytics: put-call ratio, max pain, OI build-up, OHLC candles."""
