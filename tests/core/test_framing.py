"""The framing shared by the binary formats."""

from __future__ import annotations

import json
import zlib

import pytest

from deltastream.core.framing import frame, inflate, read_header


def test_header_and_parts_round_trip_at_an_offset():
    data = b"MAGI" + frame(b'{"sizes":[3,2]}', [b"abc", b"de"])
    header, offset = read_header(memoryview(data), 4)
    assert header == {"sizes": [3, 2]} and data[offset:] == b"abcde"
    assert data[4:8] == (15).to_bytes(4, "little")
    # Integers wider than 64 bits need the standard library's parser.
    wide = frame(json.dumps({"state": 2**100}).encode())
    assert read_header(wide, loads=json.loads)[0] == {"state": 2**100}


def test_inflate_is_bounded_and_refuses_truncated_or_corrupt_data():
    raw = bytes(range(256)) * 40
    packed = zlib.compress(raw)
    assert inflate(packed, len(raw)) == raw
    assert inflate(packed, len(raw) - 1) is None
    assert inflate(packed[:-5], len(raw)) is None
    with pytest.raises(zlib.error):
        inflate(b"not zlib at all", 100)
