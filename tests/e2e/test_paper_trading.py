"""Paper trading end to end on a real `deltastream serve` (two web workers, the engine in its own
process, ``--hours always`` on an accelerated clock pinned to a Monday morning), with real
Socket.IO clients: a buy limit at the bid rests, a later tick crosses it and the engine's
matcher fills it, and the fill reaches its user's socket, not another user's. Then the whole
process group is SIGKILLed and the server restarted on the same data directory: a second
order that was resting (far below the market) is still resting, positions and cash are as
they were, and once its limit is moved to the bid the matcher fills it too and the event
reaches the user's new socket (on a later tick, or at once should the market have fallen
to the new limit meanwhile). On SQLite, and on the PostgreSQL at 127.0.0.1:5432 when one
answers there; and with Redis as Socket.IO's message queue, where each event still arrives
once."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import socketio

from .conftest import Server, start_server

CLOCK_START = "2026-11-23T04:00:00Z"      # Monday 09:30 in Kolkata
TICK = Decimal("0.05")                    # NIFTY's tick
LOT = 65
FILL_WAIT = 120.0                         # seconds a crossing may take (generous)
PEG_EVERY = 10.0                          # seconds between moves of a resting limit


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"DELTASTREAM_DATABASE_URL": request.getfixturevalue("postgres").create()}


def serve(tmp_path, env: dict[str, str]) -> Server:
    return start_server(tmp_path, "--hours", "always", "--tick-interval", "0.25",
                        "--strikes-each-side", "10", "--clock", "accelerated",
                        "--clock-speed", "120", "--workers", "2",
                        "--data-dir", str(tmp_path / "data"),
                        env={"DELTASTREAM_CLOCK_START": CLOCK_START, **env}, new_session=True)


def call(server: Server, method: str, path: str, body: Any = None,
         token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.base + path, data=data, headers=headers,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def register(server: Server, email: str) -> tuple[int, str]:
    status, body = call(server, "POST", "/api/auth/register",
                        {"email": email, "password": "correct horse battery", "name": "x"})
    assert status == 201, body
    return body["user"]["id"], body["token"]


def login(server: Server, email: str) -> str:
    status, body = call(server, "POST", "/api/auth/login",
                        {"email": email, "password": "correct horse battery"})
    assert status == 200, body
    return str(body["token"])


class AccountSocket:
    """A python-socketio client in a user's room, recording the private events."""

    def __init__(self, server: Server, token: str) -> None:
        self.events: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        for name in ("subscribed", "error", "order_update", "trade_update",
                     "position_update"):
            self.client.on(name, self._recorder(name))
        self.client.connect(server.base, transports=["websocket"], auth={"token": token},
                            wait_timeout=20)
        self.wait_for(lambda got: any(n == "subscribed" for n, _ in got), 20)

    def _recorder(self, name: str) -> Callable[[dict], None]:
        def record(data: dict) -> None:
            with self._lock:
                self.events.append((name, data))
        return record

    def got(self) -> list[tuple[str, dict]]:
        with self._lock:
            return list(self.events)

    def wait_for(self, check: Callable[[list[tuple[str, dict]]], bool],
                 timeout: float) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self.got()):
                return self.got()
            time.sleep(0.05)
        raise AssertionError(f"timed out; received {[n for n, _ in self.got()]}")

    def close(self) -> None:
        self.client.disconnect()


def trades_of(sock: AccountSocket, order_id: int) -> list[dict]:
    return [e for n, e in sock.got() if n == "trade_update" and e["order_id"] == order_id]


def contract(server: Server) -> dict[str, Any]:
    """NIFTY's at-the-money call of the second expiry (the first may expire while the
    accelerated clock runs), with its quote now."""
    status, body = server.get("/api/data/expiries/NIFTY")
    assert status == 200
    expiry = body["expiries"][1]
    status, chain = server.get(f"/api/data/chain/NIFTY?expiry={expiry}")
    assert status == 200
    chain = chain["chains"][0]
    i = chain["strikes"].index(chain["atm_strike"])
    return {"product": "NIFTY", "expiry": expiry, "strike": chain["strikes"][i],
            "option_type": "CE", "bid": Decimal(repr(chain["calls"][i]["bid"]))}


def quote(server: Server, c: dict[str, Any]) -> Decimal:
    status, body = server.get(f"/api/data/chain/NIFTY?expiry={c['expiry']}")
    assert status == 200
    chain = body["chains"][0]
    return Decimal(repr(chain["calls"][chain["strikes"].index(c["strike"])]["bid"]))


def limit_buy(server: Server, token: str, c: dict[str, Any], price: Decimal) -> dict:
    body = {k: c[k] for k in ("product", "expiry", "strike", "option_type")}
    status, order = call(server, "POST", "/api/trade/order",
                         {**body, "side": "BUY", "quantity": LOT, "order_type": "LIMIT",
                          "price": float(price)}, token)
    assert status == 201, order
    return dict(order)


def wait_filled(server: Server, token: str, sock: AccountSocket, c: dict[str, Any],
                order_id: int, limit: Decimal) -> Decimal:
    """Wait for the resting buy's FILLED event on ``sock``; its limit is the price it fills
    at, returned. The simulated market is random: while the order rests its limit is moved to
    the bid of the moment every ``PEG_EVERY`` seconds (still resting: the ask is above it), so
    a market drifting away from the first limit does not leave it unfilled for minutes."""
    deadline = time.monotonic() + FILL_WAIT
    while True:
        try:
            sock.wait_for(lambda got: any(
                n == "order_update" and e["order_id"] == order_id and e["status"] == "FILLED"
                for n, e in got), min(PEG_EVERY, max(0.1, deadline - time.monotonic())))
            return limit
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        bid = quote(server, c)
        if bid != limit:
            status, moved = call(server, "PATCH", f"/api/trade/order/{order_id}",
                                 {"price": float(bid)}, token)
            if status == 409 and moved["detail"].get("reason") == "not_open":
                continue            # it filled meanwhile: its event is on the way
            assert status == 200, moved
            if moved["status"] == "FILLED":     # the market came down to it meanwhile
                return Decimal(repr(moved["avg_fill_price"]))
            limit = bid


def order(server: Server, token: str, order_id: int) -> dict:
    status, body = call(server, "GET", "/api/trade/orders?limit=1000", token=token)
    assert status == 200
    return next(o for o in body["orders"] if o["order_id"] == order_id)


def account(server: Server, token: str) -> tuple[float, list[tuple]]:
    status, portfolio = call(server, "GET", "/api/trade/portfolio", token=token)
    assert status == 200
    status, positions = call(server, "GET", "/api/trade/positions", token=token)
    assert status == 200
    return portfolio["cash_balance"], [
        (p["symbol"], p["quantity"], p["avg_entry_price"], p["realized_pnl"], p["charges"])
        for p in positions["positions"]]


def kill_group(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(30)


def test_a_resting_fill_reaches_only_its_user_and_survives_a_sigkill(tmp_path, database_env):
    server = serve(tmp_path, database_env)
    sockets: list[AccountSocket] = []
    try:
        ann_id, ann = register(server, "ann@example.com")
        _, bob = register(server, "bob@example.com")
        ann_sock, bob_sock = AccountSocket(server, ann), AccountSocket(server, bob)
        sockets += [ann_sock, bob_sock]
        assert ("subscribed", {"room": f"user:{ann_id}", "type": "account"}) in ann_sock.got()

        call_ = contract(server)
        first = limit_buy(server, ann, call_, call_["bid"])
        assert first["status"] == "PENDING", first         # rests: the ask is above the bid
        ann_sock.wait_for(lambda got: any(
            n == "order_update" and e["order_id"] == first["order_id"] for n, e in got), 20)
        # A later tick crosses it; the engine process's matcher fills it at its limit.
        filled_at = wait_filled(server, ann, ann_sock, call_, first["order_id"], call_["bid"])
        fills = trades_of(ann_sock, first["order_id"])
        assert [(f["quantity"], Decimal(repr(f["price"]))) for f in fills] == [
            (LOT, filled_at)]
        assert any(n == "position_update" and e["quantity"] == LOT for n, e in ann_sock.got())
        assert order(server, ann, first["order_id"])["status"] == "FILLED"

        # The second order rests far below the market (it cannot fill before the kill).
        far = (call_["bid"] * Decimal("0.5") / TICK).to_integral_value() * TICK
        second = limit_buy(server, ann, call_, far)
        assert second["status"] == "PENDING"
        before = account(server, ann)
        assert before[1] and before[1][0][1] == LOT
        time.sleep(1.0)         # Bob's socket has had every tick's pass since Ann's fill
        assert [n for n, _ in bob_sock.got()] == ["subscribed"]

        kill_group(server)
        for sock in sockets:
            sock.close()
        sockets.clear()

        server = serve(tmp_path, database_env)
        ann, bob = login(server, "ann@example.com"), login(server, "bob@example.com")
        assert order(server, ann, second["order_id"])["status"] == "PENDING"
        assert account(server, ann) == before
        ann_sock, bob_sock = AccountSocket(server, ann), AccountSocket(server, bob)
        sockets += [ann_sock, bob_sock]
        # The surviving order, moved to the bid (still resting), is filled by the new engine's
        # matcher on a later tick.
        wait_filled(server, ann, ann_sock, call_, second["order_id"], far)
        assert [f["quantity"] for f in trades_of(ann_sock, second["order_id"])] == [LOT]
        assert order(server, ann, second["order_id"])["status"] == "FILLED"
        cash, positions = account(server, ann)
        assert positions[0][1] == 2 * LOT and cash < before[0]
        time.sleep(1.0)
        assert [n for n, _ in bob_sock.got()] == ["subscribed"]
    finally:
        for sock in sockets:
            sock.close()
        if server.process.poll() is None:
            kill_group(server)


def test_with_a_redis_message_queue_each_event_arrives_once(tmp_path, redis_prefix):
    """With Redis (Socket.IO's message queue and the bus) and two web workers, every worker
    tails the outbox: each delivers to its own sockets only, so nothing arrives twice."""
    server = serve(tmp_path, {"DELTASTREAM_REDIS_URL": "redis://127.0.0.1:6379/0",
                              "DELTASTREAM_REDIS_PREFIX": redis_prefix})
    sockets: list[AccountSocket] = []
    try:
        _, ann = register(server, "ann@example.com")
        _, bob = register(server, "bob@example.com")
        # Several sockets of one user (gunicorn hands each connection to either worker).
        sockets += [AccountSocket(server, ann) for _ in range(3)]
        bob_sock = AccountSocket(server, bob)
        sockets.append(bob_sock)
        call_ = contract(server)
        resting = limit_buy(server, ann, call_, call_["bid"])
        wait_filled(server, ann, sockets[0], call_, resting["order_id"], call_["bid"])
        for sock in sockets[1:3]:
            sock.wait_for(lambda got: any(
                n == "order_update" and e["order_id"] == resting["order_id"]
                and e["status"] == "FILLED" for n, e in got), 20)
        time.sleep(2.0)
        seen = []
        for sock in sockets[:3]:
            assert len(trades_of(sock, resting["order_id"])) == 1
            updates = [(e["status"], e["price"]) for n, e in sock.got()
                       if n == "order_update" and e["order_id"] == resting["order_id"]]
            # Placed, moved with the market while it rested, filled: each change once.
            assert [u[0] for u in updates] == ["PENDING"] * (len(updates) - 1) + ["FILLED"]
            assert len(set(updates)) == len(updates)
            seen.append(updates)
        assert seen[0] == seen[1] == seen[2]
        assert [n for n, _ in bob_sock.got()] == ["subscribed"]
    finally:
        for sock in sockets:
            sock.close()
        if server.process.poll() is None:
            kill_group(server)
