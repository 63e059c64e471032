"""The account store the service needs, as a Protocol: :class:`~deltastream.store.accounts.
SqlAccountStore` implements it on the database; tests may give any object with these methods.

Contract: times are integer microseconds since the epoch; emails arrive lower-case;
``create_user`` raises :class:`~deltastream.store.accounts.DuplicateEmail` for a taken email;
``rotate_refresh_token`` is atomic (it spends the token only if neither spent nor revoked, and
then stores the successor); ``revoke_api_key`` touches only the given user's live key.
"""

from __future__ import annotations

from typing import Protocol

from ..store.accounts import ApiKeyRow, NewRefreshToken, RefreshTokenRow, UserRow


class AccountStore(Protocol):
    def create_user(self, email: str, name: str, password_hash: str, created_at: int
                    ) -> UserRow: ...

    def user_by_email(self, email: str) -> UserRow | None: ...

    def user_by_id(self, user_id: int) -> UserRow | None: ...

    def set_password_hash(self, user_id: int, password_hash: str) -> None: ...

    def add_refresh_token(self, token: NewRefreshToken) -> None: ...

    def refresh_token(self, token_hash: str) -> RefreshTokenRow | None: ...

    def rotate_refresh_token(self, token_id: int, at: int, successor: NewRefreshToken
                             ) -> bool: ...

    def revoke_family(self, family_id: str, at: int) -> int: ...

    def add_api_key(self, user_id: int, name: str, prefix: str, key_hash: str,
                    created_at: int) -> ApiKeyRow: ...

    def api_keys_of(self, user_id: int) -> list[ApiKeyRow]: ...

    def api_key_by_prefix(self, prefix: str) -> ApiKeyRow | None: ...

    def revoke_api_key(self, user_id: int, key_id: int, at: int) -> ApiKeyRow | None: ...
