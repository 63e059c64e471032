"""CPU of an idle `deltastream serve` (no client connected), per process, read from /proc.

    python bench/idle.py [--seconds 60] [--warmup 20] [--tick-interval 1.0] [--only open|closed]

Starts a real server on a free loopback port twice, each time with its own data directory and
nothing connected but this script's health checks (one at the start and one at the end of the
measurement):

- ``open``: ``--hours always``, every product trading at the default tick (the worst case of
  an idle server: a full tick every interval);
- ``closed``: the default exchange hours on a fixed clock standing on a Saturday
  (``--closed-at``), every market closed: the engine only re-announces the standing quotes
  every ``stall_after/2``.

After ``--warmup`` seconds (kernels compiled, the first ticks and archives written) it reads
utime + stime of each of the server's processes from ``/proc/<pid>/stat`` (all threads, in
clock ticks of ``SC_CLK_TCK`` per second), waits ``--seconds``, reads them again and prints
each process's CPU as a percentage of one core (100 % = one core busy the whole time): the
engine (the ``serve`` process's child started by multiprocessing's spawn), each web worker,
and the supervising server process. It also prints the engine ticks health counted over the
window and the worst ``--window``-second stretch of the engine, so a periodic spike (an
archive, a checkpoint) shows beside the mean.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# A Saturday: NSE, BSE and the US exchanges are all closed all day.
SATURDAY = "2026-12-05T12:00:00Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(stat_line: str) -> tuple[int, float]:
    """``(parent pid, utime + stime in seconds)`` of one ``/proc/<pid>/stat`` line.

    The command name (field 2) is in parentheses and may hold spaces or parentheses itself,
    so the fields are counted after its last closing parenthesis: there, the state is the
    first field (field 3 of proc(5)), the parent pid field 4, utime field 14 and stime 15."""
    rest = stat_line[stat_line.rindex(")") + 2:].split()
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / CLOCK_TICKS


def read_cpu(pid: int) -> float | None:
    """Seconds of CPU ``pid`` used so far (every thread), None once it is gone."""
    try:
        return cpu_seconds(Path(f"/proc/{pid}/stat").read_text())[1]
    except (FileNotFoundError, ProcessLookupError):
        return None


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent, _ = cpu_seconds((entry / "stat").read_text())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if parent == pid:
            found.append(int(entry.name))
    return sorted(found)


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


@dataclass
class ServerProcesses:
    """The pids of one ``serve``: itself, its engine process and its web workers."""

    server: int
    engine: int
    web: list[int]

    def labelled(self) -> list[tuple[str, int]]:
        return ([("engine", self.engine)]
                + [(f"web worker {i + 1}", pid) for i, pid in enumerate(self.web)]
                + [("server (supervisor)", self.server)])


def find_processes(server: int) -> ServerProcesses:
    """The engine is the child multiprocessing spawned (``spawn_main`` in its command line);
    the web workers are the children running ``deltastream serve`` (gunicorn's forks);
    multiprocessing's resource tracker is neither."""
    engines, web = [], []
    for pid in children(server):
        cmd = command_line(pid)
        if "spawn_main" in cmd:
            engines.append(pid)
        elif "deltastream" in cmd and "resource_tracker" not in cmd:
            web.append(pid)
    if len(engines) != 1 or not web:
        raise RuntimeError(f"expected one engine and some web workers under pid {server}, "
                           f"found engines {engines}, web {web}")
    return ServerProcesses(server, engines[0], web)


def health(base: str) -> dict:
    with urllib.request.urlopen(base + "/api/health", timeout=10) as r:
        answer: dict = json.loads(r.read())
        return answer


def measure(label: str, serve_args: list[str], env: dict[str, str], args: argparse.Namespace
            ) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = Path(tempfile.mkdtemp(prefix="deltastream-idle-"))
    server = subprocess.Popen(
        [sys.executable, "-m", "deltastream", "serve", "--port", str(port), "--data-dir",
         str(data), "--tick-interval", str(args.tick_interval), *serve_args],
        stdout=(data / "server.log").open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                health(base)
                break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("server did not become healthy:\n" + (data / "server.log").read_text())
            time.sleep(0.5)
        time.sleep(args.warmup)
        procs = find_processes(server.pid)
        ticks_before = health(base)["engine"]["ticks"]
        start = {pid: read_cpu(pid) for _, pid in procs.labelled()}
        began = time.monotonic()
        # The engine's CPU in consecutive windows, for its worst stretch.
        engine_marks = [(began, start[procs.engine])]
        while (now := time.monotonic()) < began + args.seconds:
            time.sleep(min(args.window, began + args.seconds - now))
            engine_marks.append((time.monotonic(), read_cpu(procs.engine)))
        end = {pid: read_cpu(pid) for _, pid in procs.labelled()}
        elapsed = time.monotonic() - began
        status = health(base)
        ticks = status["engine"]["ticks"] - ticks_before
    finally:
        server.terminate()
        server.wait(30)

    markets = status.get("markets") or {}
    states = sorted({m.get("market_status") for m in markets.values()} - {None})
    print(f"{label}: serve {' '.join(serve_args)}; {elapsed:.1f} s measured after "
          f"{args.warmup:g} s of warm-up; markets {'/'.join(states) or 'unknown'}; "
          f"{ticks} engine ticks published")
    for name, pid in procs.labelled():
        before, after = start[pid], end[pid]
        if before is None or after is None:
            print(f"  {name:<22} pid {pid:>7}  exited during the measurement")
            continue
        share = 100 * (after - before) / elapsed
        print(f"  {name:<22} pid {pid:>7}  {share:6.1f} % of one core")
    worst = max(((b - a) / (t1 - t0) for (t0, a), (t1, b) in itertools.pairwise(engine_marks)
                 if a is not None and b is not None and t1 > t0), default=float("nan"))
    print(f"  {'engine, worst window':<22} {'':>11}  {100 * worst:6.1f} % of one core "
          f"({args.window:g} s windows)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the measurement")
    ap.add_argument("--warmup", type=float, default=20.0,
                    help="seconds after the server is healthy before measuring")
    ap.add_argument("--tick-interval", type=float, default=1.0)
    ap.add_argument("--window", type=float, default=5.0,
                    help="seconds per window of the engine's worst-window figure")
    ap.add_argument("--closed-at", default=SATURDAY,
                    help="the fixed market time of the closed case (ISO-8601)")
    ap.add_argument("--only", choices=["open", "closed"], help="measure one case only")
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"load average before (1/5/15 min) {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on "
          f"{os.cpu_count()} cores")
    if args.only in (None, "open"):
        measure("open (in session)", ["--hours", "always"], {}, args)
    if args.only in (None, "closed"):
        measure("closed (exchange hours, fixed clock)", ["--hours", "exchange", "--clock",
                                                         "fixed"],
                {"DELTASTREAM_CLOCK_START": args.closed_at}, args)
    load = os.getloadavg()
    print(f"load average after (1/5/15 min)  {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


if __name__ == "__main__":
    main()
