"""Fixtures for the registration sample: a settings file per test, the running application."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import stoker
from examples.registration import jobs
from examples.registration.settings import Settings, load_settings
from examples.registration.system import Registration
from tests.polling import wait_for

STORAGES = ["sqlite", "postgres", "redis"]
# Short intervals so a 1 s activation delay is seen in about a second.
FAST_SERVER = {
    "workers": 2,
    "poll_interval": 0.1,
    "scheduler_interval": 0.1,
    "heartbeat_interval": 0.3,
    "server_timeout": 1.5,
    "shutdown_timeout": 5.0,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def settings_document(folder: Path, storage_url: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """A complete appsettings document for a test in `folder`; `sections` override parts."""
    (folder / "backups").mkdir(exist_ok=True)
    document: dict[str, Any] = {
        "storage": storage_url,
        "database": "app.db",
        "web": {"host": "127.0.0.1", "port": free_port()},
        "smtp": {"host": "127.0.0.1", "port": free_port(), "timeout_seconds": 5},
        "activation": {"delay_seconds": 1, "retries": 10, "retry_delays_seconds": [1]},
        "backup": {
            "source": "app.db",
            "folder": "backups",
            "cron": "0 3 * * *",
            "timezone": "UTC",
            "keep": 3,
        },
        "server": {"workers": 2},
    }
    for name, values in sections.items():
        document[name] = {**document[name], **values}
    return document


def write_settings(folder: Path, document: dict[str, Any], name: str = "appsettings.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """make_settings(storage_url, activation={...}, ...) -> validated Settings in tmp_path."""

    def make(storage_url: str, **sections: dict[str, Any]) -> Settings:
        document = settings_document(tmp_path, storage_url, **sections)
        return load_settings(write_settings(tmp_path, document))

    return make


@pytest.fixture
def start_registration() -> Iterator[Callable[..., Registration]]:
    """start_registration(settings) -> a started application, stopped after the test."""
    started: list[Registration] = []

    def start(settings: Settings, **server: Any) -> Registration:
        registration = Registration(settings, server_options={**FAST_SERVER, **server})
        started.append(registration)
        return registration.start()

    yield start
    for registration in reversed(started):
        registration.stop()


@pytest.fixture(autouse=True)
def _forget_job_settings() -> Iterator[None]:
    """Registration() configures the jobs module for the process; each test starts afresh."""
    yield
    jobs.configure(None)


def wait_for_state(
    app: stoker.App, job_id: str, state: str, timeout: float = 15.0
) -> stoker.JobInfo:
    def reached() -> stoker.JobInfo | None:
        info = app.get_job(job_id)
        return info if info is not None and info.state == state else None

    found: stoker.JobInfo = wait_for(reached, timeout, f"job {job_id} to be {state}")
    return found
