"""The account tables' reads and writes (users, refresh tokens, API keys) on SQLite and
PostgreSQL; the rules (hashing, token lifetimes, rotation) are :mod:`deltastream.accounts`'.

Times are integer microseconds since the Unix epoch, UTC (as every store time). Refresh
tokens and API keys arrive here already hashed (SHA-256, hex). Emails arrive lower-case, so
the unique constraint on ``users.email`` makes accounts unique case-insensitively.

Rotation is one conditional UPDATE (spent only if neither spent nor revoked) and the insert
of its successor in the same transaction: two concurrent uses of one refresh token cannot
both succeed.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc

from .database import write_transaction
from .schema import api_keys, refresh_tokens, users


class DuplicateEmail(Exception):  # noqa: N818 - the condition, not a failure of the store
    """An account with this (lower-case) email exists."""


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    password_hash: str
    created_at: int


@dataclass(frozen=True)
class RefreshTokenRow:
    id: int
    user_id: int
    family_id: str
    token_hash: str
    created_at: int
    expires_at: int
    rotated_at: int | None
    revoked_at: int | None


@dataclass(frozen=True)
class NewRefreshToken:
    """A refresh token to store: its hash, family and times (microseconds)."""

    user_id: int
    family_id: str
    token_hash: str
    created_at: int
    expires_at: int


@dataclass(frozen=True)
class ApiKeyRow:
    id: int
    user_id: int
    name: str
    prefix: str
    key_hash: str
    created_at: int
    revoked_at: int | None


class SqlAccountStore:
    """Accounts in the store's database (opened and migrated by
    :func:`deltastream.store.database.open_database`)."""

    def __init__(self, db_engine: sa.Engine) -> None:
        self.db = db_engine

    # Users.

    def create_user(self, email: str, name: str, password_hash: str, created_at: int
                    ) -> UserRow:
        """Insert a user; :class:`DuplicateEmail` when the email is taken."""
        try:
            with self.db.begin() as conn:
                user_id = conn.execute(
                    sa.insert(users).values(email=email, name=name,
                                            password_hash=password_hash,
                                            created_at=created_at)
                    .returning(users.c.id)).scalar_one()
        except exc.IntegrityError as error:
            raise DuplicateEmail(email) from error
        return UserRow(int(user_id), email, name, password_hash, created_at)

    def user_by_email(self, email: str) -> UserRow | None:
        return self._user(users.c.email == email)

    def user_by_id(self, user_id: int) -> UserRow | None:
        return self._user(users.c.id == user_id)

    def _user(self, where: sa.ColumnElement[bool]) -> UserRow | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(users).where(where)).first()
        return None if row is None else UserRow(**row._mapping)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with self.db.begin() as conn:
            conn.execute(sa.update(users).where(users.c.id == user_id)
                         .values(password_hash=password_hash))

    # Refresh tokens.

    def add_refresh_token(self, token: NewRefreshToken) -> None:
        with self.db.begin() as conn:
            conn.execute(sa.insert(refresh_tokens).values(**token.__dict__))

    def refresh_token(self, token_hash: str) -> RefreshTokenRow | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(refresh_tokens)
                               .where(refresh_tokens.c.token_hash == token_hash)).first()
        return None if row is None else RefreshTokenRow(**row._mapping)

    def rotate_refresh_token(self, token_id: int, at: int, successor: NewRefreshToken
                             ) -> bool:
        """Spend token ``token_id`` at ``at`` and store ``successor``, atomically; False (and
        nothing stored) when the token was already spent or revoked."""
        with write_transaction(self.db) as conn:
            spent = conn.execute(
                sa.update(refresh_tokens)
                .where(refresh_tokens.c.id == token_id, refresh_tokens.c.rotated_at.is_(None),
                       refresh_tokens.c.revoked_at.is_(None))
                .values(rotated_at=at)).rowcount
            if spent != 1:
                return False
            conn.execute(sa.insert(refresh_tokens).values(**successor.__dict__))
        return True

    def revoke_family(self, family_id: str, at: int) -> int:
        """Revoke every token of the family not yet revoked; how many were."""
        with self.db.begin() as conn:
            return int(conn.execute(
                sa.update(refresh_tokens)
                .where(refresh_tokens.c.family_id == family_id,
                       refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=at)).rowcount)

    # API keys.

    def add_api_key(self, user_id: int, name: str, prefix: str, key_hash: str,
                    created_at: int) -> ApiKeyRow:
        with self.db.begin() as conn:
            key_id = conn.execute(
                sa.insert(api_keys).values(user_id=user_id, name=name, prefix=prefix,
                                           key_hash=key_hash, created_at=created_at)
                .returning(api_keys.c.id)).scalar_one()
        return ApiKeyRow(int(key_id), user_id, name, prefix, key_hash, created_at, None)

    def api_keys_of(self, user_id: int) -> list[ApiKeyRow]:
        """The user's keys not revoked, oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(api_keys)
                                .where(api_keys.c.user_id == user_id,
                                       api_keys.c.revoked_at.is_(None))
                                .order_by(api_keys.c.id)).all()
        return [ApiKeyRow(**row._mapping) for row in rows]

    def api_key_by_prefix(self, prefix: str) -> ApiKeyRow | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix)).first()
        return None if row is None else ApiKeyRow(**row._mapping)

    def revoke_api_key(self, user_id: int, key_id: int, at: int) -> ApiKeyRow | None:
        """Revoke the user's key ``key_id``; None when the user has no such live key (another
        user's key is left untouched)."""
        with write_transaction(self.db) as conn:
            revoked = conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.user_id == user_id,
                       api_keys.c.revoked_at.is_(None))
                .values(revoked_at=at)).rowcount
            if revoked != 1:
                return None
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).one()
        return ApiKeyRow(**row._mapping)
