"""App: a storage, a clock, filters and defaults; the one object users pass around."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Unpack

from stoker.client import Client
from stoker.core.clock import Clock
from stoker.core.job_filters import Filter
from stoker.core.jobs import DEFAULT_QUEUE, DEFAULT_RETRIES, validate_queue_name
from stoker.core.runtime import build_runtime
from stoker.core.state_machine import Retention, StateMachine
from stoker.server import Server, ServerOptions, ServerSettings, run_forever
from stoker.storage import Storage, open_storage

if TYPE_CHECKING:
    # Only for the annotation: the dashboard's packages are an extra (stoker[dashboard]), so
    # App.dashboard() imports it when called, never when stoker is imported.
    from starlette.applications import Starlette

    from stoker.dashboard import DashboardOptions

DEFAULT_STORAGE_URL = "sqlite:///stoker.db"


def default_storage_url() -> str:
    """$STOKER_STORAGE if set, else an SQLite file `stoker.db` in the working directory."""
    return os.environ.get("STOKER_STORAGE") or DEFAULT_STORAGE_URL


class App(Client):
    """Everything stoker needs, passed explicitly: `app = stoker.App("sqlite:///jobs.db")`.

    `storage` is a URL (sqlite:///…, postgresql://…, redis://…) or a Storage instance; the default
    is $STOKER_STORAGE or `sqlite:///stoker.db`. Filters run in order after the built-in ones
    (retry, continuations, statistics); a filter may instead (or also) take part in creating
    jobs or running them (`stoker.core.job_filters`), as OpenTelemetry tracing does. With
    `require_marked_jobs=True` only functions marked with `@stoker.job` may be enqueued, and a
    server runs nothing else; with `allowed_modules` (e.g. `["myapp.tasks"]`) only functions in
    those modules and their submodules. An idempotency key (`with_options(idempotency_key=…)`)
    names its job for `idempotency_window`.
    """

    def __init__(
        self,
        storage: str | Storage | None = None,
        *,
        clock: Clock | None = None,
        retention: Retention | None = None,
        default_retries: int = DEFAULT_RETRIES,
        default_queue: str = DEFAULT_QUEUE,
        filters: Sequence[Filter] = (),
        require_marked_jobs: bool = False,
        allowed_modules: Sequence[str] | None = None,
        idempotency_window: timedelta = timedelta(days=1),
    ) -> None:
        if isinstance(storage, str) or storage is None:
            self.storage_url: str | None = storage or default_storage_url()
            opened = open_storage(self.storage_url)
        else:
            self.storage_url = None
            opened = storage
        runtime = build_runtime(
            opened,
            clock=clock,
            retention=retention,
            default_retries=default_retries,
            default_queue=default_queue,
            filters=filters,
            require_marked_jobs=require_marked_jobs,
            allowed_modules=allowed_modules,
            idempotency_window=idempotency_window,
        )
        super().__init__(runtime)

    # --- the shared runtime, as attributes -------------------------------------------------------
    @property
    def storage(self) -> Storage:
        return self._runtime.storage

    @property
    def clock(self) -> Clock:
        return self._runtime.clock

    @property
    def retention(self) -> Retention:
        return self._runtime.retention

    @property
    def state_machine(self) -> StateMachine:
        return self._runtime.state_machine

    @property
    def default_retries(self) -> int:
        return self._runtime.default_retries

    @property
    def allowed_modules(self) -> tuple[str, ...] | None:
        return self._runtime.allowed_modules

    # Job defaults and policy may change after the App was made; every client, plan and server
    # of this App reads them from the one Runtime, so a change applies to all at once.
    @property
    def default_queue(self) -> str:
        return self._runtime.default_queue

    @default_queue.setter
    def default_queue(self, queue: str) -> None:
        self._runtime.default_queue = validate_queue_name(queue)

    @property
    def require_marked_jobs(self) -> bool:
        return self._runtime.require_marked_jobs

    @require_marked_jobs.setter
    def require_marked_jobs(self, required: bool) -> None:
        self._runtime.require_marked_jobs = bool(required)

    # --- the parts -----------------------------------------------------------------------------
    def server(
        self, options: ServerOptions | None = None, /, **settings: Unpack[ServerSettings]
    ) -> Server:
        """An embedded server (threads in this process); use it as a context manager:
        `with app.server(workers=4): ...` starts it and stops it gracefully."""
        return Server(self._runtime, _server_options(options, settings))

    def run_server(
        self, options: ServerOptions | None = None, /, **settings: Unpack[ServerSettings]
    ) -> None:
        """Run a server in the foreground until SIGTERM/SIGINT (what `stoker server` runs)."""
        run_forever(self._runtime, _server_options(options, settings))

    def dashboard(self, **options: Unpack[DashboardOptions]) -> Starlette:
        """The dashboard as an ASGI app to mount, e.g. `Mount("/stoker", app.dashboard())`
        (needs the extra: `pip install stoker[dashboard]`)."""
        from stoker.dashboard import create_app

        return create_app(self, **options)

    def close(self) -> None:
        """Release the storage's connections."""
        self.storage.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"App(storage={type(self.storage).__name__})"


def _server_options(options: ServerOptions | None, settings: ServerSettings) -> ServerOptions:
    """`options` with `settings` over it; ServerOptions checks the values."""
    if options is None:
        return ServerOptions(**settings)
    if not isinstance(options, ServerOptions):
        raise TypeError(f"options must be ServerOptions, got {options!r}; use keywords instead")
    return replace(options, **settings) if settings else options
