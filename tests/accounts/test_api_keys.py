"""API key format: dsk_<12 hex>_<secret>, the prefix parsed back, hashes compared."""

from __future__ import annotations

import re

from deltastream.accounts.api_keys import key_matches, key_prefix, new_api_key
from deltastream.accounts.tokens import token_hash


def test_keys_have_a_public_prefix_and_a_random_secret():
    key, prefix = new_api_key()
    assert re.fullmatch(r"dsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    assert key_prefix(key) == prefix
    assert len({new_api_key()[0] for _ in range(50)}) == 50


def test_only_the_exact_key_matches_its_hash():
    key, _ = new_api_key()
    stored = token_hash(key)
    assert key_matches(key, stored)
    assert not key_matches(key[:-1] + ("A" if key[-1] != "A" else "B"), stored)


def test_malformed_keys_have_no_prefix():
    for text in ("", "dsk_", "dsk_0123456789ab_", "abc_0123456789ab_x", "dsk_0123_x",
                 "dsk_0123456789AB_x", "Bearer xyz"):
        assert key_prefix(text) is None, text
