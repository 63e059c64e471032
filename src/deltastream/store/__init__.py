"""Persistent history: underlying ticks, per-tick chain summaries, periodic full-chain
archives, session closes and the market's checkpoint, on SQLite or PostgreSQL."""
