"""Content negotiation and compression of JSON responses.

A response body of at least :data:`MIN_BYTES` is sent compressed in the best encoding the
client accepts (``Accept-Encoding`` with q-values; zstd, then gzip), compressed once per
snapshot version and encoding by the response cache, never per request. Each encoding is its
own representation: its own ETag (the identity ETag with the encoding appended), and every
negotiated response says ``Vary: Accept-Encoding``. Bodies are deterministic (gzip without a
timestamp), so a replayed or rebuilt body is the same bytes.
"""

from __future__ import annotations

import gzip
from functools import lru_cache

import zstandard
from werkzeug.http import parse_accept_header

IDENTITY = "identity"
# Smaller bodies cost more to compress and decompress than they save on the wire.
MIN_BYTES = 1024
# In order of preference when the client accepts several at the same quality.
ENCODINGS = ("zstd", "gzip")
GZIP_LEVEL = 6
ZSTD_LEVEL = 3


@lru_cache(maxsize=512)
def negotiate(accept_encoding: str | None) -> str:
    """The encoding to send for an ``Accept-Encoding`` header (``identity`` when it accepts
    none of :data:`ENCODINGS`). Cached by header value: clients send few distinct ones."""
    if not accept_encoding:
        return IDENTITY
    return parse_accept_header(accept_encoding).best_match(ENCODINGS) or IDENTITY


def compress(body: bytes, encoding: str) -> bytes:
    """``body`` in ``encoding`` (one of :data:`ENCODINGS`)."""
    if encoding == "gzip":
        return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body)
    raise ValueError(f"unknown encoding {encoding!r} (one of {', '.join(ENCODINGS)})")


def encoded_etag(etag: str, encoding: str) -> str:
    """The ETag of the ``encoding`` representation of the body whose ETag is ``etag``."""
    return etag if encoding == IDENTITY else f"{etag}-{encoding}"
