"""The engine as a publisher: tick the market and put every tick on the bus.

Used by ``deltastream engine`` (the engine alone) and by ``deltastream serve``, whose server
process starts it in a child process beside the web workers (:mod:`.engine_process`). With
Redis configured the engine first takes the writer's lease, so that exactly one engine
publishes at a time; a second one waits as standby and takes over, continuing the sequence,
when the first stops renewing.

The engine runs the market the settings choose (:mod:`.market`): a tick with nothing new (a
replay between snapshots, a feed that has not changed) puts nothing on the bus. A reader
connecting to the local bus receives the tick history and the latest snapshot of every
product (the latest tick, or, when it left products out, one made of every product's latest
snapshot).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections.abc import Callable

from ..bus.codec import encode_ring, encode_tick
from ..bus.local import FRAME_RING, FRAME_TICK, LocalPublisher, pack_frame
from ..core.feed import EngineLife
from ..core.protocols import Publisher
from ..core.retry import Unreachable
from ..engine.runner import Engine, Pacer, PreparedTick
from ..settings import Settings

log = logging.getLogger(__name__)


class _Greeting:
    """What a newly connected local reader receives first: tick history and the latest tick
    (or, when that one left products out, a tick that ``compose`` makes of every product's
    latest snapshot)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.latest: bytes | None = None
        self.compose: Callable[[], bytes] | None = None

    def __call__(self) -> list[bytes]:
        frames = []
        engine = self.engine
        if engine is not None:
            ring = {p: engine.ticks.latest(p) for p in engine.ticks.products}
            frames.append(pack_frame(FRAME_RING, encode_ring(ring)))
        compose = self.compose
        latest = self.latest if compose is None else compose()
        if latest is not None:
            frames.append(pack_frame(FRAME_TICK, latest))
        return frames


def make_publisher(settings: Settings, engine_id: str, greeting: _Greeting) -> Publisher:
    if settings.redis_url:
        from ..bus.redisbus import RedisPublisher

        publisher = RedisPublisher(settings.redis_url, engine_id, settings.engine_lease,
                                   settings.redis_prefix)
        # Said at once if Redis is unreachable, not after the first ticks' seconds of loading.
        publisher.reachable()
        return publisher
    return LocalPublisher(settings.data_dir, greeting, owner=engine_owner(settings))


def engine_owner(settings: Settings) -> str:
    """Who runs this engine, in the words a second server on its data directory is told."""
    server = multiprocessing.parent_process()
    if server is not None:      # the engine process a ``deltastream serve`` started
        return f"deltastream serve on {settings.host}:{settings.port}, pid {server.pid}"
    return f"deltastream engine, pid {os.getpid()}"


def _renew_lease(publisher: Publisher, lost: threading.Event, done: threading.Event,
                 every: float) -> None:
    while not done.wait(every):
        try:
            if not publisher.renew():
                lost.set()
                return
        except Unreachable:
            # Logged by the publisher, once per outage. Keep trying: once the lease store is
            # back, a lease that lapsed meanwhile answers False (and fencing stops publishing).
            pass
        except Exception as exc:
            log.warning("cannot renew the engine lease: %s", exc)


def run_publishing_engine(settings: Settings, stopped: threading.Event,
                          life: EngineLife | None = None) -> None:
    """Tick and publish until ``stopped`` is set; with a lease, as standby until it is ours.

    ``life``: what the server process supervising this engine knows of it (its start, the
    restarts and the last exit), published with every tick; by default it started now and
    nobody restarts it."""
    life = life or EngineLife(started_at=time.time())
    from .market import engine_for, recorded, simulated
    from .matching import start_matching
    from .recorder import start_recording

    engine_id = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    greeting = _Greeting()
    publisher = make_publisher(settings, engine_id, greeting)
    log.info("engine %s publishing on %s", engine_id, publisher.describe())
    if settings.redis_url and simulated(settings):
        # A standby's first tick would be slow (kernels and calendars load): tick once now,
        # so a takeover publishes within a tick interval of getting the lease.
        engine_for(settings).tick()
    try:
        while publisher.acquire(stopped):
            engine = engine_for(settings)
            engine.resume_sequence(publisher.last_sequence())
            recorder = start_recording(engine, settings) if recorded(settings) else None
            # Only the writer matches resting orders: a standby engine's ticks are not the
            # market's. On the recorder's store when there is one (opened and migrated once,
            # not twice, on a takeover).
            matcher = start_matching(engine, settings,
                                     recorder.store if recorder is not None else None)
            greeting.engine = engine
            # The engine's long-lived objects are out of the collector's scans from here on
            # (full collections of them stalled ticks).
            gc.freeze()
            log.info("engine %s is the writer from sequence %d, on %s", engine_id,
                     engine.sequence + 1, engine.provider.describe())
            try:
                _tick_and_publish(settings, engine, publisher, greeting, engine_id, stopped,
                                  life)
            finally:
                engine.close_provider()
                matcher.stop()
            if recorder is not None:
                recorder.close()
            greeting.engine = None
            greeting.compose = None
            publisher.release()
    finally:
        publisher.close()


def _tick_and_publish(settings: Settings, engine: Engine, publisher: Publisher,
                      greeting: _Greeting, engine_id: str, stopped: threading.Event,
                      life: EngineLife) -> None:
    lost = threading.Event()
    done = threading.Event()
    renewer = threading.Thread(target=_renew_lease, daemon=True, name="deltastream-lease",
                               args=(publisher, lost, done, settings.engine_lease / 3))
    renewer.start()
    pacer = Pacer(engine)
    # The bus message of the tick being built, by sequence: encoded as soon as it is built,
    # before its time where it is built ahead (tens of milliseconds on a busy machine).
    encoded: dict[int, bytes] = {}

    def encode(prepared: PreparedTick) -> None:
        encoded.clear()
        if prepared.snapshots:
            encoded[prepared.sequence] = encode_tick(
                engine_id, prepared.sequence, prepared.snapshots, prepared.build_seconds,
                None, life)

    try:
        while not stopped.is_set() and not lost.is_set():
            error = None
            try:
                # Waits for the tick's time; the simulated market's is built before it.
                published = pacer.tick(stopped, encode) or {}
            except Exception as exc:  # report and keep ticking; health shows the error
                log.exception("engine tick failed")
                published, error = {}, f"{type(exc).__name__}: {exc}"
                # The failed tick takes a number, so readers apply (and report) it.
                engine.resume_sequence(engine.sequence + 1)
            if published or error is not None:
                _publish(engine, publisher, greeting, engine_id, life, lost, published,
                         engine.build_seconds, error,
                         encoded.pop(engine.sequence, None) if error is None else None)
        if lost.is_set():
            log.warning("engine %s lost the writer's lease; back to standby", engine_id)
    finally:
        done.set()


def _publish(engine: Engine, publisher: Publisher, greeting: _Greeting, engine_id: str,
             life: EngineLife, lost: threading.Event, published: dict, build_seconds: float,
             error: str | None, message: bytes | None = None) -> None:
    """Put one tick on the bus (and keep it for the readers that connect later);
    ``message``: the tick already encoded."""
    if message is None:
        message = encode_tick(engine_id, engine.sequence, published, build_seconds, error,
                              life)
    greeting.latest = message
    if len(published) < len(engine.symbols):
        def every_product() -> bytes:
            latest = {p: s for p in engine.symbols if (s := engine.latest(p)) is not None}
            return encode_tick(engine_id, engine.sequence, latest, 0.0, None, life)

        greeting.compose = every_product
    else:
        greeting.compose = None
    try:
        if not publisher.publish(engine.sequence, message):
            lost.set()
    except Unreachable:
        pass    # logged by the publisher, once per outage; the tick is still recorded
    except Exception as exc:
        log.warning("cannot publish tick %d: %s", engine.sequence, exc)
