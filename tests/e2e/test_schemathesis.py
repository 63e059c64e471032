"""schemathesis over the live OpenAPI spec of a real `deltastream serve`: every check, the
product pinned to a valid one and fuzzed, zero failures.

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

import pytest

from .conftest import Server, start_server
from .schemathesis_hooks import CLOCK_START, IV_LOOKBACK_DAYS, MAX_RANGE

EXAMPLES = 100
SEED = 20261205
PINNED_PRODUCT = "NIFTY"
# Every spec operation but the stream.
OPERATIONS = 11


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("schemathesis")
    env = {"DELTASTREAM_CLOCK_START": CLOCK_START,
           "DELTASTREAM_HISTORY_MAX_RANGE_DAYS": str(MAX_RANGE.days),
           "DELTASTREAM_IV_LOOKBACK_DAYS": str(IV_LOOKBACK_DAYS)}
    srv = start_server(data, "--clock", "fixed", "--tick-interval", "0.25",
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
               "--exclude-path", "/api/stream", "--request-timeout", "10",
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
