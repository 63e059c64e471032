"""Open the store's database (SQLite or PostgreSQL) and bring its schema up to date.

SQLite (the embedded default, one file under the data directory) runs with a rollback journal
(``journal_mode=TRUNCATE``, ``synchronous=FULL``), no memory-mapped I/O (``mmap_size=0``), a
busy timeout and foreign keys on; its transactions begin explicitly (``BEGIN``), so DDL is
transactional and a migration takes the write lock up front.

Why not WAL: with several processes WAL keeps its index in the ``-shm`` file, mapped into
every process that opens the database. When the file system refuses a write to a mapped page
(the file made immutable, the file system shut down or full) the kernel kills the process with
SIGBUS, which Python cannot catch: measured, ``chattr +i`` on the files killed the writing
process at its next transaction. A rollback journal does all its I/O through read and write
calls, so the same failure is an error the store reports (and recovers from).
PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://user@host:5432/db``);
concurrent start-ups serialize their migrations on an advisory lock.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url

from ..core.threads import real_lock
from ..settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DB_FILE = "deltastream.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Rollback journal, not WAL (see the module's docstring); truncated rather than deleted after
# each commit, so committing needs no write to the directory. FULL syncs the journal before
# the database is written: with a rollback journal NORMAL may corrupt on power loss.
JOURNAL_MODE = "TRUNCATE"
SYNCHRONOUS = "FULL"
CONNECT_TIMEOUT_SECONDS = 5
# Arbitrary constant naming the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK = 0x44_53_4D_49_47  # "DSMIG"
_BEGIN_OPTION = "deltastream_sqlite_begin"
_UPGRADE_LOCK = real_lock()
# Seconds between two log lines while a failure lasts.
FAULT_LOG_EVERY = 60.0

log = logging.getLogger(__name__)
# Alembic reports every step at INFO (twice per start-up); the store says what changed.
logging.getLogger("alembic").setLevel(logging.WARNING)


class StoreUnavailable(RuntimeError):  # noqa: N818 - the name the callers use
    """The database cannot be reached or opened. The message is one line naming the URL
    (password hidden) and the reason."""


def sqlite_url(data_dir: Path) -> str:
    """The URL of the SQLite database ``deltastream.db`` in ``data_dir``."""
    return sa.URL.create("sqlite+pysqlite",
                         database=str((Path(data_dir) / DB_FILE).resolve())).render_as_string()


def configured_url(settings: Settings) -> str:
    """The database ``settings`` configure: ``database_url``, or else the SQLite file in the
    data directory."""
    return settings.database_url or sqlite_url(settings.data_dir)


def open_configured(settings: Settings, **engine_kwargs: Any) -> sa.Engine:
    """:func:`open_database` on the database ``settings`` configure, creating the data
    directory first when the database is the SQLite file in it."""
    if settings.database_url is None:
        try:
            Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _unavailable(configured_url(settings), error) from error
    return open_database(configured_url(settings), **engine_kwargs)


def _one_line(error: BaseException, secret: str | None) -> str:
    cause = getattr(error, "orig", None) or error
    text = " ".join(str(cause).split()) or type(cause).__name__
    if secret:
        text = text.replace(secret, "***")
    return text


# Statements the database refuses: retrying them fails the same way.
_REFUSED = (exc.IntegrityError, exc.DataError, exc.ProgrammingError, exc.NotSupportedError)


def is_fault(error: BaseException) -> bool:
    """Whether ``error`` is the database's environment failing (I/O error, full, read-only or
    immutable files, locked past the busy timeout, server unreachable or restarting, file
    gone or not a database), which may pass, rather than a statement the database refuses."""
    if isinstance(error, exc.TimeoutError):    # no pooled connection in time
        return True
    return isinstance(error, exc.DBAPIError) and not isinstance(error, _REFUSED)


def describe(error: BaseException) -> str:
    """``error`` in one line: the driver's message without SQLAlchemy's statement and
    parameters (which may be large and say nothing of the cause)."""
    return _one_line(error, None)


class FaultWatch:
    """The current failure of a database as the statements run on it meet it: when it began
    (``failing_since``, epoch seconds; None while it works), the last error in one line and
    the failed statements since; the next statement that succeeds ends it. Logged when a
    failure begins and when it ends, at most once a minute each (a database failing on and
    off is not a line per statement)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing_since: float | None = None
        self.last_error: str | None = None
        self.failures = 0
        self._announced_at = -FAULT_LOG_EVERY   # monotonic time of the last "failing" line
        self._announced = False                 # this failure's beginning was logged
        self._lock = real_lock()

    def failed(self, error: BaseException) -> None:
        message = describe(error)
        now = time.monotonic()
        with self._lock:
            if self.failing_since is None:
                self.failing_since = time.time()
            self.last_error = message
            self.failures += 1
            due = now - self._announced_at >= FAULT_LOG_EVERY
            if due:
                self._announced_at, self._announced = now, True
            failures = self.failures
        if due:
            log.warning("%s failing (%d failed statements): %s", self.what, failures, message)

    def succeeded(self) -> None:
        with self._lock:
            since, failures, announced = self.failing_since, self.failures, self._announced
            self.failing_since, self.failures, self._announced = None, 0, False
        if since is not None and announced:
            log.warning("%s working again after %.0f s (%d failed statements)", self.what,
                        time.time() - since, failures)


def watch_faults(db_engine: sa.Engine, what: str = "store reads") -> FaultWatch:
    """A :class:`FaultWatch` fed by every statement run on ``db_engine`` (and every failed
    connection attempt)."""
    watch = FaultWatch(what)

    @event.listens_for(db_engine, "handle_error")
    def _on_error(context: Any) -> None:
        error = context.sqlalchemy_exception or context.original_exception
        if is_fault(error):
            watch.failed(error)

    @event.listens_for(db_engine, "after_cursor_execute")
    def _on_success(*_: Any) -> None:
        # Read without the lock: a stale None only delays the end by one statement.
        if watch.failing_since is not None:
            watch.succeeded()

    return watch


def probe(db_engine: sa.Engine) -> bool:
    """Read one row of the schema's version table (a read of the database file, not only a
    connection): True when it works. A :class:`FaultWatch` on ``db_engine`` sees the
    outcome."""
    try:
        with db_engine.connect() as conn:
            conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    except (exc.DBAPIError, exc.TimeoutError):
        return False
    return True


def _unavailable(url: str, error: BaseException) -> StoreUnavailable:
    try:
        parsed = make_url(url)
    except (exc.ArgumentError, ValueError):
        # The parser's message would repeat the URL, password included.
        return StoreUnavailable("database URL is not valid (expected e.g. "
                                "sqlite:////path/to/deltastream.db or "
                                "postgresql+psycopg://user@host:5432/dbname)")
    shown = parsed.render_as_string(hide_password=True)
    return StoreUnavailable(f"database {shown} unavailable: "
                            f"{_one_line(error, parsed.password and str(parsed.password))}")


def _set_journal_mode(cursor: Any) -> None:
    """Put the database in :data:`JOURNAL_MODE` (a no-op once it is; a database a previous
    version left in WAL mode is switched back).

    Leaving WAL needs the exclusive lock while this connection holds a shared one; SQLite then
    answers "database is locked" at once instead of calling the busy handler (waiting could
    deadlock), so concurrent start-ups retry here for up to the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute(f"PRAGMA journal_mode = {JOURNAL_MODE}")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_events(db_engine: sa.Engine) -> None:
    @event.listens_for(db_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event emit BEGIN (pysqlite would otherwise start transactions
        # lazily, outside DDL).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            # No mapped pages: a write the file system refuses must be an error, not SIGBUS.
            cursor.execute("PRAGMA mmap_size = 0")
            _set_journal_mode(cursor)
            cursor.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(db_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def _create_engine(url: str, **kwargs: Any) -> sa.Engine:
    """A SQLAlchemy engine for ``url`` with the store's connection settings, without migrating or
    connecting. Raises :class:`StoreUnavailable` for a URL it cannot use."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            db_engine = sa.create_engine(parsed, connect_args={"check_same_thread": False},
                                      **kwargs)
            _sqlite_events(db_engine)
            return db_engine
        if parsed.get_backend_name() == "postgresql":
            return sa.create_engine(parsed, pool_pre_ping=True,
                                    connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
                                    **kwargs)
        return sa.create_engine(parsed, **kwargs)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError, ValueError) as error:
        unavailable = _unavailable(url, error)
        if isinstance(error, ModuleNotFoundError) and error.name == "psycopg":
            unavailable = StoreUnavailable(f"{unavailable}: pip install 'deltastream[postgres]'")
        raise unavailable from error


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this version of the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(db_engine: sa.Engine) -> str | None:
    """The migration the database is at (None before the first)."""
    with db_engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db_engine: sa.Engine) -> None:
    """Apply every migration the database lacks (none when it is up to date), holding a lock
    that makes concurrent start-ups wait for each other."""
    # Alembic's migration context is process-global: one upgrade at a time per process too.
    with _UPGRADE_LOCK, write_transaction(db_engine) as conn:
        if db_engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                         {"key": _MIGRATION_LOCK})
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(_alembic_config(conn), "head")
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("store schema migrated from %s to %s", before or "empty", after)


@contextlib.contextmanager
def write_transaction(db_engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that takes the write lock when it begins (SQLite ``BEGIN IMMEDIATE``),
    for a read followed by a write: a deferred transaction would fail with "database is
    locked" at its first write if the writer committed after its read began."""
    with immediate_connection(db_engine) as conn, conn.begin():
        yield conn


def immediate_connection(db_engine: sa.Engine) -> sa.Connection:
    """A connection whose transactions take the write lock when they begin (as in
    :func:`write_transaction`), for a caller that begins them itself."""
    options = {_BEGIN_OPTION: "BEGIN IMMEDIATE"} if db_engine.dialect.name == "sqlite" else {}
    return db_engine.connect().execution_options(**options)


def open_database(url: str, *, migrate: bool = True, **engine_kwargs: Any) -> sa.Engine:
    """Connect to ``url`` and (by default) migrate it to the newest schema.

    Raises :class:`StoreUnavailable` (one line, password hidden) when the database cannot be
    reached, opened or migrated.
    """
    db_engine = _create_engine(url, **engine_kwargs)
    try:
        if migrate:
            upgrade(db_engine)
        else:
            with db_engine.connect():
                pass
    except (exc.DBAPIError, OSError, CommandError) as error:
        db_engine.dispose()
        raise _unavailable(url, error) from error
    return db_engine
