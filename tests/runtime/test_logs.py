"""The server's log: one text or JSON format for every record, level filtering, quiet
libraries, warnings as records, gunicorn's lines and access log, and what a start says (the
compile line only on a cold Numba cache, the ready line once health answers 200)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from gunicorn.config import Config
from gunicorn.workers.ggevent import GeventResponse

from deltastream.runtime import logs
from deltastream.settings import Settings
from tests.support.ports import free_port
from tests.support.waiting import wait_until

# 2026-12-06 01:15:42.123 UTC
PINNED = 1796519742.123


def record(message: str = "connected to the engine bus", level: int = logging.INFO,
           name: str = "deltastream.bus.feed", exc_info: object = None) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, message, None, exc_info)  # type: ignore[arg-type]
    rec.created = PINNED
    return rec


@pytest.fixture()
def isolated_logging() -> Iterator[io.StringIO]:
    """configure() on a private stream; the process's logging as it was afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers),
             {name: logging.getLogger(name).level for name in logs.QUIET_LIBRARIES})
    stream = io.StringIO()
    show_warning = warnings.showwarning
    yield stream
    warnings.showwarning = show_warning
    level, handlers, quiet = saved
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, lib_level in quiet.items():
        logging.getLogger(name).setLevel(lib_level)


def test_text_lines_have_the_utc_time_to_the_second_level_logger_and_message():
    assert logs.TextFormatter().format(record()) == (
        "2026-12-06 01:15:42 INFO deltastream.bus.feed: connected to the engine bus")


def test_json_lines_are_one_object_with_time_level_logger_message_and_pid():
    line = logs.JsonFormatter().format(record("ready http://127.0.0.1:8001 …"))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry == {"time": "2026-12-06T01:15:42.123Z", "level": "INFO",
                     "logger": "deltastream.bus.feed",
                     "message": "ready http://127.0.0.1:8001 …", "pid": entry["pid"]}
    assert entry["pid"] > 0


def test_json_carries_an_exception_as_text_on_the_same_line():
    try:
        raise ValueError("boom")
    except ValueError:
        line = logs.JsonFormatter().format(record("tick failed", logging.ERROR,
                                                  exc_info=sys.exc_info()))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["message"] == "tick failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: boom")


def test_configure_drops_records_below_the_level(isolated_logging):
    logs.configure(Settings(log_level="warning"), isolated_logging)
    logging.getLogger("deltastream.test").info("not this")
    logging.getLogger("deltastream.test").warning("this")
    assert [line.split(" ", 2)[2] for line in isolated_logging.getvalue().splitlines()] == [
        "WARNING deltastream.test: this"]


def test_configure_again_replaces_its_handler_and_keeps_others(isolated_logging):
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    logs.configure(Settings(), io.StringIO())
    logs.configure(Settings(log_format="json"), isolated_logging)
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter,
                                                                    logs.JsonFormatter)]
    assert len(ours) == 1 and other in logging.getLogger().handlers
    logging.getLogger("deltastream.test").info("once")
    assert [json.loads(line)["message"] for line in
            isolated_logging.getvalue().splitlines()] == ["once"]


def test_alembic_chatter_is_dropped_and_its_warnings_kept(isolated_logging):
    logs.configure(Settings(log_level="debug"), isolated_logging)
    logging.getLogger("alembic.runtime.plugins").info("setup plugin alembic.autogenerate")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("numba.core.byteflow").debug("pending: ...")
    logging.getLogger("alembic.runtime.migration").warning("a real problem")
    assert [line.split(" ", 2)[2] for line in isolated_logging.getvalue().splitlines()] == [
        "WARNING alembic.runtime.migration: a real problem"]


def test_python_warnings_are_records_in_the_format(isolated_logging):
    logs.configure(Settings(), isolated_logging)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        line_no = sys._getframe().f_lineno + 1
        warnings.warn("something is deprecated", UserWarning, stacklevel=1)
    (line,) = isolated_logging.getvalue().splitlines()
    assert line.split(" ", 2)[2] == (f"WARNING py.warnings: {__file__}:{line_no}: UserWarning: "
                                     "something is deprecated")


def gunicorn_logger(access_log: bool, level: str = "info") -> logs.GunicornLogger:
    cfg = Config()
    cfg.set("accesslog", "-" if access_log else None)
    cfg.set("loglevel", level)
    return logs.GunicornLogger(cfg)


def environ(agent: str = "curl/8") -> dict[str, str]:
    return {"REQUEST_METHOD": "GET", "RAW_URI": "/api/data/chain/NIFTY?strikes=5",
            "PATH_INFO": "/api/data/chain/NIFTY", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": agent}


def served(logger: logs.GunicornLogger, agent: str = "curl/8") -> None:
    logger.access(GeventResponse("200 OK", [], 1234), [], environ(agent),
                  timedelta(microseconds=2500))


class _Records(logging.Handler):
    """Every record any logger emits (level 0), to show that none is made."""

    def __init__(self) -> None:
        super().__init__(0)
        self.records: list[logging.LogRecord] = []

    def emit(self, rec: logging.LogRecord) -> None:
        self.records.append(rec)


def test_gunicorn_lines_go_through_the_format(isolated_logging):
    logs.configure(Settings(), isolated_logging)
    gunicorn_logger(access_log=False).info("Listening at: %s (%s)", "http://127.0.0.1:8001",
                                           42)
    assert [line.split(" ", 2)[2] for line in isolated_logging.getvalue().splitlines()] == [
        "INFO gunicorn: Listening at: http://127.0.0.1:8001 (42)"]


def test_under_ones_own_gunicorn_the_logger_class_sets_the_log_up_from_the_environment(
        isolated_logging, monkeypatch, capsys):
    monkeypatch.setenv("DELTASTREAM_LOG_FORMAT", "json")
    gunicorn_logger(access_log=False).info("Listening at: %s", "http://127.0.0.1:8001")
    (line,) = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert (entry["logger"], entry["message"]) == ("gunicorn",
                                                   "Listening at: http://127.0.0.1:8001")


def test_access_lines_only_with_the_access_log_and_in_the_format(isolated_logging):
    logs.configure(Settings(log_format="json"), isolated_logging)
    served(gunicorn_logger(access_log=True))
    (line,) = isolated_logging.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["logger"] == "deltastream.access"
    assert entry["message"] == ('127.0.0.1 "GET /api/data/chain/NIFTY?strikes=5 HTTP/1.1" '
                                "200 1234 2.5 ms")
    assert (entry["method"], entry["path"], entry["status"], entry["bytes"]) == (
        "GET", "/api/data/chain/NIFTY?strikes=5", 200, 1234)
    assert entry["duration_ms"] == 2.5


def test_a_stream_whose_client_left_is_an_access_line_without_a_status(isolated_logging):
    # gevent's server leaves words, not a status, on a response whose connection failed.
    logs.configure(Settings(log_format="json"), isolated_logging)
    gunicorn_logger(access_log=True).access(GeventResponse("socket error", [], 99), [],
                                            environ(), timedelta(seconds=3))
    entry = json.loads(isolated_logging.getvalue())
    assert entry["status"] is None and entry["message"].endswith('HTTP/1.1" - 99 3000.0 ms')


def test_no_logging_call_per_request_with_the_access_log_off(isolated_logging):
    logs.configure(Settings(log_level="debug"), isolated_logging)
    everything = _Records()
    logging.getLogger().addHandler(everything)
    logger = gunicorn_logger(access_log=False, level="debug")
    served(logger)
    logger.write('127.0.0.1 - - [2026-12-06 01:15:42] "GET / HTTP/1.1" 200 5 0.001\n')
    assert everything.records == [] and isolated_logging.getvalue() == ""


def test_a_pywsgi_request_line_is_an_access_line_when_on(isolated_logging):
    logs.configure(Settings(), isolated_logging)
    gunicorn_logger(access_log=True).write(
        '127.0.0.1 - - [2026-12-06 01:15:42] "GET /api/health HTTP/1.1" 200 600 0.001\n')
    (line,) = isolated_logging.getvalue().splitlines()
    assert line.endswith(' INFO deltastream.access: 127.0.0.1 - - [2026-12-06 01:15:42] '
                         '"GET /api/health HTTP/1.1" 200 600 0.001')


def test_the_ready_probe_is_not_an_access_line(isolated_logging):
    logs.configure(Settings(), isolated_logging)
    served(gunicorn_logger(access_log=True), agent=logs.PROBE_AGENT)
    assert isolated_logging.getvalue() == ""


class _Health:
    """A loopback HTTP server whose /api/health answers 503 until ``healthy`` is set."""

    def __init__(self) -> None:
        self.healthy = threading.Event()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                ok = self.path == "/api/health" and outer.healthy.is_set()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("public_url", [None, "https://options.example.com/"])
def test_ready_is_said_once_when_health_first_answers_200(isolated_logging, public_url):
    logs.configure(Settings(), isolated_logging)
    health = _Health()
    settings = Settings(port=health.port, public_url=public_url)
    announcer = logs.ReadyAnnouncer(settings, interval=0.02)
    try:
        announcer.start()
        wait_until(lambda: health.requests >= 3, 10, "probes")
        assert "ready" not in isolated_logging.getvalue()       # health still 503
        health.healthy.set()
        wait_until(lambda: "ready" in isolated_logging.getvalue(), 10, "the ready line")
        probes = health.requests
        announcer._thread.join(5)                                # type: ignore[union-attr]
        assert health.requests == probes                        # no probe after ready
    finally:
        announcer.stop()
        health.close()
    url = public_url.rstrip("/") if public_url else f"http://127.0.0.1:{health.port}"
    assert [line.split(" ", 2)[2] for line in isolated_logging.getvalue().splitlines()] == [
        f"INFO deltastream: ready {url}"]


KERNEL = """\
import numba

@numba.njit(cache=True)
def plus_one(x):
    return x + 1
"""

RUN = """\
from deltastream.runtime.logs import announce_kernel_compilation, configure
from deltastream.settings import Settings
configure(Settings())
announce_kernel_compilation()
import kernel
kernel.plus_one(1)
kernel.plus_one(2.5)
"""


def test_compile_line_once_on_a_cold_cache_and_never_on_a_warm_one(tmp_path):
    (tmp_path / "kernel.py").write_text(KERNEL)
    run = [sys.executable, "-c", textwrap.dedent(RUN)]
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    cold = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    # Two signatures compiled (int and float): one line.
    assert [line.split(" ", 2)[2] for line in cold.stderr.splitlines()] == [
        "INFO deltastream: compiling numeric kernels (first start only)…"]
    warm = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    assert warm.stderr == ""
