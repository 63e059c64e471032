"""Store tests run on both backends: a SQLite file per test, and a PostgreSQL database at
127.0.0.1:5432 created for this test session (dropped at its end; tables emptied after each
test). The PostgreSQL variants skip when no server answers there.

Snapshots come from the real engine on a fixed clock (two small products, 80 ticks).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from deltastream.core.snapshot import ChainSnapshot
from deltastream.store import schema
from deltastream.store.database import open_database, sqlite_url
from deltastream.store.writer import StoreWriter


@pytest.fixture(scope="session")
def postgres_url(postgres) -> str:
    """One database for the session's tests (emptied after each)."""
    return postgres.create()


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def fresh_url(request, tmp_path) -> str:
    """The URL of a database that has never been opened."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("postgres").create()


def _empty(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("TRUNCATE " + ", ".join(schema.TABLES))
        else:
            for table in schema.TABLES.values():
                conn.execute(sa.delete(table))


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path) -> Iterator[sa.Engine]:
    """A migrated, empty store database."""
    if request.param == "sqlite":
        engine = open_database(sqlite_url(tmp_path))
    else:
        engine = open_database(request.getfixturevalue("postgres_url"))
    try:
        yield engine
    finally:
        if request.param == "postgresql":
            _empty(engine)
        engine.dispose()


def write_all(db: sa.Engine, snapshots: list[dict[str, ChainSnapshot]],
              archive_every: float | None = 60.0) -> StoreWriter:
    writer = StoreWriter(db, archive_every=archive_every, linger=0.0)
    for tick in snapshots:
        for snap in tick.values():
            assert writer.submit(snap)
    assert writer.close(30.0)
    return writer


@pytest.fixture()
def filled(db, snapshots) -> sa.Engine:
    """A store holding every snapshot of :func:`snapshots` (archives every 60 s)."""
    write_all(db, snapshots)
    return db


