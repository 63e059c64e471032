"""A real `deltastream serve` process on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.ports import free_port


def fetch(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@dataclass
class Server:
    process: subprocess.Popen
    base: str
    log: Path

    def get(self, path: str) -> tuple[int, dict]:
        return fetch(self.base + path)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                 port: int | None = None, new_session: bool = False) -> Server:
    """``new_session``: the server leads a process group of its own (its workers and engine
    process included), so a test can kill all of it at once."""
    port = port or free_port()
    log = tmp_path / f"server-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "deltastream", "serve", "--port", str(port), *args],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        start_new_session=new_session)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()}")
        try:
            status, _ = server.get("/api/health")
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"server not healthy in time:\n{log.read_text()}")


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path, "--hours", "always",
                       "--tick-interval", "0.25", "--data-dir", str(tmp_path))
    yield srv
    if srv.process.poll() is None:
        srv.process.kill()
        srv.process.wait()
