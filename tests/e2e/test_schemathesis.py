"""schemathesis over the live OpenAPI spec of a real `deltastream serve`: every check, the
product pinned to a valid one and fuzzed, zero failures. And times and numbers at the edges
of their types, over HTTP: a 400 naming the parameter, never a 5xx.

The market clock is fixed (the spec's rules and the answers do not depend on the hour) and the
run is bounded: a fixed number of examples per operation and a fixed seed. The live stream
(`/api/stream`) never ends, so it is left out here; its parameters are tested in
tests/web/test_routes_stream.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from .conftest import Server, start_server
from .schemathesis_hooks import CLOCK_START, IV_LOOKBACK_DAYS, MAX_RANGE

EXAMPLES = 100
SEED = 20261205
PINNED_PRODUCT = "NIFTY"
# Every spec operation but the stream, the account routes (they create accounts and count
# failed logins: tested in tests/web/test_routes_auth.py) and the paper-trading routes (they
# need an account: tests/web/test_routes_trade.py tests them signed in, and that wrong
# credentials are a 401 JSON answer on each), and the strategy analysis (its legs name
# contracts of the live chain, a rule across fields JSON Schema cannot state: a leg on an
# unlisted strike, or a body naming no position, is a 400 that names the field;
# tests/web/test_routes_strategy.py tests those answers).
OPERATIONS = 18


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("schemathesis")
    env = {"DELTASTREAM_CLOCK_START": CLOCK_START,
           "DELTASTREAM_HISTORY_MAX_RANGE_DAYS": str(MAX_RANGE.days),
           "DELTASTREAM_IV_LOOKBACK_DAYS": str(IV_LOOKBACK_DAYS)}
    srv = start_server(data, "--hours", "always", "--clock", "fixed", "--tick-interval", "0.25",
                       "--data-dir", str(data), env=env)
    yield srv
    srv.stop()


def schemathesis(server: Server, tmp_path: Path, config: str) -> tuple[int, str]:
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(config)
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_file),
               "--no-color", "run", f"{server.base}/openapi.json",
               "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
               "--max-examples", str(EXAMPLES), "--seed", str(SEED),
               "--exclude-path", "/api/stream", "--exclude-path", "/api/strategy/analyze",
               "--exclude-path-regex", "^/api/(auth|trade)/",
               "--request-timeout", "10",
               "--generation-database", "none", "--workers", "2"]
    # Run in tmp_path (schemathesis keeps a cache in its working directory), with the
    # repository importable for the hooks.
    root = str(Path(__file__).parents[2])
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    return done.returncode, done.stdout + done.stderr


def summary(output: str) -> str:
    tested = re.search(r"Tested:\s+(\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    return (f"operations tested: {tested and tested.group(1)}, "
            f"cases: {cases and cases.group(1)}")


@pytest.mark.parametrize("config", [
    pytest.param(f'[parameters]\n"path.product" = "{PINNED_PRODUCT}"\n', id="product-pinned"),
    pytest.param("", id="product-fuzzed"),
])
def test_schemathesis_finds_no_failure(server, tmp_path, config):
    code, output = schemathesis(server, tmp_path, config)
    print(summary(output))
    assert code == 0, output
    assert re.search(rf"Tested:\s+{OPERATIONS}\b", output), output
    assert "No issues found" in output, output
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases is not None and cases.group(1) == cases.group(2), output
    assert int(cases.group(1)) >= OPERATIONS * 50, output


# Times and numbers at the edges of their types (the first four were 500s).
EDGE_URLS = [
    "/api/analytics/ohlc/NIFTY?to=0001-01-01T00:00:00Z",
    "/api/data/underlying/NIFTY?from=9999-12-31T23:59:59-23:59",
    "/api/analytics/iv-history/NIFTY?from=0001-01-01T00:00:00%2B23:59",
    "/api/analytics/pcr/NIFTY?history=true&from=0001-01-01T00:00:00%2B23:59",
]
EDGE_TIMES = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59Z",
              "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59+23:59", "1969-12-31T23:59:59Z",
              "1970-01-01T00:00:00+23:59", "8999-12-31T23:59:59.999999-23:59", "0.5", "1e308",
              "2026-02-30T00:00:00Z", "2026-03-02T23:59:60Z", "+002026-03-02T00:00:00Z"]
EDGE_NUMBERS = ["0", "-1", "1e308", "-1e308", "nan", "inf", "99999999999999999999999", "1.5",
                "5e-324", " 5", "0x10"]
TIME_ROUTES = ["/api/data/underlying/NIFTY", "/api/analytics/ohlc/NIFTY",
               "/api/analytics/iv-history/NIFTY", "/api/analytics/pcr/NIFTY?history=true"]
NUMBER_PARAMETERS = {"/api/data/chain/NIFTY": ["strikes", "limit"],
                     "/api/analytics/ohlc/NIFTY": ["window", "limit"],
                     "/api/analytics/iv-history/NIFTY": ["interval", "lookback_days",
                                                         "sample_seconds"]}


def edge_urls() -> list[str]:
    def join(path: str, query: str) -> str:
        return f"{path}{'&' if '?' in path else '?'}{query}"

    urls = list(EDGE_URLS)
    urls += [f"/api/data/chain/NIFTY?at={quote(t)}" for t in EDGE_TIMES]
    for path in TIME_ROUTES:
        for start in EDGE_TIMES:
            urls.append(join(path, f"from={quote(start)}"))
            urls.append(join(path, f"to={quote(start)}"))
            urls += [join(path, f"from={quote(start)}&to={quote(end)}") for end in EDGE_TIMES]
    for path, names in NUMBER_PARAMETERS.items():
        urls += [join(path, f"{name}={quote(n)}") for name in names for n in EDGE_NUMBERS]
    return urls


def test_times_and_numbers_at_the_edges_are_never_a_server_error(server):
    statuses: dict[int, int] = {}
    for url in edge_urls():
        code, body = server.get(url)
        statuses[code] = statuses.get(code, 0) + 1
        assert code < 500, (url, body)
        if code == 400:
            assert body["detail"]["parameter"] in url, (url, body)
    print(f"{sum(statuses.values())} edge requests: {statuses}")
    assert all(server.get(url)[0] == 400 for url in EDGE_URLS)
