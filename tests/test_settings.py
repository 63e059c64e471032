"""Store settings: defaults, environment, retention per table, clear validation errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from deltastream.settings import Settings, SettingsError, from_env, unknown_variables


def test_store_defaults_and_retention_per_table():
    s = Settings()
    assert s.database_url is None and s.archive_every == 300.0
    assert s.retention() == {"underlying_ticks": timedelta(days=30),
                             "chain_summaries": timedelta(days=365),
                             "chain_archive": timedelta(days=30),
                             "session_close": timedelta(days=365)}
    # 0 keeps a table forever: it is not pruned.
    assert "underlying_ticks" not in Settings(retention_ticks_days=0).retention()


def test_store_settings_from_the_environment():
    s = from_env({"DELTASTREAM_DATABASE_URL": "postgresql+psycopg://u@h:5432/db",
                  "DELTASTREAM_ARCHIVE_EVERY": "60", "DELTASTREAM_RETENTION_TICKS_DAYS": "7",
                  "DELTASTREAM_HISTORY_MAX_RANGE_DAYS": "2.5"})
    assert s.database_url == "postgresql+psycopg://u@h:5432/db"
    assert (s.archive_every, s.retention_ticks_days, s.history_max_range_days) == (60, 7, 2.5)


@pytest.mark.parametrize(("values", "name"), [
    ({"archive_every": -1}, "archive_every"),
    ({"retention_ticks_days": -3}, "retention_ticks_days"),
    ({"retention_archive_days": float("nan")}, "retention_archive_days"),
    ({"history_max_range_days": 0}, "history_max_range_days"),
    ({"database_url": "  "}, "database_url"),
    ({"store_queue": 1}, "store_queue"),
])
def test_out_of_range_store_settings_name_the_setting_and_range(values, name):
    with pytest.raises(SettingsError, match=rf"^{name}: .* \(accepted: .+\)$"):
        Settings(**values)


def test_unreadable_environment_value_names_the_variable():
    with pytest.raises(SettingsError, match="DELTASTREAM_ARCHIVE_EVERY"):
        from_env({"DELTASTREAM_ARCHIVE_EVERY": "often"})


def test_archive_tolerance_defaults_to_the_archive_interval_and_reads_from_the_environment():
    assert Settings().archive_tolerance_seconds() == 300.0
    assert Settings(archive_every=0.0, tick_interval=2.0).archive_tolerance_seconds() == 2.0
    assert from_env({"DELTASTREAM_ARCHIVE_TOLERANCE": "90"}).archive_tolerance_seconds() == 90.0
    with pytest.raises(SettingsError, match="archive_tolerance"):
        Settings(archive_tolerance=-1.0)


def test_unknown_variables_are_named_with_the_closest_setting():
    warnings = unknown_variables({"DELTASTREAM_PORTT": "9", "DELTASTREAM_PORT": "8002",
                                  "DELTASTREAM_ZZZ": "1", "HOME": "/root"})
    assert warnings == [
        "DELTASTREAM_PORTT is not a DeltaStream setting (ignored); did you mean "
        "DELTASTREAM_PORT?",
        "DELTASTREAM_ZZZ is not a DeltaStream setting (ignored)"]
