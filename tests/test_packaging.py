"""The light install: a fresh virtual environment with only ``pip install <this project>`` (no
extra) prices a chain in Python and runs ``deltastream price``, without the server's
dependencies; a server command there names the extra to install.

pip may use the package registry and its cache; nothing else leaves the machine. The install
takes about half a minute with a warm pip cache. The size of the environment's site-packages
(about 550 MB, most of it LLVM for Numba, SciPy, pandas for exchange_calendars and NumPy) is
recorded as the test's ``light_install_mb`` user property and bounded, so that a heavy
dependency added to the base install fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from deltastream.cli import main

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = ("flask", "apiflask", "flask_socketio", "gevent", "gunicorn", "sqlalchemy",
               "alembic", "psycopg", "redis", "pyarrow")

# Run as ``python -c PRICE_A_CHAIN <module> ...``: the modules must not be importable.
PRICE_A_CHAIN = textwrap.dedent("""
    import importlib.util
    import math
    import sys

    import numpy as np

    from deltastream.pricing import black_scholes_merton as bsm
    from deltastream.pricing.implied_vol import implied_vol

    spot, rate, dividend_yield, vol, years = 24500.0, 0.055, 0.012, 0.13, 30 / 365
    strikes = np.arange(22000.0, 27001.0, 50.0)
    call = bsm.price(spot, strikes, years, rate, dividend_yield, vol, True)
    put = bsm.price(spot, strikes, years, rate, dividend_yield, vol, False)
    # Put-call parity: C - P = S exp(-qT) - K exp(-rT).
    parity = spot * math.exp(-dividend_yield * years) - strikes * math.exp(-rate * years)
    assert np.max(np.abs(call - put - parity)) < 1e-8 * spot, np.max(np.abs(call - put - parity))
    assert np.all(np.diff(call) < 0) and np.all(np.diff(put) > 0)
    iv, status = implied_vol(call, spot, strikes, years, rate, dividend_yield, True)
    solved = status == 0
    assert solved.sum() > 0.9 * strikes.size
    assert np.max(np.abs(iv[solved] - vol)) < 1e-6
    installed = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None]
    assert not installed, installed
    print("priced", strikes.size)
""")


def _copy_project(dest: Path) -> Path:
    """The files a build needs, outside the working tree (a build writes next to them)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.nbi", "*.nbc"))
    return dest


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()
               and not f.is_symlink()) / 1e6


def test_a_fresh_light_install_prices_a_chain_without_the_server_stack(
        tmp_path, record_property):
    project = _copy_project(tmp_path / "project")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, cli = venv / "bin" / "python", venv / "bin" / "deltastream"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1",
           "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    env.pop("PYTHONPATH", None)
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(project)],
                             env=env, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]

    priced = subprocess.run([str(python), "-c", PRICE_A_CHAIN, *SERVER_ONLY], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert priced.returncode == 0, priced.stderr[-3000:]
    assert priced.stdout.strip() == "priced 101"

    demo = subprocess.run([str(cli), "price", "--strikes", "3"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert len([line for line in demo.stdout.splitlines() if line.strip()[:1].isdigit()]) == 3

    serve = subprocess.run([str(cli), "serve", "--data-dir", str(tmp_path / "data")], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert serve.returncode == 1
    # One line naming the first missing module of the extra and how to install it.
    (line,) = serve.stderr.strip().splitlines()
    missing = re.fullmatch(r"Error: serve needs the server extra \(no module '(\w+)'\): "
                           r"pip install 'deltastream\[server\]'", line)
    assert missing and missing[1] in SERVER_ONLY, line
    assert not (tmp_path / "data").exists()

    (site,) = (venv / "lib").glob("python3.*/site-packages")
    size = _du_mb(site)
    record_property("light_install_mb", round(size))
    assert size < 700, f"the light install grew to {size:.0f} MB"


@pytest.mark.parametrize(("missing", "args", "start"), [
    ("redis", ["serve", "--redis-url", "redis://127.0.0.1:6379"],
     "Error: serve needs the redis extra (no module 'redis'): "),
    ("psycopg", ["engine", "--database-url", "postgresql+psycopg://deltastream@127.0.0.1/test"],
     "Error: database postgresql+psycopg://deltastream@127.0.0.1/test unavailable: "),
])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch, missing, args, start):
    for name in [m for m in sys.modules if m == missing or m.startswith(f"{missing}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)         # `import <missing>` now fails
    result = CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path / "data")])
    extra = {"redis": "redis", "psycopg": "postgres"}[missing]
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith(start) and line.endswith(f"pip install 'deltastream[{extra}]'")
    assert not (tmp_path / "data").exists()
