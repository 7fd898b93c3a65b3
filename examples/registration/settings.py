"""appsettings.json: read, layer, validate and resolve the sample application's settings."""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stoker.core.cron import Schedule
from stoker.core.errors import CronError

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SETTINGS = PACKAGE_DIR / "appsettings.json"
STORAGE_SCHEMES = ("sqlite", "postgresql", "postgres", "redis", "rediss")


class SettingsError(ValueError):
    """A setting that is missing, malformed or points at something that does not exist."""


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    public_url: str  # "" = http://host:port; set it when the app is reached through a proxy

    @property
    def base_url(self) -> str:
        """The address put into activation links (no trailing slash)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    timeout_seconds: float
    local_sink: bool  # run the built-in SMTP sink on host:port (demo and tests)


@dataclass(frozen=True)
class ActivationSettings:
    delay_seconds: float
    retries: int
    retry_delays_seconds: tuple[float, ...] | None  # None: Hangfire's growing back-off


@dataclass(frozen=True)
class BackupSettings:
    source: Path
    folder: Path
    cron: str
    timezone: str
    keep: int


@dataclass(frozen=True)
class Settings:
    """Everything the application reads from appsettings.json, validated and resolved."""

    storage: str
    database: Path
    web: WebSettings
    smtp: SmtpSettings
    activation: ActivationSettings
    backup: BackupSettings
    workers: int
    files: tuple[Path, ...]  # where these settings came from, base first

    def error(self, setting: str, message: str) -> SettingsError:
        """An error about `setting` found after loading (a port taken, a storage down)."""
        shown = " + ".join(str(file) for file in self.files)
        return SettingsError(f"{shown}: {setting}: {message}")

    def with_port(self, port: int) -> Settings:
        """These settings with another web port (the --port command line option)."""
        try:
            return replace(self, web=replace(self.web, port=_port(port)))
        except ValueError as exc:
            raise SettingsError(f"--port: {exc}") from None


# --- converters: raise ValueError with a message that completes "<setting>: ..." -----------------
def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _optional_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value.strip()


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {value!r}")
        return value

    return convert


_port = _integer(1, 65535)


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e7:
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}")
    return float(value)


def _positive_seconds(value: Any) -> float:
    seconds = _seconds(value)
    if seconds <= 0:
        raise ValueError(f"expected a number of seconds > 0, got {value!r}")
    return seconds


def _delays(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected null or a non-empty list of seconds, got {value!r}")
    return tuple(_seconds(item) for item in value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _timezone(value: Any) -> str:
    name = _text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Istanbul'"
        ) from None
    return name


def _cron(value: Any) -> str:
    try:
        return Schedule.parse(_text(value), "UTC").expression
    except CronError as exc:
        raise ValueError(str(exc)) from None


# Every setting with its default and converter; the shipped appsettings.json lists them all.
SCHEMA: dict[str, Any] = {
    "storage": ("sqlite:///data/stoker.db", _text),
    "database": ("data/app.db", _text),
    "web": {
        "host": ("127.0.0.1", _text),
        "port": (8080, _port),
        "public_url": ("", _optional_text),
    },
    "smtp": {
        "host": ("127.0.0.1", _text),
        "port": (8025, _port),
        "sender": ("Registration demo <no-reply@example.test>", _text),
        "timeout_seconds": (10, _positive_seconds),
        "local_sink": (True, _boolean),
    },
    "activation": {
        "delay_seconds": (600, _seconds),
        "retries": (10, _integer(0, 100)),
        "retry_delays_seconds": (None, _delays),
    },
    "backup": {
        "source": ("data/app.db", _text),
        "folder": ("data/backups", _text),
        "cron": ("0 3 * * *", _cron),
        "timezone": ("UTC", _timezone),
        "keep": (7, _integer(1, 10_000)),
    },
    # 0: no embedded server; run `stoker server --app examples.registration.worker:app`.
    "server": {"workers": (4, _integer(0, 100))},
}


def _validate(raw: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Converted values (defaults where a key is absent); unknown keys are errors."""
    for key in raw:
        if key not in schema:
            raise SettingsError(_unknown_key(prefix + key, list(schema), prefix))
    values: dict[str, Any] = {}
    for key, spec in schema.items():
        name = prefix + key
        if isinstance(spec, dict):
            section = raw.get(key, {})
            if not isinstance(section, dict):
                raise SettingsError(f"{name}: expected an object {{...}}, got {section!r}")
            values[key] = _validate(section, spec, name + ".")
            continue
        default, convert = spec
        try:
            values[key] = convert(raw[key]) if key in raw else default
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
    return values


def _unknown_key(name: str, known: Sequence[str], prefix: str) -> str:
    close = difflib.get_close_matches(name.rpartition(".")[2], known, n=1)
    hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
    return f"{name}: unknown setting{hint} (known here: {', '.join(prefix + k for k in known)})"


def _merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """`overlay` over `base`, section by section (as .NET layers appsettings.{env}.json)."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"settings file not found: {path}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(
            f"{path} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a JSON object {{...}}, got {type(data).__name__}")
    return data


def load_settings(path: str | Path = DEFAULT_SETTINGS, environment: str | None = None) -> Settings:
    """Read `path` (and `appsettings.<environment>.json` beside it, layered on top), check every
    value and that the files and folders it names exist. Relative paths, including the file of
    an sqlite:/// storage URL, are relative to the folder of `path`, not to the current directory.
    Raises SettingsError naming the file and the setting."""
    base_file = Path(path).resolve()
    files = [base_file]
    if environment:
        files.append(base_file.with_name(f"{base_file.stem}.{environment}{base_file.suffix}"))
    raw: dict[str, Any] = {}
    for file in files:
        raw = _merge(raw, _read_json(file))
    shown = " + ".join(str(file) for file in files)
    try:
        return _resolve(_validate(raw, SCHEMA, ""), base_file.parent, tuple(files))
    except SettingsError as exc:
        raise SettingsError(f"{shown}: {exc}") from None


def _resolve(values: dict[str, Any], root: Path, files: tuple[Path, ...]) -> Settings:
    smtp = SmtpSettings(**values["smtp"])
    if smtp.local_sink and not _is_local(smtp.host):
        raise SettingsError(
            f"smtp.local_sink: the built-in SMTP sink only listens on this machine, but "
            f"smtp.host is {smtp.host!r}; set local_sink to false to use that server"
        )
    backup = values["backup"]
    try:  # the cron expression alone was checked above; now with its time zone
        Schedule.parse(backup["cron"], backup["timezone"])
    except CronError as exc:
        raise SettingsError(f"backup.cron: {exc}") from None
    database = _file_in_existing_folder(root, values["database"], "database")
    source = _file_in_existing_folder(root, backup["source"], "backup.source")
    if source != database and not source.is_file():
        raise SettingsError(f"backup.source: no such database file: {source}")
    return Settings(
        storage=_storage_url(values["storage"], root),
        database=database,
        web=WebSettings(**values["web"]),
        smtp=smtp,
        activation=ActivationSettings(**values["activation"]),
        backup=BackupSettings(
            source=source,
            folder=_writable_folder(root, backup["folder"], "backup.folder"),
            cron=backup["cron"],
            timezone=backup["timezone"],
            keep=backup["keep"],
        ),
        workers=values["server"]["workers"],
        files=files,
    )


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _file_in_existing_folder(root: Path, value: str, name: str) -> Path:
    path = (root / value).resolve()
    if not path.parent.is_dir():
        raise SettingsError(f"{name}: the folder {path.parent} does not exist (create it first)")
    if path.is_dir():
        raise SettingsError(f"{name}: {path} is a folder; expected a database file")
    return path


def _writable_folder(root: Path, value: str, name: str) -> Path:
    path = (root / value).resolve()
    if not path.is_dir():
        raise SettingsError(f"{name}: the folder {path} does not exist (create it first)")
    if not os.access(path, os.W_OK | os.X_OK):
        raise SettingsError(f"{name}: the folder {path} is not writable")
    return path


def _storage_url(url: str, root: Path) -> str:
    """Check the scheme; make an sqlite:/// URL's relative file relative to `root`."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in STORAGE_SCHEMES:
        raise SettingsError(
            f"storage: {scheme if sep else url!r} is not a storage URL scheme; use "
            "sqlite:///data/stoker.db, postgresql://user@host:5432/db or redis://host:6379/0"
        )
    if scheme.lower() != "sqlite":
        return url
    parts = urlsplit(url)
    if parts.netloc or parts.path in ("", "/") or parts.path.startswith("//"):
        return url  # sqlite://:memory:, an absolute path, or an error open_storage explains
    database = _file_in_existing_folder(root, unquote(parts.path[1:]), "storage")
    query = f"?{parts.query}" if parts.query else ""
    return f"sqlite:///{quote(str(database))}{query}"
