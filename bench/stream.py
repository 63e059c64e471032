"""Live stream fan-out: N Socket.IO clients (WebSocket transport, loopback) on `deltastream serve`.

    python bench/stream.py [--clients 1000] [--seconds 30] [--procs 2] [--chains 0]
                           [--hours always|exchange] [--workers 1]

Starts a server on a free loopback port (ticking once a second, all products of the default
catalogue, trading around the clock: ``--hours exchange`` keeps the exchange sessions, outside
which the engine only re-announces the standing quotes every ``stall_after/2``), connects the
clients from ``--procs`` client processes (gevent, a lean Socket.IO protocol client: Engine.IO
v4 handshake, ping/pong, namespace connect, events), waits until every client is connected and
has seen a tick, then streams for ``--seconds`` and prints: delivered messages/s, latency from
the server handing a tick to the stream (``published_at``) to the client receiving it
(p50/p99), the same from the tick's market ``timestamp`` (includes the engine's build time),
the part between the two (market time to the web process handing the tick to the stream:
engine build, bus and decoding), each tick's slowest delivery from its market time (median,
p90 and worst over the ticks: with 16,000 messages a tick and 30 ticks the p99 is set by the
slowest one or two ticks, so one stall of the machine moves it), messages missing in the
clients' sequences, the server's coalesced and dropped counters, and the CPU of the server's
processes while streaming (read from /proc as bench/idle.py does) and of each client process
(its latency includes its own reading: on a loaded machine the clients compete with the
server for the cores). ``--chains K`` subscribes every client to K chains as well.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from idle import find_processes, read_cpu  # bench/ is the script's directory on sys.path

PRODUCTS = ["NIFTY", "BANKNIFTY", "FINNIFTY", "SENSEX", "AAPL", "TSLA", "SPY", "QQQ"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


# -- one client process ----------------------------------------------------------------------

def ws_frame(text: str) -> bytes:
    """A masked client text frame."""
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                            bytes([0x80 | 126]) + struct.pack("!H", n) if n < 65536 else
                            bytes([0x80 | 127]) + struct.pack("!Q", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


PING = b"\x81\x012"     # the Engine.IO ping as the server frames it (FIN, text, length 1, "2")


def split_frames(buf: bytes) -> tuple[list[bytes], int]:
    """The complete (unmasked, unfragmented) frames' payloads at the start of ``buf``, and
    the position after the last of them."""
    messages = []
    pos = 0
    end = len(buf)
    while end - pos >= 2:
        n = buf[pos + 1] & 0x7F
        off = pos + 2
        if n == 126:
            if end - pos < 4:
                break
            n = struct.unpack_from("!H", buf, pos + 2)[0]
            off = pos + 4
        elif n == 127:
            if end - pos < 10:
                break
            n = struct.unpack_from("!Q", buf, pos + 2)[0]
            off = pos + 10
        if end < off + n:
            break
        messages.append(buf[off:off + n])
        pos = off + n
    return messages, pos


class LeanClient:
    """A Socket.IO client over a raw WebSocket. While measuring it keeps (arrival time,
    bytes received) only, answering pings (found as their frame's bytes: a market-data frame
    starts with "42" and holds JSON, so these three bytes are never part of one); it splits
    and decodes the frames after the run, so its own work per tick is one receive and the
    latency is the server's, not the client's parsing."""

    def __init__(self, port: int, chains: list[str]) -> None:
        self.port = port
        self.chains = chains
        self.connected = False
        self.ticked = False
        self.measuring = False
        self.start = b""                            # a partial frame as measuring began
        self.received: list[tuple[float, bytes]] = []

    def run(self) -> None:
        from gevent import socket as gsocket
        sock = gsocket.create_connection(("127.0.0.1", self.port))
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                      f"Host: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head[:80]
        while not self.measuring:
            messages, pos = split_frames(buf)
            buf = buf[pos:]
            for message in messages:
                if message[:2] == b"42":
                    self.ticked = True
                elif message == b"2":                        # Engine.IO ping
                    sock.sendall(ws_frame("3"))
                elif message[:1] == b"0":                    # Engine.IO open
                    sock.sendall(ws_frame("40"))
                elif message[:2] == b"40":                   # namespace connected
                    self.connected = True
                    for product in self.chains:
                        sock.sendall(ws_frame("42" + json.dumps(
                            ["subscribe", {"type": "chain", "symbol": product}])))
            chunk = sock.recv(1 << 20)
            if not chunk:
                return
            if self.measuring:
                self.start = buf
                buf = b""
                self.received.append((time.time(), chunk))
                break
            buf += chunk
        tail = b""
        while True:         # measuring, and after it only answering pings
            chunk = sock.recv(1 << 20)
            now = time.time()
            if not chunk:
                return
            if self.measuring:
                self.received.append((now, chunk))
            if PING in tail + chunk:
                sock.sendall(ws_frame("3"))
            tail = chunk[-2:]

    def messages(self) -> list[tuple[float, bytes]]:
        """(arrival time, message) of every market-data message received while measuring:
        each at the time the receive completing its frame returned."""
        kept = []
        buf = self.start
        for arrived, chunk in self.received:
            buf += chunk
            messages, pos = split_frames(buf)
            buf = buf[pos:]
            kept += [(arrived, m) for m in messages if m[:2] == b"42"]
        return kept

    def figures(self, stamps: dict[str, float]) -> dict:
        latency: list[float] = []
        tick_latency: list[float] = []
        handover: list[float] = []
        slowest: dict[int, float] = {}          # sequence -> the latest tick-to-client
        last: dict[tuple[str, str], int] = {}
        missing = 0
        for arrived, message in self.messages():
            event, data = json.loads(message[2:])
            if "sequence" not in data:
                continue
            key = (event, data["product"])
            prev = last.get(key)
            last[key] = data["sequence"]
            if prev is not None and data["sequence"] > prev + 1:
                missing += data["sequence"] - prev - 1
            published, ticked = (stamps.get(data[f]) for f in ("published_at", "timestamp"))
            if published is None:
                published = stamps[data["published_at"]] = epoch(data["published_at"])
            if ticked is None:
                ticked = stamps[data["timestamp"]] = epoch(data["timestamp"])
            latency.append(arrived - published)
            tick_latency.append(arrived - ticked)
            handover.append(published - ticked)
            sequence = data["sequence"]
            slowest[sequence] = max(slowest.get(sequence, 0.0), arrived - ticked)
        return {"count": len(latency), "latency": latency, "tick_latency": tick_latency,
                "handover": handover, "missing": missing, "slowest": slowest}


def client_process(port: int, count: int, chains: int, offset: int, conn, go) -> None:
    from gevent import monkey
    monkey.patch_all()
    import gevent

    clients = [LeanClient(port, [PRODUCTS[(offset + i + j) % len(PRODUCTS)]
                                 for j in range(chains)]) for i in range(count)]
    for c in clients:
        gevent.spawn(c.run)
        gevent.sleep(0.002)                               # don't flood the accept queue
    deadline = time.monotonic() + 120
    while not all(c.connected and c.ticked for c in clients):
        if time.monotonic() > deadline:
            break
        gevent.sleep(0.1)
    conn.send(sum(1 for c in clients if c.connected and c.ticked))
    while not go.is_set():
        gevent.sleep(0.05)
    for c in clients:
        c.measuring = True
    cpu = time.process_time()
    while go.is_set():
        gevent.sleep(0.05)
    cpu = time.process_time() - cpu
    for c in clients:
        c.measuring = False
    stamps: dict[str, float] = {}
    figures = [c.figures(stamps) for c in clients]
    slowest: dict[int, float] = {}
    for f in figures:
        for sequence, seconds in f["slowest"].items():
            slowest[sequence] = max(slowest.get(sequence, 0.0), seconds)
    conn.send({"count": sum(f["count"] for f in figures),
               "latency": [x for f in figures for x in f["latency"]],
               "tick_latency": [x for f in figures for x in f["tick_latency"]],
               "handover": [x for f in figures for x in f["handover"]],
               "missing": sum(f["missing"] for f in figures), "cpu": cpu, "slowest": slowest,
               "lagging": sum(1 for f in figures if f["missing"])})


# -- the parent: server, client processes, figures ------------------------------------------

def counters(base: str) -> dict[str, float]:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("delivered", "coalesced", "dropped"):
            if line.startswith(f'deltastream_stream_{name}_total{{transport="socketio"}}'):
                out[name] = float(line.split()[-1])
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    ap.add_argument("--chains", type=int, default=0, help="chains each client subscribes to")
    ap.add_argument("--tick-interval", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=1, help="the server's web workers")
    ap.add_argument("--hours", choices=["always", "exchange"], default="always",
                    help="the server's trading hours (always: every product ticks)")
    args = ap.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = Path(tempfile.mkdtemp(prefix="deltastream-bench-"))
    env = {**os.environ, "DELTASTREAM_MAX_CONNECTIONS": str(args.clients + 100)}
    server = subprocess.Popen(
        [sys.executable, "-m", "deltastream", "serve", "--port", str(port), "--data-dir",
         str(data), "--tick-interval", str(args.tick_interval), "--hours", args.hours,
         "--workers", str(args.workers)],
        stdout=(data / "server.log").open("wb"), stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(base + "/api/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("server did not become healthy:\n" + (data / "server.log").read_text())
            time.sleep(0.5)

        ctx = multiprocessing.get_context("spawn")
        go = ctx.Event()
        pipes, procs = [], []
        share = [args.clients // args.procs + (i < args.clients % args.procs)
                 for i in range(args.procs)]
        for i, n in enumerate(share):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=client_process,
                            args=(port, n, args.chains, sum(share[:i]), child, go))
            p.start()
            pipes.append(parent)
            procs.append(p)
        connected = sum(p.recv() for p in pipes)
        before = counters(base)
        serving = find_processes(server.pid)
        cpu_before = {pid: read_cpu(pid) for _, pid in serving.labelled()}
        go.set()
        time.sleep(args.seconds)
        go.clear()
        cpu_after = {pid: read_cpu(pid) for _, pid in serving.labelled()}
        results = [p.recv() for p in pipes]
        after = counters(base)
        for p in procs:
            p.join(30)
    finally:
        server.terminate()
        server.wait(30)

    count = sum(r["count"] for r in results)
    latency = [x for r in results for x in r["latency"]]
    tick_latency = [x for r in results for x in r["tick_latency"]]
    handover = [x for r in results for x in r["handover"]]
    slowest: dict[int, float] = {}
    for r in results:
        for sequence, seconds in r["slowest"].items():
            slowest[sequence] = max(slowest.get(sequence, 0.0), seconds)
    # Ticks measured in full: the first and last may have reached only some clients in time.
    per_tick = sorted(slowest[q] for q in sorted(slowest)[1:-1]) or [float("nan")]
    cpu = []
    for name, pid in serving.labelled():
        start, end = cpu_before[pid], cpu_after[pid]
        if start is not None and end is not None:
            cpu.append(f"{name} {100 * (end - start) / args.seconds:.1f} %")
    load = os.getloadavg()
    print(f"clients connected          {connected} / {args.clients} "
          f"({args.procs} client processes, {args.chains} chain subscriptions each)")
    print(f"streamed                   {args.seconds:.0f} s, ticks every "
          f"{args.tick_interval:g} s, {len(PRODUCTS)} products, --hours {args.hours}, "
          f"{args.workers} web worker{'s' if args.workers > 1 else ''}")
    print(f"delivered messages/s       {count / args.seconds:,.0f}")
    print(f"publish-to-client ms       p50 {1000 * statistics.median(latency):.1f}  "
          f"p99 {1000 * percentile(latency, 0.99):.1f}  max {1000 * max(latency):.1f}")
    print(f"tick-to-client ms          p50 {1000 * statistics.median(tick_latency):.1f}  "
          f"p99 {1000 * percentile(tick_latency, 0.99):.1f}  (from the tick's market time: "
          "includes the engine's build)")
    print(f"tick's slowest client ms   median {1000 * statistics.median(per_tick):.1f}  "
          f"p90 {1000 * percentile(per_tick, 0.9):.1f}  worst {1000 * per_tick[-1]:.1f}  "
          f"(tick-to-client of each of {len(per_tick)} ticks' last message: the p99 above is "
          "the worst ticks')")
    print(f"tick-to-stream ms          p50 {1000 * statistics.median(handover):.1f}  "
          f"p99 {1000 * percentile(handover, 0.99):.1f}  (market time to the web process "
          "handing the tick to the stream: engine build, bus, decoding)")
    print(f"missing in sequences       {sum(r['missing'] for r in results)} messages "
          f"({sum(r['lagging'] for r in results)} clients fell behind)")
    print(f"server coalesced / dropped {after.get('coalesced', 0) - before.get('coalesced', 0):.0f}"
          f" / {after.get('dropped', 0) - before.get('dropped', 0):.0f}")
    print(f"server CPU (% of one core)  {', '.join(cpu)}")
    print("client CPU (% of one core)  " + ", ".join(
        f"{100 * r['cpu'] / args.seconds:.1f} %" for r in results))
    print(f"load average (1/5/15 min)  {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
          f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
