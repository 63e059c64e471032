"""The account rules over a real store (SQLite) on a pinned clock: registration, login and
the rehash on new parameters, refresh rotation and family revocation on reuse, expiries,
logout, API keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from deltastream.accounts.errors import (
    EmailTakenError,
    InvalidCredentialsError,
    InvalidFieldError,
    InvalidTokenError,
    UnknownApiKeyError,
)
from deltastream.accounts.passwords import PasswordHashing
from deltastream.accounts.service import USER_RECHECK, AccountService
from deltastream.store.accounts import SqlAccountStore
from deltastream.store.database import open_database, sqlite_url
from deltastream.store.schema import users

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
SECRET = b"s" * 32
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def store(tmp_path):
    engine = open_database(sqlite_url(tmp_path))
    yield SqlAccountStore(engine)
    engine.dispose()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def service_on(store, clock, memory_kib=1024) -> AccountService:
    return AccountService(store, SECRET, now=clock,
                          hashing=PasswordHashing(memory_kib=memory_kib, time_cost=1,
                                                  parallelism=1),
                          access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=30))


def test_register_stores_a_lower_case_email_and_a_hash_never_the_password(store, clock):
    accounts = service_on(store, clock)
    session = accounts.register(" Ann@Example.com", PASSWORD)
    assert session.user.email == "ann@example.com" and session.user.name == "ann"
    assert session.access_expires_at == START + timedelta(minutes=15)
    assert session.refresh_expires_at == START + timedelta(days=30)
    row = store.user_by_email("ann@example.com")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    with pytest.raises(EmailTakenError):
        accounts.register("ANN@EXAMPLE.COM", PASSWORD)
    with pytest.raises(InvalidFieldError) as bad:
        accounts.register("ann@", PASSWORD)
    assert bad.value.field == "email"


def test_login_rehashes_a_password_hashed_with_old_parameters(store, clock):
    service_on(store, clock, memory_kib=1024).register("ann@example.com", PASSWORD)
    old = store.user_by_email("ann@example.com").password_hash
    stronger = service_on(store, clock, memory_kib=2048)
    with pytest.raises(InvalidCredentialsError):
        stronger.login("ann@example.com", "wrong password")
    assert store.user_by_email("ann@example.com").password_hash == old
    stronger.login("ann@example.com", PASSWORD)
    new = store.user_by_email("ann@example.com").password_hash
    assert "m=1024," in old and "m=2048," in new
    stronger.login("ann@example.com", PASSWORD)                 # no further rehash
    assert store.user_by_email("ann@example.com").password_hash == new


def test_unknown_email_and_overlong_password_are_wrong_credentials(store, clock):
    accounts = service_on(store, clock)
    accounts.register("ann@example.com", PASSWORD)
    for email, password in (("bob@example.com", PASSWORD), ("ann@example.com", "x" * 10_000),
                            (None, PASSWORD)):
        with pytest.raises(InvalidCredentialsError):
            accounts.login(email, password)


def test_a_reused_refresh_token_revokes_every_token_of_its_family(store, clock):
    accounts = service_on(store, clock)
    first = accounts.register("ann@example.com", PASSWORD)
    other_login = accounts.login("ann@example.com", PASSWORD)
    clock.now = START + timedelta(hours=1)
    second = accounts.refresh(first.refresh_token)
    third = accounts.refresh(second.refresh_token)
    assert second.access_expires_at == START + timedelta(hours=1, minutes=15)
    with pytest.raises(InvalidTokenError) as reused:
        accounts.refresh(first.refresh_token)
    assert reused.value.reason == "reused"
    with pytest.raises(InvalidTokenError) as revoked:
        accounts.refresh(third.refresh_token)
    assert revoked.value.reason == "revoked"
    # The access token of the revoked family lapses at its own expiry, not before.
    assert accounts.authenticate(third.access_token)[0].email == "ann@example.com"
    assert accounts.refresh(other_login.refresh_token).user.email == "ann@example.com"


def test_refresh_tokens_expire_after_the_refresh_ttl(store, clock):
    accounts = service_on(store, clock)
    session = accounts.register("ann@example.com", PASSWORD)
    clock.now = START + timedelta(days=30)
    with pytest.raises(InvalidTokenError) as expired:
        accounts.refresh(session.refresh_token)
    assert expired.value.reason == "expired"
    with pytest.raises(InvalidTokenError) as unknown:
        accounts.refresh("not a token")
    assert unknown.value.reason == "unknown"


def test_access_tokens_expire_on_the_pinned_clock(store, clock):
    accounts = service_on(store, clock)
    session = accounts.register("ann@example.com", PASSWORD)
    clock.now = START + timedelta(minutes=14, seconds=59)
    assert accounts.authenticate(session.access_token)[0].id == session.user.id
    clock.now = START + timedelta(minutes=15)
    with pytest.raises(InvalidTokenError):
        accounts.authenticate(session.access_token)


def test_a_verified_access_token_is_remembered_until_it_expires(store, clock, monkeypatch):
    accounts = service_on(store, clock)
    session = accounts.register("ann@example.com", PASSWORD)
    reads = []
    user_by_id = store.user_by_id
    monkeypatch.setattr(store, "user_by_id", lambda i: reads.append(i) or user_by_id(i))
    for _ in range(3):
        assert accounts.authenticate(session.access_token)[0].id == session.user.id
    assert reads == [session.user.id]           # verified and read once
    clock.now = START + USER_RECHECK             # the user is read again after USER_RECHECK
    accounts.authenticate(session.access_token)
    assert reads == [session.user.id] * 2
    clock.now = START + timedelta(minutes=15)   # remembered, still expires at its exp
    with pytest.raises(InvalidTokenError) as expired:
        accounts.authenticate(session.access_token)
    assert expired.value.reason == "expired"
    with pytest.raises(InvalidTokenError):
        accounts.authenticate(session.access_token + "x")


def test_a_remembered_token_of_a_deleted_user_fails_at_the_recheck(store, clock):
    accounts = service_on(store, clock)
    session = accounts.register("ann@example.com", PASSWORD)
    accounts.authenticate(session.access_token)
    with store.db.begin() as conn:
        conn.execute(sa.delete(users).where(users.c.id == session.user.id))
    clock.now = START + USER_RECHECK
    with pytest.raises(InvalidTokenError) as gone:
        accounts.authenticate(session.access_token)
    assert gone.value.reason == "unknown"


def test_logout_revokes_the_family(store, clock):
    accounts = service_on(store, clock)
    session = accounts.register("ann@example.com", PASSWORD)
    accounts.logout(session.refresh_token)
    with pytest.raises(InvalidTokenError):
        accounts.refresh(session.refresh_token)


def test_api_keys_belong_to_their_user(store, clock):
    accounts = service_on(store, clock)
    ann = accounts.register("ann@example.com", PASSWORD).user
    bob = accounts.register("bob@example.com", PASSWORD).user
    listed, key = accounts.create_api_key(ann.id, " nightly ")
    assert listed.name == "nightly" and listed.created_at == START
    assert accounts.authenticate_api_key(key) == ann
    assert accounts.list_api_keys(bob.id) == []
    with pytest.raises(UnknownApiKeyError):
        accounts.revoke_api_key(bob.id, listed.id)
    assert accounts.authenticate_api_key(key) == ann
    clock.now = START + timedelta(minutes=1)
    assert accounts.revoke_api_key(ann.id, listed.id).revoked_at == clock.now
    with pytest.raises(InvalidTokenError):
        accounts.authenticate_api_key(key)
    with pytest.raises(InvalidTokenError):
        accounts.authenticate_api_key("dsk_000000000000_guess")
