"""The account tables on SQLite and PostgreSQL: emails unique case-insensitively (stored
lower-case), atomic refresh-token rotation (a token spends once, even under concurrent use),
family revocation, API keys revoked only by their owner."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from deltastream.store import database, schema
from deltastream.store.accounts import DuplicateEmail, NewRefreshToken, SqlAccountStore


@pytest.fixture()
def accounts(db) -> Iterator[SqlAccountStore]:
    yield SqlAccountStore(db)
    # The shared PostgreSQL database is emptied of the history tables only by conftest.
    with db.begin() as conn:
        for table in reversed(schema.ACCOUNT_TABLES.values()):
            conn.execute(sa.delete(table))


def token(user_id: int, family: str, hash_: str, at: int = 1_000) -> NewRefreshToken:
    return NewRefreshToken(user_id, family, hash_, at, at + 10_000)


def test_users_are_unique_by_email_and_read_back(accounts):
    ann = accounts.create_user("ann@example.com", "Ann", "$argon2id$x", 5)
    bob = accounts.create_user("bob@example.com", "Bob", "$argon2id$y", 6)
    assert ann.id != bob.id
    assert accounts.user_by_email("ann@example.com") == ann
    assert accounts.user_by_id(bob.id) == bob
    assert accounts.user_by_email("nobody@example.com") is None
    with pytest.raises(DuplicateEmail):
        accounts.create_user("ann@example.com", "Another Ann", "$argon2id$z", 7)
    accounts.set_password_hash(ann.id, "$argon2id$new")
    assert accounts.user_by_id(ann.id).password_hash == "$argon2id$new"


def test_a_refresh_token_rotates_once_and_its_family_revokes_together(accounts):
    user = accounts.create_user("ann@example.com", "Ann", "h", 1).id
    accounts.add_refresh_token(token(user, "fam1", "a" * 64))
    accounts.add_refresh_token(token(user, "fam2", "c" * 64))
    first = accounts.refresh_token("a" * 64)
    assert first.rotated_at is None and first.revoked_at is None
    assert accounts.rotate_refresh_token(first.id, 2_000, token(user, "fam1", "b" * 64, 2_000))
    assert accounts.refresh_token("a" * 64).rotated_at == 2_000
    assert accounts.refresh_token("b" * 64).family_id == "fam1"
    # Spent: a second rotation stores nothing.
    assert not accounts.rotate_refresh_token(first.id, 3_000, token(user, "fam1", "d" * 64))
    assert accounts.refresh_token("d" * 64) is None
    assert accounts.revoke_family("fam1", 4_000) == 2
    assert accounts.refresh_token("b" * 64).revoked_at == 4_000
    assert accounts.refresh_token("c" * 64).revoked_at is None      # another family
    assert accounts.revoke_family("fam1", 5_000) == 0


def test_concurrent_rotations_of_one_token_let_exactly_one_through(accounts):
    user = accounts.create_user("ann@example.com", "Ann", "h", 1).id
    accounts.add_refresh_token(token(user, "fam", "0" * 64))
    spent = accounts.refresh_token("0" * 64).id
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def rotate(i: int) -> None:
        barrier.wait()
        results.append(accounts.rotate_refresh_token(
            spent, 2_000, token(user, "fam", f"{i + 1:064d}", 2_000)))

    threads = [threading.Thread(target=rotate, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    with accounts.db.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(schema.refresh_tokens)
                             ).scalar()
    assert count == 2


def test_api_keys_are_listed_live_and_revoked_only_by_their_owner(accounts):
    ann = accounts.create_user("ann@example.com", "Ann", "h", 1).id
    bob = accounts.create_user("bob@example.com", "Bob", "h", 1).id
    first = accounts.add_api_key(ann, "one", "0123456789ab", "e" * 64, 10)
    second = accounts.add_api_key(ann, "two", "ba9876543210", "f" * 64, 11)
    assert [k.name for k in accounts.api_keys_of(ann)] == ["one", "two"]
    assert accounts.api_keys_of(bob) == []
    assert accounts.api_key_by_prefix("0123456789ab") == first
    assert accounts.revoke_api_key(bob, first.id, 20) is None
    assert accounts.api_key_by_prefix("0123456789ab").revoked_at is None
    revoked = accounts.revoke_api_key(ann, first.id, 20)
    assert revoked is not None and revoked.revoked_at == 20
    assert accounts.revoke_api_key(ann, first.id, 21) is None       # already revoked
    assert accounts.api_keys_of(ann) == [second]
    with pytest.raises(sa.exc.IntegrityError):
        accounts.add_api_key(bob, "clash", "ba9876543210", "0" * 64, 12)


def test_revision_0004_adds_only_the_account_tables_and_downgrades_cleanly(fresh_url):
    from alembic import command

    engine = database._create_engine(fresh_url)
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), "0003")
            conn.execute(sa.insert(schema.market_state).values(
                product="IDX", sequence=1, ts=5, payload=b"state"))
        before = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), "0004")
        assert set(sa.inspect(engine).get_table_names()) - before == set(schema.ACCOUNT_TABLES)
        SqlAccountStore(engine).create_user("ann@example.com", "Ann", "h", 1)
        with engine.connect() as conn, conn.begin():
            command.downgrade(database._alembic_config(conn), "0003")
        assert set(sa.inspect(engine).get_table_names()) == before
        with engine.connect() as conn:
            assert conn.execute(sa.select(schema.market_state.c.payload)).scalar() == b"state"
    finally:
        engine.dispose()
