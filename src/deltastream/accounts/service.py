"""Account operations: register, log in, verify, refresh, log out, API keys.

Every operation takes its time from the service's clock (``now()``, timezone-aware UTC), so
token lifetimes are testable on a pinned clock. Defaults: access tokens live 15 minutes,
refresh tokens 30 days (each rotation starts a new 30 days; the family has no other limit).

Refresh rotation: a refresh token can be used once. Using it spends it and issues its
successor in the same family. Presenting a spent (or revoked) token again means it was copied:
the whole family is revoked, so the thief's and the user's successors both stop working and the
user logs in again. Logging out revokes the family of the refresh token given.

Authentication is cached per service (so per web worker): an access token verified once (its
signature, claims and user) is remembered until it expires, so a client's next requests cost a
dictionary look-up and an expiry comparison instead of an HMAC and a database read. The user's
existence is read again at most every :data:`USER_RECHECK` of the service's clock; the cache
holds at most :data:`MAX_CACHED_TOKENS` tokens (emptied when full). An access token lapses at
its own expiry and nothing revokes one early, so the cache answers exactly what verifying again
would, but for a user deleted within the last ``USER_RECHECK``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..store.accounts import ApiKeyRow, DuplicateEmail, NewRefreshToken, UserRow
from ..store.rows import epoch_us, from_epoch_us
from . import api_keys, tokens, validation
from .errors import EmailTakenError, InvalidCredentialsError, InvalidTokenError, UnknownApiKeyError
from .passwords import PasswordHashing
from .store import AccountStore

DEFAULT_ACCESS_TTL = timedelta(minutes=15)
DEFAULT_REFRESH_TTL = timedelta(days=30)
# How long a cached access token's user is trusted to exist without reading it again.
USER_RECHECK = timedelta(seconds=30)
# Verified tokens a service remembers at most (a few hundred bytes each).
MAX_CACHED_TOKENS = 10_000


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class User:
    """An account as clients see it (never its password hash)."""

    id: int
    email: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, row: UserRow) -> User:
        return cls(row.id, row.email, row.name, from_epoch_us(row.created_at))


@dataclass(frozen=True)
class Session:
    """What a login, registration or refresh hands out."""

    user: User
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """An API key as listed (never its secret)."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKey:
        return cls(row.id, row.name, row.prefix, from_epoch_us(row.created_at),
                   None if row.revoked_at is None else from_epoch_us(row.revoked_at))


class AccountService:
    """The account rules over an :class:`~.store.AccountStore`."""

    def __init__(self, store: AccountStore, secret: bytes, *,
                 hashing: PasswordHashing | None = None,
                 access_ttl: timedelta = DEFAULT_ACCESS_TTL,
                 refresh_ttl: timedelta = DEFAULT_REFRESH_TTL,
                 now: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self._secret = secret
        self.hashing = hashing or PasswordHashing()
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.now = now
        # access token -> (its user, its claims, when the user was last read); module docstring.
        self._verified: dict[str, tuple[User, tokens.AccessClaims, datetime]] = {}

    def register(self, email: object, password: object, name: object = None) -> Session:
        """A new account and its first session. ``name`` defaults to the email's local part.
        :class:`~.errors.InvalidFieldError` for a field breaking its rule (checked in the order
        email, password, name), :class:`~.errors.EmailTakenError` for a taken email."""
        address = validation.normalize_email(email)
        secret = validation.check_password(password)
        shown = validation.check_name(address.split("@")[0] if name is None else name)
        now = self.now()
        try:
            row = self.store.create_user(address, shown, self.hashing.hash(secret),
                                         epoch_us(now))
        except DuplicateEmail as error:
            raise EmailTakenError("an account with this email exists") from error
        return self._session(row, tokens.new_family_id(), now)

    def login(self, email: object, password: object) -> Session:
        """A new session for the account; :class:`~.errors.InvalidCredentialsError` when the email
        is unknown or the password wrong (the same answer, after the same work). A hash made
        with other parameters than the current ones is replaced."""
        if not isinstance(email, str) or not isinstance(password, str):
            raise InvalidCredentialsError("wrong email or password")
        row = self.store.user_by_email(email.strip().lower())
        if row is None or len(password) > validation.PASSWORD_MAX:
            self.hashing.burn(password[:validation.PASSWORD_MAX])
            raise InvalidCredentialsError("wrong email or password")
        verified = self.hashing.verify(row.password_hash, password)
        if not verified.ok:
            raise InvalidCredentialsError("wrong email or password")
        if verified.rehash:
            self.store.set_password_hash(row.id, self.hashing.hash(password))
        return self._session(row, tokens.new_family_id(), self.now())

    def authenticate(self, access_token: str) -> tuple[User, tokens.AccessClaims]:
        """The user an access token was issued to, and its claims;
        :class:`~.errors.InvalidTokenError` when invalid, expired, or its user is gone."""
        now = self.now()
        cached = self._verified.get(access_token)
        if cached is not None:
            user, claims, read_at = cached
            if now >= claims.expires_at:
                self._verified.pop(access_token, None)
                raise InvalidTokenError("expired", "access token expired")
            if read_at <= now < read_at + USER_RECHECK:
                return user, claims
        claims = tokens.verify_access_token(self._secret, access_token, now)
        row = self.store.user_by_id(claims.user_id)
        if row is None:
            self._verified.pop(access_token, None)
            raise InvalidTokenError("unknown", "the token's account no longer exists")
        user = User.of(row)
        if len(self._verified) >= MAX_CACHED_TOKENS:
            self._verified.clear()
        self._verified[access_token] = (user, claims, now)
        return user, claims

    def refresh(self, refresh_token: object) -> Session:
        """Spend ``refresh_token`` and hand out a new session in its family.
        :class:`~.errors.InvalidTokenError`: ``unknown``, ``expired``, ``revoked``, or ``reused``
        (the token was spent before: its family is revoked now)."""
        if not isinstance(refresh_token, str) or not refresh_token:
            raise InvalidTokenError("malformed", "refresh_token is required")
        now = self.now()
        row = self.store.refresh_token(tokens.token_hash(refresh_token))
        if row is None:
            raise InvalidTokenError("unknown", "unknown refresh token")
        if row.revoked_at is not None:
            raise InvalidTokenError("revoked", "refresh token revoked")
        if row.rotated_at is not None:
            self.store.revoke_family(row.family_id, epoch_us(now))
            raise InvalidTokenError("reused", "refresh token already used: every session of this "
                                         "login is revoked; log in again")
        if epoch_us(now) >= row.expires_at:
            raise InvalidTokenError("expired", "refresh token expired")
        user = self.store.user_by_id(row.user_id)
        if user is None:
            raise InvalidTokenError("unknown", "the token's account no longer exists")
        successor, stored = self._new_refresh(user.id, row.family_id, now)
        if not self.store.rotate_refresh_token(row.id, epoch_us(now), stored):
            # Spent or revoked by a concurrent request since it was read: a reuse.
            self.store.revoke_family(row.family_id, epoch_us(now))
            raise InvalidTokenError("reused", "refresh token already used: every session of this "
                                         "login is revoked; log in again")
        return self._access(user, successor, now)

    def logout(self, refresh_token: object) -> None:
        """Revoke the family of ``refresh_token`` (every token of that login);
        :class:`~.errors.InvalidTokenError` for an unknown token."""
        if not isinstance(refresh_token, str) or not refresh_token:
            raise InvalidTokenError("malformed", "refresh_token is required")
        row = self.store.refresh_token(tokens.token_hash(refresh_token))
        if row is None:
            raise InvalidTokenError("unknown", "unknown refresh token")
        self.store.revoke_family(row.family_id, epoch_us(self.now()))

    # API keys.

    def create_api_key(self, user_id: int, name: object) -> tuple[ApiKey, str]:
        """A new key for the user, and its full text (shown once)."""
        shown = validation.check_name(name)
        key, prefix = api_keys.new_api_key()
        row = self.store.add_api_key(user_id, shown, prefix, tokens.token_hash(key),
                                     epoch_us(self.now()))
        return ApiKey.of(row), key

    def list_api_keys(self, user_id: int) -> list[ApiKey]:
        """The user's live keys, oldest first, without their secrets."""
        return [ApiKey.of(row) for row in self.store.api_keys_of(user_id)]

    def revoke_api_key(self, user_id: int, key_id: int) -> ApiKey:
        """Revoke the user's key; :class:`~.errors.UnknownApiKeyError` when the user has no such
        live key (another user's key is not theirs: the same answer)."""
        row = self.store.revoke_api_key(user_id, key_id, epoch_us(self.now()))
        if row is None:
            raise UnknownApiKeyError(f"no API key {key_id}")
        return ApiKey.of(row)

    def authenticate_api_key(self, key: str) -> User:
        """The owner of a live API key; :class:`~.errors.InvalidTokenError` otherwise."""
        prefix = api_keys.key_prefix(key)
        row = None if prefix is None else self.store.api_key_by_prefix(prefix)
        if row is None or not api_keys.key_matches(key, row.key_hash):
            raise InvalidTokenError("unknown", "invalid API key")
        if row.revoked_at is not None:
            raise InvalidTokenError("revoked", "API key revoked")
        user = self.store.user_by_id(row.user_id)
        if user is None:
            raise InvalidTokenError("unknown", "the key's account no longer exists")
        return User.of(user)

    # Sessions.

    def _new_refresh(self, user_id: int, family_id: str, now: datetime
                     ) -> tuple[str, NewRefreshToken]:
        token = tokens.new_refresh_token()
        return token, NewRefreshToken(user_id, family_id, tokens.token_hash(token),
                                      epoch_us(now), epoch_us(now + self.refresh_ttl))

    def _session(self, row: UserRow, family_id: str, now: datetime) -> Session:
        refresh, stored = self._new_refresh(row.id, family_id, now)
        self.store.add_refresh_token(stored)
        return self._access(row, refresh, now)

    def _access(self, row: UserRow, refresh: str, now: datetime) -> Session:
        access, claims = tokens.issue_access_token(self._secret, row.id, now, self.access_ttl)
        return Session(User.of(row), access, claims.expires_at, refresh,
                       now + self.refresh_ttl)
