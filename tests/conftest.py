"""Session-wide test configuration, and the PostgreSQL test server's databases."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa

from deltastream.core.snapshot import ChainSnapshot
from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from tests.support.ports import free_port
from tests.support.recording import SMALL
from tests.support.redis_servers import SHARED_URL, PrivateRedis
from tests.support.specs import EUROPEAN, START, terms

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


# Redis: each test under a key prefix of its own on the shared server, or a private server.

@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis.Redis.from_url(SHARED_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {SHARED_URL} is unreachable ({exc}); CI runs one there")
    prefix = f"deltastream-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    server = PrivateRedis(free_port())
    server.start()
    yield server
    server.stop()


# A small recorded market: two products, 80 ticks (the store and snapshot-codec suites).

SNAPSHOT_TICKS = 80
SNAPSHOT_STEP_SECONDS = 7.25   # not a divisor of a minute: buckets hold varying numbers of ticks


@pytest.fixture(scope="session")
def snapshots() -> list[dict[str, ChainSnapshot]]:
    """Each tick's snapshots by product, oldest first."""
    clock = FixedClock(START)
    engine = Engine([EUROPEAN, SMALL], {"IDX": terms(EUROPEAN), "SML": terms(SMALL, "USD", 100)},
                    seed=7, clock=clock, tick_interval=1.0, history=500)
    out = []
    for _ in range(SNAPSHOT_TICKS):
        out.append(engine.tick())
        clock.advance(SNAPSHOT_STEP_SECONDS)
    return out


@pytest.fixture(scope="session")
def idx_snapshots(snapshots) -> list[ChainSnapshot]:
    return [s["IDX"] for s in snapshots]
