"""Access tokens (JWT, HS256) and refresh tokens (opaque random strings).

An access token's claims: ``sub`` (the user id, as text), ``iat`` and ``exp`` (integer
seconds since the Unix epoch; ``exp`` = ``iat`` + the TTL), ``jti`` (a random id), ``type``
(``access``) and ``iss`` (``deltastream``). It is valid while ``now < exp``, judged by the
clock given (not PyJWT's own), so tests can pin time.

A refresh token is 32 random bytes, URL-safe base64 (43 characters); only its SHA-256 (hex)
is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from .errors import InvalidTokenError

ALGORITHM = "HS256"
ISSUER = "deltastream"
ACCESS = "access"
_REQUIRED = ["exp", "iat", "sub", "jti", "type", "iss"]


@dataclass(frozen=True)
class AccessClaims:
    """A verified access token's claims."""

    user_id: int
    issued_at: datetime
    expires_at: datetime
    token_id: str


def issue_access_token(secret: bytes, user_id: int, now: datetime, ttl: timedelta
                       ) -> tuple[str, AccessClaims]:
    """A signed access token for ``user_id`` valid from ``now`` (whole seconds) for ``ttl``."""
    issued = int(now.timestamp())
    expires = issued + int(ttl.total_seconds())
    claims = AccessClaims(user_id, datetime.fromtimestamp(issued, UTC),
                          datetime.fromtimestamp(expires, UTC), uuid.uuid4().hex)
    token = jwt.encode({"sub": str(user_id), "iat": issued, "exp": expires,
                        "jti": claims.token_id, "type": ACCESS, "iss": ISSUER},
                       secret, algorithm=ALGORITHM)
    return token, claims


def verify_access_token(secret: bytes, token: str, now: datetime) -> AccessClaims:
    """The claims of ``token`` if it is a well-signed, unexpired access token at ``now``;
    else :class:`InvalidTokenError` (reason ``malformed``, ``wrong_type`` or ``expired``)."""
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                             options={"require": _REQUIRED, "verify_exp": False,
                                      "verify_iat": False, "verify_nbf": False})
    except jwt.PyJWTError as error:
        raise InvalidTokenError("malformed", "invalid access token") from error
    if payload.get("type") != ACCESS:
        raise InvalidTokenError("wrong_type", "not an access token")
    try:
        user_id = int(payload["sub"])
        issued, expires = int(payload["iat"]), int(payload["exp"])
    except (TypeError, ValueError) as error:
        raise InvalidTokenError("malformed", "invalid access token") from error
    if now.timestamp() >= expires:
        raise InvalidTokenError("expired", "access token expired")
    return AccessClaims(user_id, datetime.fromtimestamp(issued, UTC),
                        datetime.fromtimestamp(expires, UTC), str(payload["jti"]))


def new_refresh_token() -> str:
    """A fresh opaque refresh token."""
    return secrets.token_urlsafe(32)


def new_family_id() -> str:
    """The id of a new refresh-token family (one login)."""
    return uuid.uuid4().hex


def token_hash(token: str) -> str:
    """SHA-256 of ``token`` in hex: how refresh tokens and API keys are stored."""
    return hashlib.sha256(token.encode()).hexdigest()
