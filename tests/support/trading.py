"""A paper-trading app for the route and Socket.IO tests: the web app over a fixed-clock
engine's feed and a fresh SQLite or PostgreSQL store, its accounts' clock pinned, and every
account and trading row deleted afterwards (the PostgreSQL database is shared)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from apiflask import APIFlask

from deltastream.settings import Settings
from deltastream.store.database import open_database, sqlite_url
from deltastream.web import create_app
from deltastream.web.routes_auth import auth_state
from tests.store.test_trading import empty_trading
from tests.web.test_routes_auth import FAST_HASHING, Clock


@contextlib.contextmanager
def trading_app(request: pytest.FixtureRequest, engine: Any, tmp_path: Any, now: datetime,
                **settings: Any) -> Iterator[APIFlask]:
    """The app on the store ``request.param`` names ("sqlite" or "postgresql"), after three
    ticks of ``engine`` one second apart, with ``settings`` over fast password hashing."""
    for _ in range(3):
        engine.tick()
        engine.clock.advance(1.0)
    if request.param == "sqlite":
        store = open_database(sqlite_url(tmp_path))
    else:
        store = open_database(request.getfixturevalue("postgres").create())
    app = create_app(Settings(data_dir=tmp_path, **FAST_HASHING, **settings), feed=engine,
                     start_feed=False, store=store)
    auth_state(app).now = Clock(now)
    try:
        yield app
    finally:
        empty_trading(store)
        store.dispose()
