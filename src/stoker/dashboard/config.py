"""The dashboard's settings, fixed when `create_app` builds it."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from stoker.client import Client
    from stoker.core.clock import Clock
    from stoker.core.protocols import Monitor

PAGE_SIZES: tuple[int, ...] = (10, 20, 50, 100, 500)
DEFAULT_PAGE_SIZE = 20
MAX_SEARCH_LENGTH = 200
MAX_SELECTION = max(PAGE_SIZES)  # ids accepted in one "selected jobs" POST (one full page)

Authorize = Callable[[Request], bool]
ReadOnly = bool | Callable[[Request], bool]


@dataclass(frozen=True)
class DashboardConfig:
    """Everything a request handler needs besides the request: what it reads from, what it
    changes things through, and the options."""

    # Actions (requeue, delete, recurring jobs) go through the client, with its state machine.
    client: Client
    # Every read: counts, lists, details, servers, recurring jobs, statistics.
    monitor: Monitor
    # "Now", for ages, due times and dead servers.
    clock: Clock
    title: str = "stoker"
    authorize: Authorize | None = None
    # (user, password) for HTTP Basic authentication; with it, remote clients may connect.
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    # Host names the dashboard answers to; None: any name with `basic_auth`, else localhost,
    # 127.0.0.1 and [::1] (see stoker.dashboard.access.allowed_hosts for why).
    allowed_hosts: tuple[str, ...] | None = None
    read_only: ReadOnly = False
    server_timeout: timedelta = timedelta(minutes=5)
    # Signs the CSRF tokens and flash messages. Random per process by default: give every process
    # of a multi-process deployment the same key, or a form from one process fails on another.
    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # A bulk "all matching" action stops after this long (the page says how many remain), so
    # a request never outlives a proxy's timeout; running it again continues.
    bulk_time_budget: timedelta = timedelta(seconds=20)
    bulk_batch_size: int = 500
    # The Retries page pages through Scheduled jobs (the Monitor has no retry index): at most
    # this many are looked at per page view; the nav counter looks at fewer.
    retries_scan_limit: int = 2_000
    retries_counter_scan_limit: int = 500
    poll_interval: timedelta = timedelta(seconds=2)

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title.strip():
            raise ValueError(f"title must be a non-empty string, got {self.title!r}")
        if self.authorize is not None and not callable(self.authorize):
            raise TypeError(
                f"authorize must be a callable(request) -> bool, got {self.authorize!r}"
            )
        if self.basic_auth is not None:
            _check_basic_auth(self.basic_auth)
        if self.allowed_hosts is not None and (
            isinstance(self.allowed_hosts, str)
            or not all(isinstance(host, str) and host.strip() for host in self.allowed_hosts)
        ):
            raise TypeError(
                f"allowed_hosts must be a sequence of host names, got {self.allowed_hosts!r}"
            )
        if not isinstance(self.read_only, bool) and not callable(self.read_only):
            raise TypeError(
                f"read_only must be a bool or a callable(request) -> bool, got {self.read_only!r}"
            )
        if self.server_timeout <= timedelta(0):
            raise ValueError(f"server_timeout must be positive, got {self.server_timeout}")
        if not isinstance(self.secret_key, bytes) or len(self.secret_key) < 16:
            raise ValueError("secret_key must be at least 16 bytes")
        if self.bulk_batch_size < 1 or self.retries_scan_limit < 1:
            raise ValueError("bulk_batch_size and retries_scan_limit must be >= 1")


def _check_basic_auth(credentials: object) -> None:
    if (
        not isinstance(credentials, tuple)
        or len(credentials) != 2
        or not all(isinstance(part, str) for part in credentials)
    ):
        raise TypeError("basic_auth must be a (user, password) tuple of strings")
    user, password = credentials
    if not user or ":" in user:
        raise ValueError("basic_auth's user name must be non-empty and contain no ':'")
    if len(password) < 8:
        raise ValueError("basic_auth's password must be at least 8 characters long")
