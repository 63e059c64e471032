"""ISO-8601 times as DeltaStream reads and writes them.

Every time read from a user (CLI options, settings, query parameters, API answers read by the
client) goes through :func:`parse_utc`: ``Z``/``z`` or any offset is accepted, a time without an
offset is taken as UTC, and the result is an aware datetime in UTC. Every time written for a
user goes through :func:`format_utc`: UTC with a ``Z`` suffix. Invariant:
``parse_utc(format_utc(t)) == t`` for every aware ``t``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_iso(text: str) -> datetime:
    """``text`` as written, ``Z``/``z`` read as UTC and any other offset kept (naive when it
    has none), for callers that check the written date before converting; raises ValueError
    when it is not ISO-8601."""
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


def parse_utc(text: str) -> datetime:
    """``text`` as an aware UTC datetime; raises ValueError when it is not ISO-8601 (or, at
    the edges of the years 1 and 9999, when its offset moves it out of them)."""
    when = parse_iso(text)
    try:
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text[:64]!r} is outside the years 1 to 9999 in UTC") from None


def format_utc(when: datetime, timespec: str = "auto") -> str:
    """``when`` (aware) in UTC as ISO-8601 with a ``Z`` suffix, e.g. ``2026-12-04T10:00:00Z``."""
    return when.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
