"""Settings: defaults, environment, instance file, validation, and the README's table."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from archive.settings import SETTINGS, Settings, SettingsError, env_name, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults(tmp_path: Path) -> None:
    s = load_settings({"home": str(tmp_path)}, environ={})
    assert s.home == tmp_path.resolve()
    assert s.base_url == "http://127.0.0.1:5000"
    assert s.search == "tantivy"
    assert s.fsync is True
    assert s.storage_root == tmp_path.resolve() / "storage"


def test_default_home_is_memoria_data_in_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).home == tmp_path.resolve() / "memoria-data"


def test_environment_overrides_instance_file(tmp_path: Path) -> None:
    (tmp_path / "memoria.toml").write_text('base_url = "https://file.example"\nport = 8080\n')
    env = {"MEMORIA_HOME": str(tmp_path), "MEMORIA_BASE_URL": "https://env.example/archive/",
           "MEMORIA_FSYNC": "no"}
    s = load_settings(environ=env)
    assert s.base_url == "https://env.example/archive"
    assert s.port == 8080
    assert s.fsync is False


@pytest.mark.parametrize(("name", "value", "message"), [
    ("base_url", "ftp://x", "http"),
    ("base_url", "http://x/?q=1", "http"),
    ("search", "solr", "tantivy or elasticsearch"),
    ("port", "99999", "out of range"),
    ("port", "eighty", "whole number"),
    ("fsync", "maybe", "yes/no"),
    ("digest", "md5", "sha512"),
])
def test_bad_values_are_refused_with_the_setting_named(
        tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as err:
        load_settings({"home": str(tmp_path)}, environ={env_name(name): value})
    assert name in str(err.value)


def test_unknown_override_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="unknown settings: colour"):
        load_settings({"home": str(tmp_path), "colour": "red"}, environ={})


def test_table_and_dataclass_agree() -> None:
    assert [s.name for s in SETTINGS] == [f.name for f in fields(Settings)]
    assert all(s.help for s in SETTINGS)


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    table = {m.group(1) for m in re.finditer(r"^\|\s*`(MEMORIA_[A-Z_]+)`", text, re.M)}
    missing = [env_name(s.name) for s in SETTINGS if env_name(s.name) not in table]
    assert not missing, f"settings missing from the README's settings table: {missing}"


def test_memoria_settings_prints_every_setting(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke("settings")
    assert result.exit_code == 0
    for s in SETTINGS:
        assert env_name(s.name) in result.output
