"""The store writer's counters file: read back as written; a data directory that cannot be
written is said once when it begins and once when it ends."""

from __future__ import annotations

import os

from deltastream.store.writer_stats import read_stats, stats_path, write_stats


def test_counters_are_read_back_as_written(tmp_path):
    assert read_stats(tmp_path) is None
    write_stats(tmp_path, {"written": 3, "dropped": 0})
    assert read_stats(tmp_path) == {"written": 3, "dropped": 0}
    assert [p.name for p in tmp_path.iterdir()] == [stats_path(tmp_path).name]


def test_an_unwritable_directory_is_said_once_and_once_again_when_it_is_writable(
        tmp_path, caplog):
    write_stats(tmp_path, {"written": 1})
    # Where each version is written first, a directory: every write fails (even as root).
    blocked = stats_path(tmp_path).with_name(f"{stats_path(tmp_path).name}.{os.getpid()}"
                                             ".partial")
    blocked.mkdir()
    with caplog.at_level("INFO", logger="deltastream.store.writer_stats"):
        for n in range(2, 6):
            write_stats(tmp_path, {"written": n})
        assert read_stats(tmp_path) == {"written": 1}      # the last one published stays
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        blocked.rmdir()
        write_stats(tmp_path, {"written": 6})
        assert read_stats(tmp_path) == {"written": 6}
        assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
