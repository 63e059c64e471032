"""The rules for submitted account fields: email, password, name, API key name.

Emails are trimmed and lower-cased (accounts are unique case-insensitively); at most 254
characters (RFC 5321's path limit). Passwords are 8-256 characters: the upper bound keeps
each argon2 hash a bounded amount of work. Names are 1-100 characters after trimming.
"""

from __future__ import annotations

import re

from .errors import InvalidFieldError

EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 256
NAME_MAX = 100
# One @, a non-empty local part, a dotted domain; no spaces or control characters. Deliverability
# is not checked (no network).
_EMAIL = re.compile(r"^[^\s@\x00-\x1f]+@[^\s@\x00-\x1f.]+(\.[^\s@\x00-\x1f.]+)+$")
EMAIL_ACCEPTED = f"an email address (name@domain.tld), at most {EMAIL_MAX} characters"
PASSWORD_ACCEPTED = f"{PASSWORD_MIN}-{PASSWORD_MAX} characters"
NAME_ACCEPTED = f"1-{NAME_MAX} characters"


def normalize_email(value: object) -> str:
    """``value`` as the stored email (trimmed, lower-case), or :class:`InvalidFieldError`."""
    if not isinstance(value, str):
        raise InvalidFieldError("email", "email must be text", EMAIL_ACCEPTED)
    email = value.strip().lower()
    if len(email) > EMAIL_MAX or not _EMAIL.match(email):
        raise InvalidFieldError("email", "not a valid email address", EMAIL_ACCEPTED)
    return email


def check_password(value: object) -> str:
    """``value`` if it is an acceptable password, else :class:`InvalidFieldError`."""
    if not isinstance(value, str):
        raise InvalidFieldError("password", "password must be text", PASSWORD_ACCEPTED)
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise InvalidFieldError("password", f"password must be {PASSWORD_ACCEPTED}",
                           PASSWORD_ACCEPTED)
    return value


def check_name(value: object, field: str = "name") -> str:
    """``value`` trimmed if it is 1-100 characters, else :class:`InvalidFieldError` naming
    ``field``."""
    if not isinstance(value, str):
        raise InvalidFieldError(field, f"{field} must be text", NAME_ACCEPTED)
    name = value.strip()
    if not 1 <= len(name) <= NAME_MAX or not name.isprintable():
        raise InvalidFieldError(field, f"{field} must be {NAME_ACCEPTED} (printable)",
                                NAME_ACCEPTED)
    return name
