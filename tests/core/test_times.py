"""ISO-8601 reading and writing: every spelling users send reads as the same UTC instant."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from deltastream.core.times import format_utc, parse_iso, parse_utc

INSTANT = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-12-04T10:00:00Z", "2026-12-04T10:00:00z",
                                  "2026-12-04T10:00:00+00:00", "2026-12-04T15:30:00+05:30",
                                  "2026-12-04T05:00:00-05:00", "2026-12-04T10:00:00",
                                  "2026-12-04 10:00"])
def test_every_spelling_reads_as_the_same_utc_instant(text):
    when = parse_utc(text)
    assert when == INSTANT and when.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "1733306400"])
def test_what_is_not_iso_8601_is_a_value_error(text):
    with pytest.raises(ValueError):
        parse_utc(text)


def test_writing_is_utc_with_z_and_reads_back():
    ist = INSTANT.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert format_utc(ist) == "2026-12-04T10:00:00Z"
    assert format_utc(INSTANT + timedelta(microseconds=1500), "milliseconds") \
        == "2026-12-04T10:00:00.001Z"
    moment = INSTANT + timedelta(microseconds=123456)
    assert parse_utc(format_utc(moment)) == moment


def test_parse_iso_keeps_the_written_offset_and_parse_utc_refuses_to_overflow():
    assert parse_iso("9999-12-31T23:00:00-23:59").utcoffset() == -timedelta(hours=23, minutes=59)
    assert parse_iso("2026-12-04T10:00:00").tzinfo is None
    with pytest.raises(ValueError, match="outside the years"):
        parse_utc("9999-12-31T23:00:00-23:59")
