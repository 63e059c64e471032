"""ISO-8601 times as DeltaStream reads and writes them.

Every time read from a user (CLI options, settings, query parameters, API answers read by the
client) goes through :func:`parse_utc`: ``Z``/``z`` or any offset is accepted, a time without an
offset is taken as UTC, and the result is an aware datetime in UTC. Every time written for a
user goes through :func:`format_utc`: UTC with a ``Z`` suffix. Invariant:
``parse_utc(format_utc(t)) == t`` for every aware ``t``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_utc(text: str) -> datetime:
    """``text`` as an aware UTC datetime; raises ValueError when it is not ISO-8601."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def format_utc(when: datetime, timespec: str = "auto") -> str:
    """``when`` (aware) in UTC as ISO-8601 with a ``Z`` suffix, e.g. ``2026-12-04T10:00:00Z``."""
    return when.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
