"""Paper-trading service tests: a real engine ticked by hand on a fixed clock (products IDX in
INR, lot 50, tick 0.05; SEC in USD, lot 100, tick 0.01) and a store on SQLite and
PostgreSQL (the store tests' fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.papertrade.service import PaperTrading
from deltastream.store.accounts import SqlAccountStore
from deltastream.store.trading import SqlTradingStore
from tests.store import conftest as store_fixtures
from tests.store.test_trading import empty_trading
from tests.support.specs import EUROPEAN, START, spec, terms

# The store tests' database fixtures (both backends), used here by name.
db = store_fixtures.db
postgres_url = store_fixtures.postgres_url

NOW = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)
SECOND = spec("SEC", 595.0, 1.0, 0.01, False, strikes_each_side=60)


@pytest.fixture()
def engine() -> Engine:
    clock = FixedClock(START)
    engine = Engine([EUROPEAN, SECOND],
                    {"IDX": terms(EUROPEAN), "SEC": terms(SECOND, "USD", 100)},
                    seed=3, clock=clock, tick_interval=1.0, history=50)
    for _ in range(3):
        engine.tick()
        engine.clock.advance(1.0)
    return engine


@pytest.fixture()
def store_db(db: sa.Engine) -> Iterator[sa.Engine]:
    yield db
    empty_trading(db)


@pytest.fixture()
def users(store_db):
    """Two users' ids: Ann's and Bob's."""
    accounts = SqlAccountStore(store_db)
    return (accounts.create_user("ann@example.com", "Ann", "h", 1).id,
            accounts.create_user("bob@example.com", "Bob", "h", 1).id)


def make_service(store_db, engine, **kwargs) -> PaperTrading:
    return PaperTrading(SqlTradingStore(store_db), engine.latest, lambda: engine.symbols,
                        now=lambda: NOW, **kwargs)


@pytest.fixture()
def service(store_db, engine) -> PaperTrading:
    return make_service(store_db, engine)
