"""appsettings.json: a bad setting is a clear error at start-up that names the setting."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from examples.registration.__main__ import main
from examples.registration.mailbox import MailboxError
from examples.registration.settings import DEFAULT_SETTINGS, SettingsError, load_settings
from examples.registration.system import Registration
from tests.examples.conftest import settings_document, write_settings


def load(tmp_path: Path, **sections: Any) -> Path:
    """A settings file from the test defaults with `sections` merged (None removes a key)."""
    document = settings_document(tmp_path, f"sqlite:///{tmp_path}/stoker.db")
    for name, values in sections.items():
        if isinstance(values, dict):
            merged = {**document.get(name, {}), **values}
            document[name] = {key: value for key, value in merged.items() if value is not None}
        else:
            document[name] = values
    return write_settings(tmp_path, document)


@pytest.mark.parametrize(
    ("sections", "setting", "detail"),
    [
        ({"backup": {"folder": "no-such-folder"}}, "backup.folder", "does not exist"),
        ({"backup": {"cron": "61 * * * *"}}, "backup.cron", "61 * * * *"),
        ({"backup": {"cron": "every day"}}, "backup.cron", "every day"),
        ({"backup": {"timezone": "Mars/Olympus_Mons"}}, "backup.timezone", "Mars/Olympus_Mons"),
        ({"backup": {"keep": 0}}, "backup.keep", "from 1 to"),
        ({"backup": {"kep": 3}}, "backup.kep", "did you mean 'backup.keep'"),
        ({"backup": {"source": "missing.db"}}, "backup.source", "no such database file"),
        ({"storge": "sqlite:///x.db"}, "storge", "did you mean 'storage'"),
        ({"storage": "mysql://localhost/db"}, "storage", "'mysql' is not a storage URL"),
        ({"storage": "stoker.db"}, "storage", "not a storage URL"),
        ({"storage": "sqlite:///nowhere/stoker.db"}, "storage", "does not exist"),
        ({"database": "nowhere/app.db"}, "database", "does not exist"),
        ({"web": {"port": "8080"}}, "web.port", "whole number"),
        ({"web": {"port": 70000}}, "web.port", "from 1 to 65535"),
        ({"smtp": {"local_sink": "yes"}}, "smtp.local_sink", "true or false"),
        ({"smtp": {"host": "mail.example.com"}}, "smtp.local_sink", "mail.example.com"),
        ({"activation": {"delay_seconds": -1}}, "activation.delay_seconds", ">= 0"),
        ({"activation": {"retry_delays_seconds": []}}, "activation.retry_delays_seconds", "list"),
        ({"server": {"workers": 1.5}}, "server.workers", "whole number"),
        ({"web": "127.0.0.1:8080"}, "web", "expected an object"),
    ],
)
def test_a_bad_setting_is_reported_with_its_name_and_file(
    tmp_path: Path, sections: dict[str, Any], setting: str, detail: str
) -> None:
    path = load(tmp_path, **sections)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {setting}: ")
    assert detail in message


def test_invalid_json_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "appsettings.json"
    path.write_text('{\n  "storage": "sqlite:///x.db",\n  "web": {"port": 80,}\n}\n')
    with pytest.raises(SettingsError, match=r"is not valid JSON: line 3 column"):
        load_settings(path)


def test_a_missing_settings_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"settings file not found: .*nope\.json"):
        load_settings(tmp_path / "nope.json")


def test_relative_paths_are_relative_to_the_settings_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = load(tmp_path, storage="sqlite:///stoker.db?busy_timeout=1000")
    monkeypatch.chdir("/")
    settings = load_settings(path)
    assert settings.database == tmp_path / "app.db"
    assert settings.backup.folder == tmp_path / "backups"
    assert settings.storage == f"sqlite:///{tmp_path}/stoker.db?busy_timeout=1000"


def test_an_environment_file_is_layered_over_the_base_file(tmp_path: Path) -> None:
    path = load(tmp_path)
    write_settings(tmp_path, {"activation": {"delay_seconds": 30}}, "appsettings.demo.json")
    settings = load_settings(path, "demo")
    assert settings.activation.delay_seconds == 30
    assert settings.activation.retries == 10  # from the base file
    with pytest.raises(SettingsError, match=r"appsettings\.prod\.json"):
        load_settings(path, "prod")


def test_the_shipped_settings_files_are_valid() -> None:
    base = load_settings(DEFAULT_SETTINGS)
    assert base.storage.startswith("sqlite:///")
    assert base.storage.endswith("/examples/registration/data/stoker.db")
    demo = load_settings(DEFAULT_SETTINGS, "demo")
    assert demo.activation.delay_seconds == 30
    assert demo.backup.cron == "* * * * *"


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("redis://127.0.0.1:6379/0?prefix=no spaces", "invalid Redis key prefix"),
        ("sqlite:///stoker.db?busy_timeout=soon", "busy_timeout"),
        (
            "postgresql://postgres:secret@127.0.0.1:5432/test?schema=no-dashes",
            "invalid schema name",
        ),
    ],
)
def test_a_storage_that_cannot_be_opened_stops_the_start_naming_the_storage_setting(
    tmp_path: Path, url: str, detail: str
) -> None:
    settings = load_settings(load(tmp_path, storage=url))
    with pytest.raises(SettingsError, match=r"appsettings\.json: storage: cannot open ") as caught:
        Registration(settings)
    assert detail in str(caught.value)
    assert "secret" not in str(caught.value)  # passwords are never shown


@pytest.mark.slow  # redis-py retries with back-off before it gives up (about 6 s)
def test_a_storage_that_does_not_answer_stops_the_start_naming_the_storage_setting(
    tmp_path: Path,
) -> None:
    settings = load_settings(load(tmp_path, storage="redis://127.0.0.1:1/0?prefix=x"))
    with pytest.raises(SettingsError, match=r"appsettings\.json: storage: .*127\.0\.0\.1:1"):
        Registration(settings)


def test_the_command_prints_the_error_and_exits_2_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = load(tmp_path, backup={"cron": "0 25 * * *"})
    assert main(["--settings", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: backup.cron: ")
    assert not (tmp_path / "app.db").exists()


def test_a_taken_web_port_is_a_start_up_error_naming_web_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        path = load(tmp_path, web={"port": taken.getsockname()[1]})
        assert main(["--settings", str(path)]) == 2
    assert f"error: {path}: web.port: cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_a_taken_smtp_port_is_a_start_up_error_naming_smtp_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        path = load(tmp_path, smtp={"port": taken.getsockname()[1]})
        registration = Registration(load_settings(path))
        try:
            with pytest.raises(MailboxError, match=r"change smtp\.port"):
                registration.start()
        finally:
            registration.stop()


def test_the_settings_documented_in_the_readme_are_the_ones_the_schema_knows() -> None:
    shipped = json.loads(DEFAULT_SETTINGS.read_text())
    readme = (DEFAULT_SETTINGS.parent / "README.md").read_text()
    for section, values in shipped.items():
        names = [f"{section}.{key}" for key in values] if isinstance(values, dict) else [section]
        for name in names:
            assert f"`{name}`" in readme, f"README.md does not document {name}"
