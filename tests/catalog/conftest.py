"""The catalogue documentation's example file (docs/catalog.md), for tests that check it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


@pytest.fixture()
def documented_example() -> str:
    """The TOML block of docs/catalog.md that adds RELIANCE."""
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    (example,) = [b for b in blocks if "[products.RELIANCE]" in b]
    return example
