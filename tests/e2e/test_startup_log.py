"""The log of the README's run command, started as a user starts it: one format, no warnings
or tracebacks, the compile line on a cold kernel cache only, one ready line with the URL, no
line per request unless ``--access-log`` asks (then one per request), and JSON lines with
``--log-format json``."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.waiting import wait_until

README = Path(__file__).resolve().parents[2] / "README.md"
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
                       r"[\w.]+: .*")
COMPILING = "compiling numeric kernels (first start only)…"


def readme_run_command() -> list[str]:
    """The README's command that runs the server (the last step of its first shell block
    that runs ``deltastream serve``), with the installed ``deltastream`` of this venv."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    command = next(b for b in blocks if "deltastream serve" in b)
    step = shlex.split(command.strip().split("&&")[-1])
    assert Path(step[0]).name == "deltastream" and step[1] == "serve", step
    return [str(Path(sys.executable).parent / "deltastream"), *step[1:]]


@dataclass
class Run:
    """A server started from the README's command, and the requests made to it."""

    process: subprocess.Popen
    port: int
    log_path: Path
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> int:
        self.requests[path] = self.requests.get(path, 0) + 1
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as r:
                r.read()
                return int(r.status)
        except urllib.error.HTTPError as e:
            return e.code

    def log(self) -> str:
        return self.log_path.read_text()


# Servers started by the running test, killed after it if it failed before stopping them.
_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_server_left() -> Iterator[None]:
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> Run:
    port = free_port()
    work = tmp_path / f"cwd-{port}"
    work.mkdir()
    log_path = tmp_path / f"server-{port}.log"
    process = subprocess.Popen(
        [*readme_run_command(), "--port", str(port), "--data-dir", str(work / "data"), *flags],
        cwd=work, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})}, start_new_session=True)
    _STARTED.append(process)
    run = Run(process, port, log_path)
    # As a user would: wait for the ready line, then use the server.
    deadline = time.monotonic() + 180
    while f"ready {run.base}" not in run.log():
        assert process.poll() is None, f"server exited early:\n{run.log()}"
        assert time.monotonic() < deadline, f"no ready line in time:\n{run.log()}"
        time.sleep(0.1)
    assert run.get("/api/health") == 200
    return run


def use_it(run: Run) -> None:
    """REST, a Server-Sent Events stream and Socket.IO long-polling, as clients do."""
    assert run.get("/api/data/chain/NIFTY?strikes=5") == 200
    assert run.get("/api/analytics/pcr/NIFTY") == 200
    with socket.create_connection(("127.0.0.1", run.port), timeout=10) as sse:
        sse.sendall(b"GET /api/stream?products=NIFTY HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while b"event:" not in received:
            received += sse.recv(65536)
        assert received.startswith(b"HTTP/1.1 200")
    run.requests["/api/stream?products=NIFTY"] = 1
    assert run.get("/socket.io/?EIO=4&transport=polling") == 200


def stop(run: Run) -> str:
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(60) == 0
    return run.log()


def assert_quiet(log: str) -> None:
    for word in ("warning", "WARNING", "Traceback", "Error"):
        assert word not in log, log
    for line in log.splitlines():
        assert TEXT_LINE.fullmatch(line), line


def ready_lines(log: str, run: Run) -> list[str]:
    return [line for line in log.splitlines() if line.endswith(f" ready {run.base}")]


def test_readme_command_logs_quietly_and_says_compiling_then_ready(tmp_path):
    # A cold kernel cache of its own: the first start compiles, the second loads.
    cache = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    run = start(tmp_path, env=cache)
    use_it(run)
    log = stop(run)
    assert_quiet(log)
    lines = log.splitlines()
    (ready,) = ready_lines(log, run)
    assert ready.split(" ", 2)[2] == f"INFO deltastream: ready {run.base}"
    (compiling,) = [line for line in lines if line.endswith(COMPILING)]
    assert lines.index(compiling) < lines.index(ready)
    # No line per request.
    assert not [line for line in lines if "/api/" in line or "socket.io" in line], log

    again = start(tmp_path, env=cache)
    use_it(again)
    log = stop(again)
    assert_quiet(log)
    assert len(ready_lines(log, again)) == 1
    assert COMPILING not in log


def test_access_log_has_one_line_per_request_in_the_same_format(tmp_path):
    run = start(tmp_path, "--access-log")
    use_it(run)
    # The stream's line is written when the server notices the client left (its next tick).
    wait_until(lambda: "/api/stream?products=NIFTY" in run.log(), 30, "the stream's line")
    log = stop(run)
    assert_quiet(log)
    access = [line.split(" ", 3)[3] for line in log.splitlines()
              if " INFO deltastream.access: " in line]
    for path, count in run.requests.items():
        mine = [line for line in access if f'"GET {path} HTTP/1.1"' in line]
        assert len(mine) == count, (path, count, access)
    assert len(access) == sum(run.requests.values()), access
    assert any(re.fullmatch(r'deltastream\.access: 127\.0\.0\.1 "GET /api/data/chain/NIFTY'
                            r'\?strikes=5 HTTP/1\.1" 200 \d+ \d+\.\d ms', line)
               for line in access), access
    assert len(ready_lines(log, run)) == 1


def test_json_log_format_makes_every_line_a_json_object(tmp_path):
    run = start(tmp_path, "--log-format", "json", "--access-log")
    use_it(run)
    log = stop(run)
    entries = [json.loads(line) for line in log.splitlines()]
    for entry in entries:
        assert {"time", "level", "logger", "message", "pid"} <= entry.keys(), entry
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
        assert entry["level"] == "INFO", entry
    assert [e["message"] for e in entries].count(f"ready {run.base}") == 1
    chain = [e for e in entries if e["logger"] == "deltastream.access"
             and e.get("path") == "/api/data/chain/NIFTY?strikes=5"]
    assert len(chain) == 1 and chain[0]["status"] == 200 and chain[0]["method"] == "GET"
    # Several processes (the server's, a worker, the engine's) write the one log.
    assert len({e["pid"] for e in entries}) >= 3


def test_ready_is_said_once_with_several_workers(tmp_path):
    workers = 2
    run = start(tmp_path, "--workers", str(workers))
    use_it(run)
    log = stop(run)
    assert_quiet(log)
    assert len(ready_lines(log, run)) == 1
    assert log.count("Booting worker with pid") == workers
