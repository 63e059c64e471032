"""The simulated market's test start: 03:00 UTC on a Wednesday, inside the Indian session."""

from __future__ import annotations

from datetime import UTC, datetime

START = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
