"""The import contract in pyproject.toml (layers, highest first; see docs/architecture.md)
holds for the package, and fails on an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(src: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml")],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers():
    result = lint(ROOT / "src", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "src" / "deltastream", tmp_path / "src" / "deltastream",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))
    ticks = tmp_path / "src" / "deltastream" / "core" / "ticks.py"
    ticks.write_text(ticks.read_text() + "\nfrom deltastream.web import create_app  # noqa\n")
    result = lint(tmp_path / "src", tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deltastream.core is not allowed to import deltastream.web" in result.stdout
    assert "deltastream.core.ticks -> deltastream.web" in result.stdout
