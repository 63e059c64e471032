"""The bus between the engine (one writer) and the web processes (any number of readers).

Local by default: the engine process serves its ticks on a Unix socket in the data directory.
With ``redis_url`` the engine publishes to Redis, so web processes on any host serve the same
market and a standby engine can take over.
"""

from __future__ import annotations

from ..core.types import EngineMode, Role
from ..settings import Settings
from .feed import BusFeed


def bus_feed(settings: Settings, symbols: list[str]) -> BusFeed:
    """A web process's reader of the engine configured by ``settings``."""
    if settings.redis_url:
        from .redisbus import RedisBusClient, hide_password

        # Under a server that runs its engine process, that process reports Redis's outages
        # (once for the server rather than once per worker).
        quiet = settings.role == Role.ALL and settings.engine_mode == EngineMode.PROCESS
        return BusFeed(symbols, settings.underlying_history, settings.tick_interval,
                       RedisBusClient(settings.redis_url, settings.redis_prefix, quiet),
                       "redis", f"redis {hide_password(settings.redis_url)}")
    from .local import LocalBusClient, socket_address

    return BusFeed(symbols, settings.underlying_history, settings.tick_interval,
                   LocalBusClient(socket_address(settings.data_dir)), "local",
                   f"local socket in {settings.data_dir}")


__all__ = ["BusFeed", "bus_feed"]
