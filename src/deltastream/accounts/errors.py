"""What account operations refuse, each mapped to one HTTP status by the web layer:
:class:`InvalidFieldError` 400 (names the field), :class:`InvalidCredentialsError` and
:class:`InvalidTokenError` 401, :class:`EmailTakenError` 409, :class:`UnknownApiKeyError` 404."""

from __future__ import annotations


class AccountError(Exception):
    """Base of the account errors; ``message`` is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidFieldError(AccountError):
    """A submitted field breaks its rule: ``field`` names it, ``accepted`` says what passes."""

    def __init__(self, field: str, message: str, accepted: str) -> None:
        super().__init__(message)
        self.field = field
        self.accepted = accepted


class EmailTakenError(AccountError):
    """An account with this email (compared case-insensitively) exists."""


class InvalidCredentialsError(AccountError):
    """Wrong email or password (which one is not said)."""


class InvalidTokenError(AccountError):
    """An access token, refresh token or API key that is not valid now. ``reason``: one of
    ``malformed``, ``expired``, ``unknown``, ``revoked``, ``reused`` (a spent refresh token
    presented again: its family is now revoked) or ``wrong_type``."""

    def __init__(self, reason: str, message: str = "invalid or expired credentials") -> None:
        super().__init__(message)
        self.reason = reason


class UnknownApiKeyError(AccountError):
    """No API key with this id belongs to the user (another user's key included)."""
