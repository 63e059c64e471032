"""Account routes (``/api/auth/*``): register, login, verify, refresh, logout, the current
user, API keys. Contract shapes kept: register answers 201 with ``token`` and ``user``
``{id, email, name}``; login the same with 200; verify ``{"valid": true, "user"}``.

Credentials travel in headers only (no cookies): ``Authorization: Bearer <access token>`` or,
for scripts, ``X-API-Key: <key>``. API keys are managed with an access token only, so a leaked
key cannot mint more keys. Every 401 carries ``WWW-Authenticate: Bearer``.

Failed logins are rate-limited with Flask-Limiter, per account (the email) and per client
address (``login_limit_account`` and ``login_limit_address``); a login over either limit gets
429 with ``Retry-After``. The counters live in Redis when the server is configured with one
(``redis_url``, so every worker and host shares them), else in each worker's memory.

CORS for ``/api/auth/*`` and ``/api/trade/*`` follows ``auth_cors_origins`` (default: the
server's own origin); other origins get no CORS headers, and credentials are never allowed.
Without a store the routes answer 503.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import gevent
import gevent.monkey
import sqlalchemy as sa
from apiflask import APIBlueprint, APIFlask
from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from flask_limiter.util import get_remote_address
from gevent.threadpool import ThreadPool

from ..accounts.errors import (
    AccountError,
    EmailTakenError,
    InvalidCredentialsError,
    InvalidFieldError,
    InvalidTokenError,
    UnknownApiKeyError,
)
from ..accounts.passwords import PasswordHashing
from ..accounts.service import AccountService, ApiKey, Session, User, utc_now
from ..accounts.signing_key import signing_secret
from ..core.threads import real_lock
from ..core.times import format_utc
from ..settings import Settings
from ..store.accounts import SqlAccountStore
from . import auth_models
from .errors import APIError
from .json import json_response

bp = APIBlueprint("auth", __name__, tag="Accounts")

EXTENSION_KEY = "deltastream.accounts"
API_KEY_HEADER = "X-API-Key"
# The methods and request headers a cross-origin caller of the account and trading routes may
# use (the preflight's answer).
CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_HEADERS = ["Authorization", "Content-Type", API_KEY_HEADER, "Idempotency-Key"]
CORS_PATHS = (r"/api/auth/*", r"/api/trade/*")

BEARER = 'Bearer realm="deltastream"'
HASH_THREADS = max(1, os.cpu_count() or 1)
_hash_pool: ThreadPool | None = None
# The credentials as OpenAPI names them; each route's doc says which it takes.
SECURITY_SCHEMES = {
    "AccessToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "an access token from register, login or refresh"},
    "ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER,
               "description": "an API key (dsk_<prefix>_<secret>) from POST /api/auth/api-keys"},
}
TOKEN_ONLY: list[str | dict[str, list[Any]]] = [{"AccessToken": []}]
TOKEN_OR_KEY: list[str | dict[str, list[Any]]] = [{"AccessToken": []}, {"ApiKey": []}]
UNAUTHORIZED = "missing, invalid or expired credentials (WWW-Authenticate: Bearer)"
BAD_FIELD = "a field breaks its rule: the detail names it (parameter) and what it accepts"
NO_STORE = "accounts need the server's store, which this server does not have"


class AuthState:
    """An app's rate limiter and account service, the service built at its first use (the
    signing secret is read or generated then, not when the app is built). The service's
    clock is ``now`` (replaceable: tests pin it)."""

    def __init__(self, settings: Settings, store: sa.Engine | None, limiter: Limiter) -> None:
        self.settings = settings
        self.store = store
        self.limiter = limiter
        self.now: Callable[[], datetime] = utc_now
        self._service: AccountService | None = None
        self._lock = real_lock()

    def service(self) -> AccountService | None:
        """The account service; None without a store."""
        if self.store is None:
            return None
        with self._lock:
            if self._service is None:
                self._service = self._build(self.store)
            return self._service

    def _build(self, store: sa.Engine) -> AccountService:
        settings = self.settings
        hashing = PasswordHashing(memory_kib=settings.password_hash_memory_kib,
                                  time_cost=settings.password_hash_time_cost,
                                  run=off_the_loop)
        return AccountService(SqlAccountStore(store), signing_secret(settings.data_dir),
                              hashing=hashing,
                              access_ttl=timedelta(seconds=settings.access_token_ttl),
                              refresh_ttl=timedelta(days=settings.refresh_token_ttl),
                              now=lambda: self.now())


def cors_resources(settings: Settings) -> dict[str | re.Pattern[str], dict[str, Any]]:
    """flask-cors resources for the account and trading paths (more specific than ``/api/*``,
    so they take precedence): the allow-listed origins, no credentials."""
    options = {"origins": list(settings.auth_origins()), "methods": CORS_METHODS,
               "allow_headers": CORS_HEADERS, "expose_headers": ["Retry-After"],
               "supports_credentials": False, "vary_header": True, "always_send": False}
    resources: dict[str | re.Pattern[str], dict[str, Any]] = dict.fromkeys(CORS_PATHS, options)
    return resources


def limiter_storage_uri(settings: Settings) -> str:
    """Where the login counters live: the configured Redis (``unix://`` spelled as the limits
    library wants it) or this process's memory."""
    url = settings.redis_url
    if url is None:
        return "memory://"
    if url.startswith("unix://"):
        return "redis+unix://" + url.removeprefix("unix://")
    return url


def off_the_loop(work: Callable[[], Any]) -> Any:
    """Run CPU-bound ``work`` (an argon2 hash, ~0.2 s) on a real thread when this is a gevent
    worker, so the worker's other requests and streams go on meanwhile; directly otherwise.

    The pool has one thread per core: more would not hash faster, and each hash holds its
    memory (password_hash_memory_kib, 64 MiB by default) while it runs, so a burst of logins
    queues instead of taking cores x 64 MiB without bound."""
    global _hash_pool
    if not gevent.monkey.is_module_patched("threading"):
        return work()
    if _hash_pool is None:
        # Made in the worker process at its first login (a thread pool does not survive fork).
        _hash_pool = ThreadPool(maxsize=HASH_THREADS)
    return _hash_pool.apply(work)


def init_auth(app: APIFlask, settings: Settings, store: sa.Engine | None) -> None:
    """Register the account routes on ``app``: the service over ``store`` (signing secret
    from the environment or the data directory), the login rate limits."""
    storage_uri = limiter_storage_uri(settings)
    # In Redis the counters sit under the deployment's prefix, beside its other keys.
    storage_options: dict[str, str | int] = (
        {} if storage_uri == "memory://" else {"key_prefix": f"{settings.redis_prefix}:limits"})
    address = partial(client_address, settings.forwarded_hops)
    limiter = Limiter(address, app=app, storage_uri=storage_uri,
                      storage_options=storage_options, headers_enabled=True,
                      strategy="fixed-window")
    # Only the account routes are limited: every other request skips the limiter at once.
    limiter.request_filter(_not_an_account_route)
    app.extensions[EXTENSION_KEY] = AuthState(settings, store, limiter)
    # The body on_breach built (the app's generic HTTP error handler would replace it).
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    app.security_schemes = {**(app.security_schemes or {}), **SECURITY_SCHEMES}
    app.register_blueprint(bp)
    # Failed logins only count: a user who logs in often is never locked out.
    view: Callable[..., Any] = app.view_functions["auth.login"]
    view = limiter.limit(settings.login_limit_address, key_func=address,
                         deduct_when=_failed, on_breach=partial(_too_many, "address"),
                         scope="login-address")(view)
    view = limiter.limit(settings.login_limit_account, key_func=_login_email,
                         deduct_when=_failed, on_breach=partial(_too_many, "account"),
                         scope="login-account")(view)
    app.view_functions["auth.login"] = view


def client_address(hops: int) -> str:
    """The client's address: the connection's, or with ``hops`` trusted proxies in front the
    address the outermost of them saw (``hops``-th from the end of X-Forwarded-For; entries
    before it are the client's to write, so never trusted)."""
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")
                 if part.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return get_remote_address()


def _not_an_account_route() -> bool:
    return not request.path.startswith("/api/auth/")


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _login_email() -> str:
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return email.strip().lower() if isinstance(email, str) else ""


def _too_many(which: str, limit: RequestLimit) -> Response:
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    response = json_response(
        {"error": f"too many failed logins for this {which}: retry in {retry_after} s",
         "detail": {"limit": str(limit.limit), "per": which,
                    "retry_after_seconds": retry_after}}, 429)
    response.headers["Retry-After"] = str(retry_after)
    return response


def _rate_limited(error: RateLimitExceeded) -> Response:
    if isinstance(error.response, Response):
        return error.response
    return json_response({"error": "too many requests", "detail": error.description}, 429)


def auth_state(app: Flask | None = None) -> AuthState:
    """The account state of ``app`` (default: the app handling the current request)."""
    state: AuthState = (app or current_app).extensions[EXTENSION_KEY]
    return state


def _service() -> AccountService:
    service = auth_state().service()
    if service is None:
        raise APIError(503, NO_STORE)
    return service


# Authentication of a request.

def _unauthorized(message: str, reason: str) -> APIError:
    return APIError(401, message, {"reason": reason})


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header; None without the header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization must be 'Bearer <token>'", "malformed")
    return token.strip()


def current_user(*, api_key: bool = True) -> tuple[User, str]:
    """The user the request authenticates as, and how (``token`` or ``api_key``); 401
    without valid credentials. ``api_key`` False: an access token is required."""
    service = _service()
    token = bearer_token()
    if token is not None:
        user, _ = service.authenticate(token)
        return user, "token"
    key = request.headers.get(API_KEY_HEADER)
    if key and api_key:
        return service.authenticate_api_key(key.strip()), "api_key"
    if key:
        raise _unauthorized("this route needs an access token (Authorization: Bearer), not "
                            "an API key", "wrong_type")
    raise _unauthorized("authentication required: Authorization: Bearer <token> or "
                        f"{API_KEY_HEADER}", "missing")


@bp.after_app_request
def _challenge(response: Response) -> Response:
    if response.status_code == 401 and request.path.startswith("/api/auth/"):
        response.headers.setdefault("WWW-Authenticate", BEARER)
    return response


@bp.app_errorhandler(AccountError)
def _account_error(error: AccountError) -> Response:
    if isinstance(error, InvalidFieldError):
        return json_response({"error": f"invalid parameter '{error.field}': {error.message}",
                              "detail": {"parameter": error.field,
                                         "accepted": error.accepted}}, 400)
    if isinstance(error, EmailTakenError):
        return json_response({"error": error.message, "detail": {"parameter": "email"}}, 409)
    if isinstance(error, InvalidTokenError):
        return json_response({"error": error.message, "detail": {"reason": error.reason}},
                             401)
    if isinstance(error, InvalidCredentialsError):
        return json_response({"error": error.message, "detail": None}, 401)
    if isinstance(error, UnknownApiKeyError):
        return json_response({"error": error.message, "detail": None}, 404)
    return json_response({"error": error.message, "detail": None}, 400)


# Bodies.

def _iso(when: datetime | None) -> str | None:
    return None if when is None else format_utc(when)


def user_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name,
            "created_at": _iso(user.created_at)}


def _session_dict(session: Session, ttl: timedelta) -> dict[str, Any]:
    return {"token": session.access_token, "token_type": "Bearer",
            "expires_in": int(ttl.total_seconds()),
            "expires_at": _iso(session.access_expires_at),
            "refresh_token": session.refresh_token,
            "refresh_expires_at": _iso(session.refresh_expires_at),
            "user": user_dict(session.user)}


def _key_dict(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "prefix": key.prefix,
            "created_at": _iso(key.created_at), "revoked_at": _iso(key.revoked_at)}


def _errors(*codes: int, **described: str) -> dict[int, str]:
    text = {400: BAD_FIELD, 401: UNAUTHORIZED, 503: NO_STORE,
            **{int(k.removeprefix("e")): v for k, v in described.items()}}
    return {code: text[code] for code in codes}


# Routes.

@bp.post("/api/auth/register")
@bp.input(auth_models.RegisterBody, location="json")
@bp.output(auth_models.SessionResponse, status_code=201)
@bp.doc(summary="Create an account: 201 with an access token, a refresh token and the user",
     responses=_errors(400, 409, 503, e409="an account with this email exists"))
def register(json_data: auth_models.RegisterBody) -> Response:
    service = _service()
    session = service.register(json_data.email, json_data.password, json_data.name)
    return json_response(_session_dict(session, service.access_ttl), 201)


@bp.post("/api/auth/login")
@bp.input(auth_models.LoginBody, location="json")
@bp.output(auth_models.SessionResponse)
@bp.doc(summary="Log in: an access token, a refresh token and the user; 401 on a wrong email or "
             "password; 429 after too many failed logins for the account or the address",
     responses=_errors(400, 401, 429, 503, e401="wrong email or password",
                       e429="too many failed logins: Retry-After says when to retry"))
def login(json_data: auth_models.LoginBody) -> Response:
    service = _service()
    session = service.login(json_data.email, json_data.password)
    return json_response(_session_dict(session, service.access_ttl))


@bp.post("/api/auth/verify")
@bp.output(auth_models.VerifyResponse)
@bp.doc(summary="Check the access token of the Authorization header: 200 with the user, 401 "
             "when invalid or expired", responses=_errors(401, 503), security=TOKEN_ONLY)
def verify() -> Response:
    service = _service()
    token = bearer_token()
    if token is None:
        raise _unauthorized("authentication required: Authorization: Bearer <token>",
                            "missing")
    user, claims = service.authenticate(token)
    return json_response({"valid": True, "user": user_dict(user),
                          "expires_at": _iso(claims.expires_at)})


@bp.post("/api/auth/refresh")
@bp.input(auth_models.RefreshBody, location="json")
@bp.output(auth_models.SessionResponse)
@bp.doc(summary="Spend a refresh token for a new session (a new refresh token too); a refresh "
             "token used twice revokes every session of its login (401 reason 'reused')",
     responses=_errors(400, 401, 503,
                       e401="unknown, expired, revoked or reused refresh token (the detail "
                            "gives the reason)"))
def refresh(json_data: auth_models.RefreshBody) -> Response:
    service = _service()
    session = service.refresh(json_data.refresh_token)
    return json_response(_session_dict(session, service.access_ttl))


@bp.post("/api/auth/logout")
@bp.input(auth_models.RefreshBody, location="json")
@bp.output(auth_models.LogoutResponse)
@bp.doc(summary="Revoke the refresh token's login (every refresh token of its family); access "
             "tokens already issued lapse at their expiry",
     responses=_errors(400, 401, 503, e401="unknown refresh token"))
def logout(json_data: auth_models.RefreshBody) -> Response:
    _service().logout(json_data.refresh_token)
    return json_response({"logged_out": True})


@bp.get("/api/auth/me")
@bp.output(auth_models.MeResponse)
@bp.doc(summary="The current user (access token or API key)", responses=_errors(401, 503),
        security=TOKEN_OR_KEY)
def me() -> Response:
    user, how = current_user()
    return json_response({"user": user_dict(user), "auth": how})


@bp.post("/api/auth/api-keys")
@bp.input(auth_models.ApiKeyBody, location="json")
@bp.output(auth_models.NewApiKeyResponse, status_code=201)
@bp.doc(summary="Create an API key (the whole key is in this answer only); needs an access "
             "token", responses=_errors(400, 401, 503), security=TOKEN_ONLY)
def create_api_key(json_data: auth_models.ApiKeyBody) -> Response:
    user, _ = current_user(api_key=False)
    key, secret = _service().create_api_key(user.id, json_data.name)
    return json_response({**_key_dict(key), "key": secret}, 201)


@bp.get("/api/auth/api-keys")
@bp.output(auth_models.ApiKeysResponse)
@bp.doc(summary="The current user's live API keys, without their secrets; needs an access token",
     responses=_errors(401, 503), security=TOKEN_ONLY)
def list_api_keys() -> Response:
    user, _ = current_user(api_key=False)
    return json_response({"api_keys": [_key_dict(k) for k in
                                       _service().list_api_keys(user.id)]})


@bp.delete("/api/auth/api-keys/<int:key_id>")
@bp.output(auth_models.ApiKeyOut)
@bp.doc(summary="Revoke one of the current user's API keys; 404 for a key that is not the "
             "user's live key; needs an access token",
     responses=_errors(401, 404, 503, e404="no such live API key of this user"),
        security=TOKEN_ONLY)
def revoke_api_key(key_id: int) -> Response:
    user, _ = current_user(api_key=False)
    return json_response(_key_dict(_service().revoke_api_key(user.id, key_id)))
