"""Matching of resting limit orders against one tick: milliseconds per tick, median of runs.

    python bench/trading.py [--orders 10000] [--contracts 400] [--repeat 51]

Builds ``--orders`` resting limit orders (random sides, whole lots of 65, limits within 6
ticks of the mid) spread over ``--contracts`` books of 5 levels, then times
``match_resting_limits`` on fresh quotes (each run a new random tick). The issue's target is
10,000 resting orders in at most 20 ms.

    python bench/trading.py --placement [--clients 16] [--seconds 20] [--workers N]

Order placement over HTTP instead: starts a real ``deltastream serve --hours always`` on a
fresh data directory (its SQLite store; the default number of web workers unless
``--workers``), registers one user per client, and ``--clients`` threads (one keep-alive
connection each) place NIFTY ATM call and put orders (market and limit at the touch, bought
and sold in turn; one more thread re-reads the chain every 0.2 s so the limits follow the
touch) for ``--seconds``: orders/s, latency p50/p90/p99 and errors (409 margin refusals
count as answered, and are counted), the web workers' CPU and the time they waited for a CPU (on a
shared machine the latter says how much of the latency is other processes' load), and the
engine process's CPU. The issue's target is 500 orders/s at 16 clients with p99 at
most 50 ms.

    python bench/trading.py --store-pass [--orders 10000] [--users 100] [--repeat 21]

A whole pass of ``PaperTrading.match_resting`` with the store instead: ``--orders`` resting
NIFTY limit orders (one lot each, spread over ``--users`` users, the ATM strikes of the first
expiries, limits 1 to 6 ticks outside the touch) in a fresh SQLite store, and a simulated
NIFTY market ticked a second at a time. Times, median of ``--repeat`` passes each: a pass on
the placement tick, when nothing crosses (the read of the open orders, the books and the
vectorised match; no writes), then passes on later ticks, when the market has moved onto some
limits (their fills, margin checks and writes, one lock per account that changes).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deltastream.trading.matching import match_resting_limits

LEVELS = 5
LOT = 65
PLACEMENT_LOT = 65    # NIFTY's lot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--contracts", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=51)
    parser.add_argument("--placement", action="store_true",
                        help="time order placement over HTTP instead (module docstring)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--store-pass", action="store_true",
                        help="time a whole match_resting pass with the store (module docstring)")
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()
    if args.placement:
        placement(args)
        return
    if args.store_pass:
        store_pass(args)
        return
    rng = np.random.default_rng(1)
    mid = rng.integers(100, 4000, args.contracts)
    contract = rng.integers(0, args.contracts, args.orders)
    is_buy = rng.random(args.orders) < 0.5
    limit = mid[contract] + rng.integers(-6, 7, args.orders)
    remaining = rng.integers(1, 10, args.orders) * LOT
    depth = np.arange(LEVELS)
    timings = []
    filled_units = 0
    for _ in range(args.repeat + 1):
        moved = mid + rng.integers(-3, 4, args.contracts)
        bid_ticks = moved[:, None] - 1 - depth
        ask_ticks = moved[:, None] + 1 + depth
        bid_sizes = rng.integers(1, 8, (args.contracts, LEVELS)) * LOT
        ask_sizes = rng.integers(1, 8, (args.contracts, LEVELS)) * LOT
        start = time.perf_counter()
        filled = match_resting_limits(contract, is_buy, limit, remaining, bid_ticks, bid_sizes,
                                      ask_ticks, ask_sizes)
        timings.append(time.perf_counter() - start)
        filled_units += int(filled.sum())
    timings = timings[1:]     # the first run warms NumPy's code paths
    print(f"match_resting_limits: {args.orders} resting orders on {args.contracts} contracts, "
          f"{LEVELS} levels: median {statistics.median(timings) * 1e3:.2f} ms, "
          f"max {max(timings) * 1e3:.2f} ms over {args.repeat} ticks "
          f"({filled_units / (args.repeat + 1):.0f} units filled per tick)")


# Order placement over HTTP (``--placement``).


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: object = None,
          token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data) if data else None


def _start_server(port: int, data: Path, workers: int | None) -> subprocess.Popen[bytes]:
    """A real ``deltastream serve --hours always`` on ``data`` (its SQLite store), healthy."""
    extra = [] if workers is None else ["--workers", str(workers)]
    server = subprocess.Popen(
        [sys.executable, "-m", "deltastream", "serve", "--port", str(port), "--data-dir",
         str(data), "--hours", "always", *extra],
        stdout=(data / "server.log").open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600   # a first start compiles the numeric kernels
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            status, _ = _call(conn, "GET", "/api/data/chain/NIFTY?strikes=1")
            conn.close()
            if status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.terminate()
            sys.exit("server did not serve NIFTY:\n" + (data / "server.log").read_text())
        time.sleep(0.5)


def _orders(conn: http.client.HTTPConnection) -> list[dict[str, Any]]:
    """The cycle each client places: the NIFTY ATM call and put, bought and sold back at the
    market and with limits at the touch (marketable when placed; they rest if the next tick
    moved away), so the positions stay about flat and the margin never runs out."""
    _, chain = _call(conn, "GET", "/api/data/chain/NIFTY?strikes=1")
    first = chain["chains"][0]
    cycle = []
    for side_name in ("calls", "puts"):
        quote = first[side_name][0]
        symbol = quote["contract_symbol"]
        cycle += [
            {"symbol": symbol, "side": "BUY", "quantity": PLACEMENT_LOT, "orderType": "MARKET",
             "price": ""},
            {"symbol": symbol, "side": "SELL", "quantity": PLACEMENT_LOT,
             "orderType": "MARKET", "price": ""},
            {"symbol": symbol, "side": "BUY", "quantity": PLACEMENT_LOT, "orderType": "LIMIT",
             "price": quote["ask"]},
            {"symbol": symbol, "side": "SELL", "quantity": PLACEMENT_LOT,
             "orderType": "LIMIT", "price": quote["bid"]},
        ]
    return cycle


def _refresh_prices(port: int, cycle: list[dict[str, Any]], stop: float) -> None:
    """Keeps the cycle's limits at the touch while the market moves: the chain is read every
    0.2 s and the cycle's orders replaced (one list item assignment each, which the clients
    read whole). Limits priced at the touch of the setup's tick would otherwise rest ever
    further from the market and block margin, and the run would time margin refusals."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < stop:
        for i, order in enumerate(_orders(conn)):
            cycle[i] = order
        time.sleep(0.2)
    conn.close()


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) so far; fields 14 and 15 of proc(5),
    counted after the command name's closing parenthesis."""
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def _run_queue_seconds(pid: int) -> float:
    """Time ``pid``'s threads have waited on a run queue for a CPU so far (the second field
    of /proc/<pid>/schedstat, ns; 0 where the kernel does not keep it)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (FileNotFoundError, IndexError, ValueError):
        return 0.0


def _engine_process(server: int) -> int | None:
    """The server's engine process (the child multiprocessing spawned), if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if parent == server and b"spawn_main" in command:
            return int(entry.name)
    return None


def _web_workers(server: int) -> list[int]:
    """The server's gunicorn workers: its children running ``deltastream serve`` (the
    engine is the child multiprocessing spawned, ``spawn_main`` in its command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if parent == server and "deltastream" in command and "spawn_main" not in command \
                and "resource_tracker" not in command:
            found.append(int(entry.name))
    return found


@dataclass
class _Client:
    token: str
    latencies: list[float] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def _run_client(port: int, client: _Client, cycle: list[dict[str, Any]], start: float,
                stop: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = 0
    while time.monotonic() < start:
        time.sleep(0.001)
    while time.monotonic() < stop:
        began = time.perf_counter()
        try:
            status, answer = _call(conn, "POST", "/api/trade/order", cycle[i % len(cycle)],
                                   client.token)
        except (OSError, http.client.HTTPException, ValueError) as error:
            client.errors.append(repr(error))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        client.latencies.append(time.perf_counter() - began)
        client.codes[status] += 1
        if status not in (201, 409):
            client.errors.append(f"{status} {answer}")
        i += 1
    conn.close()


def placement(args: argparse.Namespace) -> None:
    """``--clients`` threads, one user and one keep-alive connection each, place orders as
    fast as the server answers for ``--seconds``; prints orders/s and latency percentiles."""
    load = os.getloadavg()
    port = _free_port()
    data = Path(tempfile.mkdtemp(prefix="deltastream-bench-trading-"))
    server = _start_server(port, data, args.workers)
    try:
        setup = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        clients = []
        for n in range(args.clients):
            status, session = _call(setup, "POST", "/api/auth/register", {
                "email": f"bench{n}@example.com", "password": "bench-password-1"})
            if status != 201:
                sys.exit(f"register answered {status}: {session}")
            clients.append(_Client(session["token"]))
        cycle = _orders(setup)
        setup.close()
        # Warm-up: one order per client (accounts opened, code paths warm).
        for client in clients:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            _call(conn, "POST", "/api/trade/order", cycle[0], client.token)
            conn.close()
        start = time.monotonic() + 0.5
        stop = start + args.seconds
        threads = [threading.Thread(target=_run_client,
                                    args=(port, client, cycle, start, stop))
                   for client in clients]
        threads.append(threading.Thread(target=_refresh_prices, args=(port, cycle, stop)))
        workers = _web_workers(server.pid)
        engine = _engine_process(server.pid)
        watched = [*workers, *([engine] if engine else [])]
        cpu_before = [_cpu_seconds(p) for p in watched]
        queued_before = [_run_queue_seconds(p) for p in watched]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cpu = [_cpu_seconds(p) - b for p, b in zip(watched, cpu_before, strict=True)]
        queued = [_run_queue_seconds(p) - b
                  for p, b in zip(watched, queued_before, strict=True)]
        web_cpu = sum(cpu[:len(workers)])
        web_queued = sum(queued[:len(workers)])
        engine_cpu = sum(cpu[len(workers):])
    finally:
        server.terminate()
        server.wait(60)
    latencies = sorted(x for c in clients for x in c.latencies)
    codes: Counter[int] = sum((c.codes for c in clients), Counter())
    errors = [e for c in clients for e in c.errors]
    after = os.getloadavg()
    placed = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3

    print(f"placement: {args.clients} clients, {args.seconds:g} s, serve --hours always "
          f"--workers {args.workers or 'default'} on SQLite; load average before/after "
          f"{load[0]:.1f}/{after[0]:.1f} on {os.cpu_count()} cores")
    if not placed:
        print(f"  no order answered; errors: {errors[:5]}")
        return
    print(f"  {placed / args.seconds:.0f} orders/s ({placed} answered: "
          f"{', '.join(f'{k}: {v}' for k, v in sorted(codes.items()))}), latency p50 "
          f"{pct(0.5):.1f} ms, p90 {pct(0.9):.1f} ms, p99 {pct(0.99):.1f} ms, max "
          f"{latencies[-1] * 1e3:.1f} ms; {len(errors)} errors{': ' if errors else ''}"
          f"{'; '.join(errors[:3])}")
    print(f"  web workers' CPU {web_cpu / placed * 1e3:.2f} ms per order "
          f"({100 * web_cpu / args.seconds:.0f} % of one core), waiting for a CPU (run "
          f"queue) {web_queued / placed * 1e3:.2f} ms per order "
          f"({100 * web_queued / args.seconds:.0f} % of the time); engine process CPU "
          f"{100 * engine_cpu / args.seconds:.0f} % of one core")



# A whole matching pass with the store (``--store-pass``).


def store_pass(args: argparse.Namespace) -> None:
    """Times ``PaperTrading.match_resting`` over ``--orders`` resting orders on SQLite."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from deltastream.catalog import load_catalog
    from deltastream.catalog.loader import Catalog
    from deltastream.engine.setup import build_engine
    from deltastream.market.clock import FixedClock
    from deltastream.papertrade.service import PaperTrading, micros, quote_of
    from deltastream.settings import Settings
    from deltastream.store.accounts import SqlAccountStore
    from deltastream.store.database import open_database
    from deltastream.store.trading import ContractRef, NewOrder, SqlTradingStore

    rng = np.random.default_rng(2)
    start = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    clock = FixedClock(start)
    engine = build_engine(Catalog([p for p in load_catalog() if p.symbol == "NIFTY"]),
                          Settings(seed=9, strikes_each_side=10, hours="always"), clock)
    engine.tick()
    data = Path(tempfile.mkdtemp(prefix="deltastream-bench-pass-"))
    db = open_database(f"sqlite:///{data / 'store.db'}")
    store = SqlTradingStore(db)
    service = PaperTrading(store, engine.latest, lambda: engine.symbols,
                           now=lambda: clock.now())
    accounts = SqlAccountStore(db)
    users = [accounts.create_user(f"u{n}@example.com", "U", "h", 1).id
             for n in range(args.users)]
    snap = engine.latest("NIFTY")
    assert snap is not None
    tick = Decimal(repr(snap.terms.tick_size))
    lot = snap.terms.lot_size
    contracts = []
    for chain in snap.chains[:4]:
        for strike in chain.strikes.tolist():
            for right in ("call", "put"):
                contract = ContractRef("NIFTY", chain.expiry, Decimal(repr(strike)), right,
                                       "INR")
                quote = quote_of(snap, contract)
                if quote is not None and quote.bid > 0:
                    contracts.append((contract, quote))
    now = micros(clock.now())
    per_user = -(-args.orders // len(users))
    placed = 0
    for user in users:
        store.ensure_account(user, {"INR": Decimal("100000000")}, now)
        with store.locked(user) as ledger:
            for _ in range(min(per_user, args.orders - placed)):
                contract, quote = contracts[int(rng.integers(len(contracts)))]
                buy = bool(rng.random() < 0.5)
                away = int(rng.integers(1, 7)) * tick
                limit = max(quote.bid - away, tick) if buy else quote.ask + away
                ledger.insert_order(NewOrder(user, None, "NIFTY", contract,
                                             "BUY" if buy else "SELL", lot, "LIMIT", limit,
                                             None, "DAY", "PENDING", 0, None, False, None,
                                             now))
                placed += 1

    cpu: list[float] = []

    def timed(snapshots: dict) -> tuple[float, int]:
        # CPU time too: on a loaded machine the wall time mostly measures waiting for a core.
        began, began_cpu = time.perf_counter(), time.process_time()
        changed = service.match_resting(snapshots)
        cpu.append(time.process_time() - began_cpu)
        return time.perf_counter() - began, len(changed)

    timed({"NIFTY": snap})    # warm-up
    cpu.clear()
    quiet = [timed({"NIFTY": snap}) for _ in range(args.repeat)]
    quiet_cpu = list(cpu)
    reads = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        store.resting_orders(["NIFTY"])
        reads.append(time.perf_counter() - began)
    assert all(n == 0 for _, n in quiet), "the placement tick crossed a limit"
    moving = []
    for _ in range(args.repeat):
        clock.advance(1.0)
        engine.tick()
        moving.append(timed({"NIFTY": engine.latest("NIFTY")}))
    open_left = len(store.open_orders())
    db.dispose()
    q = [t for t, _ in quiet]
    m = [t for t, _ in moving]
    n = [c for _, c in moving]
    print(f"store pass: {placed} resting NIFTY limit orders of {len(users)} users on "
          f"{len(contracts)} contracts, SQLite ({data / 'store.db'}), on {os.cpu_count()} cores")
    print(f"  nothing crosses: median {statistics.median(q) * 1e3:.1f} ms, max "
          f"{max(q) * 1e3:.1f} ms over {len(q)} passes, CPU median "
          f"{statistics.median(quiet_cpu) * 1e3:.1f} ms (of which reading the open orders: "
          f"median {statistics.median(reads) * 1e3:.1f} ms); load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"  market moving a second a tick: median {statistics.median(m) * 1e3:.1f} ms, max "
          f"{max(m) * 1e3:.1f} ms over {len(m)} passes; orders changed per pass median "
          f"{statistics.median(n):.0f}, max {max(n)}; {open_left} still open")


if __name__ == "__main__":
    main()
