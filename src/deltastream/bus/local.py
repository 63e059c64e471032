"""The local bus: the engine process serves its ticks on a Unix socket to the web processes of
the same host.

Each subscriber has its own bounded queue and sender thread, so a web process that stops
reading never holds back the engine or the others: when its queue is full it is disconnected,
and on reconnecting it receives the latest tick at once (and the underlying's tick history).
Frames are ``u8 kind | u32 length | payload``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

FRAME_TICK = 1
FRAME_RING = 2
_HEAD = struct.Struct("<BI")
MAX_FRAME = 256 * 1024 * 1024
# Unix socket paths are limited to 107 bytes; a longer data directory gets an abstract
# (Linux) address derived from it instead.
_MAX_PATH = 100


def socket_address(data_dir: Path) -> str:
    """Where the engine of ``data_dir`` serves its ticks."""
    path = str(data_dir.resolve() / "engine.sock")
    if len(path.encode()) <= _MAX_PATH:
        return path
    return "\0deltastream-" + hashlib.sha256(path.encode()).hexdigest()[:32]


def pack_frame(kind: int, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            return None
        got += k
    return bytes(buf)


def read_frame(sock: socket.socket) -> tuple[int, bytes] | None:
    """The next frame, or None when the peer closed the connection."""
    head = _recv_exact(sock, _HEAD.size)
    if head is None:
        return None
    kind, size = _HEAD.unpack(head)
    if size > MAX_FRAME:
        raise ConnectionError(f"bus frame of {size} bytes exceeds {MAX_FRAME}")
    payload = _recv_exact(sock, size)
    return None if payload is None else (kind, payload)


class _Subscriber:
    def __init__(self, conn: socket.socket, capacity: int, on_close: Callable[[_Subscriber],
                                                                              None]) -> None:
        self.conn = conn
        self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        self.capacity = capacity
        self._queue: deque[bytes] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._on_close = on_close
        threading.Thread(target=self._send, name="deltastream-bus-sender", daemon=True).start()

    def offer(self, data: bytes) -> None:
        with self._ready:
            if self._closed:
                return
            if len(self._queue) >= self.capacity:
                log.warning("bus subscriber fell %d frames behind; disconnecting it",
                            len(self._queue))
                self._close_locked()
                return
            self._queue.append(data)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._close_locked()

    def _close_locked(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.clear()
            with contextlib.suppress(OSError):
                self.conn.shutdown(socket.SHUT_RDWR)
            self._ready.notify()

    def _send(self) -> None:
        try:
            while True:
                with self._ready:
                    while not self._queue and not self._closed:
                        self._ready.wait()
                    if self._closed:
                        return
                    data = self._queue.popleft()
                self.conn.sendall(data)
        except OSError:
            pass
        finally:
            self.close()
            with contextlib.suppress(OSError):
                self.conn.close()
            self._on_close(self)


class LocalBusServer:
    """Engine side: accepts web processes on a Unix socket and sends them every tick.

    ``greeting()`` gives the frames a new subscriber receives first (the underlying's tick
    history and the latest tick)."""

    def __init__(self, address: str, greeting: Callable[[], list[bytes]],
                 capacity: int = 16) -> None:
        self.address = address
        self.capacity = capacity
        self._greeting = greeting
        self._subscribers: set[_Subscriber] = set()
        self._lock = threading.Lock()
        if not address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)   # only this user may connect
        try:
            self._listener.bind(address)
        finally:
            os.umask(old_umask)
        self._listener.listen(64)
        self._closed = False
        threading.Thread(target=self._accept, name="deltastream-bus-accept",
                         daemon=True).start()

    def publish(self, data: bytes) -> None:
        """Queue one framed message for every subscriber."""
        with self._lock:
            for sub in list(self._subscribers):
                sub.offer(data)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.close()
        if not self.address.startswith("\0"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                sub = _Subscriber(conn, self.capacity, self._forget)
                self._subscribers.add(sub)
                # Under the lock so no tick is published between the greeting and the
                # subscription: the subscriber sees every tick after the latest, in order.
                for data in self._greeting():
                    sub.offer(data)

    def _forget(self, sub: _Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)


class LocalBusClient:
    """Web side: connects to the engine's socket (retrying with backoff while it is not
    there) and hands every frame to ``on_frame``; ``on_connection`` hears of each connect
    and disconnect."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        self._stopped = threading.Event()

    def run(self, on_frame: Callable[[int, bytes], None],
            on_connection: Callable[[bool], None]) -> None:
        delay = 0.05
        while not self._stopped.is_set():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.address)
            except OSError:
                sock.close()
                self._stopped.wait(delay)
                delay = min(delay * 2, 2.0)
                continue
            self._sock = sock
            delay = 0.05
            on_connection(True)
            try:
                while (got := read_frame(sock)) is not None:
                    on_frame(*got)
            except (OSError, ConnectionError) as exc:
                if not self._stopped.is_set():     # not when stop() closed it
                    log.warning("engine bus connection lost: %s", exc)
            finally:
                self._sock = None
                sock.close()
                on_connection(False)

    def stop(self) -> None:
        self._stopped.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class EngineLockedError(RuntimeError):
    """Another engine already serves this data directory."""


ENGINE_LOCK = "engine.lock"
_UNKNOWN_HOLDER = "pid unknown"


def engine_lock_holder(data_dir: Path) -> str | None:
    """Who runs the engine of ``data_dir``: the words its engine wrote into the lock file
    (e.g. ``deltastream serve on 127.0.0.1:8001, pid 1200``), or None when no engine holds
    the lock. Creates nothing, so a server can ask before it starts."""
    import fcntl

    try:
        fd = os.open(data_dir / ENGINE_LOCK, os.O_RDONLY)
    except OSError:         # no lock file (or no directory): no engine ever ran there
        return None
    with os.fdopen(fd) as lock_file:
        try:
            # A shared lock is refused only while an engine holds its exclusive one; the
            # file outlives an engine that died, so its words alone prove nothing.
            fcntl.flock(lock_file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return " ".join(lock_file.read(1000).split()) or _UNKNOWN_HOLDER
        return None         # closing the file releases the shared lock


def engine_lock_message(data_dir: Path, holder: str) -> str:
    """What to say of a data directory ``holder`` (:func:`engine_lock_holder`'s words) runs
    an engine on."""
    return f"another DeltaStream engine is running on data directory {data_dir} ({holder})"


class LocalPublisher:
    """Engine side of the local bus: one engine per data directory (a file lock, holding
    ``owner``'s words for :func:`engine_lock_holder`), its ticks served on
    :func:`socket_address`."""

    def __init__(self, data_dir: Path, greeting: Callable[[], list[bytes]],
                 owner: str = "") -> None:
        import fcntl

        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self._lock_file = (data_dir / ENGINE_LOCK).open("a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            holder = engine_lock_holder(data_dir) or _UNKNOWN_HOLDER
            raise EngineLockedError(engine_lock_message(data_dir, holder)) from None
        self._lock_file.truncate(0)
        self._lock_file.write((owner or f"pid {os.getpid()}") + "\n")
        self._lock_file.flush()
        self.server = LocalBusServer(socket_address(data_dir), greeting)
        self._sequence_unwritable = False

    def describe(self) -> str:
        return f"local socket in {self.data_dir}"

    def acquire(self, stopped: threading.Event) -> bool:
        return not stopped.is_set()

    def renew(self) -> bool:
        return True

    @property
    def _sequence_file(self) -> Path:
        return self.data_dir / "engine.sequence"

    def last_sequence(self) -> int:
        # Sequences continue across engine restarts, so a version (ETag, Last-Event-ID) never
        # names two different snapshots.
        try:
            return int(self._sequence_file.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def publish(self, sequence: int, message: bytes) -> bool:
        self.server.publish(pack_frame(FRAME_TICK, message))
        scratch = self._sequence_file.with_suffix(".tmp")
        try:
            scratch.write_text(str(sequence))
            os.replace(scratch, self._sequence_file)
        except OSError as exc:
            # A data directory that cannot be written (full, read-only) does not stop the
            # market: said once, and once when it can be written again.
            if not self._sequence_unwritable:
                log.warning("cannot record the engine's sequence in %s: %s (ticks are still "
                            "published)", self._sequence_file, exc.strerror or exc)
                self._sequence_unwritable = True
        else:
            if self._sequence_unwritable:
                log.info("recording the engine's sequence in %s again", self._sequence_file)
                self._sequence_unwritable = False
        return True

    def release(self) -> None:
        """The lock is held until :meth:`close`."""

    def close(self) -> None:
        self.server.close()
        self._lock_file.close()
