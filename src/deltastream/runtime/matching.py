"""Resting paper-trading orders matched where the engine runs, exactly one matcher per market.

:func:`start_matching` builds a :class:`~deltastream.papertrade.service.PaperTrading` service
over the configured store (and the settings' charges and limits) whose live snapshots are the
engine's own (``engine.latest``), and starts a
:class:`~deltastream.papertrade.matcher.RestingMatcher` subscribed to the engine: every tick
wakes the matcher's thread, which fills the resting orders the tick crosses, cancels DAY orders
at the close and settles expired positions, without any HTTP request.

Who calls it: the engine process (:mod:`.publishing`, while it holds the writer's lease, so a
standby engine matches nothing) and a thread-mode server (:mod:`.app`, beside its in-process
engine). A web-only server runs none: its engine's process matches. Times are the wall clock
(UTC), like the orders the web routes place.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from ..engine.runner import Engine
from ..papertrade.config import configured_service
from ..papertrade.matcher import RestingMatcher
from ..settings import Settings
from ..store.database import open_configured
from ..store.trading import SqlTradingStore

log = logging.getLogger(__name__)


def start_matching(engine: Engine, settings: Settings, store: sa.Engine | None = None
                   ) -> RestingMatcher:
    """Start matching resting orders on ``engine``'s ticks over ``store`` (default: the
    configured one, opened and migrated here and disposed of when the matcher stops).
    Raises :class:`~deltastream.store.database.StoreUnavailable` when the database cannot be
    used."""
    on_stop = None
    if store is None:
        store = open_configured(settings)
        on_stop = store.dispose
    # The settings' charges and limits, as the web routes use: fills here charge the same.
    service = configured_service(SqlTradingStore(store), engine.latest,
                                 lambda: list(engine.symbols), settings)
    matcher = RestingMatcher(service, on_stop=on_stop)
    engine.subscribe(matcher.on_snapshot)
    matcher.start()
    log.info("matching resting orders on %s", engine.describe())
    return matcher
