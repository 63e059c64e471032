"""Session-wide test configuration, and the PostgreSQL test server's databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("DELTASTREAM_TEST_POSTGRES",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A run in which nothing actually executed (everything skipped or deselected) must not
    # look like a pass.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus != 0:
        return
    if not reporter.stats.get("passed"):
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


class PostgresDatabases:
    """Creates uniquely named databases on the test server; drops them all at the end."""

    def __init__(self, admin: sa.Engine) -> None:
        self.admin = admin
        self.names: list[str] = []

    def create(self) -> str:
        name = f"deltastream_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as error:
        admin.dispose()
        reason = " ".join(str(error.orig).split())
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 unreachable: {reason}")
    databases = PostgresDatabases(admin)
    try:
        yield databases
    finally:
        databases.drop_all()
        admin.dispose()
