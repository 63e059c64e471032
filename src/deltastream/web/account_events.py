"""Private paper-trading events on Socket.IO: each user's order, fill and position changes
reach the sockets that joined the room ``user:<id>`` with that user's credentials, and no one
else's.

Where they come from: the store writes every change of an order or a fill together with an
outbox row (``paper_events``, :mod:`deltastream.store.trading`), in the same transaction,
whichever process made it (a web worker placing or cancelling, the engine's matcher filling a
resting order). Each web worker tails that table (:class:`AccountEvents`): when woken, after
each tick its stream has handed to its clients (about once a second; the market data goes
first, the store read after it) and right after one of its own trade routes wrote, it reads
the rows past its cursor in id order and emits each to the room of its user, to the members
this worker holds (``ignore_queue``: every worker tails the table itself, so a message queue
would deliver each event once per worker). The cursor starts at the table's newest id when
the worker starts: no history is replayed. A worker with no members reads nothing; its first
member's join moves the cursor to the newest id (what was written meanwhile is nobody's here).

Rows are read in id order, but on PostgreSQL ids are taken when a transaction writes, and two
users' transactions may commit out of that order: an id missing below the cursor is looked
for again for ``GAP_WAIT`` seconds (a rolled-back transaction's id never appears).

Joining: ``connect`` with ``auth: {"token": <access token>}`` (or ``{"api_key": ...}``), or
the event ``subscribe {"type": "account", "token" | "api_key"}``, answered ``subscribed
{"room": "user:<id>", "type": "account"}``; bad credentials answer the ``error`` event and join
nothing. A socket joined with an access token leaves the room when the token expires (an
``error`` event says so; subscribe again with a fresh token). ``unsubscribe {"type":
"account"}`` leaves it.

Events and payloads (the REST routes' shapes): ``order_update`` the order as
``GET /api/trade/orders`` lists it; ``trade_update`` a fill (``trade_id``, ``order_id``,
``symbol``, contract fields, ``side``, ``quantity`` units, ``price``, ``charges`` in the
contract's currency, ``filled_at`` ISO UTC); ``position_update`` the contract's position after
the fill as ``GET /api/trade/positions`` shows it, marked at the live mid (quantity 0 once
flat).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import gevent
import gevent.event
import sqlalchemy as sa
from flask import Flask, Request, Response, request
from flask_socketio import SocketIO

from ..accounts.errors import AccountError
from ..papertrade.service import PositionView, _symbol, quote_of
from ..store.trading import (
    FILL_EVENT,
    ORDER_EVENT,
    POSITION_EVENT,
    PaperEvent,
    SqlTradingStore,
    fill_of_event,
    order_of_event,
    position_of_event,
)
from .routes_auth import auth_state
from .routes_trade import _position_dict, order_dict, trade_dict
from .state import app_state
from .stream import StreamHub

log = logging.getLogger(__name__)

ROOM_PREFIX = "user:"
EVENT_NAMES = {ORDER_EVENT: "order_update", FILL_EVENT: "trade_update",
               POSITION_EVENT: "position_update"}
# Rows read per query; a longer backlog is read in further passes at once.
TAIL_BATCH = 500
# Seconds an id missing below the cursor is looked for (module docstring).
GAP_WAIT = 10.0
# At most this many missing ids are tracked (a larger jump is a sequence gap, not commits).
MAX_GAPS = 1000
# Seconds between passes when nothing wakes the tail (a feed without ticks).
IDLE_POLL = 5.0
# While the store fails, one log line per this many seconds (the tail runs every tick).
FAILURE_LOG_EVERY = 60.0
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXTENSION_KEY = "deltastream.account_events"


def room_of(user_id: int) -> str:
    return f"{ROOM_PREFIX}{user_id}"


class Unauthorised(Exception):  # noqa: N818 - the condition, not a failure
    """The credentials of a join are missing or invalid; the message says which."""


def fill_dict(payload: dict[str, Any]) -> dict[str, Any]:
    """A ``fill`` event's payload as ``trade_update`` sends it: a trade as the trades route
    lists it."""
    return trade_dict(*fill_of_event(payload))


class AccountEvents:
    """One web worker's tail of the outbox and its members of the ``user:<id>`` rooms."""

    def __init__(self, app: Flask, sio: SocketIO, store: SqlTradingStore,
                 clock: Callable[[], datetime]) -> None:
        self.app = app
        self.sio = sio
        self.store = store
        self.clock = clock
        self.cursor: int | None = None
        self.delivered = 0
        self._gaps: dict[int, float] = {}            # missing id -> monotonic deadline
        self._user_of: dict[str, int] = {}           # sid -> user id
        self._expires: dict[str, datetime] = {}      # sid -> its access token's expiry
        self._members: dict[int, set[str]] = {}      # user id -> sids on this worker
        self._work = gevent.event.Event()
        self._wakeup = gevent.get_hub().loop.async_()
        self._wakeup.start(self._work.set)
        self._failing_since: float | None = None
        self._failure_logged = 0.0
        try:
            self.cursor = self.store.last_event_id()
        except sa.exc.SQLAlchemyError:
            # The store is down at start: the first pass that reaches it starts the cursor.
            log.warning("paper-trading events: the store is unreachable; retrying")
            self._failing_since = self._failure_logged = time.monotonic()
        self._worker = gevent.spawn(self._run)

    # -- waking (any thread) --------------------------------------------------------------

    def wake(self, *_: Any) -> None:
        """Read the outbox soon (a feed listener and an after-request hook: any thread)."""
        self._wakeup.send()

    def stop(self) -> None:
        """End the tail (the app is closing)."""
        self._worker.kill(block=False)
        self._wakeup.stop()

    def _run(self) -> None:
        while True:
            self._work.wait(IDLE_POLL)
            self._work.clear()
            try:
                read = self.poll()
            except Exception as error:    # a failing store must not end the events for good
                self._failed(error)
                continue
            if self._failing_since is not None:
                log.info("paper-trading events: reading again after %.0f s",
                         time.monotonic() - self._failing_since)
                self._failing_since = None
            if read >= TAIL_BATCH:
                self._work.set()

    def _failed(self, error: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failure_logged < FAILURE_LOG_EVERY:
            return
        self._failure_logged = now
        log.warning("reading paper-trading events failed: %s", " ".join(str(error).split()))

    # -- membership (in a Socket.IO handler's greenlet) -------------------------------------

    def authenticate(self, credentials: Any) -> tuple[int, datetime | None]:
        """The user id ``credentials`` (``{"token"}`` or ``{"api_key"}``) belong to and when
        they expire (None for an API key); :class:`Unauthorised` otherwise."""
        service = auth_state(self.app).service()
        if service is None:
            raise Unauthorised("paper trading needs the server's store, which this server "
                               "does not have")
        if not isinstance(credentials, dict):
            raise Unauthorised('credentials must be an object {"token"} or {"api_key"}')
        token, key = credentials.get("token"), credentials.get("api_key")
        try:
            if isinstance(token, str) and token:
                user, claims = service.authenticate(token)
                return user.id, claims.expires_at
            if isinstance(key, str) and key:
                return service.authenticate_api_key(key.strip()).id, None
        except AccountError as error:
            raise Unauthorised(str(error)) from error
        raise Unauthorised('an access token ("token") or an API key ("api_key") is required')

    def join(self, sid: str, user_id: int, expires: datetime | None) -> str:
        """Put ``sid`` in the user's room (leaving another user's it was in); the room."""
        self.leave(sid)
        if not self._members:
            self._catch_up()
        room = room_of(user_id)
        self.sio.server.enter_room(sid, room, namespace="/")
        self._user_of[sid] = user_id
        if expires is not None:
            self._expires[sid] = expires
        self._members.setdefault(user_id, set()).add(sid)
        return room

    def leave(self, sid: str) -> None:
        """Take ``sid`` out of its user's room, if it is in one (a disconnect included)."""
        user_id = self._user_of.pop(sid, None)
        self._expires.pop(sid, None)
        if user_id is None:
            return
        members = self._members.get(user_id)
        if members is not None:
            members.discard(sid)
            if not members:
                del self._members[user_id]
        self.sio.server.leave_room(sid, room_of(user_id), namespace="/")

    def members(self, user_id: int) -> set[str]:
        return set(self._members.get(user_id, ()))

    def _expire(self) -> None:
        if not self._expires:
            return
        now = self.clock()
        for sid in [s for s, until in self._expires.items() if now >= until]:
            self.leave(sid)
            self.sio.server.emit(
                "error", {"error": "access token expired: left the account room",
                          "detail": {"event": "subscribe", "parameter": "token",
                                     "reason": "expired"}},
                to=sid, namespace="/", ignore_queue=True)

    def _catch_up(self) -> None:
        """Move the cursor to the newest id before a first member joins: with nobody here
        the tail skipped reading (:meth:`poll`), and what was written meanwhile is no news
        for the member. Before the member is counted, so that a pass meanwhile (a read
        yields under gevent) does not deliver older events to it."""
        try:
            newest = self.store.last_event_id()
        except sa.exc.SQLAlchemyError:
            self.cursor = None      # the first pass that reaches the store starts it
            return
        self.cursor = newest if self.cursor is None else max(self.cursor, newest)
        self._gaps.clear()

    # -- the tail ---------------------------------------------------------------------------

    def poll(self) -> int:
        """One pass: deliver the events past the cursor (and missing ones that appeared) to
        this worker's members; the number of rows read."""
        self._expire()
        if self.cursor is None:
            self.cursor = self.store.last_event_id()
            return 0
        now = time.monotonic()
        self._gaps = {i: t for i, t in self._gaps.items() if t > now}
        if not self._members:
            # Nobody here to tell: no read (the first join catches up, :meth:`_catch_up`).
            self._gaps.clear()
            return 0
        cursor = self.cursor
        events = self.store.events_after(cursor, TAIL_BATCH, self._gaps)
        for event in events:
            if event.id in self._gaps:
                del self._gaps[event.id]
            elif event.id > cursor:
                if event.id - cursor - 1 <= MAX_GAPS:
                    self._gaps.update(dict.fromkeys(range(cursor + 1, event.id),
                                                    now + GAP_WAIT))
                cursor = event.id
            else:
                continue
            self._deliver(event)
        self.cursor = cursor
        return len(events)

    def _deliver(self, event: PaperEvent) -> None:
        if event.user_id not in self._members:
            return
        try:
            payload = self.render(event)
        except (KeyError, TypeError, ValueError):
            log.exception("paper-trading event %d cannot be read", event.id)
            return
        self.sio.server.emit(EVENT_NAMES[event.kind], payload, to=room_of(event.user_id),
                             namespace="/", ignore_queue=True)
        self.delivered += 1

    def render(self, event: PaperEvent) -> dict[str, Any]:
        """The event's payload as its Socket.IO event sends it (module docstring)."""
        if event.kind == ORDER_EVENT:
            return order_dict(order_of_event(event.payload))
        if event.kind == FILL_EVENT:
            return fill_dict(event.payload)
        contract, position = position_of_event(event.payload)
        snapshot = app_state(self.app).service.feed.latest(contract.product)
        quote = None if snapshot is None else quote_of(snapshot, contract)
        return _position_dict(PositionView(contract, _symbol(contract, snapshot), position,
                                           None if quote is None else quote.mid, quote))


def _is_trade_write(req: Request) -> bool:
    return req.method in WRITE_METHODS and req.path.startswith("/api/trade/")


def init_account_events(app: Flask, sio: SocketIO, hub: StreamHub) -> AccountEvents | None:
    """Start ``app``'s tail of the paper-trading events (None without a store): woken after
    ``hub`` handed each tick to the stream's clients and after each trade route that
    writes."""
    store = auth_state(app).store
    if store is None:
        return None
    state = auth_state(app)
    events = AccountEvents(app, sio, SqlTradingStore(store), lambda: state.now())
    app.extensions[EXTENSION_KEY] = events
    app_state(app).on_close.append(events.stop)
    hub.after_fanout.append(events.wake)

    @app.after_request
    def _wake_after_trade(response: Response) -> Response:
        if _is_trade_write(request):
            events.wake()
        return response

    return events
