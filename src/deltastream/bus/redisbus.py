"""The Redis bus: one engine publishes its ticks; web processes on any host read them.

Keys (under a prefix, default ``deltastream``):

- ``<prefix>:engine`` — the writer's lease: the id of the one engine allowed to publish, with
  an expiry it keeps renewing. A standby engine takes it when it expires.
- ``<prefix>:tick`` — the pub/sub channel of tick messages.
- ``<prefix>:latest`` — the latest tick message, so a reader has the state at once.
- ``<prefix>:sequence`` — the latest published sequence, where a new engine continues.

Publishing is fenced: a Lua script checks the lease and publishes in one step, so an engine
that lost its lease (paused, partitioned) can never publish after another took over.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import redis

from .local import FRAME_TICK

log = logging.getLogger(__name__)

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


def hide_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.lease = f"{prefix}:engine"
        self.channel = f"{prefix}:tick"
        self.latest = f"{prefix}:latest"
        self.sequence = f"{prefix}:sequence"
        self.standby = f"{prefix}:standby:"


class RedisPublisher:
    """Engine side: the writer's lease and fenced publishing."""

    def __init__(self, url: str, engine_id: str, lease_seconds: float = 3.0,
                 prefix: str = "deltastream") -> None:
        self.url = url
        self.engine_id = engine_id
        self.lease_ms = int(lease_seconds * 1000)
        self.keys = _Keys(prefix)
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._renew = self.redis.register_script(_RENEW)
        self._publish = self.redis.register_script(_PUBLISH)
        self._release = self.redis.register_script(_RELEASE)

    def describe(self) -> str:
        return f"redis {hide_password(self.url)}"

    def acquire(self, stopped: threading.Event, poll: float = 0.25) -> bool:
        """Wait until this engine holds the lease (True), or until ``stopped`` (False)."""
        waiting_logged = False
        while not stopped.is_set():
            try:
                if self.redis.set(self.keys.lease, self.engine_id, nx=True, px=self.lease_ms):
                    self.redis.delete(self.keys.standby + self.engine_id)
                    return True
                # Visible to operators (and tests) as a ready standby while it waits.
                self.redis.set(self.keys.standby + self.engine_id, 1, px=self.lease_ms)
                if not waiting_logged:
                    holder = self.redis.get(self.keys.lease)
                    log.info("standby: engine %s holds the lease", _text(holder))
                    waiting_logged = True
            except redis.RedisError as exc:
                log.warning("cannot reach %s: %s", self.describe(), exc)
            stopped.wait(poll)
        return False

    def standbys(self) -> list[str]:
        """The engines waiting to take over."""
        n = len(self.keys.standby)
        return sorted(k.decode()[n:] for k in self.redis.scan_iter(self.keys.standby + "*"))

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours."""
        return bool(self._renew(keys=[self.keys.lease], args=[self.engine_id, self.lease_ms]))

    def last_sequence(self) -> int:
        raw = self.redis.get(self.keys.sequence)
        return int(raw) if raw else 0

    def publish(self, sequence: int, message: bytes) -> bool:
        """Publish one tick message; False when the lease is no longer ours."""
        k = self.keys
        return bool(self._publish(keys=[k.lease, k.latest, k.sequence, k.channel],
                                  args=[self.engine_id, sequence, message]))

    def release(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self._release(keys=[self.keys.lease], args=[self.engine_id])

    def close(self) -> None:
        self.redis.close()


class RedisBusClient:
    """Web side: subscribes to the tick channel, starting from the latest tick, and
    reconnects with backoff (up to 5 s) whenever Redis goes away."""

    def __init__(self, url: str, prefix: str = "deltastream") -> None:
        self.url = url
        self.keys = _Keys(prefix)
        self._stopped = threading.Event()

    def run(self, on_frame: Callable[[int, bytes], None],
            on_connection: Callable[[bool], None]) -> None:
        delay = 0.1
        while not self._stopped.is_set():
            client = redis.Redis.from_url(self.url, socket_connect_timeout=2,
                                          socket_timeout=None, health_check_interval=5)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                # Subscribe before reading the latest tick, so none falls between the two;
                # the feed drops the one it may then see twice.
                pubsub.subscribe(self.keys.channel)
                latest = client.get(self.keys.latest)
                on_connection(True)
                delay = 0.1
                if latest:
                    on_frame(FRAME_TICK, _bytes(latest))
                while not self._stopped.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        on_frame(FRAME_TICK, message["data"])
            except (redis.RedisError, OSError) as exc:
                log.warning("engine bus %s: %s", hide_password(self.url), exc)
            finally:
                on_connection(False)
                with contextlib.suppress(Exception):
                    pubsub.close()
                with contextlib.suppress(Exception):
                    client.close()
            self._stopped.wait(delay)
            delay = min(delay * 2, 5.0)

    def stop(self) -> None:
        self._stopped.set()
