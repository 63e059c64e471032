"""API keys for scripts: ``dsk_<prefix>_<secret>``.

The prefix (12 hex characters) is public: it is stored in clear, shown in listings and used to
find the key; the secret (32 random bytes, URL-safe base64) is shown once, at creation. The
store keeps the SHA-256 of the whole key, compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets

from .tokens import token_hash

SCHEME = "dsk"
PREFIX_HEX_CHARS = 12


def new_api_key() -> tuple[str, str]:
    """A new key and its prefix."""
    prefix = secrets.token_hex(PREFIX_HEX_CHARS // 2)
    return f"{SCHEME}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def key_prefix(key: str) -> str | None:
    """The prefix of a key in the ``dsk_<prefix>_<secret>`` form, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != SCHEME or not parts[2]:
        return None
    prefix = parts[1]
    if len(prefix) != PREFIX_HEX_CHARS or any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix


def key_matches(key: str, stored_hash: str) -> bool:
    """Whether ``key`` hashes to ``stored_hash`` (constant-time comparison)."""
    return hmac.compare_digest(token_hash(key), stored_hash)
