"""Parsing of `sqlite://` URLs and the options of the SQLite storage."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from stoker.core.errors import StorageURLError
from stoker.storage.common.urls import redact_url

MEMORY = ":memory:"
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True)
class SQLiteOptions:
    """Tuning of the SQLite storage; every field can be given in the URL's query string."""

    busy_timeout: int = 5000  # ms SQLite itself waits for a lock before answering "busy"
    retry_timeout: float = 60.0  # s a busy transaction is retried (with back-off) in total
    poll_interval: float = 0.05  # s between checks for jobs enqueued by other processes
    synchronous: str = "NORMAL"  # PRAGMA synchronous; NORMAL is durable in WAL except on power loss
    migrate: bool = True  # bring the schema up to date when the storage is opened


def _positive_float(value: Any) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError("must be a positive number")
    return number


def _non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _synchronous(value: Any) -> str:
    text = str(value).upper()
    if text not in SYNCHRONOUS_MODES:
        raise ValueError(f"must be one of {', '.join(SYNCHRONOUS_MODES)}")
    return text


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


_CONVERTERS: Mapping[str, Callable[[Any], Any]] = {
    "busy_timeout": _non_negative_int,
    "retry_timeout": _positive_float,
    "poll_interval": _positive_float,
    "synchronous": _synchronous,
    "migrate": _boolean,
}


def parse_sqlite_url(url: str, overrides: Mapping[str, Any]) -> tuple[str, SQLiteOptions]:
    """(database path or ":memory:", options) of `url`, with keyword `overrides` applied.

    sqlite:///relative.db, sqlite:////absolute/path.db and sqlite://:memory: are accepted;
    anything else, and any unknown or malformed option, raises StorageURLError."""
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite":
        raise StorageURLError(f"not an SQLite URL: {shown!r}; expected sqlite:///path.db")
    if parts.netloc == MEMORY or (not parts.netloc and unquote(parts.path) == "/" + MEMORY):
        path = MEMORY
    elif parts.netloc:
        raise StorageURLError(
            f"SQLite URLs name a file, not a host: {shown!r}; use sqlite:///relative.db, "
            "sqlite:////absolute/path.db or sqlite://:memory:"
        )
    else:
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        if not path or path.endswith("/"):
            raise StorageURLError(
                f"no database file in {shown!r}; use sqlite:///relative.db, "
                "sqlite:////absolute/path.db or sqlite://:memory:"
            )
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise StorageURLError(f"malformed query string in {shown!r}: {exc}") from None
    given: dict[str, Any] = dict(query)
    given.update(overrides)
    return path, _options(given, shown)


def _options(given: Mapping[str, Any], shown: str) -> SQLiteOptions:
    unknown = sorted(set(given) - set(_CONVERTERS))
    if unknown:
        raise StorageURLError(
            f"unknown SQLite option {', '.join(map(repr, unknown))} in {shown!r}; "
            f"known options: {', '.join(sorted(_CONVERTERS))}"
        )
    values: dict[str, Any] = {}
    for name, raw in given.items():
        try:
            values[name] = _CONVERTERS[name](raw)
        except (TypeError, ValueError) as exc:
            raise StorageURLError(
                f"bad value {raw!r} for SQLite option {name!r} in {shown!r}: {exc}"
            ) from None
    return SQLiteOptions(**values)
