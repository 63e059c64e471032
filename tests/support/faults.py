"""Real store faults for tests, each undone on leaving its context.

- :func:`immutable`: ``chattr +i`` on files (what an operator or a failing disk's remount does
  to the process's files); needs root and a file system with inode flags (ext4, xfs, btrfs),
  see :func:`chattr_supported`.
- :func:`directory_gone`: the database's directory renamed away, so a new connection cannot
  open the file (connections already open keep their file).
- :func:`postgres_refusing`: a PostgreSQL database that refuses connections, its sessions
  terminated (a server restarting, a database taken offline).
- :func:`postgres_read_only`: a PostgreSQL database whose new sessions may only read (a disk
  full or read-only replica), its sessions terminated.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa


def chattr_supported(directory: Path) -> bool:
    """Whether files in ``directory`` can be made immutable by this process."""
    if shutil.which("chattr") is None:
        return False
    probe = directory / ".chattr-probe"
    probe.write_bytes(b"")
    try:
        made = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
        if made:
            subprocess.run(["chattr", "-i", str(probe)], check=True, capture_output=True)
        return made
    finally:
        probe.unlink()


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """``chattr +i`` on each existing path for the duration."""
    existing = [str(p) for p in paths if p.exists()]
    subprocess.run(["chattr", "+i", *existing], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *existing], check=True, capture_output=True)


@contextlib.contextmanager
def directory_gone(directory: Path) -> Iterator[None]:
    """``directory`` renamed away for the duration (its path then does not exist)."""
    away = directory.with_name(directory.name + ".away")
    directory.rename(away)
    try:
        yield
    finally:
        away.rename(directory)


def _database(url: str) -> tuple[sa.Engine, str]:
    parsed = sa.make_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    return admin, str(parsed.database)


def _terminate(conn: sa.Connection, name: str) -> None:
    conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})


@contextlib.contextmanager
def postgres_refusing(url: str) -> Iterator[None]:
    """The database of ``url`` refuses new connections and its sessions are ended."""
    admin, name = _database(url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            _terminate(conn, name)
        try:
            yield
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        admin.dispose()


@contextlib.contextmanager
def postgres_read_only(url: str) -> Iterator[None]:
    """New sessions of the database of ``url`` may only read; its sessions are ended."""
    admin, name = _database(url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only '
                                 "= on")
            _terminate(conn, name)
        try:
            yield
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET '
                                     "default_transaction_read_only")
                _terminate(conn, name)
    finally:
        admin.dispose()
