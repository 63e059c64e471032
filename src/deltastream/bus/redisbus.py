"""The Redis bus: one engine publishes its ticks; web processes on any host read them.

Keys (under a prefix, default ``deltastream``):

- ``<prefix>:engine`` — the writer's lease: the id of the one engine allowed to publish, with
  an expiry it keeps renewing. A standby engine takes it when it expires.
- ``<prefix>:tick`` — the pub/sub channel of tick messages.
- ``<prefix>:latest`` — the latest tick message, so a reader has the state at once.
- ``<prefix>:sequence`` — the latest published sequence, where a new engine continues.

Publishing is fenced: a Lua script checks the lease and publishes in one step, so an engine
that lost its lease (paused, partitioned) can never publish after another took over.

While Redis is unreachable both sides retry on a :class:`~deltastream.core.retry.Backoff`
(0.5 s doubling to 30 s, with jitter): one line when it goes, a summary a minute while it
stays away, one line when it is back. The client retries a failed command once at once (a
pooled connection Redis closed is replaced); any longer waiting is the back-off's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..core.retry import Backoff, Unreachable
from ..core.urls import hide_password
from .local import FRAME_TICK

log = logging.getLogger(__name__)
T = TypeVar("T")

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_PUBLISH = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('set', KEYS[2], ARGV[3])
redis.call('set', KEYS[3], ARGV[2])
redis.call('publish', KEYS[4], ARGV[3])
return 1
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _text(value: bytes | str | None) -> str | None:
    # The client answers bytes (no decode_responses); typed as either.
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _client(url: str, **options: Any) -> redis.Redis:
    # redis-py's own default retries a refused connection ten times over seconds, unseen;
    # one immediate retry is all the client does, the rest is the caller's Backoff.
    return redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.lease = f"{prefix}:engine"
        self.channel = f"{prefix}:tick"
        self.latest = f"{prefix}:latest"
        self.sequence = f"{prefix}:sequence"
        self.standby = f"{prefix}:standby:"


class RedisPublisher:
    """Engine side: the writer's lease and fenced publishing.

    Every command goes through :attr:`reach`, shared by the tick loop and the lease renewal:
    while Redis is unreachable a command is tried only when the back-off says so, and
    otherwise fails at once with :class:`~deltastream.core.retry.Unreachable` (the outage is
    already logged, so callers need not log it)."""

    def __init__(self, url: str, engine_id: str, lease_seconds: float = 3.0,
                 prefix: str = "deltastream") -> None:
        self.url = url
        self.engine_id = engine_id
        self.lease_ms = int(lease_seconds * 1000)
        self.keys = _Keys(prefix)
        self.redis = _client(url, socket_connect_timeout=2, socket_timeout=5)
        self.reach = Backoff(hide_password(url), log)
        self._renew = self.redis.register_script(_RENEW)
        self._publish = self.redis.register_script(_PUBLISH)
        self._release = self.redis.register_script(_RELEASE)

    def describe(self) -> str:
        return f"redis {hide_password(self.url)}"

    def _call(self, command: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``command(*args, **kwargs)`` when an attempt is due; Unreachable otherwise or
        when it fails for want of Redis."""
        if not self.reach.due():
            raise Unreachable(f"{self.reach.what} unreachable (next attempt in "
                              f"{self.reach.remaining():.1f} s)")
        try:
            result = command(*args, **kwargs)
        except redis.RedisError as exc:
            self.reach.failed(exc)
            raise Unreachable(f"{self.reach.what}: {exc}") from exc
        self.reach.succeeded()
        return result

    def reachable(self) -> bool:
        """Whether Redis answers now (an outage is logged, as by any command)."""
        try:
            return bool(self._call(self.redis.ping))
        except Unreachable:
            return False

    def acquire(self, stopped: threading.Event, poll: float = 0.25) -> bool:
        """Wait until this engine holds the lease (True), or until ``stopped`` (False)."""
        waiting_logged = False
        while not stopped.is_set():
            try:
                if self._call(self.redis.set, self.keys.lease, self.engine_id, nx=True,
                              px=self.lease_ms):
                    with contextlib.suppress(Unreachable):
                        self._call(self.redis.delete, self.keys.standby + self.engine_id)
                    return True
                # Visible to operators (and tests) as a ready standby while it waits.
                self._call(self.redis.set, self.keys.standby + self.engine_id, 1,
                           px=self.lease_ms)
                if not waiting_logged:
                    holder = self._call(self.redis.get, self.keys.lease)
                    log.info("standby: engine %s holds the lease", _text(holder))
                    waiting_logged = True
            except Unreachable:
                stopped.wait(self.reach.remaining())
                continue
            stopped.wait(poll)
        return False

    def standbys(self) -> list[str]:
        """The engines waiting to take over."""
        n = len(self.keys.standby)
        return sorted(k.decode()[n:] for k in self.redis.scan_iter(self.keys.standby + "*"))

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours."""
        return bool(self._call(self._renew, keys=[self.keys.lease],
                               args=[self.engine_id, self.lease_ms]))

    def last_sequence(self) -> int:
        raw = self._call(self.redis.get, self.keys.sequence)
        return int(raw) if raw else 0

    def publish(self, sequence: int, message: bytes) -> bool:
        """Publish one tick message; False when the lease is no longer ours."""
        k = self.keys
        return bool(self._call(self._publish, keys=[k.lease, k.latest, k.sequence, k.channel],
                               args=[self.engine_id, sequence, message]))

    def release(self) -> None:
        with contextlib.suppress(Unreachable):
            self._call(self._release, keys=[self.keys.lease], args=[self.engine_id])

    def close(self) -> None:
        self.redis.close()


class RedisBusClient:
    """Web side: subscribes to the tick channel, starting from the latest tick, and
    reconnects on :attr:`reach`'s back-off whenever Redis goes away. ``quiet``: the outage is
    logged at DEBUG only (a server's own engine process reports the same Redis)."""

    def __init__(self, url: str, prefix: str = "deltastream", quiet: bool = False) -> None:
        self.url = url
        self.keys = _Keys(prefix)
        self.reach = Backoff(hide_password(url), log, quiet=quiet)
        self._stopped = threading.Event()

    def run(self, on_frame: Callable[[int, bytes], None],
            on_connection: Callable[[bool], None]) -> None:
        while not self._stopped.is_set():
            client = _client(self.url, socket_connect_timeout=2, socket_timeout=None,
                             health_check_interval=5)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            connected = False
            try:
                # Subscribe before reading the latest tick, so none falls between the two;
                # the feed drops the one it may then see twice.
                pubsub.subscribe(self.keys.channel)
                latest = client.get(self.keys.latest)
                self.reach.succeeded()
                connected = True
                on_connection(True)
                if latest:
                    on_frame(FRAME_TICK, _bytes(latest))
                while not self._stopped.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        on_frame(FRAME_TICK, message["data"])
            except (redis.RedisError, OSError) as exc:
                self.reach.failed(exc)
            finally:
                if connected:
                    on_connection(False)
                with contextlib.suppress(Exception):
                    pubsub.close()
                with contextlib.suppress(Exception):
                    client.close()
            self._stopped.wait(self.reach.remaining())

    def stop(self) -> None:
        self._stopped.set()
