"""Socket.IO's message queue on Redis (``redis_url``), reporting an outage in a few lines.

python-socketio's ``RedisManager`` logs an error at every failed attempt of its listener
(``Cannot receive from redis... retrying in N secs``, without saying which Redis or why) and
at each message it cannot publish. :class:`RedisQueue` keeps what it does — its listener
reconnects for ever, a message gets two tries and is then dropped — and reports through a
:class:`~deltastream.core.retry.Backoff`: one line when Redis goes, a summary a minute, one
line when it is back; the listener's waits are the back-off's (0.5 s doubling to 30 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import socketio
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..core.retry import Backoff
from ..core.urls import hide_password

log = logging.getLogger(__name__)
# The two methods of RedisManager replaced here (a test checks they still exist upstream).
OVERRIDDEN = ("_publish", "_redis_listen_with_retries")


class RedisQueue(socketio.RedisManager):
    """``socketio.RedisManager`` on ``url`` and ``channel``, reporting through :attr:`reach`
    (at DEBUG only when ``quiet``: another part of the process reports the same Redis)."""

    def __init__(self, url: str, channel: str, quiet: bool = False) -> None:
        # redis-py's default retries a refused connection ten times over seconds, unseen;
        # the waiting is the back-off's.
        super().__init__(url, channel=channel,
                         redis_options={"retry": Retry(NoBackoff(), 1),
                                        "socket_connect_timeout": 2})
        self.reach = Backoff(hide_password(url), log, quiet=quiet)

    def _publish(self, data: Any) -> Any:
        error: Exception | None = None
        for _ in range(2):
            try:
                # ``connected`` is the base class's (untyped) flag.
                if not self.connected:  # type: ignore[has-type]
                    self._redis_connect()
                result = self.redis.publish(self.channel, self.json.dumps(data))
            except Exception as exc:   # as upstream: any failure means a new connection
                self.connected = False
                error = exc
                continue
            self.reach.succeeded()
            return result
        if error is not None:
            self.reach.failed(error)
        return None

    def _redis_listen_with_retries(self) -> Iterator[Any]:
        while True:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                self.reach.succeeded()
                yield from self.pubsub.listen()
            except Exception as exc:   # as upstream: any failure means a new connection
                time.sleep(self.reach.failed(exc))
