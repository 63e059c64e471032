"""Access tokens on a pinned clock: the claims, expiry exactly at iat + TTL, signatures,
refresh tokens' randomness and hashing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from deltastream.accounts.errors import InvalidTokenError
from deltastream.accounts.tokens import (
    issue_access_token,
    new_refresh_token,
    token_hash,
    verify_access_token,
)

SECRET = b"k" * 32
NOW = datetime(2026, 12, 7, 9, 0, 0, 700_000, tzinfo=UTC)
TTL = timedelta(minutes=15)


def test_claims_are_sub_iat_exp_jti_type_in_whole_seconds():
    token, claims = issue_access_token(SECRET, 42, NOW, TTL)
    payload = jwt.decode(token, SECRET, algorithms=["HS256"],
                         options={"verify_exp": False, "verify_iat": False})
    iat = int(datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp())
    assert payload["sub"] == "42" and payload["type"] == "access"
    assert payload["iat"] == iat and payload["exp"] == iat + 900
    assert payload["jti"] == claims.token_id and len(claims.token_id) == 32
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert claims.expires_at == datetime(2026, 12, 7, 9, 15, tzinfo=UTC)
    assert issue_access_token(SECRET, 42, NOW, TTL)[1].token_id != claims.token_id


def test_valid_until_the_second_before_exp():
    token, _ = issue_access_token(SECRET, 42, NOW, TTL)
    last = datetime(2026, 12, 7, 9, 14, 59, 999_999, tzinfo=UTC)
    assert verify_access_token(SECRET, token, last).user_id == 42
    with pytest.raises(InvalidTokenError) as expired:
        verify_access_token(SECRET, token, datetime(2026, 12, 7, 9, 15, tzinfo=UTC))
    assert expired.value.reason == "expired"


def test_another_secret_a_tampered_token_or_another_type_is_refused():
    token, _ = issue_access_token(SECRET, 42, NOW, TTL)
    with pytest.raises(InvalidTokenError) as other_key:
        verify_access_token(b"x" * 32, token, NOW)
    assert other_key.value.reason == "malformed"
    head, _, signature = token.split(".")
    forged_payload = jwt.encode({"sub": "1", "iat": 0, "exp": 2**40, "jti": "j",
                                 "type": "access", "iss": "deltastream"},
                                b"y" * 32, algorithm="HS256").split(".")[1]
    with pytest.raises(InvalidTokenError):
        verify_access_token(SECRET, f"{head}.{forged_payload}.{signature}", NOW)
    unsigned = jwt.encode({"sub": "42", "iat": 0, "exp": 2**40, "jti": "j",
                           "type": "access", "iss": "deltastream"}, None, algorithm="none")
    with pytest.raises(InvalidTokenError):
        verify_access_token(SECRET, unsigned, NOW)
    refresh_typed = jwt.encode({"sub": "42", "iat": 0, "exp": 2**40, "jti": "j",
                                "type": "refresh", "iss": "deltastream"}, SECRET,
                               algorithm="HS256")
    with pytest.raises(InvalidTokenError) as wrong:
        verify_access_token(SECRET, refresh_typed, NOW)
    assert wrong.value.reason == "wrong_type"


def test_refresh_tokens_are_random_and_stored_as_sha256():
    tokens = {new_refresh_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 43 for t in tokens)
    sample = next(iter(tokens))
    assert token_hash(sample) == hashlib.sha256(sample.encode()).hexdigest()
