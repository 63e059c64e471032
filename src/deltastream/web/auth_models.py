"""Request and response models of the account routes (OpenAPI; the contract tests validate
real responses against them). Times are ISO-8601 UTC; ``expires_in`` is seconds.

Request bodies ignore fields they do not name (the React dashboard may send more); the rules
on each field (email form, password 8-256 characters, name 1-100) are applied by
:mod:`deltastream.accounts.validation`, which names the field in a 400.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .models import Model


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RegisterBody(Body):
    email: str = Field(description="an email address; accounts are unique case-insensitively")
    password: str = Field(description="8-256 characters")
    name: str | None = Field(None, description="1-100 characters; default: the email's "
                                               "local part")


class LoginBody(Body):
    email: str
    password: str


class RefreshBody(Body):
    refresh_token: str = Field(description="the refresh token of the last login or refresh")


class ApiKeyBody(Body):
    name: str = Field(description="1-100 characters, to recognise the key by")


class UserOut(Model):
    id: int
    email: str = Field(description="lower-case")
    name: str
    created_at: str = Field(description="ISO-8601 UTC")


class SessionResponse(Model):
    token: str = Field(description="access token (JWT, HS256): send as 'Authorization: Bearer "
                                   "<token>'")
    token_type: str = Field(description="Bearer")
    expires_in: int = Field(description="seconds the access token is valid")
    expires_at: str = Field(description="when the access token expires, ISO-8601 UTC")
    refresh_token: str = Field(description="single use: POST /api/auth/refresh for a new "
                                           "session; using it twice revokes every session of "
                                           "the login")
    refresh_expires_at: str = Field(description="ISO-8601 UTC")
    user: UserOut


class VerifyResponse(Model):
    valid: bool
    user: UserOut
    expires_at: str = Field(description="when the access token expires, ISO-8601 UTC")


class MeResponse(Model):
    user: UserOut
    auth: str = Field(description="how the request authenticated: token or api_key")


class LogoutResponse(Model):
    logged_out: bool


class ApiKeyOut(Model):
    id: int
    name: str
    prefix: str = Field(description="the key's public part (dsk_<prefix>_...)")
    created_at: str = Field(description="ISO-8601 UTC")
    revoked_at: str | None = Field(description="ISO-8601 UTC; null while the key works")


class NewApiKeyResponse(ApiKeyOut):
    key: str = Field(description="the whole key, shown only now: send as 'X-API-Key: <key>'")


class ApiKeysResponse(Model):
    api_keys: list[ApiKeyOut]
