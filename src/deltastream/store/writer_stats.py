"""The store writer's counters as a file in the data directory: written by the process that
records (the engine's), read by every web process for ``/metrics``.

The file is JSON, replaced atomically, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATS_FILE = "store-writer.json"


def stats_path(data_dir: Path) -> Path:
    """Where the counters of the store writer recording into ``data_dir`` are published."""
    return Path(data_dir) / STATS_FILE


def read_stats(data_dir: Path) -> dict[str, Any] | None:
    """The counters last published in ``data_dir``, or None when there are none."""
    try:
        stats: dict[str, Any] = json.loads(stats_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stats


# Files that could not be written at the last attempt: a data directory that cannot be
# written (full, read-only) is said once, and once when it can be written again, not every
# second.
_unwritable: set[Path] = set()


def write_stats(data_dir: Path, stats: dict[str, Any]) -> None:
    """Publish ``stats`` (atomically replacing the previous ones); a failure is logged when it
    begins and when it ends."""
    path = stats_path(data_dir)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(json.dumps(stats), encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        if path not in _unwritable:
            _unwritable.add(path)
            log.warning("cannot publish store writer counters to %s: %s", path,
                        error.strerror or error)
    else:
        if path in _unwritable:
            _unwritable.discard(path)
            log.info("publishing store writer counters to %s again", path)
