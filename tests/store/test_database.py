"""Opening the store: migrations build exactly the declared schema, once; SQLite settings;
an unreachable database gives a one-line error without the password."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from datetime import date

import pytest
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
        assert current_revision(engine) == head_revision() == "0007"
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
            assert diff == []
            assert set(sa.inspect(conn).get_table_names()) == {
                *schema.TABLES, *schema.ACCOUNT_TABLES, *schema.TRADING_TABLES,
                *schema.EVENT_TABLES, "alembic_version"}
            conn.execute(sa.insert(schema.market_state).values(
                product="IDX", sequence=1, ts=5, payload=b"x"))
            conn.commit()
    finally:
        engine.dispose()
    again = open_database(fresh_url)     # a second start migrates nothing and keeps the data
    try:
        assert current_revision(again) == "0007"
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
        assert current_revision(engines[0]) == "0007"
    finally:
        for engine in engines:
            engine.dispose()


def _history_rows(snaps) -> dict[str, list[dict]]:
    """Rows of every history table as the live writer makes them, key columns first."""
    from deltastream.store.rows import archive_row, session_close_rows, summary_rows, tick_row

    return {"underlying_ticks": [tick_row(s) for s in snaps],
            "chain_summaries": [r for s in snaps for r in summary_rows(s)],
            "chain_archive": [archive_row(s, level=1) for s in snaps[::4]],
            "session_close": session_close_rows(snaps[-1], date(2026, 11, 25))}


def _stored(conn: sa.Connection, name: str) -> list[dict]:
    table = schema.TABLES[name]
    key = [c for c in table.primary_key.columns]
    return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*key))]


def _sorted(rows: list[dict], name: str) -> list[dict]:
    key = [c.name for c in schema.TABLES[name].primary_key.columns]
    return sorted(rows, key=lambda r: tuple(r[k] for k in key))


@pytest.mark.parametrize("revision", ["0001", "0002"])
def test_upgrading_an_older_database_keeps_its_history_as_the_simulators(
        fresh_url, idx_snapshots, revision):
    from alembic import command

    rows = _history_rows(idx_snapshots[:12])
    engine = database._create_engine(fresh_url)
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(database._alembic_config(conn), revision)
        assert current_revision(engine) == revision
        with engine.begin() as conn:
            for name, table_rows in rows.items():
                # As the old schema knew them: no source.
                old = [{k: v for k, v in r.items() if k != "source"} for r in table_rows]
                conn.execute(sa.insert(schema.TABLES[name]), old)
            conn.execute(sa.insert(schema.market_state).values(
                product="IDX", sequence=7, ts=5, payload=b"state"))
    finally:
        engine.dispose()
    upgraded = open_database(fresh_url)
    try:
        assert current_revision(upgraded) == head_revision()
        with upgraded.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
            assert diff == []
            for name, table_rows in rows.items():
                assert {r["source"] for r in table_rows} == {"simulator"}
                assert _stored(conn, name) == _sorted(table_rows, name), name
            assert conn.execute(sa.select(schema.market_state.c.payload)).scalar() == b"state"
            if upgraded.dialect.name == "sqlite":
                for name, rowid in (("underlying_ticks", False), ("chain_summaries", False),
                                    ("chain_archive", True), ("session_close", True)):
                    sql = conn.exec_driver_sql("SELECT sql FROM sqlite_schema WHERE name = "
                                               f"'{name}'").scalar()
                    assert sql.rstrip().endswith("WITHOUT ROWID") is not rowid, name
            indexes = {i["name"]: i["column_names"]
                       for name in rows for i in sa.inspect(conn).get_indexes(name)}
            assert indexes == {
                "ix_underlying_ticks_source_ts": ["source", "ts"],
                "ix_chain_archive_source_ts": ["source", "ts"],
                "ix_session_close_source_session_date": ["source", "session_date"],
                "ix_chain_summaries_nearest": ["source", "product", "ts", "atm_iv"]}
        # The source leads each key: another source's rows at the same product and times fit.
        nse = {name: [{**r, "source": "nse"} for r in table_rows]
               for name, table_rows in rows.items()}
        with upgraded.begin() as conn:
            for name, table_rows in nse.items():
                conn.execute(sa.insert(schema.TABLES[name]), table_rows)
        with pytest.raises(sa.exc.IntegrityError), upgraded.begin() as conn:
            conn.execute(sa.insert(schema.session_close),
                         [{**rows["session_close"][0], "source": "bse", "right": "X"}])
    finally:
        upgraded.dispose()

    # Down again: only the simulator's rows fit the old keys, and they are kept.
    engine = database._create_engine(fresh_url)
    try:
        with engine.connect() as conn, conn.begin():
            command.downgrade(database._alembic_config(conn), "0002")
        with engine.connect() as conn:
            ticks = conn.exec_driver_sql("SELECT product, ts, sequence, price, volume "
                                         "FROM underlying_ticks ORDER BY ts").all()
        assert [tuple(r) for r in ticks] == [
            (r["product"], r["ts"], r["sequence"], r["price"], r["volume"])
            for r in rows["underlying_ticks"]]
    finally:
        engine.dispose()


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
