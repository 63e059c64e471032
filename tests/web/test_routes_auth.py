"""The account routes through the app: the contract's shapes (register 201 with token and
user), field errors naming the field, duplicate emails, wrong passwords, token expiry on a
pinned clock, refresh rotation and reuse revoking the family, logout, API keys and their
isolation between users, the login rate limit's 429, and CORS for allowed and other origins.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

import gevent.monkey
import pytest
import redis

from deltastream.settings import Settings
from deltastream.store.database import open_database, sqlite_url
from deltastream.web import create_app, routes_auth
from deltastream.web.routes_auth import auth_state, limiter_storage_uri, off_the_loop
from tests.support.redis_servers import SHARED_URL as SHARED_REDIS

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
# Cheap argon2 parameters: the hashing itself is tested in tests/accounts.
FAST_HASHING = {"password_hash_memory_kib": 1024, "password_hash_time_cost": 1}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_app(engine, tmp_path, **settings):
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = open_database(sqlite_url(tmp_path))
    app = create_app(Settings(data_dir=tmp_path, **{**FAST_HASHING, **settings}),
                     feed=engine, start_feed=False, store=store)
    clock = Clock(START)
    auth_state(app).now = clock
    return app, clock


@pytest.fixture()
def auth(engine, tmp_path):
    app, clock = make_app(engine, tmp_path)
    return app.test_client(), clock


def register(client, email="ann@example.com", password=PASSWORD, name="Ann"):
    return client.post("/api/auth/register",
                       json={"email": email, "password": password, "name": name})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_answers_201_with_the_contracts_token_and_user(auth):
    client, _ = auth
    r = register(client, email="  Ann@Example.COM ")
    assert r.status_code == 201
    body = r.get_json()
    assert set(body["user"]) >= {"id", "email", "name"}
    assert body["user"]["email"] == "ann@example.com" and body["user"]["name"] == "Ann"
    assert isinstance(body["user"]["id"], int)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["expires_at"] == "2026-12-07T09:15:00Z"
    assert body["refresh_token"] and body["refresh_token"] != body["token"]
    verified = client.post("/api/auth/verify", headers=bearer(body["token"]))
    assert verified.status_code == 200
    assert verified.get_json()["valid"] is True
    assert verified.get_json()["user"]["id"] == body["user"]["id"]


def test_a_duplicate_email_in_any_case_is_409(auth):
    client, _ = auth
    assert register(client).status_code == 201
    again = register(client, email="ANN@example.com", name="Other")
    assert again.status_code == 409
    assert again.get_json()["detail"] == {"parameter": "email"}


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "not-an-email", "password": PASSWORD}, "email"),
    ({"email": "a@b.co", "password": "short"}, "password"),
    ({"email": "a@b.co", "password": "x" * 257}, "password"),
    ({"email": "a@b.co", "password": PASSWORD, "name": "n" * 101}, "name"),
    ({"email": "a@b.co", "password": PASSWORD, "name": "   "}, "name"),
    ({"password": PASSWORD}, "email"),
    ({"email": "a@b.co"}, "password"),
    ({"email": 5, "password": PASSWORD}, "email"),
])
def test_bad_fields_are_400_naming_the_field(auth, body, field):
    client, _ = auth
    r = client.post("/api/auth/register", json=body)
    assert r.status_code == 400, r.get_json()
    payload = r.get_json()
    assert set(payload) == {"error", "detail"}
    assert payload["detail"]["parameter"] == field
    assert field in payload["error"]


def test_login_with_a_wrong_password_or_unknown_email_is_401_alike(auth):
    client, _ = auth
    register(client)
    wrong = client.post("/api/auth/login", json={"email": "ann@example.com",
                                                 "password": "wrong password"})
    unknown = client.post("/api/auth/login", json={"email": "bob@example.com",
                                                   "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    ok = client.post("/api/auth/login", json={"email": "ANN@example.com", "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.get_json()["user"]["email"] == "ann@example.com"


def test_an_access_token_is_valid_until_its_expiry_on_the_pinned_clock(auth):
    client, clock = auth
    token = register(client).get_json()["token"]
    clock.now = START + timedelta(seconds=899)
    assert client.post("/api/auth/verify", headers=bearer(token)).status_code == 200
    clock.now = START + timedelta(seconds=900)
    expired = client.post("/api/auth/verify", headers=bearer(token))
    assert expired.status_code == 401
    assert expired.get_json()["detail"]["reason"] == "expired"
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401


def test_verify_refuses_a_missing_malformed_or_forged_token(auth):
    client, _ = auth
    token = register(client).get_json()["token"]
    assert client.post("/api/auth/verify").status_code == 401
    assert client.post("/api/auth/verify", headers={"Authorization": "Basic abc"}
                       ).status_code == 401
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[::-1]}"
    r = client.post("/api/auth/verify", headers=bearer(forged))
    assert r.status_code == 401 and r.get_json()["detail"]["reason"] == "malformed"


def test_refresh_rotates_and_a_reused_token_revokes_the_family(auth):
    client, clock = auth
    first = register(client).get_json()
    clock.now = START + timedelta(minutes=20)       # the access token has expired
    second = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.get_json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["expires_at"] == "2026-12-07T09:35:00Z"
    assert client.get("/api/auth/me", headers=bearer(rotated["token"])).status_code == 200
    # The first token again: a copy is in use; every token of the family dies.
    reuse = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401 and reuse.get_json()["detail"]["reason"] == "reused"
    after = client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401 and after.get_json()["detail"]["reason"] == "revoked"


def test_another_login_is_its_own_family(auth):
    client, _ = auth
    first = register(client).get_json()
    other = client.post("/api/auth/login", json={"email": "ann@example.com",
                                                 "password": PASSWORD}).get_json()
    assert client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]}
                       ).status_code == 200
    client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    # The other login's family is untouched by the first one's revocation.
    assert client.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]}
                       ).status_code == 200


def test_logout_revokes_the_refresh_family(auth):
    client, _ = auth
    session = register(client).get_json()
    rotated = client.post("/api/auth/refresh",
                          json={"refresh_token": session["refresh_token"]}).get_json()
    r = client.post("/api/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 200 and r.get_json() == {"logged_out": True}
    refused = client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert refused.status_code == 401
    assert client.post("/api/auth/logout", json={"refresh_token": "nonsense"}
                       ).status_code == 401


def test_api_keys_authenticate_are_listed_without_secrets_and_revoked(auth):
    client, _ = auth
    token = register(client).get_json()["token"]
    created = client.post("/api/auth/api-keys", json={"name": "backtest script"},
                          headers=bearer(token))
    assert created.status_code == 201
    key = created.get_json()
    assert key["key"].startswith(f"dsk_{key['prefix']}_") and key["revoked_at"] is None
    me = client.get("/api/auth/me", headers={"X-API-Key": key["key"]})
    assert me.status_code == 200 and me.get_json()["auth"] == "api_key"
    assert me.get_json()["user"]["email"] == "ann@example.com"
    listed = client.get("/api/auth/api-keys", headers=bearer(token)).get_json()["api_keys"]
    assert [k["name"] for k in listed] == ["backtest script"]
    assert "key" not in listed[0] and key["key"] not in str(listed)
    # A key cannot manage keys.
    assert client.get("/api/auth/api-keys", headers={"X-API-Key": key["key"]}
                      ).status_code == 401
    revoked = client.delete(f"/api/auth/api-keys/{key['id']}", headers=bearer(token))
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"] is not None
    gone = client.get("/api/auth/me", headers={"X-API-Key": key["key"]})
    assert gone.status_code == 401 and gone.get_json()["detail"]["reason"] == "revoked"
    assert client.get("/api/auth/api-keys", headers=bearer(token)).get_json() == \
        {"api_keys": []}
    assert client.post("/api/auth/api-keys", json={"name": ""}, headers=bearer(token)
                       ).get_json()["detail"]["parameter"] == "name"


def test_a_user_cannot_see_or_revoke_another_users_api_keys(auth):
    client, _ = auth
    ann = register(client).get_json()["token"]
    bob = register(client, email="bob@example.com", name="Bob").get_json()["token"]
    key = client.post("/api/auth/api-keys", json={"name": "ann's"},
                      headers=bearer(ann)).get_json()
    assert client.get("/api/auth/api-keys", headers=bearer(bob)).get_json() == \
        {"api_keys": []}
    stolen = client.delete(f"/api/auth/api-keys/{key['id']}", headers=bearer(bob))
    assert stolen.status_code == 404
    # Still Ann's and still working.
    assert client.get("/api/auth/me", headers={"X-API-Key": key["key"]}
                      ).get_json()["user"]["email"] == "ann@example.com"
    assert len(client.get("/api/auth/api-keys", headers=bearer(ann)).get_json()["api_keys"]) == 1


def test_failed_logins_over_the_account_limit_answer_429(engine, tmp_path):
    app, _ = make_app(engine, tmp_path, login_limit_account="3 per minute",
                      login_limit_address="100 per minute")
    client = app.test_client()
    register(client)
    wrong = {"email": "ann@example.com", "password": "wrong password"}
    assert [client.post("/api/auth/login", json=wrong).status_code for _ in range(3)] == \
        [401] * 3
    limited = client.post("/api/auth/login", json={**wrong, "password": PASSWORD})
    assert limited.status_code == 429
    body = limited.get_json()
    assert set(body) == {"error", "detail"} and body["detail"]["per"] == "account"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another account from the same address is not limited by Ann's failures.
    register(client, email="bob@example.com")
    assert client.post("/api/auth/login", json={"email": "bob@example.com",
                                                "password": PASSWORD}).status_code == 200


def test_failed_logins_over_the_address_limit_answer_429(engine, tmp_path):
    app, _ = make_app(engine, tmp_path, login_limit_account="100 per minute",
                      login_limit_address="2 per minute")
    client = app.test_client()
    register(client)
    for email in ("x@example.com", "y@example.com"):
        assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}
                           ).status_code == 401
    limited = client.post("/api/auth/login", json={"email": "ann@example.com",
                                                   "password": PASSWORD})
    assert limited.status_code == 429 and limited.get_json()["detail"]["per"] == "address"
    other = client.post("/api/auth/login", json={"email": "ann@example.com",
                                                 "password": PASSWORD},
                        environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_successful_logins_do_not_count_against_the_limit(engine, tmp_path):
    app, _ = make_app(engine, tmp_path, login_limit_account="2 per minute")
    client = app.test_client()
    register(client)
    good = {"email": "ann@example.com", "password": PASSWORD}
    assert {client.post("/api/auth/login", json=good).status_code for _ in range(5)} == {200}


def test_cors_allows_the_configured_origin_only_and_no_credentials(engine, tmp_path):
    app, _ = make_app(engine, tmp_path, auth_cors_origins=("http://dash.test:3000",))
    client = app.test_client()
    preflight = client.options("/api/auth/login", headers={
        "Origin": "http://dash.test:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type, Authorization"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://dash.test:3000"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    evil = client.options("/api/auth/login", headers={
        "Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in evil.headers
    posted = register(client)
    assert "Access-Control-Allow-Origin" not in posted.headers   # no Origin sent
    other = client.post("/api/auth/login", json={"email": "ann@example.com",
                                                 "password": PASSWORD},
                        headers={"Origin": "http://evil.test"})
    assert "Access-Control-Allow-Origin" not in other.headers
    # The trading paths share the allow-list; market data stays open to any origin.
    trade = client.options("/api/trade/order", headers={
        "Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in trade.headers
    market = client.get("/api/data/products", headers={"Origin": "http://evil.test"})
    assert market.headers["Access-Control-Allow-Origin"] in ("*", "http://evil.test")


def test_cors_default_is_the_servers_own_origin(engine, tmp_path):
    app, _ = make_app(engine, tmp_path, public_url="https://options.example")
    client = app.test_client()
    own = client.options("/api/auth/register", headers={
        "Origin": "https://options.example", "Access-Control-Request-Method": "POST"})
    assert own.headers["Access-Control-Allow-Origin"] == "https://options.example"
    other = client.options("/api/auth/register", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_without_a_store_the_routes_answer_503(client):
    r = client.post("/api/auth/register", json={"email": "a@b.co", "password": PASSWORD})
    assert r.status_code == 503 and set(r.get_json()) == {"error", "detail"}


def test_password_hashing_leaves_a_gevent_workers_loop(monkeypatch):
    # Under gevent (threading patched) the hash runs on a real thread of gevent's pool.
    caller = threading.get_ident()
    assert off_the_loop(threading.get_ident) == caller
    monkeypatch.setattr(gevent.monkey, "is_module_patched", lambda name: name == "threading")
    assert off_the_loop(threading.get_ident) != caller
    assert off_the_loop(lambda: 6 * 7) == 42
    # At most one hash per core at a time (each holds its argon2 memory).
    assert routes_auth._hash_pool.maxsize == routes_auth.HASH_THREADS == (os.cpu_count() or 1)


def test_the_spec_names_the_credentials_and_a_wrong_method_is_a_json_405(auth):
    client, _ = auth
    spec = client.get("/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["AccessToken"]["scheme"] == "bearer"
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "in": "header", "name": "X-API-Key"}
    paths = spec["paths"]
    assert paths["/api/auth/me"]["get"]["security"] == [{"AccessToken": []}, {"ApiKey": []}]
    assert paths["/api/auth/api-keys"]["post"]["security"] == [{"AccessToken": []}]
    assert "security" not in paths["/api/auth/login"]["post"]
    wrong = client.get("/api/auth/login")
    assert wrong.status_code == 405 and set(wrong.get_json()) == {"error", "detail"}
    assert {m.strip() for m in wrong.headers["Allow"].split(",")} == {"POST", "OPTIONS"}


def test_with_redis_the_login_counters_are_shared_by_every_worker(engine, tmp_path,
                                                                   redis_prefix):
    # Two apps on one Redis stand for two web workers: failures counted by one limit the other.
    limits = {"redis_url": SHARED_REDIS, "redis_prefix": redis_prefix,
              "login_limit_account": "2 per minute", "login_limit_address": "100 per minute"}
    first, _ = make_app(engine, tmp_path / "one", **limits)
    second, _ = make_app(engine, tmp_path / "two", **limits)
    wrong = {"email": "ann@example.com", "password": "wrong password"}
    assert [first.test_client().post("/api/auth/login", json=wrong).status_code
            for _ in range(2)] == [401, 401]
    assert second.test_client().post("/api/auth/login", json=wrong).status_code == 429
    keys = redis.Redis.from_url(SHARED_REDIS).keys(f"{redis_prefix}:limits*")
    assert keys, "the counters are in Redis under the deployment's prefix"


def test_the_limiter_storage_follows_the_redis_setting():
    assert limiter_storage_uri(Settings()) == "memory://"
    assert limiter_storage_uri(Settings(redis_url="redis://10.0.0.2:6379/1")) == \
        "redis://10.0.0.2:6379/1"
    assert limiter_storage_uri(Settings(redis_url="unix:///run/redis.sock")) == \
        "redis+unix:///run/redis.sock"


def test_behind_a_trusted_proxy_the_address_limit_counts_each_client(engine, tmp_path):
    app, _ = make_app(engine, tmp_path, forwarded_hops=1, login_limit_address="2 per minute",
                      login_limit_account="100 per minute")
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}              # every request arrives from the proxy

    def login(forwarded: str) -> int:
        return client.post("/api/auth/login", json={"email": "x@example.com",
                                                    "password": PASSWORD},
                           headers={"X-Forwarded-For": forwarded},
                           environ_base=proxy).status_code

    assert [login("203.0.113.5"), login("203.0.113.5"), login("203.0.113.5")] == \
        [401, 401, 429]
    # Another client behind the same proxy is not limited; a client cannot escape its limit
    # by writing an address of its choice in front of the one the proxy appended.
    assert login("198.51.100.7") == 401
    assert login("192.0.2.99, 203.0.113.5") == 429


def test_without_trusted_proxies_x_forwarded_for_is_ignored(engine, tmp_path):
    app, _ = make_app(engine, tmp_path, login_limit_address="1 per minute",
                      login_limit_account="100 per minute")
    client = app.test_client()
    codes = [client.post("/api/auth/login", json={"email": "x@example.com", "password": PASSWORD},
                         headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
             for i in range(2)]
    assert codes == [401, 429]
