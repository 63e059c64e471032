"""Settings: defaults, the environment, retention per table, every invalid value named at once,
and the published JSON Schema."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from deltastream.cli import main
from deltastream.settings import (
    Settings,
    SettingsError,
    from_env,
    settings_json_schema,
    unknown_variables,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"


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


def test_every_invalid_setting_is_named_at_once_one_line_each():
    with pytest.raises(SettingsError) as caught:
        Settings(port=0, clock="sometimes", redis_url="http://x", stall_after=-1.0,
                 access_log="maybe", portt=9)
    error = caught.value
    assert error.errors == [
        "port: 0 is out of range (accepted: 1-65535)",
        "clock: 'sometimes' is not valid (accepted: one of real, accelerated, fixed)",
        "stall_after: -1.0 is out of range (accepted: > 0 seconds)",
        "access_log: 'maybe' is not a boolean (accepted: 1/true/yes/on or 0/false/no/off)",
        "redis_url: 'http://x' is not valid (accepted: a redis://, rediss:// or unix:// URL)",
        "portt: not a setting; did you mean port?"]
    assert str(error).splitlines() == ["6 invalid settings:",
                                       *(f"  {line}" for line in error.errors)]


def test_constructing_settings_never_reads_the_environment(monkeypatch):
    monkeypatch.setenv("DELTASTREAM_PORT", "9000")
    assert Settings().port == 8001 and Settings(host="::1").port == 8001
    assert from_env().port == 9000


def test_the_environment_is_read_by_kind():
    s = from_env({"DELTASTREAM_PORT": "8002", "DELTASTREAM_TICK_INTERVAL": "0.25",
                  "DELTASTREAM_CLOCK": "fixed", "DELTASTREAM_DATA_DIR": "/srv/ds",
                  "DELTASTREAM_CATALOG": "products.toml", "DELTASTREAM_ACCESS_LOG": "on",
                  "DELTASTREAM_CORS_ORIGINS": "https://a.example, https://b.example",
                  "DELTASTREAM_EXTRA_HOLIDAYS": "2027-06-08,2027-06-09",
                  "DELTASTREAM_REDIS_URL": "", "DELTASTREAM_PUBLIC_URL": ""})
    assert (s.port, s.tick_interval, s.clock) == (8002, 0.25, "fixed")
    assert (s.data_dir, s.catalog) == (Path("/srv/ds"), Path("products.toml"))
    assert s.access_log is True
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.extra_holidays == ("2027-06-08", "2027-06-09")
    # An empty value leaves an optional setting unset; an empty list is a list of nothing.
    assert s.redis_url is None and s.public_url is None
    assert from_env({"DELTASTREAM_CORS_ORIGINS": ""}).cors_origins == ()
    # Names are compared without regard to case.
    assert from_env({"deltastream_port": "8003"}).port == 8003


@pytest.mark.parametrize(("raw", "value"), [
    *((word, True) for word in ("1", "true", "TRUE", "yes", "on")),
    *((word, False) for word in ("0", "false", "False", "no", "off")),
])
def test_booleans_in_the_environment(raw, value):
    assert from_env({"DELTASTREAM_ACCESS_LOG": raw}).access_log is value


@pytest.mark.parametrize(("env", "message"), [
    ({"DELTASTREAM_PORT": "abc"},
     "DELTASTREAM_PORT: cannot read 'abc' as an integer (accepted: 1-65535)"),
    ({"DELTASTREAM_PORT": ""},
     "DELTASTREAM_PORT: cannot read '' as an integer (accepted: 1-65535)"),
    ({"DELTASTREAM_PORT": "0"}, "DELTASTREAM_PORT: '0' is out of range (accepted: 1-65535)"),
    ({"DELTASTREAM_ACCESS_LOG": "banana"},
     "DELTASTREAM_ACCESS_LOG: cannot read 'banana' as a boolean "
     "(accepted: 1/true/yes/on or 0/false/no/off)"),
    ({"DELTASTREAM_TICK_INTERVAL": "nan"},
     "DELTASTREAM_TICK_INTERVAL: 'nan' is out of range (accepted: (0, 3600] seconds)"),
    ({"DELTASTREAM_LOG_FORMAT": "xml"},
     "DELTASTREAM_LOG_FORMAT: 'xml' is not valid (accepted: text or json)"),
    ({"DELTASTREAM_EXTRA_HOLIDAYS": "2027-06-08, June 9"},
     "DELTASTREAM_EXTRA_HOLIDAYS: 'June 9' is not valid "
     "(accepted: dates YYYY-MM-DD, comma-separated)"),
    ({"DELTASTREAM_CLOCK_START": "yesterday"},
     "DELTASTREAM_CLOCK_START: 'yesterday' is not valid "
     "(accepted: an ISO-8601 time, e.g. 2026-11-25T09:15:00Z)"),
])
def test_an_invalid_environment_value_is_one_line_naming_its_variable(env, message):
    with pytest.raises(SettingsError) as caught:
        from_env(env)
    assert str(caught.value) == message


def test_every_invalid_variable_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        from_env({"DELTASTREAM_PORT": "x", "DELTASTREAM_WEB_WORKERS": "100",
                  "DELTASTREAM_SEED": "7"})
    assert caught.value.errors == [
        "DELTASTREAM_PORT: cannot read 'x' as an integer (accepted: 1-65535)",
        "DELTASTREAM_WEB_WORKERS: '100' is out of range (accepted: 1-64)"]


def test_overrides_replace_given_values_only_and_are_validated():
    base = Settings(port=9000, public_url="https://options.example")
    s = base.with_overrides(port=None, host="::1", public_url=None)
    assert (s.port, s.host, s.public_url) == (9000, "::1", "https://options.example")
    assert s.public_base_url() == "https://options.example"
    with pytest.raises(SettingsError, match=r"^web_workers: 0 is out of range"):
        base.with_overrides(web_workers=0)
    with pytest.raises(SettingsError, match="did you mean port"):
        base.with_overrides(prot=1)


def test_settings_are_immutable_hashable_and_survive_pickling():
    # The engine's process is spawned: its settings travel pickled.
    s = Settings(port=9000, cors_origins=("https://a.example",))
    with pytest.raises(ValidationError):
        s.port = 1  # type: ignore[misc]
    assert hash(s) == hash(Settings(port=9000, cors_origins=("https://a.example",)))
    assert pickle.loads(pickle.dumps(s)) == s


def test_unknown_variables_ignore_case_and_the_variables_read_elsewhere():
    assert unknown_variables({"deltastream_port": "1", "DELTASTREAM_TEST_POSTGRES": "x",
                              "Deltastream_Tick_Intervall": "1"}) == [
        "Deltastream_Tick_Intervall is not a DeltaStream setting (ignored); did you mean "
        "DELTASTREAM_TICK_INTERVAL?"]


def test_the_schema_is_published_by_the_cli_and_in_the_docs():
    result = CliRunner().invoke(main, ["settings-schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == settings_json_schema()
    assert json.loads((DOCS / "settings.schema.json").read_text()) == settings_json_schema(), (
        "docs/settings.schema.json is stale: deltastream settings-schema > "
        "docs/settings.schema.json")


def test_the_schema_describes_every_setting_and_its_defaults_are_valid():
    schema = settings_json_schema()
    Draft202012Validator.check_schema(schema)
    assert list(schema["properties"]) == list(Settings.model_fields)
    assert all(p.get("description") for p in schema["properties"].values())
    defaults = Settings().model_dump(mode="json")
    assert not list(Draft202012Validator(schema).iter_errors(defaults))
    assert {name: p["default"] for name, p in schema["properties"].items()} == defaults


@pytest.mark.parametrize("values", [
    {"port": 0}, {"tick_interval": 0}, {"clock": "sometimes"}, {"redis_url": "http://x"},
    {"public_url": "ftp://x"}, {"redis_prefix": ""}, {"extra_holidays": ["June 9"]},
    {"store_queue": 5}, {"portt": 1},
])
def test_the_schema_rejects_what_the_settings_reject(values):
    with pytest.raises(SettingsError):
        Settings(**values)
    document = {**Settings().model_dump(mode="json"), **values}
    assert list(Draft202012Validator(settings_json_schema()).iter_errors(document))


def test_serve_with_invalid_variables_names_them_all_and_creates_nothing(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path / "data")],
                                env={"DELTASTREAM_PORT": "abc", "DELTASTREAM_WEB_WORKERS": "0"})
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: 2 invalid settings:",
        "  DELTASTREAM_PORT: cannot read 'abc' as an integer (accepted: 1-65535)",
        "  DELTASTREAM_WEB_WORKERS: '0' is out of range (accepted: 1-64)"]
    assert not any(tmp_path.iterdir())
