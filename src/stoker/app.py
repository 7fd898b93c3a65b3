"""App: a storage, a clock, filters and defaults; the one object users pass around."""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stoker.client import Client
from stoker.clock import Clock, SystemClock
from stoker.filters import ContinuationsFilter, RetryFilter, StatisticsFilter
from stoker.jobs import DEFAULT_QUEUE, DEFAULT_RETRIES, validate_queue_name
from stoker.state_machine import Retention, StateFilter, StateMachine
from stoker.storage import Storage, open_storage

if TYPE_CHECKING:
    from stoker.server import Server

DEFAULT_STORAGE_URL = "sqlite:///stoker.db"


def default_storage_url() -> str:
    """$STOKER_STORAGE if set, else an SQLite file `stoker.db` in the working directory."""
    return os.environ.get("STOKER_STORAGE") or DEFAULT_STORAGE_URL


class App(Client):
    """Everything stoker needs, passed explicitly: `app = stoker.App("sqlite:///jobs.db")`.

    `storage` is a URL (sqlite:///…, postgresql://…, redis://…) or a Storage instance; the default
    is $STOKER_STORAGE or `sqlite:///stoker.db`. Filters run in order after the built-in ones
    (retry, continuations, statistics). With `require_marked_jobs=True` only functions marked
    with `@stoker.job` may be enqueued, and a server runs nothing else; with `allowed_modules`
    (e.g. `["myapp.tasks"]`) only functions in those modules and their submodules.
    """

    def __init__(
        self,
        storage: str | Storage | None = None,
        *,
        clock: Clock | None = None,
        retention: Retention | None = None,
        default_retries: int = DEFAULT_RETRIES,
        default_queue: str = DEFAULT_QUEUE,
        filters: Sequence[StateFilter] = (),
        require_marked_jobs: bool = False,
        allowed_modules: Sequence[str] | None = None,
    ) -> None:
        if isinstance(storage, str) or storage is None:
            self.storage_url: str | None = storage or default_storage_url()
            self.storage: Storage = open_storage(self.storage_url)
        else:
            self.storage_url = None
            self.storage = storage
        self.clock: Clock = clock or SystemClock()
        self.retention = retention or Retention()
        if (
            isinstance(default_retries, bool)
            or not isinstance(default_retries, int)
            or default_retries < 0
        ):
            raise ValueError(f"default_retries must be an int >= 0, got {default_retries!r}")
        self.default_retries = default_retries
        self.default_queue = validate_queue_name(default_queue)
        self.require_marked_jobs = require_marked_jobs
        if isinstance(allowed_modules, str):
            raise TypeError("allowed_modules is a list of module names, not one string")
        self.allowed_modules = tuple(allowed_modules) if allowed_modules is not None else None
        builtin: list[StateFilter] = [
            RetryFilter(default_retries),
            ContinuationsFilter(),
            StatisticsFilter(),
        ]
        self.state_machine = StateMachine(
            self.storage, self.clock, [*builtin, *filters], self.retention
        )
        super().__init__(self)

    def server(self, **options: Any) -> Server:
        """An embedded server (threads in this process); use it as a context manager:
        `with app.server(workers=4): ...` starts it and stops it gracefully."""
        from stoker.server import Server, ServerOptions

        return Server(self, ServerOptions(**options))

    def run_server(self, **options: Any) -> None:
        """Run a server in the foreground until SIGTERM/SIGINT (what `stoker server` runs)."""
        from stoker.server import ServerOptions, run_forever

        run_forever(self, ServerOptions(**options))

    def dashboard(self, **options: Any) -> Any:
        """The dashboard as an ASGI app to mount, e.g. `Mount("/stoker", app.dashboard())`."""
        # Imported by name: the core never depends on the dashboard's packages (an extra).
        dashboard = importlib.import_module("stoker.dashboard")
        return dashboard.create_app(self, **options)

    def close(self) -> None:
        """Release the storage's connections."""
        self.storage.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"App(storage={type(self.storage).__name__})"
