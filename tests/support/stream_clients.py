"""A Socket.IO client that records what a real server streams to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import socketio


class Recorder:
    """A python-socketio client recording every event it receives, with arrival times."""

    def __init__(self, base: str) -> None:
        self.events: list[tuple[float, str, dict]] = []
        self._lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._record)
        self.client.connect(base, transports=["websocket"], wait_timeout=20)
        assert self.client.transport() == "websocket"

    def _record(self, event: str, data: dict) -> None:
        with self._lock:
            self.events.append((time.monotonic(), event, data))

    def snapshot(self) -> list[tuple[float, str, dict]]:
        with self._lock:
            return list(self.events)

    def wait_for(self, check: Callable[[list[tuple[float, str, dict]]], bool],
                 timeout: float = 60.0) -> list[tuple[float, str, dict]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.snapshot()
            if check(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out; received {[e for _, e, _ in self.snapshot()][-20:]}")

    def of(self, name: str, product: str | None = None) -> list[dict]:
        return [d for _, e, d in self.snapshot()
                if e == name and (product is None or d.get("product") == product)]

    def close(self) -> None:
        self.client.disconnect()
