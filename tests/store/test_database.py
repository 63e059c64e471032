"""Opening the store: migrations build exactly the declared schema, once; SQLite settings;
an unreachable database gives a one-line error without the password."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from deltastream.settings import Settings
from deltastream.store import database, schema
from deltastream.store.database import (
    StoreUnavailable,
    current_revision,
    head_revision,
    open_configured,
    open_database,
    sqlite_url,
)


def test_migrations_create_the_declared_schema_and_are_idempotent(fresh_url):
    engine = open_database(fresh_url)
    try:
        assert current_revision(engine) == head_revision() == "0002"
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
            assert diff == []
            assert set(sa.inspect(conn).get_table_names()) == {*schema.TABLES,
                                                               "alembic_version"}
            conn.execute(sa.insert(schema.market_state).values(
                product="IDX", sequence=1, ts=5, payload=b"x"))
            conn.commit()
    finally:
        engine.dispose()
    again = open_database(fresh_url)     # a second start migrates nothing and keeps the data
    try:
        assert current_revision(again) == "0002"
        with again.connect() as conn:
            assert conn.execute(sa.select(schema.market_state.c.payload)).scalar() == b"x"
            versions = conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar()
            assert versions == 1
    finally:
        again.dispose()


def test_sqlite_maps_no_file_into_memory_and_keeps_foreign_keys_and_a_busy_timeout(tmp_path):
    # No WAL (its -shm index is a mapped file) and no mmap: a write the file system refuses
    # is an error, never SIGBUS.
    assert sqlite_url(tmp_path / "nested" / "data").endswith("/nested/data/deltastream.db")
    # The data directory is made for the default SQLite file.
    engine = open_configured(Settings(data_dir=tmp_path / "nested" / "data"))
    assert (tmp_path / "nested" / "data" / "deltastream.db").is_file()
    try:
        with engine.connect() as conn:
            def pragma(name: str):
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "truncate"
            assert pragma("mmap_size") == 0
            assert pragma("synchronous") == 2          # FULL
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") >= 1000
    finally:
        engine.dispose()


def test_a_database_left_in_wal_mode_is_switched_back_keeping_its_rows(tmp_path):
    url = sqlite_url(tmp_path)
    path = tmp_path / "deltastream.db"
    engine = open_database(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.market_state).values(
            product="IDX", sequence=1, ts=0, payload=b"x"))
    engine.dispose()
    old = sqlite3.connect(path)                # as versions before this one left it
    assert old.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    old.close()
    assert path.read_bytes()[18:20] == b"\x02\x02"     # the header's WAL format
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "truncate"
            assert conn.execute(sa.select(sa.func.count())
                                .select_from(schema.market_state)).scalar() == 1
        assert path.read_bytes()[18:20] == b"\x01\x01"     # a rollback journal's
        assert not path.with_name("deltastream.db-shm").exists()
    finally:
        engine.dispose()


def test_unreachable_database_is_one_line_naming_the_url_without_the_password():
    url = "postgresql+psycopg://u:secret@127.0.0.1:1/x"
    try:
        open_database(url)
    except StoreUnavailable as error:
        message = str(error)
    else:
        raise AssertionError("open_database succeeded on a closed port")
    assert "\n" not in message
    assert "secret" not in message
    assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in message
    assert "refused" in message.lower()


def test_unusable_urls_are_store_unavailable(tmp_path):
    for url in ("nosuchdb://x", "not a url",
                f"sqlite+pysqlite:///{tmp_path}/missing/dir/x.db"):
        try:
            open_database(url)
        except StoreUnavailable as error:
            assert "\n" not in str(error)
        else:
            raise AssertionError(f"{url} opened")


def test_a_database_from_a_newer_version_is_refused_in_one_line(fresh_url):
    engine = open_database(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    try:
        open_database(fresh_url)
    except StoreUnavailable as error:
        assert "9999" in str(error) and "\n" not in str(error)
    else:
        raise AssertionError("opened a database migrated past this version")


def test_concurrent_start_ups_migrate_once(fresh_url, monkeypatch):
    # Without the in-process lock, only the database's own lock (SQLite's BEGIN IMMEDIATE,
    # PostgreSQL's advisory lock) keeps the start-ups apart, as between processes.
    monkeypatch.setattr(database, "_UPGRADE_LOCK", contextlib.nullcontext())
    engines: list[sa.Engine] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            engines.append(open_database(fresh_url))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
    try:
        assert errors == [] and len(engines) == 4
        assert current_revision(engines[0]) == "0002"
    finally:
        for engine in engines:
            engine.dispose()


def test_upgrading_a_0001_database_keeps_its_history(fresh_url, idx_snapshots):
    from alembic import command

    from deltastream.store.rows import summary_rows, tick_row

    engine = database._create_engine(fresh_url)
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), "0001")
        assert current_revision(engine) == "0001"
        ticks = [tick_row(s) for s in idx_snapshots[:10]]
        summaries = [r for s in idx_snapshots[:10] for r in summary_rows(s)]
        with engine.begin() as conn:
            conn.execute(sa.insert(schema.underlying_ticks), ticks)
            conn.execute(sa.insert(schema.chain_summaries), summaries)
    finally:
        engine.dispose()
    upgraded = open_database(fresh_url)
    try:
        assert current_revision(upgraded) == "0002"
        t, s = schema.underlying_ticks, schema.chain_summaries
        with upgraded.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
            assert diff == []
            got = [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(t.c.ts))]
            assert got == ticks
            got = conn.execute(sa.select(s).order_by(s.c.ts, s.c.expiry)).all()
            assert [dict(r._mapping) for r in got] == sorted(
                summaries, key=lambda r: (r["ts"], r["expiry"]))
            if upgraded.dialect.name == "sqlite":
                sql = conn.exec_driver_sql("SELECT sql FROM sqlite_schema WHERE name = "
                                           "'chain_summaries'").scalar()
                assert sql.rstrip().endswith("WITHOUT ROWID")
    finally:
        upgraded.dispose()


def test_migrating_logs_one_line_and_no_alembic_chatter(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    engine = open_database(sqlite_url(tmp_path))
    engine.dispose()
    again = open_database(sqlite_url(tmp_path))
    again.dispose()
    alembic = [r for r in caplog.records
               if r.name.startswith("alembic") and r.levelno >= logging.INFO]
    assert alembic == []
    migrated = [r.getMessage() for r in caplog.records if "store schema migrated" in r.getMessage()]
    assert migrated == [f"store schema migrated from empty to {head_revision()}"]
