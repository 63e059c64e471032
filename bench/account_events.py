"""Delay of the private paper-trading events on Socket.IO, on a real server.

    python bench/account_events.py [--orders 40] [--resting 10] [--workers 2]

Starts ``deltastream serve --hours always`` (accelerated clock, tick every 0.25 s) on a fresh
data directory (its SQLite store), registers a user and connects a Socket.IO client to its
room ``user:<id>``, then:

* places ``--orders`` NIFTY ATM call market orders (bought and sold in turn) and times, from
  each answer of ``POST /api/trade/order``, the arrival of the FILLED ``order_update``: the
  worker that placed it reads the outbox at once, another worker at its next tick;
* places ``--resting`` buy limits at the bid, one at a time, and times each ``trade_update``
  from its ``filled_at`` (written by the engine's matcher on a tick that crosses) to its
  arrival: the tick that filled it, or the next, wakes every worker's read.

Prints p50, p90 and the maximum of each, in milliseconds, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import socketio

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def request(base: str, method: str, path: str, body: Any = None,
            token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def start(data_dir: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deltastream", "serve", "--port", str(port), "--hours",
         "always", "--tick-interval", "0.25", "--strikes-each-side", "10", "--clock",
         "accelerated", "--clock-speed", "120", "--workers", str(workers), "--data-dir",
         str(data_dir)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "DELTASTREAM_CLOCK_START": "2026-11-23T04:00:00Z"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if request(base, "GET", "/api/health")[0] == 200:
                return proc, base
        except OSError:
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("the server did not become healthy")


class Events:
    """A Socket.IO client in the user's room: (arrival wall time, name, payload)."""

    def __init__(self, base: str, token: str) -> None:
        self.got: list[tuple[float, str, dict]] = []
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        for name in ("subscribed", "error", "order_update", "trade_update"):
            self.client.on(name, self._record(name))
        self.client.connect(base, transports=["websocket"], auth={"token": token},
                            wait_timeout=20)
        self.wait(lambda n, e: n == "subscribed", 20)

    def _record(self, name: str) -> Any:
        def record(data: dict) -> None:
            with self.lock:
                self.got.append((time.time(), name, data))
        return record

    def wait(self, match: Any, timeout: float) -> tuple[float, str, dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [g for g in self.got if match(g[1], g[2])]
            if found:
                return found[0]
            time.sleep(0.005)
        raise SystemExit("an event did not arrive in time")


def figures(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    print(f"{name}: p50 {statistics.median(ms):.0f} ms, p90 {p90:.0f} ms, "
          f"max {ms[-1]:.0f} ms (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=40)
    parser.add_argument("--resting", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    proc, base = start(Path(tempfile.mkdtemp(prefix="bench-events-")), args.workers)
    try:
        status, user = request(base, "POST", "/api/auth/register",
                               {"email": "bench@example.com", "password": PASSWORD})
        assert status == 201, user
        token = user["token"]
        events = Events(base, token)
        expiry = request(base, "GET", "/api/data/expiries/NIFTY")[1]["expiries"][1]

        def bid_and_strike() -> tuple[float, float]:
            chain = request(base, "GET", f"/api/data/chain/NIFTY?expiry={expiry}")[1]
            chain = chain["chains"][0]
            i = chain["strikes"].index(chain["atm_strike"])
            return chain["calls"][i]["bid"], chain["strikes"][i]

        _, strike = bid_and_strike()
        contract = {"product": "NIFTY", "expiry": expiry, "strike": strike,
                    "option_type": "CE", "quantity": 65}
        market = []
        for i in range(args.orders):
            status, order = request(base, "POST", "/api/trade/order",
                                    {**contract, "side": "BUY" if i % 2 == 0 else "SELL",
                                     "order_type": "MARKET", "price": ""}, token)
            answered = time.time()
            assert status == 201, order
            arrived, _, _ = events.wait(lambda n, e, o=order["order_id"]: (
                n == "order_update" and e["order_id"] == o and e["status"] == "FILLED"), 60)
            market.append((arrived - answered) * 1000)
        resting = []
        for _ in range(args.resting):
            bid, _ = bid_and_strike()
            status, order = request(base, "POST", "/api/trade/order",
                                    {**contract, "side": "BUY", "order_type": "LIMIT",
                                     "price": bid}, token)
            assert status == 201, order
            arrived, _, fill = events.wait(lambda n, e, o=order["order_id"]: (
                n == "trade_update" and e["order_id"] == o), 300)
            filled = datetime.fromisoformat(fill["filled_at"].replace("Z", "+00:00"))
            resting.append((arrived - filled.astimezone(UTC).timestamp()) * 1000)
        events.client.disconnect()
        print(f"deltastream serve --workers {args.workers}, load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        figures("market order answered -> FILLED order_update", market)
        figures("resting order's fill written by the matcher -> trade_update", resting)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


if __name__ == "__main__":
    main()
